"""Restarting a past job from the bench: which jobs the TUI offers to restart, what the
technician is told when it will not, and the plan the confirmation shows. No Textual here.

`Orchestrator.restart` is the authority: it checks the job again when it is called (after the
typed phrase) and its refusal is what the technician reads if anything changed meanwhile. The
checks here come first so that the bench never asks for a phrase it would then refuse, and so
that the confirmation names the drive as attached now (kernel names move across restarts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sanitiser.domain import Drive
from sanitiser.errors import SanitiserError
from sanitiser.jobs.journal import drive_from_json
from sanitiser.jobs.orchestrator import RecoveryReport
from sanitiser.store import JobView
from sanitiser.tui.bench import Bench, DrivePlan
from sanitiser.tui.model import ACTIVE_STATES

RESTARTABLE_STATES = frozenset({"interrupted", "failed", "aborted"})
"""Job states from which the bench offers to start the job again (as a new job)."""


def short_id(job_id: str) -> str:
    """The first 8 characters of a job id, as the bench shows ids."""
    return job_id[:8]


def restart_refusal(view: JobView) -> str:
    """Why the bench does not offer to restart `view` ("" when it does).

    Only an interrupted, failed or aborted job that was not restarted already qualifies: a
    running job is not over, and a routed one sanitised its drive and has its certificate.
    """
    job = short_id(view.id)
    detail = dict(view.detail)
    if view.state == "routed":
        cert = detail.get("certificate_id")
        proof = f" (certificate {cert})" if cert else ""
        return f"Job {job} sanitised its drive{proof}: there is nothing to restart."
    if view.state in ACTIVE_STATES:
        return f"Job {job} is still {view.state}: only an ended job can be restarted."
    retried_by = str(detail.get("retried_by") or "")
    if retried_by:
        return (
            f"Job {job} was already restarted as job {short_id(retried_by)}: "
            "restart that one if it did not finish."
        )
    if view.state not in RESTARTABLE_STATES:
        return f"Job {job} is {view.state}: it cannot be restarted."
    return ""


@dataclass(frozen=True, slots=True)
class RestartTarget:
    """A job the technician may restart and the drive the restart would erase."""

    job: JobView
    drive: Drive
    """The job's drive as attached now (found by identity, not by its old kernel name)."""

    @property
    def policy(self) -> str | None:
        """The policy the job was started with (the restart uses it again)."""
        return str(self.job.detail.get("policy") or "") or None

    @property
    def technique(self) -> str | None:
        """The technique the operator imposed on the job (None: the policy chose)."""
        return str(self.job.detail.get("technique_override") or "") or None

    @property
    def heading(self) -> str:
        """What the confirmation says about the job being restarted (kept short: the dialog
        must still show its buttons at 80x24; the full reason is in the job's detail)."""
        v = self.job
        came_from = str(v.detail.get("interrupted_from") or "")
        state = f"{v.state} while {came_from}" if came_from else v.state
        by = f" by {v.operator}" if v.operator else ""
        return (
            f"Restart of job {short_id(v.id)} ({state}), first run{by} on "
            f"{v.created_at:%Y-%m-%d %H:%M}.\nA new job erases the drive from the beginning; "
            "the old record is kept."
        )


def restart_target(
    view: JobView | None, job_id: str, find_drive: Callable[[Drive], Drive | None]
) -> RestartTarget:
    """The job and its attached drive, when the bench may offer to restart it.

    Raises:
        SanitiserError: no such job, it cannot be restarted (`restart_refusal`), or its drive
            is not attached.
    """
    if view is None:
        raise SanitiserError(f"No job {job_id} is recorded.", title="Restart")
    refusal = restart_refusal(view)
    if refusal:
        raise SanitiserError(refusal, title="Restart")
    facts = view.detail.get("drive")
    if not facts:
        raise SanitiserError(f"Job {short_id(view.id)} has no drive recorded.", title="Restart")
    recorded = drive_from_json(facts)
    drive = find_drive(recorded)
    if drive is None:
        raise SanitiserError(
            f"The drive of job {short_id(view.id)} (serial {recorded.serial or '-'}, was "
            f"{recorded.path}) is not attached: connect it, then restart the job.",
            title="Restart",
        )
    return RestartTarget(view, drive)


def restart_plan(bench: Bench, target: RestartTarget) -> DrivePlan:
    """The plan the restarted job would make now: the job's own policy and technique.

    `Bench.plan` plans with the bench's policy and no imposed technique; a job started
    elsewhere (``sanitiser wipe --policy/--method``) is restarted with its own, and the
    confirmation must show that plan.
    """
    deps = bench.orchestrator.deps
    drive = target.drive
    try:
        runner = deps.runner_for(drive)
        caps = deps.probe(drive, runner)
        health = deps.health_of(drive, runner)
        policy = deps.load_policy(target.policy or deps.default_policy)
        plan = deps.select_method(drive, caps, health, policy, technique_override=target.technique)
        return DrivePlan(drive, plan)
    except SanitiserError as e:
        return DrivePlan(drive, error=e.msg)


def recovery_notice(report: RecoveryReport) -> str:
    """What the bench tells the technician after recovery at start ("" when nothing to say).

    Jobs that were resumed or certified carry on by themselves; only the restartable ones
    need the technician, and the notice says where to restart them.
    """
    parts: list[str] = []
    if report.interrupted:
        parts.append(f"{len(report.interrupted)} job(s) were interrupted by a crash.")
    carried = len(report.resumed) + len(report.certified)
    if carried:
        parts.append(f"{carried} carried on by themselves (resumed or certified).")
    if report.restartable:
        n = len(report.restartable)
        parts.append(
            f"{n} interrupted job(s) must be started again: History (h), select the job, r."
        )
    return " ".join(parts)
