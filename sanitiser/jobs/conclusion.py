"""A job's conclusion: route, certify, chain custody (see `sanitiser.jobs.orchestrator`)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sanitiser.certificate.record import (
    DEFAULT_STANDARD,
    Destination,
    MediaInfo,
    Person,
    RecordContext,
)
from sanitiser.certificate.sign import parse_envelope
from sanitiser.custody.events import record_sanitised
from sanitiser.domain import Drive, Health, Outcome
from sanitiser.errors import SanitiserError
from sanitiser.jobs.core import JobEngine
from sanitiser.jobs.detail import detail_of
from sanitiser.jobs.facts import EndFacts
from sanitiser.jobs.journal import (
    outcome_from_json,
    outcome_to_json,
)
from sanitiser.jobs.model import UNDECIDED_ROUTE, RecordFacts, RunningJob
from sanitiser.jobs.states import FINAL, JobState
from sanitiser.jobs.views import (
    failed_outcome,
    recorded_plan,
    routed_facts,
    routing_detail,
    undecided_detail,
)
from sanitiser.policy.plan import Plan
from sanitiser.routing.age import device_age
from sanitiser.routing.rules import RoutingDecision, route
from sanitiser.store.audit import GENESIS, AuditKind, append_event, chain_head, entries
from sanitiser.store.devices import device_of_drive
from sanitiser.store.identity import drive_key, record_drive_key

log = logging.getLogger(__name__)


def _standard(plan: Plan | None) -> str:
    """The standard a record claims: the one the job's plan was made under (its policy's
    ``standard``); the record's default only when the plan names none or is lost."""
    return plan.standard if plan is not None and plan.standard else DEFAULT_STANDARD


