"""Crash recovery: say the truth about every job a dead process left, and continue what can
be continued (see `sanitiser.jobs.orchestrator`)."""

from __future__ import annotations

import logging

from sanitiser.devices.fingerprint import needs_fingerprint
from sanitiser.devices.guard import Claim
from sanitiser.domain import UNKNOWN_HEALTH, Drive, Health, Outcome
from sanitiser.errors import DriveBusyError, SanitiserError
from sanitiser.jobs.detail import JobDetail, detail_of
from sanitiser.jobs.events import JobLog, JobPhase
from sanitiser.jobs.journal import (
    JobJournal,
    MethodNotes,
    owner_alive,
)
from sanitiser.jobs.model import (
    BACKGROUND_KEYS,
    HOST_OVERWRITE,
    RecordFacts,
    RecoveryReport,
    RunningJob,
)
from sanitiser.jobs.pipeline import Pipeline
from sanitiser.jobs.restart import identify, short_id
from sanitiser.jobs.states import ACTIVE, FINAL, JobState
from sanitiser.jobs.views import outcome_of, recorded_plan
from sanitiser.store import JobView, StaleJobStateError
from sanitiser.store.identity import is_identity

log = logging.getLogger(__name__)


class Recovery(Pipeline):
    """After a crash: each unfinished job recorded ``interrupted``, then resumed, certified,
    recorded or left restartable (`recover`)."""

    def recover(self, *, resume: bool = True) -> RecoveryReport:
        """After a start: record every job whose process died as ``interrupted``, then (with
        `resume`) continue what can be continued.

        Only jobs of this station whose owning process is gone are touched (never those of
        another live ``sanitiser`` process). With `resume`, an interrupted job whose outcome
        was already recorded gets its certificate (exactly once) and is routed; one whose drive
        is still running a firmware sanitize is re-polled through its method with the saved
        method journal; the others are left for `restart`. A failed or aborted job whose signed
        record was not issued yet (the bench stopped between its end and its record) gets it,
        exactly once, with its custody (``recorded``).
        """
        interrupted: list[str] = []
        for view in self.store.jobs():
            if view.station != self.station or JobState(view.state) not in ACTIVE:
                continue
            if view.id in self.running():
                continue
            if owner_alive(detail_of(view).owner):
                continue
            if self._mark_interrupted(view):
                interrupted.append(view.id)
        if not resume:
            return RecoveryReport(interrupted=tuple(interrupted))
        resumed: list[str] = []
        certified: list[str] = []
        restartable: list[str] = []
        for view in self.store.jobs():
            if view.station != self.station or view.state != JobState.INTERRUPTED.value:
                continue
            detail = detail_of(view)
            if detail.retried_by or view.id in self.running():
                continue
            if owner_alive(detail.owner):
                continue
            kind = self._resume(view)
            {"certified": certified, "resumed": resumed}.get(kind, restartable).append(view.id)
        recorded: list[str] = []
        for view in self.store.jobs():
            if view.station != self.station or JobState(view.state) not in FINAL:
                continue
            detail = detail_of(view)
            if detail.record_pending is None or view.id in self.running():
                continue
            if owner_alive(detail.owner):
                continue  # its own process is issuing it (or will say why it could not)
            self._resume_record(view)
            recorded.append(view.id)
        return RecoveryReport(
            tuple(interrupted),
            tuple(resumed),
            tuple(certified),
            tuple(restartable),
            tuple(recorded),
        )

    def _mark_interrupted(self, view: JobView) -> bool:
        state = JobState(view.state)
        progress = detail_of(view).progress
        known = ""
        if progress is not None:
            known = (
                f"; last progress: {progress.phase} {progress.bytes_done}/{progress.total} bytes"
            )
        reason = f"the bench stopped (crash, kill or power loss) while the job was {state}{known}"
        journal = JobJournal(self.store, view.id, state)
        try:
            after = journal.move(
                JobState.INTERRUPTED,
                why=reason,
                reason=reason,
                interrupted_from=state.value,
                status="interrupted",
            )
        except StaleJobStateError:
            return False
        device = detail_of(view).device
        self._publish(JobPhase(view.id, device, JobState.INTERRUPTED.value, state.value, reason))
        self._publish(outcome_of(after))
        return True

    def _resume(self, view: JobView) -> str:
        """Continue one interrupted job if possible: ``certified``, ``resumed`` or ""."""
        detail = detail_of(view)
        came_from = detail.interrupted_from
        recorded = _recorded_drive(view, detail)
        health = detail.health or UNKNOWN_HEALTH
        policy_name = detail.policy
        policy_version = detail.policy_version
        run = RunningJob(
            view.id,
            recorded,
            view.operator,
            JobJournal(self.store, view.id, JobState.INTERRUPTED),
            policy=policy_name,
            policy_name=detail.policy_name,
            health=health,
            created_at=view.created_at,
        )
        try:  # routing needs it; the policy itself is reloaded by name when routing
            run.plan = recorded_plan(view)
        except SanitiserError as exc:
            log.warning("job %s: %s", view.id, exc.msg)
        if came_from == JobState.CERTIFYING.value and detail.outcome is not None:
            refusal = self.signing_refusal()
            if refusal:  # it stays interrupted; the next recovery certifies it
                self._not_resumed(view, f"not certified now: this station cannot sign: {refusal}")
                return ""
            outcome = detail.outcome
            self._launch(run, lambda r: self._resume_certify(r, outcome, health, policy_version))
            return "certified"
        technique = detail.technique
        notes = MethodNotes.load(self.store, view.id)
        background = (
            came_from in (JobState.SANITISING.value, JobState.VERIFYING.value)
            and technique
            and technique != HOST_OVERWRITE
            and any(notes.get(key) for key in BACKGROUND_KEYS)
        )
        if not background:
            return ""
        newer = self._newer_job(view, recorded)
        if newer:
            self._not_resumed(view, f"not re-polled: {newer}")
            return ""
        drive = self.deps.find_drive(recorded)
        if drive is None:
            self._not_resumed(view, "drive not attached: cannot re-poll it now")
            return ""
        try:  # the same rules as a restart: everything recorded must match
            identify(view, recorded, drive, self.deps.fingerprint)
        except SanitiserError as exc:
            self._not_resumed(view, f"not re-polled: {exc.msg}")
            return ""
        refusal = self.signing_refusal()
        if refusal:  # its end could not be certified: look once the station can sign
            self._not_resumed(view, f"not re-polled now: this station cannot sign: {refusal}")
            return ""
        try:  # claimed before the job moves: a busy drive leaves it interrupted, untouched
            claim = self.deps.claim(drive, recorded, self.deps.backend_for(drive))
        except DriveBusyError as exc:  # cannot look now; not a failure of the sanitize
            self._not_resumed(view, f"not re-polled now (the drive is busy): {exc.msg}")
            return ""
        run.confirmed = recorded
        run.drive = drive
        run.chosen = technique
        if detail.plan is not None:
            run.overwrite_scheme = detail.plan.overwrite_scheme
            run.overwrite_passes = tuple(detail.plan.overwrite_passes)
            run.verification = detail.plan.verification
        else:
            run.overwrite_passes = ()
        try:
            self._launch(
                run,
                lambda r: self._resume_method(r, claim, technique, notes, health, policy_version),
            )
        except BaseException:
            claim.close()
            raise
        return "resumed"

    def _newer_job(self, view: JobView, recorded: Drive) -> str:
        """Why the drive of interrupted job `view` now belongs to another job ("" if it does
        not): a job in progress on it, or one started on it after `view` (what the drive
        reports now may be that job's work, never to be certified as this one's).

        A key that names no one drive (`is_identity`: a ``path:`` key) is shared by every
        serial-less drive at that node over time, so a later job there says nothing of this
        drive, which `identify` proves by its content fingerprint instead. A placeholder
        serial is no identity either, but `identify` does not fingerprint such a drive, so
        the later job still counts. A job in progress at the node is on whatever is there
        now, and makes this one wait."""
        later_counts = is_identity(view.drive_key) or not needs_fingerprint(
            recorded.serial, recorded.wwn
        )
        for other in self.store.jobs():
            if other.id == view.id or other.drive_key != view.drive_key:
                continue
            if JobState(other.state) in ACTIVE:
                return (
                    f"job {short_id(other.id)} is in progress on the drive ({other.state}); "
                    "this job stays interrupted and is looked at again once the drive is free"
                )
            if later_counts and other.created_at > view.created_at:
                return (
                    f"job {short_id(other.id)} was started on the drive after this one "
                    f"({other.state}): its record tells what the drive holds"
                )
        return ""

    def _not_resumed(self, view: JobView, why: str) -> None:
        """Say (in the job's record and the log) why an interrupted job was left as it is."""
        log.info("job %s left interrupted: %s", view.id, why)
        self.store.append_job_event(view.id, "note", {"message": why})
        self._publish(JobLog(view.id, detail_of(view).device, why, "warning"))

    def _resume_record(self, view: JobView) -> None:
        """Issue the signed record a failed or aborted job ended without (exactly once)."""
        detail = detail_of(view)
        if detail.record_pending is None:
            raise SanitiserError(f"job {view.id} has no signed record pending")
        pending: RecordFacts = dict(detail.record_pending)
        recorded = _recorded_drive(view, detail)
        run = RunningJob(
            view.id,
            recorded,
            view.operator,
            JobJournal(self.store, view.id, JobState(view.state)),
            policy=detail.policy,
            policy_name=detail.policy_name,
            health=detail.health or UNKNOWN_HEALTH,
            confirmed=recorded,
            created_at=view.created_at,
        )
        self._record(view.id, owner=self.owner.to_json())
        self.store.append_job_event(
            view.id, "note", {"why": "resumed: issuing the signed record the job ended without"}
        )
        version = detail.policy_version
        self._launch(run, lambda r: self._issue_record(r, pending, version))

    def _resume_certify(
        self, run: RunningJob, outcome: Outcome, health: Health, policy_version: str
    ) -> None:
        self._move(
            run,
            JobState.CERTIFYING,
            why="resumed: the outcome was recorded",
            owner=self.owner.to_json(),
        )
        self._finish_certified(run, outcome, health, policy_version)

    def _resume_method(  # noqa: PLR0917 - one job's resumption, all of it
        self,
        run: RunningJob,
        claim: Claim,
        technique: str,
        notes: MethodNotes,
        health: Health,
        policy_version: str,
    ) -> None:
        """Re-poll a drive that kept sanitising on its own, through its method and journal.

        The drive was claimed before (`_resume`). One that does not answer its identify
        commands now is left interrupted, as it was: not looked at is not failed.
        """
        with claim:  # released whatever happens below, the runner's making included
            runner = self.deps.runner_for(run.drive)
            try:
                caps = self.deps.probe(claim.drive, runner)
            except SanitiserError as exc:
                view = self.store.job(run.job_id)
                if view is not None:
                    self._not_resumed(view, f"not re-polled now (probe failed): {exc.msg}")
                return
            self._move(
                run,
                JobState.SANITISING,
                why=f"resumed after restart: re-polling {technique} on the drive",
                owner=self.owner.to_json(),
            )
            method = self.deps.method_for(technique)
            outcome = self._run_method(
                run, method=method, claim=claim, runner=runner, caps=caps, notes=notes
            )
        self._finish(run, outcome, health, policy_version)


def _recorded_drive(view: JobView, detail: JobDetail) -> Drive:
    """The drive a job recorded when it was confirmed.

    Raises:
        SanitiserError: the job has no drive recorded.
    """
    if detail.drive is None:
        raise SanitiserError(f"job {view.id} has no drive recorded")
    return detail.drive
