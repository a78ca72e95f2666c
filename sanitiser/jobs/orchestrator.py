"""Many drives at once: one job (one thread) per drive, each a journalled state machine.

A job runs: guard claim -> health and probe -> policy plan -> method -> routing decision ->
certificate (exactly once, by job id; it names the destination) -> routed. Every transition is
written to the store before it takes effect (`JobJournal`), so after a crash, ``kill -9`` or
power loss `Orchestrator.recover` can say the truth: each unfinished job becomes ``interrupted``
with what is known; a job whose drive is still sanitising on its own (a firmware sanitize
survives a power cycle) is re-polled through its method with the saved method journal; a job
whose outcome was already recorded gets its certificate and its route; a failed or aborted job
whose signed record was not issued yet gets it; any other can be started again with
`Orchestrator.restart` (a new job that refers to the old one: no record is lost or overwritten;
the new job's certificate names the old one's in ``supersedes``).

The orchestrator is the API the TUI and the headless CLI share: `start`, `subscribe` (events from
any thread, delivered by the `EventBus` without blocking I/O), `abort`, `jobs`, `wait`.
Everything that touches the world is a `JobDependencies` seam, so tests swap in emulators.

Routing (`sanitiser.routing.rules.route`) decides where the drive goes (reuse, recycle or
destroy) from the outcome, the plan, the health and the policy's ``[routing]`` table, before the
certificate is issued: the certificate records the destination. The job records the decision
(``destination`` = the kind, ``routing_reason``, ``routing_rule``, ``destruction_level`` and the
full ``routing`` facts) and the ``routed`` transition says it. A job that failed after its plan
was made is routed too (a drive not proven clean goes to destruction, at the ISO/IEC 21964 level
the policy names). When routing itself fails (a broken policy) the outcome is kept: the
certificate says ``undecided`` and the job records why.

Signed records of jobs that did not sanitise: every job that got as far as a plan ends with
exactly one signed record of its true outcome, so its drive can be consigned to a destruction
provider (a consignment takes certificates): a method that failed (a lying drive, a failed
sanitize, a drive removed mid-run, an internal error), a method refused at run time, a plan that
chose destruction, and an abort once the method had started (something destructive may have
begun). The job still ends ``failed`` / ``aborted`` (its state says what happened; the record
says "NOT sanitised" and names the routing decision as its destination). The end is written
first, with the record to issue (``record_pending``: the attempt's outcome, the destination and
the custody facts); the certificate is then kept by job id (`Store.save_job_certificate`), its
custody chained, and ``certificate_id`` set (``record_pending`` cleared). A crash in between is
completed by `Orchestrator.recover` exactly once (``recorded``). Jobs that end before any plan
(the guard refused the drive, the policy refused the operator's method, an abort before the
method ran) get no record: nothing was attempted and the drive is as it came. An
``interrupted`` job gets none either: it is restarted, and the new job's record tells.

Custody (`sanitiser.store.audit`): once the certificate is kept, ``sanitised`` (or
``not-sanitised`` for a record of a failed, refused or aborted attempt) is chained for it (once
per certificate id), then ``routed`` with the decision (once per job), so the drive's trail reads
received -> sanitised|not-sanitised -> routed (-> consigned -> handed-over, by a consignment); a
resumed job appends neither twice.

The engine is split by concern, each class building on the one before: `core.JobEngine` (state,
events, journal moves, threads), `conclusion.Conclusion` (route, certify, custody),
`pipeline.Pipeline` (one job's run), `recovery.Recovery` (after a crash) and `Orchestrator`
here (the public API). Values live in `model`, recorded jobs read back in `views`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sanitiser.domain import Drive
from sanitiser.errors import SanitiserError
from sanitiser.jobs.events import (
    JobOutcome,
    JobPhase,
    Subscriber,
)
from sanitiser.jobs.journal import (
    JobJournal,
    drive_to_json,
)
from sanitiser.jobs.model import (
    HOST_OVERWRITE,
    AbortReply,
    JobDependencies,
    PolicyLike,
    RecoveryReport,
    RunningJob,
    key_of,
)
from sanitiser.jobs.recovery import Recovery
from sanitiser.jobs.restart import RestartTarget, restart_target, short_id
from sanitiser.jobs.states import FINAL, JobState
from sanitiser.jobs.views import outcome_of, routed_facts, routing_detail, undecided_detail
from sanitiser.store import JobView
from sanitiser.text import clean_text

__all__ = [
    "AbortReply",
    "JobDependencies",
    "Orchestrator",
    "PolicyLike",
    "RecoveryReport",
    "key_of",
    "outcome_of",
    "routed_facts",
    "routing_detail",
    "undecided_detail",
]


class Orchestrator(Recovery):
    """Runs sanitisation jobs, many at once, journalled in the store (the public API; the
    constructor is `JobEngine`'s)."""

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Receive every job event from now on (on the bus thread); returns an unsubscribe."""
        return self.bus.subscribe(subscriber)

    def start(
        self,
        drives: Sequence[Drive],
        *,
        operator: str,
        technique: str | None = None,
        policy: str | None = None,
        retry_of: str | None = None,
        job_ids: Sequence[str] | None = None,
        confirmed_plans: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Record one queued job per drive and start them all at once; returns the job ids.

        Args:
            drives: the drives, as the technician confirmed them.
            operator: who started the jobs (name or id).
            technique: a technique to use instead of the policy's choice (None: auto).
            policy: the policy name (None: the default policy).
            retry_of: the job these replace (for `restart`).
            job_ids: ids to give the new jobs, one per drive (None: new ones).
            confirmed_plans: what the technician was shown and confirmed, per drive path: the
                technique, or ``DESTROY``. A job whose own plan differs (the drive changed in
                between: frozen, locked, removed and another put in) ends ``refused`` before
                anything is written, and says both.

        Raises:
            SanitiserError: this station cannot sign a certificate now (revoked, retired,
                expired, its key missing or unreadable: `check_can_sign`); no job is recorded
                and nothing is written.
        """
        operator = clean_text(operator, "operator", required=True)
        self.check_can_sign()
        policy_name = policy or self.deps.default_policy
        started: list[RunningJob] = []
        ids = list(job_ids) if job_ids is not None else [None] * len(drives)
        for drive, given_id in zip(drives, ids, strict=True):
            detail: dict[str, Any] = {
                "device": drive.path,
                "drive": drive_to_json(drive),
                "owner": self.owner.to_json(),
                "policy": policy_name,
                "technique_override": technique or "",
            }
            if retry_of:
                detail["retry_of"] = retry_of
            job_id = self.store.create_job_record(
                drive,
                station=self.station,
                operator=operator,
                method=technique or "auto",
                detail=detail,
                job_id=given_id,
            )
            if retry_of:
                # The new attempt inherits the old one's private notes: an ATA password it set
                # (the drive stays locked with it), a seed. Kept before the new job runs.
                old_notes = self.store.job_journal(retry_of)
                if old_notes:
                    self.store.save_job_journal(job_id, old_notes)
            run = RunningJob(
                job_id,
                drive,
                operator,
                JobJournal(self.store, job_id, JobState.QUEUED),
                technique=technique,
                policy=policy_name,
                confirmed_method=(confirmed_plans or {}).get(drive.path, ""),
            )
            started.append(run)
            self._publish(JobPhase(job_id, drive.path, JobState.QUEUED.value))
        for run in started:
            self._launch(run, self._work)
        return [r.job_id for r in started]

    def abort(self, job_id: str) -> AbortReply:
        """Stop a job if it can be stopped cleanly; otherwise say why not (and record it).

        Before the erase starts and during a host overwrite or verification, the job stops at
        the next block and ends ``aborted``. A firmware erase (ATA security erase, sanitize,
        format) cannot be stopped once sent: the job goes on and records what the drive does.
        """
        with self._lock:
            run = self._running.get(job_id)
        if run is None:
            view = self.store.job(job_id)
            state = view.state if view else "unknown"
            return AbortReply(False, f"job {job_id} is not running here (it is {state})")
        with run.lock:
            state = run.journal.state
            if state is JobState.CERTIFYING:
                msg = "the drive is already sanitised; its certificate is being issued"
                return AbortReply(False, msg)
            if state in FINAL:
                msg = f"the job has ended ({state}); its signed record is being issued"
                return AbortReply(False, msg)
            firmware = run.chosen and run.chosen != HOST_OVERWRITE
            if state is JobState.SANITISING and firmware:
                msg = (
                    f"{run.chosen} cannot be stopped once the drive has started it; the job "
                    "goes on and records what the drive reports"
                )
                self._log(run, f"abort requested: {msg}", "warning")
                return AbortReply(False, msg)
            run.cancel.set()
        self._log(run, "abort requested: stopping at the next safe point", "warning")
        return AbortReply(True, "stopping at the next safe point")

    def abort_all(self) -> list[AbortReply]:
        """`abort` every running job."""
        with self._lock:
            ids = list(self._running)
        return [self.abort(i) for i in ids]

    def jobs(self) -> list[JobView]:
        """Every job of the store, newest first."""
        return self.store.jobs()

    def outcome(self, job_id: str) -> JobOutcome | None:
        """The outcome of a job as recorded now (None when unknown)."""
        view = self.store.job(job_id)
        return None if view is None else outcome_of(view)

    def wait(self, job_ids: Sequence[str] | None = None, timeout: float | None = None) -> bool:
        """Wait until the jobs (default: all running) have ended; False on timeout.

        Their events have all been delivered to the subscribers when this returns True.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            runs = [r for i, r in self._running.items() if job_ids is None or i in job_ids]
        for run in runs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if run.thread is not None:
                run.thread.join(left)
                if run.thread.is_alive():
                    return False
        left = 30.0 if deadline is None else max(1.0, deadline - time.monotonic())
        return self._records.drain(timeout=left) and self.bus.drain(timeout=left)

    def close(self) -> None:
        """Deliver the remaining events and stop the event thread (jobs must have ended)."""
        self._records.close()
        self.bus.close()

    def restart_target(self, job_id: str) -> RestartTarget:
        """The job and the attached drive a restart of `job_id` would erase, checked now.

        Raises:
            SanitiserError: the job is unknown, still running, routed (it sanitised its drive),
                already restarted, or its drive is not attached or is busy with another job.
        """
        return restart_target(
            self.store.job(job_id),
            job_id,
            self.deps.find_drive,
            self._busy,
            self.deps.fingerprint,
        )

    def restart(self, job_id: str, *, operator: str, confirmed_method: str = "") -> str:
        """Start an interrupted, failed or aborted job again from the beginning, as a new job.

        The old job keeps its record (state, journal) and is marked ``retried_by`` the new one.
        Checking, starting and marking happen under one lock, so two restarts of the same job
        in this process give one new job.

        Raises:
            SanitiserError: as `restart_target`.
        """
        with self._restart_lock:
            target = self.restart_target(job_id)
            self.check_can_sign()  # before the old job is marked restarted
            new_id = str(uuid.uuid4())
            winner = self.store.claim_restart(job_id, new_id)  # atomic across processes
            if winner:
                raise SanitiserError(
                    f"Job {short_id(job_id)} was already restarted as job {short_id(winner)}: "
                    "restart that one if it did not finish.",
                    title="Restart",
                )
            try:
                self.start(
                    [target.drive],
                    operator=operator,
                    technique=target.technique,
                    policy=target.policy,
                    retry_of=job_id,
                    job_ids=[new_id],
                    confirmed_plans={target.drive.path: confirmed_method}
                    if confirmed_method
                    else None,
                )
            except BaseException:
                self._record(job_id, retried_by=None)  # nothing was started
                raise
        self.store.append_job_event(job_id, "note", {"retried_by": new_id, "operator": operator})
        return new_id

    def _busy(self, drive: Drive) -> str | None:
        """The id of a job this orchestrator is running on `drive` (same device or serial)."""
        with self._lock:
            runs = list(self._running.values())
        for run in runs:
            same_serial = bool(drive.serial) and run.drive.serial == drive.serial
            if run.drive.path == drive.path or same_serial:
                return run.job_id
        return None
