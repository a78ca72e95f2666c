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
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sanitiser.blockio.progress import ProgressEvent
from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.record import Destination, Person, RecordContext
from sanitiser.certificate.sign import parse_envelope
from sanitiser.custody.anchors import Checkpointer
from sanitiser.devices.fingerprint import (
    Fingerprint,
    fingerprint_fd,
    fingerprint_path,
    needs_fingerprint,
)
from sanitiser.devices.guard import Claim
from sanitiser.domain import UNKNOWN_HEALTH, Drive, Health, Outcome, OutcomeStatus
from sanitiser.errors import DriveBusyError, SanitiserError
from sanitiser.jobs.events import (
    EventBus,
    JobEvent,
    JobLog,
    JobOutcome,
    JobPhase,
    JobProgress,
    Subscriber,
)
from sanitiser.jobs.journal import (
    JobJournal,
    MethodNotes,
    ProcessOwner,
    drive_from_json,
    drive_to_json,
    health_from_json,
    health_to_json,
    outcome_from_json,
    outcome_to_json,
    owner_alive,
)
from sanitiser.jobs.restart import RestartTarget, identify, restart_target, short_id
from sanitiser.jobs.states import ACTIVE, FINAL, JobState
from sanitiser.jobs.writers import judge_other_writers
from sanitiser.methods.ata import JOURNAL_SANITIZE as ATA_SANITIZE_STARTED
from sanitiser.methods.base import Method, MethodContext
from sanitiser.methods.nvme import JOURNAL_SANITIZE as NVME_SANITIZE_STARTED
from sanitiser.methods.scsi import JOURNAL_SCSI as SCSI_OPERATION_STARTED
from sanitiser.policy.plan import Plan, plan_from_json
from sanitiser.probe.capabilities import Capabilities
from sanitiser.routing.age import device_age
from sanitiser.routing.rules import RoutingDecision, route
from sanitiser.runner import CommandRunner
from sanitiser.store import JobView, StaleJobStateError, Store, drive_key
from sanitiser.store.audit import (
    GENESIS,
    AuditKind,
    append_event,
    chain_head,
    entries,
    record_drive_key,
    record_sanitised,
)
from sanitiser.text import clean_text

RecordFacts = dict[str, Any]
"""A job's pending signed record (``record_pending`` in its detail): ``state`` (failed or
aborted), ``outcome`` (`outcome_to_json`), ``destination`` (the certificate's block) and
``routed`` (the custody facts of the routing decision, or None when undecided)."""

log = logging.getLogger(__name__)

HOST_OVERWRITE = "host-overwrite"
"""The one technique the bench can stop at any block (`Technique.HOST_OVERWRITE`)."""
UNDECIDED_ROUTE = Destination(
    route="undecided",
    details="routing could not decide (see the job's record): the technician decides",
)
"""The certificate's destination when routing itself failed (e.g. a broken routing table)."""
BACKGROUND_KEYS = (NVME_SANITIZE_STARTED, ATA_SANITIZE_STARTED, SCSI_OPERATION_STARTED)
"""Method-journal keys that say a firmware operation was sent and had not been concluded: the
drive goes on with it on its own (even across a power cycle), so a restarted bench re-polls it."""
PROGRESS_CHECKPOINT_S = 5.0
"""How often a job's last progress is written to its record (what recovery can tell)."""
WRITER_SCAN_SECONDS = 2.0
"""How often a running job looks for other processes writing to its drive."""


