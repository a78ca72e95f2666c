"""The per-job pipeline: guard claim -> fingerprint -> health and probe -> plan -> method ->
conclusion; progress and the watch for other writers and a vanished drive while it runs."""

from __future__ import annotations

import dataclasses
import logging
import time

from sanitiser.blockio.progress import ProgressEvent
from sanitiser.devices.fingerprint import (
    fingerprint_fd,
    needs_fingerprint,
)
from sanitiser.devices.guard import Claim
from sanitiser.domain import UNKNOWN_HEALTH, Drive, Health, Outcome, OutcomeStatus
from sanitiser.errors import DriveBusyError, SanitiserError
from sanitiser.jobs.conclusion import Conclusion
from sanitiser.jobs.events import (
    JobProgress,
)
from sanitiser.jobs.journal import (
    MethodNotes,
    health_to_json,
    outcome_to_json,
)
from sanitiser.jobs.method_run import run_method, unlock_reason
from sanitiser.jobs.model import WRITER_SCAN_SECONDS, RunningJob
from sanitiser.jobs.states import JobState
from sanitiser.methods.base import Method, MethodContext
from sanitiser.probe.capabilities import Capabilities
from sanitiser.runner import CommandRunner

log = logging.getLogger(__name__)


class Pipeline(Conclusion):
    """One job's run: claim, fingerprint, health, probe, plan, method, then its conclusion."""

    def _on_progress(self, run: RunningJob, ev: ProgressEvent) -> None:
        """Called from the method's ticker thread: publish, and note the verify phase."""
        if ev.phase.lower().startswith("verif") and run.journal.state is JobState.SANITISING:
            with run.lock:  # re-checked under the lock: the worker may have moved on
                try:
                    if run.journal.state is JobState.SANITISING:
                        self._move(run, JobState.VERIFYING, why=ev.phase)
                except SanitiserError as exc:  # the ticker thread must never die of it
                    log.warning("job %s: %s", run.job_id, exc)
        claim = run.claim
        if claim is not None and time.monotonic() - run.last_writer_scan >= WRITER_SCAN_SECONDS:
            run.last_writer_scan = time.monotonic()
            for writer in claim.other_writers(max_age=WRITER_SCAN_SECONDS / 2):
                self._log(run, f"another writer on the drive: {writer}", "warning")
        self._publish(
            JobProgress(
                run.job_id, run.drive.path, ev.phase, ev.bytes_done, ev.total, ev.mbps_avg, ev.eta_s
            )
        )

    def _work(self, run: RunningJob) -> None:
        """One job from the start: claim, probe, plan, run, certify, route."""
        self._move(run, JobState.PROBING)
        if self._check_cancel(run):
            return
        runner = self.deps.runner_for(run.drive)
        try:
            claim = self.deps.claim(run.drive, run.drive, self.deps.backend_for(run.drive))
        except DriveBusyError as exc:
            self._end(run, JobState.FAILED, reason=exc.msg, status="refused")
            return
        with claim:
            self._fingerprint(run, claim)
            health = self._health(run, claim.drive, runner)
            caps = self.deps.probe(claim.drive, runner)
            for note in caps.notes:
                self._log(run, f"probe: {note}")
            try:
                policy = self.deps.load_policy(run.policy)
                plan = self.deps.select_method(
                    claim.drive, caps, health, policy, technique_override=run.technique
                )
            except SanitiserError as exc:
                self._end(run, JobState.FAILED, reason=exc.msg, status="refused")
                return
            run.policy_name = plan.policy_name
            run.plan, run.loaded_policy, run.health = plan, policy, health
            self._record(
                run.job_id,
                plan=dataclasses.asdict(plan),
                policy_name=plan.policy_name,
                policy_version=plan.policy_version,
                health=health_to_json(health),
            )
            now = "DESTROY" if plan.destroy else plan.chosen.technique
            if run.confirmed_method and run.confirmed_method != now:
                self._end(
                    run,
                    JobState.FAILED,
                    reason=(
                        f"the plan changed after it was confirmed: {run.confirmed_method} was "
                        f"shown, the policy now chooses {now} (the drive's state changed); "
                        "nothing was erased: look at the drive and confirm again"
                    ),
                    status="refused",
                )
                return
            if plan.destroy:
                reason = plan.chosen.reason or "no acceptable method can run on this drive"
                self._fail(run, reason=f"sent to destruction by policy: {reason}", status="refused")
                return
            method = self.deps.method_for(plan.chosen.technique)
            blocked = method.unavailable(claim.drive, caps)
            if blocked:
                self._fail(run, reason=blocked, status="refused")
                return
            if self._check_cancel(run):
                return
            unlock = unlock_reason(caps)
            if unlock:
                self._move(run, JobState.UNLOCKING, why=unlock)
            if self._check_cancel(run):
                return
            run.chosen = plan.chosen.technique
            run.overwrite_scheme = plan.overwrite_scheme
            run.overwrite_passes = plan.overwrite_passes
            run.verification = plan.verification
            self._move(
                run,
                JobState.SANITISING,
                why=plan.chosen.reason,
                technique=plan.chosen.technique,
                nist_category=plan.chosen.nist_category.value,
                downgrade=plan.downgrade or None,
            )
            notes = MethodNotes.load(self.store, run.job_id)
            outcome = self._run_method(
                run, method=method, claim=claim, runner=runner, caps=caps, notes=notes
            )
        self._finish(run, outcome, health, plan.policy_version)

    def _fingerprint(self, run: RunningJob, claim: Claim) -> None:
        """Before the first write, record what a drive with no serial holds at both ends, so
        a restart can tell it from another drive of the same size (`restart.identify`)."""
        drive = claim.drive
        if not needs_fingerprint(drive.serial, drive.wwn):
            return
        try:
            taken = fingerprint_fd(claim.fd, drive.size_bytes)
        except OSError as exc:
            self._log(run, f"no content fingerprint ({exc}): it cannot be restarted", "warning")
            return
        self._record(run.job_id, fingerprint=taken.to_json())

    def _health(self, run: RunningJob, drive: Drive, runner: CommandRunner) -> Health:
        try:
            return self.deps.health_of(drive, runner)
        except SanitiserError as exc:
            self._log(run, f"health unknown: {exc.msg}", "warning")
            return UNKNOWN_HEALTH

    def _run_method(
        self,
        run: RunningJob,
        *,
        method: Method,
        claim: Claim,
        runner: CommandRunner,
        caps: Capabilities,
        notes: MethodNotes,
    ) -> Outcome | str:
        """Run the method; an Outcome, or the reason it could not give one."""
        ctx = MethodContext(
            drive=claim.drive,
            claim=claim,
            runner=runner,
            capabilities=caps,
            on_progress=lambda ev: self._on_progress(run, ev),
            on_log=lambda line: self._log(run, line),
            cancelled=run.cancel.is_set,
            journal=notes,
            poll_interval=self.poll_interval,
            overwrite_scheme=run.overwrite_scheme,
            overwrite_passes=run.overwrite_passes,
            verification=run.verification,
        )
        run.claim = claim
        try:
            return run_method(method, ctx)
        finally:
            run.claim = None

    def _finish(
        self,
        run: RunningJob,
        outcome: Outcome | str,
        health: Health,
        policy_version: str,
    ) -> None:
        """Turn the method's result into the job's end: route and certificate, or the reason."""
        if isinstance(outcome, str):
            self._fail(run, reason=outcome, status="failed")
            return
        facts = outcome_to_json(outcome)
        if outcome.status is OutcomeStatus.SANITISED:
            self._move(run, JobState.CERTIFYING, outcome=facts, status="sanitised")
            self._finish_certified(run, outcome, health, policy_version)
            return
        reason = outcome.reason
        if outcome.status is OutcomeStatus.ABORTED:  # the method had started: a record is due
            self._conclude(
                run,
                JobState.ABORTED,
                reason=reason or "aborted",
                status="aborted",
                outcome=outcome,
                outcome_facts=facts,
            )
            return
        gone = self.deps.backend_for(run.drive).gone(run.drive)
        if gone and gone not in reason:
            reason = f"{gone}: {reason}" if reason else gone
        self._fail(
            run,
            reason=reason or "the method failed",
            status=outcome.status.value,
            outcome=outcome,
            outcome_facts=facts,
        )
