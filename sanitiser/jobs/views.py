"""A recorded job read back: its outcome event (`outcome_of`), its plan, and the job-detail
facts of a routing decision (what the store keeps and the certificate names)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sanitiser.domain import Outcome, OutcomeStatus
from sanitiser.errors import SanitiserError
from sanitiser.jobs.detail import JobDetail, detail_of
from sanitiser.jobs.events import (
    JobOutcome,
)
from sanitiser.jobs.facts import EndFacts
from sanitiser.jobs.model import UNDECIDED_ROUTE, RunningJob
from sanitiser.jobs.states import FINAL, JobState
from sanitiser.policy.plan import Plan, plan_from_json
from sanitiser.routing.rules import RoutingDecision
from sanitiser.store import JobView


def _status_of_state(state: JobState, detail: JobDetail) -> str:
    if state is JobState.ROUTED:
        return "sanitised"
    if state is JobState.ABORTED:
        return "aborted"
    if state is JobState.INTERRUPTED:
        return "interrupted"
    if state is JobState.FAILED:
        return detail.status or "failed"
    return "running"


def outcome_of(view: JobView) -> JobOutcome:
    """The outcome event of a recorded job (its state and facts as they are now)."""
    d = detail_of(view)
    state = JobState(view.state)
    out = d.outcome
    return JobOutcome(
        job_id=view.id,
        device=d.device,
        serial=view.serial,
        status=_status_of_state(state, d),
        state=view.state,
        method=(out.method if out is not None else "") or d.technique or view.method,
        nist_category=(out.nist_category.value if out is not None else "") or d.nist_category,
        verified=out.verified if out is not None else False,
        reason=d.reason or (out.reason if out is not None else ""),
        certificate_id=d.certificate_id or None,
        destination=d.destination,
        simulated=view.simulated,
        operator=view.operator,
        station=view.station,
        started_at=view.created_at,
        finished_at=view.updated_at if state in FINAL or state is JobState.INTERRUPTED else None,
        routing_reason=d.routing_reason,
        destruction_level=d.destruction_level,
    )


def routing_detail(decision: RoutingDecision) -> EndFacts:
    """What a job records of its routing decision (job detail keys and the ``routing`` facts)."""
    return {
        "destination": decision.destination_kind.value,
        "routing_reason": decision.reason,
        "routing_rule": decision.rule_id,
        "destruction_level": decision.destruction_level,
        "routing": {
            "destination": decision.destination_kind.value,
            "certificate_route": decision.certificate_route,
            "reason": decision.reason,
            "rule_id": decision.rule_id,
            "destruction_level": decision.destruction_level,
            "scheme": decision.scheme,
            "scheme_hint": decision.scheme_hint,
            "outcome_class": decision.outcome_class.value,
            "outcome_note": decision.outcome_note,
            "matched": list(decision.matched),
            "passed_over": list(decision.passed_over),
            "policy_name": decision.policy_name,
            "policy_version": decision.policy_version,
            "age": decision.age.describe() if decision.age else "unknown",
            "summary": decision.summary(),
        },
    }


def routed_facts(decision: RoutingDecision) -> dict[str, Any]:
    """The facts of a job's ``routed`` custody entry (besides its ``job_id``)."""
    return {
        "destination_kind": decision.destination_kind.value,
        "rule_id": decision.rule_id,
        "destruction_level": decision.destruction_level,
        "certificate_route": decision.certificate_route,
        "policy": f"{decision.policy_name} v{decision.policy_version}",
    }


def undecided_detail(reason: str) -> EndFacts:
    """What a job records when routing could not decide (`UNDECIDED_ROUTE`)."""
    return {
        "destination": UNDECIDED_ROUTE.route,
        "routing_reason": reason,
        "routing_rule": "",
        "destruction_level": "",
        "routing": {"destination": UNDECIDED_ROUTE.route, "reason": reason, "summary": reason},
    }


def recorded_plan(view: JobView | None) -> Plan:
    """The plan a job recorded (``dataclasses.asdict(plan)`` in its detail).

    Raises:
        SanitiserError: the job or its plan is not recorded, or the record is not a plan.
    """
    if view is None:
        raise SanitiserError("the job is not in the store")
    recorded = view.detail.get("plan")
    if not isinstance(recorded, dict) or not recorded:
        raise SanitiserError(f"job {view.id} has no recorded plan")
    try:
        return plan_from_json(recorded)
    except (KeyError, ValueError, TypeError) as exc:
        raise SanitiserError(f"the recorded plan of job {view.id} is unreadable: {exc!r}") from exc


def failed_outcome(run: RunningJob, plan: Plan, reason: str, status: str) -> Outcome:
    """The outcome of an attempt whose method gave none (refused, or it broke): for routing."""
    return Outcome(
        status=OutcomeStatus.REFUSED if status == "refused" else OutcomeStatus.FAILED,
        method=plan.chosen.technique,
        nist_category=plan.chosen.nist_category,
        verified=False,
        reason=reason,
        started_at=run.started_at,
        finished_at=datetime.now(UTC),
    )
