"""When a past job may be started again, and what the restart will run (pure; no I/O).

`Orchestrator.restart_target` applies these rules to the store and the attached drives, and
`Orchestrator.restart` checks them again under its lock: the TUI and the CLI ask the same
question before they ask for the typed phrase, so neither asks for a phrase that would be
refused, and neither keeps its own copy of the rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sanitiser.devices.fingerprint import Fingerprint, needs_fingerprint, same_content
from sanitiser.devices.guard import drive_mismatches
from sanitiser.domain import Drive
from sanitiser.errors import SanitiserError
from sanitiser.jobs.detail import detail_of
from sanitiser.jobs.states import ACTIVE, JobState
from sanitiser.store import JobView

RESTARTABLE: frozenset[JobState] = frozenset(
    {JobState.INTERRUPTED, JobState.FAILED, JobState.ABORTED}
)
"""Job states from which a job may be started again (as a new job)."""


def short_id(job_id: str) -> str:
    """The first 8 characters of a job id, as the bench and the CLI show ids."""
    return job_id[:8]


def restart_refusal(view: JobView) -> str:
    """Why `view` cannot be restarted ("" when it can).

    Only an interrupted, failed or aborted job that was not restarted already qualifies: a
    running job is not over, and a routed one sanitised its drive and has its certificate.
    """
    job = short_id(view.id)
    detail = detail_of(view)
    state = JobState(view.state)
    if state is JobState.ROUTED:
        cert = detail.certificate_id
        proof = f" (certificate {cert})" if cert else ""
        return f"Job {job} sanitised its drive{proof}: there is nothing to restart."
    if state in ACTIVE:
        return f"Job {job} is still {state}: only an ended job can be restarted."
    retried_by = detail.retried_by
    if retried_by:
        return (
            f"Job {job} was already restarted as job {short_id(retried_by)}: "
            "restart that one if it did not finish."
        )
    if state not in RESTARTABLE:
        return f"Job {job} is {state}: it cannot be restarted."
    return ""


@dataclass(frozen=True, slots=True)
class RestartTarget:
    """A job that may be restarted and the drive the restart would erase."""

    job: JobView
    drive: Drive
    """The job's drive as attached now (found by identity, not by its old kernel name)."""

    @property
    def policy(self) -> str | None:
        """The policy the job was started with (the restart uses it again)."""
        return detail_of(self.job).policy or None

    @property
    def technique(self) -> str | None:
        """The technique the operator imposed on the job (None: the policy chose)."""
        return detail_of(self.job).technique_override or None


def restart_target(
    view: JobView | None,
    job_id: str,
    find_drive: Callable[[Drive], Drive | None],
    busy_with: Callable[[Drive], str | None] = lambda d: None,
    fingerprint_of: Callable[[Drive], Fingerprint | None] = lambda d: None,
) -> RestartTarget:
    """The job and its attached drive, when it may be restarted.

    Args:
        view: the job's record (None when there is none).
        job_id: the id asked for (for the message when there is no record).
        find_drive: the attached drive with the recorded one's identity, or None.
        busy_with: the id of a job running on a drive now, or None.
        fingerprint_of: the content fingerprint of a drive now (None when it cannot be read).

    Raises:
        SanitiserError: no such job, it cannot be restarted (`restart_refusal`), its drive is
            not attached, is not provably the recorded one (`identify`), or is busy.
    """
    if view is None:
        raise SanitiserError(f"No job {job_id} is recorded.", title="Restart")
    refusal = restart_refusal(view)
    if refusal:
        raise SanitiserError(refusal, title="Restart")
    recorded = detail_of(view).drive
    if recorded is None:
        raise SanitiserError(f"Job {short_id(view.id)} has no drive recorded.", title="Restart")
    drive = find_drive(recorded)
    if drive is None:
        raise SanitiserError(
            f"The drive of job {short_id(view.id)} (serial {recorded.serial or '-'}, was "
            f"{recorded.path}) is not attached: connect it, then restart the job.",
            title="Restart",
        )
    identify(view, recorded, drive, fingerprint_of)
    other = busy_with(drive)
    if other:
        raise SanitiserError(
            f"The drive of job {short_id(view.id)} ({drive.path}) is busy with job "
            f"{short_id(other)}: wait for it to end.",
            title="Restart",
        )
    return RestartTarget(view, drive)


def identify(
    view: JobView,
    recorded: Drive,
    attached: Drive,
    fingerprint_of: Callable[[Drive], Fingerprint | None],
) -> None:
    """Refuse unless `attached` is provably the drive `view` recorded.

    Everything recorded must match (serial, WWN, model, size). A drive with neither serial nor
    WWN is a stranger by those alone, so it must also still hold, at its start or its end, the
    content fingerprinted before the job's first write (`sanitiser.devices.fingerprint`).

    Raises:
        SanitiserError: what differs, or why the drive cannot be re-identified.
    """
    job = short_id(view.id)
    differences = drive_mismatches(recorded, attached)
    if differences:
        raise SanitiserError(
            f"The drive at {attached.path} is not the one job {job} recorded: "
            f"{'; '.join(differences)}. Nothing was erased.",
            title="Restart",
        )
    if not needs_fingerprint(recorded.serial, recorded.wwn):
        return
    before = detail_of(view).fingerprint
    if before is None:
        raise SanitiserError(
            f"The drive of job {job} has no serial and no content fingerprint was recorded, so "
            f"{attached.path} cannot be proven to be it: start a new wipe of it instead.",
            title="Restart",
        )
    now = fingerprint_of(attached)
    if now is None or not same_content(before, now):
        raise SanitiserError(
            f"The drive of job {job} has no serial, and {attached.path} no longer holds the "
            "content fingerprinted when that job started (first and last MiB), so it cannot "
            "be proven to be the same device: start a new wipe of it instead.",
            title="Restart",
        )