class Conclusion(JobEngine):
    """How a job ends: the routing decision, the signed record (exactly once, by job id), the
    custody entries, and the record of a job that failed or was aborted after its plan."""

    def _broke(self, run: RunningJob, reason: str) -> None:
        """End a job whose body raised: ``failed``, with its signed record once planned.

        A job that broke while certifying a sanitised outcome ends without a record (its
        certificate is what could not be made) and is routed as the failed job it is
        (`_uncertified`); whatever breaks here, the job still ends.
        """
        try:
            if run.journal.state is JobState.CERTIFYING:
                self._uncertified(run, reason)
            else:
                self._fail(run, reason=reason, status="failed")
        except Exception as exc:  # noqa: BLE001 - the job must end recorded, whatever broke
            try:
                self._end(run, JobState.FAILED, reason=reason, status="failed")
            except Exception as again:  # noqa: BLE001 - the store itself is failing
                log.error("job %s: its end cannot be recorded: %s", run.job_id, again)
            else:
                log.warning("job %s: ended without its signed record: %s", run.job_id, exc)

    def _uncertified(self, run: RunningJob, reason: str) -> None:
        """End ``failed`` a job whose certificate could not be made, routed as a failed job.

        The route the sanitised outcome was given (kept before the certificate) does not stand:
        no certificate says the drive was sanitised, so the policy routes the failure (a drive
        not proven clean: destruction). A certificate already kept for the job (the job broke
        after it) stands, and so does the route it names.
        """
        if self.store.certificate_for_job(run.job_id) is not None:
            self._end(run, JobState.FAILED, reason=reason, status="failed")
            return
        reason = f"the certificate could not be issued: {reason}"
        plan = self._plan_of(run)
        if plan is None:
            undecided = undecided_detail("the job's plan is lost: the technician decides")
            self._end(run, JobState.FAILED, reason=reason, status="failed", **undecided)
            return
        decision = self._route(run, failed_outcome(run, plan, reason, "failed"), run.health)
        if isinstance(decision, RoutingDecision):
            routing = routing_detail(decision)
            self._log(run, f"routing: {decision.explain()}")
        else:
            routing = undecided_detail(decision)
        self._end(run, JobState.FAILED, reason=reason, status="failed", **routing)

    def _certify(
        self,
        job_id: str,
        *,
        outcome: Outcome,
        drive: Drive,
        health: Health,
        operator: str,
        policy_name: str,
        policy_version: str,
        plan: Plan | None,
        destination: Destination = UNDECIDED_ROUTE,
    ) -> tuple[str, dict[str, Any]]:
        """Issue and keep the job's certificate exactly once (an earlier one is reused).

        A job that retries another names the earlier job's certificate, if any (a failed
        attempt's record), in ``supersedes``. The record claims the standard the job's plan
        was made under (the policy's ``standard``) and carries the plan's downgrade reason.

        Returns:
            The id of the certificate kept, and its record.
        """
        existing = self.store.certificate_for_job(job_id)
        if existing is not None:
            return existing, self._stored_record(existing)
        from sanitiser.certificate.issue import issue_certificate  # noqa: PLC0415 - pyHanko costs ~1 s

        signer = self._load_signer()
        context = RecordContext(
            organisation=self.organisation,
            station=self.station,
            operator=Person(name=operator),
            policy_name=policy_name,
            policy_version=policy_version,
            standard=_standard(plan),
            downgrade=plan.downgrade if plan is not None else "",
            captured=self._captured(job_id),
            destination=destination,
            supersedes=self._superseded(job_id),
            custody=chain_head(self.store, self.station) or (0, GENESIS),
            media=self._media_of(drive),
        )
        issued = issue_certificate(outcome, drive, health, context, signer)
        kept = self.store.save_job_certificate(
            job_id, issued.certificate_id, issued.record_json, serial=drive.serial, pdf=issued.pdf
        )
        if kept != issued.certificate_id:  # another process kept one first: that one stands
            return kept, self._stored_record(kept)
        return kept, dict(issued.signed.record)

    def _captured(self, job_id: str) -> str:
        """Where the job's work was done, for its record: "" for the bench's own drives
        (`sanitiser.agent` says ``on-device`` or ``off-bench`` for a computer's own drives)."""
        return ""

    def _after_certificate(self, run: RunningJob) -> None:
        """Let the device the drive is linked to move along (after the drive's custody)."""
        try:
            self.deps.after_certificate(drive_key(run.confirmed or run.drive), run.operator)
        except SanitiserError as exc:  # the device's record catches up on its next step
            log.warning("job %s: the drive's device was not updated: %s", run.job_id, exc.msg)

    def _media_of(self, drive: Drive) -> MediaInfo:
        """The device the drive was linked to before its certificate: its tag is the record's
        property number, and the device (kind, make, model, serial) its source. A drive linked
        only afterwards is named by the device certificate instead."""
        device = device_of_drive(self.store, drive_key(drive))
        if device is None:
            return MediaInfo()
        i = device.intake
        words = [i.kind.value, i.make, i.model, f"serial {i.serial}" if i.serial else ""]
        return MediaInfo(property_number=device.tag, source=" ".join(w for w in words if w)[:80])

    def _plan_of(self, run: RunningJob) -> Plan | None:
        """The job's plan: the one it ran, else the one it recorded (None when unreadable)."""
        if run.plan is not None:
            return run.plan
        try:
            return recorded_plan(self.store.job(run.job_id))
        except SanitiserError as exc:
            log.warning("job %s: %s", run.job_id, exc.msg)
            return None

    def _superseded(self, job_id: str) -> str | None:
        """The certificate of the job this one retries (the drive's earlier record), or None."""
        view = self.store.job(job_id)
        retry_of = detail_of(view).retry_of if view is not None else ""
        return self.store.certificate_for_job(retry_of) if retry_of else None

    def _stored_record(self, cert_id: str) -> dict[str, Any]:
        raw = self.store.certificate_record(cert_id)
        if raw is None:
            raise SanitiserError(f"certificate {cert_id} is not in the store")
        return dict(parse_envelope(raw).record)

    def _route(self, run: RunningJob, outcome: Outcome, health: Health) -> RoutingDecision | str:
        """Where the job's drive goes, or why routing could not decide (logged).

        A resumed job routes by its recorded plan and its policy reloaded by name.
        """
        try:
            plan = run.plan or recorded_plan(self.store.job(run.job_id))
            policy = run.loaded_policy
            if policy is None:
                policy = self.deps.load_policy(run.policy or self.deps.default_policy)
                run.loaded_policy = policy
                if plan.policy_version and str(policy.version) != plan.policy_version:
                    self._log(
                        run,
                        f"routing by policy {policy.name} v{policy.version}: the plan was made "
                        f"under v{plan.policy_version}",
                        "warning",
                    )
            age = device_age(health, on=run.created_at.date())
            return route(outcome, plan, health, run.confirmed or run.drive, policy, age=age)
        except Exception as exc:  # noqa: BLE001 - a broken policy must never lose the outcome
            why = exc.msg if isinstance(exc, SanitiserError) else f"{type(exc).__name__}: {exc}"
            reason = f"routing failed: {why}"
            log.warning("job %s: %s", run.job_id, reason)
            self._log(run, f"{reason}; the technician decides the destination", "error")
            return reason

    def _fail(
        self,
        run: RunningJob,
        *,
        reason: str,
        status: str,
        outcome: Outcome | None = None,
        outcome_facts: dict[str, Any] | None = None,
    ) -> None:
        """End a job ``failed`` with its reason; once planned, routed (not proven clean) and
        given its signed record (`_conclude`)."""
        self._conclude(
            run,
            JobState.FAILED,
            reason=reason,
            status=status,
            outcome=outcome,
            outcome_facts=outcome_facts,
        )

    def _conclude(
        self,
        run: RunningJob,
        state: JobState,
        *,
        reason: str,
        status: str,
        outcome: Outcome | None = None,
        outcome_facts: dict[str, Any] | None = None,
    ) -> None:
        """End a job `state` (failed / aborted) with its reason and, once planned, its record.

        A planned job is routed (its attempt is not proven clean), ends with the record still to
        issue (``record_pending``: write-ahead, so recovery can finish it), and then gets its
        one signed record (`_issue_record`). A job that ended before its plan (the guard refused
        the drive, the policy refused the operator's method) has no decision and no record:
        nothing was attempted, the drive is as it came.
        """
        if run.journal.state in FINAL:
            return
        detail: EndFacts = {}
        if outcome_facts is not None:
            detail["outcome"] = outcome_facts
        plan = run.plan
        if plan is None:
            self._end(run, state, reason=reason, status=status, **detail)
            return
        attempt = outcome or failed_outcome(run, plan, reason, status)
        decision = self._route(run, attempt, run.health)
        if isinstance(decision, RoutingDecision):
            destination, routing = decision.destination(), routing_detail(decision)
            routed: dict[str, Any] | None = routed_facts(decision)
            self._log(run, f"routing: {decision.explain()}")
        else:
            destination, routing, routed = UNDECIDED_ROUTE, undecided_detail(decision), None
        pending: RecordFacts = {
            "state": state.value,
            "outcome": outcome_to_json(attempt),
            "destination": dataclasses.asdict(destination),
            "routed": routed,
        }
        detail["outcome"] = pending["outcome"]  # what the record says (the method's, or why not)
        detail.update(routing)
        detail["record_pending"] = pending
        self._end(run, state, reason=reason, status=status, **detail)
        if run.journal.state is state:
            self._issue_record(run, pending, plan.policy_version)

    def _issue_record(self, run: RunningJob, pending: RecordFacts, policy_version: str) -> None:
        """Issue (or find) the signed record of an ended job, chain its custody, note it.

        Idempotent: the certificate is kept once per job id, custody once per certificate and
        job. When the record cannot be issued now (no station key, a store error) the job keeps
        ``record_pending`` with ``record_error``, and recovery in the next process issues it.
        """
        try:
            outcome = outcome_from_json(pending["outcome"])
            destination = Destination(**pending["destination"])
            cert_id, record = self._certify(
                run.job_id,
                outcome=outcome,
                drive=run.confirmed or run.drive,
                health=run.health,
                operator=run.operator,
                policy_name=run.policy_name or run.policy,
                policy_version=policy_version,
                plan=self._plan_of(run),
                destination=destination,
            )
        except Exception as exc:  # noqa: BLE001 - the end stands; recovery issues the record
            why = exc.msg if isinstance(exc, SanitiserError) else f"{type(exc).__name__}: {exc}"
            log.warning("job %s: signed record not issued: %s", run.job_id, why)
            self._log(
                run,
                f"the signed record could not be issued now ({why}); "
                "'sanitiser jobs recover' issues it",
                "error",
            )
            self._record(run.job_id, record_error=why)
            return
        routed = pending.get("routed")
        self._custody(run, cert_id, record, routed if isinstance(routed, dict) else None)
        self._record(run.job_id, certificate_id=cert_id, record_pending=None, record_error=None)
        said = (
            f"signed record {cert_id}: NOT sanitised ({outcome.status.value}); destination "
            f"{destination.route}"
        )
        self.store.append_job_event(run.job_id, "note", {"certificate_id": cert_id, "why": said})
        self._log(run, said)

    def _custody(
        self,
        run: RunningJob,
        cert_id: str,
        record: dict[str, Any],
        routed: dict[str, Any] | None,
    ) -> None:
        """Chain ``sanitised``/``not-sanitised`` (once per certificate) and ``routed`` with the
        decision's facts (`routed_facts`; once per job; nothing when undecided)."""
        try:
            record_sanitised(self.store, record, station=self.station, actor=run.operator)
            if routed is None:
                return  # undecided: the technician's routing override chains it
            earlier = entries(self.store, ref=cert_id, kind=str(AuditKind.ROUTED))
            if any(e.data.get("job_id") == run.job_id and "rule_id" in e.data for e in earlier):
                return
            append_event(
                self.store,
                station=self.station,
                kind=AuditKind.ROUTED,
                subject=record_drive_key(record),
                ref=cert_id,
                actor=run.operator,
                data={"job_id": run.job_id, **routed},
            )
        except SanitiserError as exc:
            log.warning("job %s: custody log not updated: %s", run.job_id, exc.msg)
            self._log(run, f"the custody log was not updated: {exc.msg}", "error")
        self._after_certificate(run)
        self._checkpoint()

    def _finish_certified(
        self, run: RunningJob, outcome: Outcome, health: Health, policy_version: str
    ) -> None:
        """Route, certify (the certificate names the destination), chain custody, routed."""
        decision = self._route(run, outcome, health)
        if isinstance(decision, RoutingDecision):
            destination, routing = decision.destination(), routing_detail(decision)
            said = decision.summary()
        else:
            destination, routing = UNDECIDED_ROUTE, undecided_detail(decision)
            said = f"destination undecided ({decision})"
        # Kept before the certificate: what recovery and the TUI can tell if we die here.
        self._record(run.job_id, **routing)
        cert_id, record = self._certify(
            run.job_id,
            outcome=outcome,
            drive=run.confirmed or run.drive,
            health=health,
            operator=run.operator,
            policy_name=run.policy_name or run.policy,
            policy_version=policy_version,
            plan=self._plan_of(run),
            destination=destination,
        )
        issued_to = str((record.get("destination") or {}).get("route", ""))
        if issued_to != destination.route:
            self._log(
                run,
                f"certificate {cert_id} was issued before a restart with destination "
                f"{issued_to}; routing now says {destination.route}: the certificate stands "
                "and the job records both",
                "warning",
            )
            routing["certificate_destination"] = issued_to
        if isinstance(decision, RoutingDecision):
            self._log(run, f"routing: {decision.explain()}")
        facts = routed_facts(decision) if isinstance(decision, RoutingDecision) else None
        self._custody(run, cert_id, record, facts)
        routing["certificate_id"] = cert_id
        self._move(run, JobState.ROUTED, why=f"certificate {cert_id}; {said}", **routing)
