"""Restarting a past job from the bench: what the confirmation shows (heading and plan) and
what the bench says after recovery. No Textual here.

Whether a job may be restarted is `Orchestrator.restart_target` (rules in
`sanitiser.jobs.restart`), asked before the typed phrase so the bench never asks for a phrase it
would then refuse, and so the confirmation names the drive as attached now (kernel names move
across restarts); `Orchestrator.restart` checks again after the phrase.
"""

from __future__ import annotations

from sanitiser.errors import SanitiserError
from sanitiser.jobs.detail import detail_of
from sanitiser.jobs.orchestrator import RecoveryReport
from sanitiser.jobs.restart import RestartTarget, short_id
from sanitiser.tui.bench import Bench, DrivePlan


def restart_heading(target: RestartTarget) -> str:
    """What the confirmation says about the job being restarted (kept short: the dialog must
    still show its buttons at 80x24; the full reason is in the job's detail)."""
    v = target.job
    came_from = detail_of(v).interrupted_from
    state = f"{v.state} while {came_from}" if came_from else v.state
    by = f" by {v.operator}" if v.operator else ""
    return (
        f"Restart of job {short_id(v.id)} ({state}), first run{by} on "
        f"{v.created_at:%Y-%m-%d %H:%M}.\nA new job erases the drive from the beginning; "
        "the old record is kept."
    )


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