class PolicyLike(Protocol):
    """What the orchestrator needs of a policy: its name and version."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


def _fingerprint_now(drive: Drive) -> Fingerprint | None:
    """`fingerprint_path` of the drive, or None when it cannot be read."""
    try:
        return fingerprint_path(drive.path, drive.size_bytes)
    except OSError:
        return None


@dataclass
class JobDependencies:
    """The seams of a job: everything that touches drives, tools, policy and keys."""

    claim: Callable[[Drive, Drive], Claim]
    """`guard.claim(drive, confirmed)`."""
    runner_for: Callable[[Drive], CommandRunner]
    """The command runner for a drive (real tools, or the lab's emulators)."""
    health_of: Callable[[Drive, CommandRunner], Health]
    probe: Callable[[Drive, CommandRunner], Capabilities]
    load_policy: Callable[[str], Any]
    select_method: Callable[..., Plan]
    """`select_method(drive, caps, health, policy, *, technique_override=None) -> Plan`."""
    method_for: Callable[[str], Method]
    signer: Callable[[], StationSigner]
    """The station signer (loaded once, on the first certificate)."""
    find_drive: Callable[[Drive], Drive | None] = lambda d: d
    """The drive as attached now (kernel names move across restarts), or None when absent."""
    fingerprint: Callable[[Drive], Fingerprint | None] = _fingerprint_now
    """The content fingerprint of a drive now, read only (None when it cannot be read)."""
    default_policy: str = "nist-800-88"


@dataclass(frozen=True, slots=True)
class AbortReply:
    """What an abort request did."""

    accepted: bool
    message: str


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What `Orchestrator.recover` found and did."""

    interrupted: tuple[str, ...] = ()
    """Jobs whose process had died, now recorded ``interrupted``."""
    resumed: tuple[str, ...] = ()
    """Interrupted jobs continued: a drive still sanitising on its own, re-polled."""
    certified: tuple[str, ...] = ()
    """Interrupted jobs whose outcome was recorded: certificate issued (or found), routed."""
    restartable: tuple[str, ...] = ()
    """Interrupted jobs that can only be started again (`Orchestrator.restart`)."""
    recorded: tuple[str, ...] = ()
    """Failed or aborted jobs whose signed record was still to be issued (the bench stopped
    between the job's end and its record): issued now (or the one kept found), custody chained."""


@dataclass
class _Running:
    """The in-process handle of a running job."""

    job_id: str
    drive: Drive
    operator: str
    journal: JobJournal
    technique: str | None = None
    policy: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When the job was recorded (a resumed job: its record's time); its age day for routing."""
    chosen: str = ""
    """The technique being run (once planned)."""
    last_checkpoint: float = 0.0
    outcome: JobOutcome | None = None
    policy_name: str = ""
    """The policy's own name, once planned (`policy` may be a path)."""
    overwrite_scheme: str = "zeros"
    overwrite_passes: tuple[str, ...] = ()
    verification: str = "sampled"
    confirmed: Drive | None = None
    """The drive as recorded when the job was confirmed (for a resumed job)."""
    plan: Plan | None = None
    """The plan, once made (rebuilt from the job's record for a resumed job)."""
    loaded_policy: Any = None
    """The loaded policy the plan was made under (reloaded by name for a resumed job)."""
    health: Health = UNKNOWN_HEALTH
    """The drive's health as read before the method (what routing matches)."""
    claim: Claim | None = None
    """The guard's claim while the method runs (watched for other writers)."""
    last_writer_scan: float = 0.0


def _status_of_state(state: JobState, detail: dict[str, Any]) -> str:
    if state is JobState.ROUTED:
        return "sanitised"
    if state is JobState.ABORTED:
        return "aborted"
    if state is JobState.INTERRUPTED:
        return "interrupted"
    if state is JobState.FAILED:
        return str(detail.get("status") or "failed")
    return "running"


def outcome_of(view: JobView) -> JobOutcome:
    """The outcome event of a recorded job (its state and facts as they are now)."""
    d = dict(view.detail)
    state = JobState(view.state)
    out = d.get("outcome") or {}
    return JobOutcome(
        job_id=view.id,
        device=str(d.get("device", "")),
        serial=view.serial,
        status=_status_of_state(state, d),
        state=view.state,
        method=str(out.get("method") or d.get("technique") or view.method),
        nist_category=str(out.get("nist_category") or d.get("nist_category", "")),
        verified=bool(out.get("verified", False)),
        reason=str(d.get("reason") or out.get("reason") or ""),
        certificate_id=d.get("certificate_id"),
        destination=str(d.get("destination", "")),
        simulated=view.simulated,
        operator=view.operator,
        station=view.station,
        started_at=view.created_at,
        finished_at=view.updated_at if state in FINAL or state is JobState.INTERRUPTED else None,
        routing_reason=str(d.get("routing_reason", "")),
        destruction_level=str(d.get("destruction_level", "")),
    )


def _gone_reason(drive: Drive) -> str:
    """Why a drive looks removed or dead, or "" when it is still there."""
    if not os.path.exists(drive.path):
        return f"the drive disappeared ({drive.path} no longer exists: removed or failed)"
    if not drive.simulated and drive.path.startswith("/dev/"):
        name = os.path.basename(os.path.realpath(drive.path))
        size = f"/sys/class/block/{name}/size"
        try:
            with open(size, encoding="ascii") as f:
                if int(f.read().strip() or "0") == 0:
                    return f"the drive disappeared ({drive.path} now has no capacity)"
        except (OSError, ValueError):
            return f"the drive disappeared ({drive.path} is no longer in sysfs)"
    return ""


class Orchestrator:
    """Runs sanitisation jobs, many at once, journalled in the store.

    Args:
        store: where jobs, their journals and certificates are kept.
        deps: the seams (guard, runner, probe, policy, methods, signer).
        station: this bench's name (recorded on every job and certificate).
        organisation: the organisation named on certificates.
        poll_interval: seconds between status polls of background operations.
        bus: the event bus (a new one when None).
    """

    def __init__(
        self,
        store: Store,
        deps: JobDependencies,
        *,
        station: str,
        organisation: str,
        poll_interval: float = 10.0,
        bus: EventBus | None = None,
        checkpoints: Path | None = None,
    ) -> None:
        self.store = store
        self.checkpoints = checkpoints
        """Where signed checkpoints of the custody chain's head are appended (after each job
        and every `CHECKPOINT_EVERY` entries; also kept in the store: `Checkpointer`); None:
        none are written."""
        self.deps = deps
        self.station = station
        self.organisation = organisation
        self.poll_interval = poll_interval
        self.bus = bus or EventBus()
        self.owner = ProcessOwner.current()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._signer: StationSigner | None = None
        self._signer_lock = threading.Lock()
        self._unrecorded: set[str] = set()
        """Jobs whose events the store refused (said once each)."""
        self._checkpointer = (
            None
            if checkpoints is None
            else Checkpointer(store, self._load_signer, station, checkpoints)
        )
        """Signs checkpoints at each certificate and every so many entries (attached here)."""
        if self._checkpointer is not None:
            self._checkpointer.attach()
        self._restart_lock = threading.Lock()
        # The store consumes the same stream on its own dispatcher thread, so a slow disk
        # (every commit is fsync'd) never holds up the TUI's events.
        self._records = EventBus()
        self._records.subscribe(self._record_event)

    # --- the public API -------------------------------------------------------------------

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
    ) -> list[str]:
        """Record one queued job per drive and start them all at once; returns the job ids.

        Args:
            drives: the drives, as the technician confirmed them.
            operator: who started the jobs (name or id).
            technique: a technique to use instead of the policy's choice (None: auto).
            policy: the policy name (None: the default policy).
            retry_of: the job these replace (for `restart`).
            job_ids: ids to give the new jobs, one per drive (None: new ones).
        """
        operator = clean_text(operator, "operator", required=True)
        policy_name = policy or self.deps.default_policy
        started: list[_Running] = []
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
            run = _Running(
                job_id,
                drive,
                operator,
                JobJournal(self.store, job_id, JobState.QUEUED),
                technique=technique,
                policy=policy_name,
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

    def running(self) -> list[str]:
        """Ids of the jobs running in this process."""
        with self._lock:
            return list(self._running)

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

    def restart(self, job_id: str, *, operator: str) -> str:
        """Start an interrupted, failed or aborted job again from the beginning, as a new job.

        The old job keeps its record (state, journal) and is marked ``retried_by`` the new one.
        Checking, starting and marking happen under one lock, so two restarts of the same job
        in this process give one new job.

        Raises:
            SanitiserError: as `restart_target`.
        """
        with self._restart_lock:
            target = self.restart_target(job_id)
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
                )
            except BaseException:
                self.store.update_job_detail(job_id, retried_by=None)  # nothing was started
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
            if owner_alive(ProcessOwner.from_json(view.detail.get("owner"))):
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
            detail = dict(view.detail)
            if detail.get("retried_by") or view.id in self.running():
                continue
            if owner_alive(ProcessOwner.from_json(detail.get("owner"))):
                continue
            kind = self._resume(view)
            {"certified": certified, "resumed": resumed}.get(kind, restartable).append(view.id)
        recorded: list[str] = []
        for view in self.store.jobs():
            if view.station != self.station or JobState(view.state) not in FINAL:
                continue
            detail = dict(view.detail)
            if not isinstance(detail.get("record_pending"), dict) or view.id in self.running():
                continue
            if owner_alive(ProcessOwner.from_json(detail.get("owner"))):
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

    # --- events ---------------------------------------------------------------------------

    def _publish(self, event: JobEvent) -> None:
        self._records.publish(event)
        self.bus.publish(event)

    def _log(self, run: _Running, message: str, level: str = "info") -> None:
        self._publish(JobLog(run.job_id, run.drive.path, message, level))

    def _record_event(self, event: JobEvent) -> None:
        """The store's subscription: log lines are journalled; progress is checkpointed."""
        try:
            if isinstance(event, JobLog):
                self.store.append_job_event(
                    event.job_id, "log", {"level": event.level, "message": event.message}
                )
            elif isinstance(event, JobProgress):
                with self._lock:
                    run = self._running.get(event.job_id)
                now = time.monotonic()
                if run is not None and now - run.last_checkpoint >= PROGRESS_CHECKPOINT_S:
                    run.last_checkpoint = now
                    self.store.update_job_detail(
                        event.job_id,
                        progress={
                            "phase": event.phase,
                            "bytes_done": event.bytes_done,
                            "total": event.total,
                            "at": datetime.now(UTC).isoformat(timespec="seconds"),
                        },
                    )
        except SanitiserError as exc:  # said once per job: a full disk fails every event
            if (event.job_id or "") not in self._unrecorded:
                self._unrecorded.add(event.job_id or "")
                log.warning("could not record events of job %s: %s", event.job_id, exc)

    # --- running --------------------------------------------------------------------------

    def _launch(self, run: _Running, body: Callable[[_Running], None]) -> None:
        with self._lock:
            self._running[run.job_id] = run
        run.thread = threading.Thread(
            target=self._guarded, args=(run, body), name=f"job-{run.job_id[:8]}", daemon=True
        )
        run.thread.start()

    def _guarded(self, run: _Running, body: Callable[[_Running], None]) -> None:
        """Run a job body; whatever happens, the job ends in a final state and says why."""
        error = ""
        try:
            body(run)
        except StaleJobStateError as exc:
            log.warning("job %s was moved by someone else: %s", run.job_id, exc)
            self._log(run, f"stopped: {exc}", "error")
        except SanitiserError as exc:
            log.warning("job %s failed: %s", run.job_id, exc.msg)
            error = exc.msg
            self._broke(run, exc.msg)
        except OSError as exc:  # said as the system says it (a disk, a file), not "internal"
            log.warning("job %s failed", run.job_id, exc_info=True)
            error = f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
            self._broke(run, error)
        except Exception as exc:  # the job must end recorded, whatever broke
            log.exception("job %s failed unexpectedly", run.job_id)
            error = f"internal error: {exc!r}"
            self._broke(run, error)
        finally:
            run.outcome = self._final_outcome(run, error)
            if run.outcome is not None:
                self._publish(run.outcome)
            with self._lock:
                self._running.pop(run.job_id, None)

    def _final_outcome(self, run: _Running, error: str) -> JobOutcome | None:
        """The job's outcome as recorded; when its end could not be recorded (the store is
        failing: a full data directory, a lost database), an ``interrupted`` outcome that says
        so, so the bench still shows an end: the job stays in its last recorded state, which
        the bench's next start records as interrupted (then ``jobs recover`` / ``restart``)."""
        try:
            view = self.store.job(run.job_id)
        except SanitiserError as exc:
            error = error or exc.msg
            view = None
        if view is not None and JobState(view.state) not in ACTIVE:
            return outcome_of(view)
        if not error:
            return None  # still running elsewhere (moved by someone else)
        return JobOutcome(
            run.job_id,
            run.drive.path,
            run.drive.serial,
            "interrupted",
            JobState.INTERRUPTED.value,
            reason=(
                f"{error}; the job's end could not be recorded: the bench's next start records "
                "it interrupted (then 'sanitiser jobs recover' or 'jobs restart ID')"
            ),
            simulated=run.drive.simulated,
            operator=run.operator,
        )

    def _broke(self, run: _Running, reason: str) -> None:
        """End a job whose body raised: ``failed``, with its signed record once planned.

        A job that broke while certifying a sanitised outcome ends without a record (its
        certificate is what could not be made); whatever breaks here, the job still ends.
        """
        try:
            if run.journal.state is JobState.CERTIFYING:
                self._end(run, JobState.FAILED, reason=reason, status="failed")
            else:
                self._fail(run, reason=reason, status="failed")
        except Exception as exc:  # noqa: BLE001 - the job must end recorded, whatever broke
            try:
                self._end(run, JobState.FAILED, reason=reason, status="failed")
            except Exception as again:  # noqa: BLE001 - the store itself is failing
                log.error("job %s: its end cannot be recorded: %s", run.job_id, again)
            else:
                log.warning("job %s: ended without its signed record: %s", run.job_id, exc)

    def _move(self, run: _Running, new: JobState, *, why: str = "", **detail: Any) -> None:
        """Journal the transition (write-ahead), then announce it."""
        with run.lock:  # announced under the lock too: the stream keeps the journal's order
            previous = run.journal.state
            run.journal.move(new, why=why, **detail)
            self._publish(JobPhase(run.job_id, run.drive.path, new.value, previous.value, why))

    def _end(
        self, run: _Running, state: JobState, *, reason: str, status: str, **detail: Any
    ) -> None:
        """End a job (failed / aborted) with its reason, unless it has already ended."""
        if run.journal.state in FINAL:
            return
        try:
            self._move(run, state, why=reason, status=status, reason=reason, **detail)
        except StaleJobStateError as exc:
            log.warning("job %s could not be ended: %s", run.job_id, exc)

    def _check_cancel(self, run: _Running) -> bool:
        if run.cancel.is_set():
            self._end(run, JobState.ABORTED, reason="aborted by the operator", status="aborted")
            return True
        return False

    def _on_progress(self, run: _Running, ev: ProgressEvent) -> None:
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

    def _work(self, run: _Running) -> None:
        """One job from the start: claim, probe, plan, run, certify, route."""
        self._move(run, JobState.PROBING)
        if self._check_cancel(run):
            return
        runner = self.deps.runner_for(run.drive)
        try:
            claim = self.deps.claim(run.drive, run.drive)
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
            self.store.update_job_detail(
                run.job_id,
                plan=dataclasses.asdict(plan),
                policy_name=plan.policy_name,
                policy_version=plan.policy_version,
                health=health_to_json(health),
            )
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
            unlock = _unlock_reason(caps)
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

    def _fingerprint(self, run: _Running, claim: Claim) -> None:
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
        self.store.update_job_detail(run.job_id, fingerprint=taken.to_json())

    def _health(self, run: _Running, drive: Drive, runner: CommandRunner) -> Health:
        try:
            return self.deps.health_of(drive, runner)
        except SanitiserError as exc:
            self._log(run, f"health unknown: {exc.msg}", "warning")
            return UNKNOWN_HEALTH

    def _run_method(
        self,
        run: _Running,
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
            outcome = method.run(ctx)
            return judge_other_writers(
                outcome,
                still_open=claim.other_writers(),
                seen=claim.writers_seen,
                verification=run.verification,
            )
        except SanitiserError as exc:
            gone = _gone_reason(run.drive)
            return f"{gone}: {exc.msg}" if gone else exc.msg
        except OSError as exc:
            gone = _gone_reason(run.drive)
            if gone or exc.errno in (errno.ENODEV, errno.ENXIO, errno.EIO):
                return gone or f"the drive stopped responding ({exc.strerror})"
            raise
        finally:
            run.claim = None

    def _finish(
        self,
        run: _Running,
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
        gone = _gone_reason(run.drive)
        if gone and gone not in reason:
            reason = f"{gone}: {reason}" if reason else gone
        self._fail(
            run,
            reason=reason or "the method failed",
            status=outcome.status.value,
            outcome=outcome,
            outcome_facts=facts,
        )

    def _load_signer(self) -> StationSigner:
        with self._signer_lock:
            if self._signer is None:
                self._signer = self.deps.signer()
            return self._signer

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
        destination: Destination = UNDECIDED_ROUTE,
    ) -> tuple[str, dict[str, Any]]:
        """Issue and keep the job's certificate exactly once (an earlier one is reused).

        A job that retries another names the earlier job's certificate, if any (a failed
        attempt's record), in ``supersedes``.

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
            destination=destination,
            supersedes=self._superseded(job_id),
            custody=chain_head(self.store, self.station) or (0, GENESIS),
        )
        issued = issue_certificate(outcome, drive, health, context, signer)
        kept = self.store.save_job_certificate(
            job_id, issued.certificate_id, issued.record_json, serial=drive.serial, pdf=issued.pdf
        )
        if kept != issued.certificate_id:  # another process kept one first: that one stands
            return kept, self._stored_record(kept)
        return kept, dict(issued.signed.record)

    def _superseded(self, job_id: str) -> str | None:
        """The certificate of the job this one retries (the drive's earlier record), or None."""
        view = self.store.job(job_id)
        retry_of = str((view.detail if view else {}).get("retry_of") or "")
        return self.store.certificate_for_job(retry_of) if retry_of else None

    def _stored_record(self, cert_id: str) -> dict[str, Any]:
        raw = self.store.certificate_record(cert_id)
        if raw is None:
            raise SanitiserError(f"certificate {cert_id} is not in the store")
        return dict(parse_envelope(raw).record)

    # --- routing and custody ----------------------------------------------------------------

    def _route(self, run: _Running, outcome: Outcome, health: Health) -> RoutingDecision | str:
        """Where the job's drive goes, or why routing could not decide (logged).

        A resumed job routes by its recorded plan and its policy reloaded by name.
        """
        try:
            plan = run.plan or _recorded_plan(self.store.job(run.job_id))
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
        run: _Running,
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
        run: _Running,
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
        detail: dict[str, Any] = {}
        if outcome_facts is not None:
            detail["outcome"] = outcome_facts
        plan = run.plan
        if plan is None:
            self._end(run, state, reason=reason, status=status, **detail)
            return
        attempt = outcome or _failed_outcome(run, plan, reason, status)
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
        self._end(
            run, state, reason=reason, status=status, record_pending=pending, **detail, **routing
        )
        if run.journal.state is state:
            self._issue_record(run, pending, plan.policy_version)

    def _issue_record(self, run: _Running, pending: RecordFacts, policy_version: str) -> None:
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
            self.store.update_job_detail(run.job_id, record_error=why)
            return
        routed = pending.get("routed")
        self._custody(run, cert_id, record, routed if isinstance(routed, dict) else None)
        self.store.update_job_detail(
            run.job_id, certificate_id=cert_id, record_pending=None, record_error=None
        )
        said = (
            f"signed record {cert_id}: NOT sanitised ({outcome.status.value}); destination "
            f"{destination.route}"
        )
        self.store.append_job_event(run.job_id, "note", {"certificate_id": cert_id, "why": said})
        self._log(run, said)

    def _custody(
        self,
        run: _Running,
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
        self._checkpoint()

    def _checkpoint(self) -> None:
        """Sign a checkpoint of this station's chain head (kept in the store and beside it;
        a failure is logged: the job's end and its record stand)."""
        if self._checkpointer is not None:
            self._checkpointer.checkpoint()

    # --- recovery -------------------------------------------------------------------------

    def _mark_interrupted(self, view: JobView) -> bool:
        state = JobState(view.state)
        progress = view.detail.get("progress")
        known = ""
        if isinstance(progress, dict):
            known = (
                f"; last progress: {progress.get('phase', '')} "
                f"{progress.get('bytes_done')}/{progress.get('total')} bytes"
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
        device = str(view.detail.get("device", ""))
        self._publish(JobPhase(view.id, device, JobState.INTERRUPTED.value, state.value, reason))
        self._publish(outcome_of(after))
        return True

    def _resume(self, view: JobView) -> str:
        """Continue one interrupted job if possible: ``certified``, ``resumed`` or ""."""
        detail = dict(view.detail)
        came_from = detail.get("interrupted_from", "")
        outcome_facts = detail.get("outcome")
        recorded = drive_from_json(detail["drive"])
        health = health_from_json(detail["health"]) if detail.get("health") else UNKNOWN_HEALTH
        policy_name = str(detail.get("policy", ""))
        policy_version = str(detail.get("policy_version", ""))
        run = _Running(
            view.id,
            recorded,
            view.operator,
            JobJournal(self.store, view.id, JobState.INTERRUPTED),
            policy=policy_name,
            policy_name=str(detail.get("policy_name", "")),
            health=health,
            created_at=view.created_at,
        )
        try:  # routing needs it; the policy itself is reloaded by name when routing
            run.plan = _recorded_plan(view)
        except SanitiserError as exc:
            log.warning("job %s: %s", view.id, exc.msg)
        if came_from == JobState.CERTIFYING.value and outcome_facts:
            outcome = outcome_from_json(outcome_facts)
            self._launch(run, lambda r: self._resume_certify(r, outcome, health, policy_version))
            return "certified"
        technique = str(detail.get("technique", ""))
        notes = MethodNotes.load(self.store, view.id)
        background = (
            came_from in (JobState.SANITISING.value, JobState.VERIFYING.value)
            and technique
            and technique != HOST_OVERWRITE
            and any(notes.get(key) for key in BACKGROUND_KEYS)
        )
        if not background:
            return ""
        drive = self.deps.find_drive(recorded)
        if drive is None:
            self.store.append_job_event(
                view.id, "note", {"message": "drive not attached: cannot re-poll it now"}
            )
            return ""
        try:  # the same rules as a restart: everything recorded must match
            identify(view, recorded, drive, self.deps.fingerprint)
        except SanitiserError as exc:
            self.store.append_job_event(view.id, "note", {"message": f"not re-polled: {exc.msg}"})
            return ""
        run.confirmed = recorded
        run.drive = drive
        run.chosen = technique
        plan = detail.get("plan") or {}
        run.overwrite_scheme = str(plan.get("overwrite_scheme", run.overwrite_scheme))
        run.overwrite_passes = tuple(str(p) for p in plan.get("overwrite_passes") or ())
        run.verification = str(plan.get("verification", run.verification))
        self._launch(
            run, lambda r: self._resume_method(r, technique, notes, health, policy_version)
        )
        return "resumed"

    def _resume_record(self, view: JobView) -> None:
        """Issue the signed record a failed or aborted job ended without (exactly once)."""
        detail = dict(view.detail)
        pending: RecordFacts = dict(detail["record_pending"])
        recorded = drive_from_json(detail["drive"])
        run = _Running(
            view.id,
            recorded,
            view.operator,
            JobJournal(self.store, view.id, JobState(view.state)),
            policy=str(detail.get("policy", "")),
            policy_name=str(detail.get("policy_name", "")),
            health=health_from_json(detail["health"]) if detail.get("health") else UNKNOWN_HEALTH,
            confirmed=recorded,
            created_at=view.created_at,
        )
        self.store.update_job_detail(view.id, owner=self.owner.to_json())
        self.store.append_job_event(
            view.id, "note", {"why": "resumed: issuing the signed record the job ended without"}
        )
        version = str(detail.get("policy_version", ""))
        self._launch(run, lambda r: self._issue_record(r, pending, version))

    def _resume_certify(
        self, run: _Running, outcome: Outcome, health: Health, policy_version: str
    ) -> None:
        self._move(
            run,
            JobState.CERTIFYING,
            why="resumed: the outcome was recorded",
            owner=self.owner.to_json(),
        )
        self._finish_certified(run, outcome, health, policy_version)

    def _finish_certified(
        self, run: _Running, outcome: Outcome, health: Health, policy_version: str
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
        self.store.update_job_detail(run.job_id, **routing)
        cert_id, record = self._certify(
            run.job_id,
            outcome=outcome,
            drive=run.confirmed or run.drive,
            health=health,
            operator=run.operator,
            policy_name=run.policy_name or run.policy,
            policy_version=policy_version,
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
        self._move(
            run,
            JobState.ROUTED,
            why=f"certificate {cert_id}; {said}",
            certificate_id=cert_id,
            **routing,
        )

    def _resume_method(
        self,
        run: _Running,
        technique: str,
        notes: MethodNotes,
        health: Health,
        policy_version: str,
    ) -> None:
        """Re-poll a drive that kept sanitising on its own, through its method and journal."""
        self._move(
            run,
            JobState.SANITISING,
            why=f"resumed after restart: re-polling {technique} on the drive",
            owner=self.owner.to_json(),
        )
        runner = self.deps.runner_for(run.drive)
        try:
            claim = self.deps.claim(run.drive, run.confirmed or run.drive)
        except DriveBusyError as exc:  # the firmware operation was sent: not proven clean
            self._fail(run, reason=f"cannot re-poll the drive: {exc.msg}", status="failed")
            return
        with claim:
            caps = self.deps.probe(claim.drive, runner)
            method = self.deps.method_for(technique)
            outcome = self._run_method(
                run, method=method, claim=claim, runner=runner, caps=caps, notes=notes
            )
        self._finish(run, outcome, health, policy_version)


def routing_detail(decision: RoutingDecision) -> dict[str, Any]:
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


def undecided_detail(reason: str) -> dict[str, Any]:
    """What a job records when routing could not decide (`UNDECIDED_ROUTE`)."""
    return {
        "destination": UNDECIDED_ROUTE.route,
        "routing_reason": reason,
        "routing_rule": "",
        "destruction_level": "",
        "routing": {"destination": UNDECIDED_ROUTE.route, "reason": reason, "summary": reason},
    }


def _recorded_plan(view: JobView | None) -> Plan:
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


def _failed_outcome(run: _Running, plan: Plan, reason: str, status: str) -> Outcome:
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


def _unlock_reason(caps: Capabilities) -> str:
    """Why the drive needs unlocking / hidden-area removal before the erase ("" when not)."""
    reasons: list[str] = []
    if caps.hidden_sectors:
        reasons.append(f"HPA/DCO hide {caps.hidden_sectors} sectors: restored before erasing")
    ata = caps.ata
    if ata is not None and (ata.security_locked or ata.security_enabled):
        reasons.append("ATA security is enabled: the drive is unlocked first")
    return "; ".join(reasons)


def key_of(drive: Drive) -> str:
    """The store's identity key of a drive (for matching a recorded drive to an attached one)."""
    return drive_key(drive)
