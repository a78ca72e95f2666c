"""The job engine's core: state, events, journal moves and the thread a job runs in."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Unpack

from sanitiser.certificate.keys import StationSigner
from sanitiser.custody.anchors import Checkpointer
from sanitiser.errors import SanitiserError
from sanitiser.jobs.events import (
    EventBus,
    JobEvent,
    JobLog,
    JobOutcome,
    JobPhase,
    JobProgress,
)
from sanitiser.jobs.facts import EndFacts, JobFacts
from sanitiser.jobs.journal import (
    ProcessOwner,
)
from sanitiser.jobs.model import PROGRESS_CHECKPOINT_S, JobDependencies, RunningJob
from sanitiser.jobs.states import ACTIVE, FINAL, JobState
from sanitiser.jobs.views import outcome_of
from sanitiser.store import StaleJobStateError, Store

log = logging.getLogger(__name__)


class JobEngine:
    """The engine's state and its plumbing: the store, the seams, the running jobs, events
    (published to subscribers and recorded by the store on its own thread), journal moves, and
    the thread each job runs in. `Conclusion`, `Pipeline`, `Recovery` and `Orchestrator` build
    on it, each on the one before.

    Args:
        store: where jobs, their journals and certificates are kept.
        deps: the seams (guard, runner, probe, policy, methods, signer).
        station: this bench's name (recorded on every job and certificate).
        organisation: the organisation named on certificates.
        poll_interval: seconds between status polls of background operations.
        bus: the event bus (a new one when None).
        checkpoints: where signed checkpoints of the custody chain are appended (None: none).
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
        self._running: dict[str, RunningJob] = {}
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

    def running(self) -> list[str]:
        """Ids of the jobs running in this process."""
        with self._lock:
            return list(self._running)

    def _publish(self, event: JobEvent) -> None:
        self._records.publish(event)
        self.bus.publish(event)

    def _log(self, run: RunningJob, message: str, level: str = "info") -> None:
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
                    self._record(
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

    def _launch(self, run: RunningJob, body: Callable[[RunningJob], None]) -> None:
        with self._lock:
            self._running[run.job_id] = run
        run.thread = threading.Thread(
            target=self._guarded, args=(run, body), name=f"job-{run.job_id[:8]}", daemon=True
        )
        run.thread.start()

    def _guarded(self, run: RunningJob, body: Callable[[RunningJob], None]) -> None:
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

    def _final_outcome(self, run: RunningJob, error: str) -> JobOutcome | None:
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

    def _record(self, job_id: str, **facts: Unpack[JobFacts]) -> None:
        """Merge facts into a job's record without moving it (``None`` removes a key)."""
        self.store.update_job_detail(job_id, **facts)

    def _move(
        self, run: RunningJob, new: JobState, *, why: str = "", **detail: Unpack[JobFacts]
    ) -> None:
        """Journal the transition (write-ahead), then announce it."""
        with run.lock:  # announced under the lock too: the stream keeps the journal's order
            previous = run.journal.state
            run.journal.move(new, why=why, **detail)
            self._publish(JobPhase(run.job_id, run.drive.path, new.value, previous.value, why))

    def _end(
        self,
        run: RunningJob,
        state: JobState,
        *,
        reason: str,
        status: str,
        **detail: Unpack[EndFacts],
    ) -> None:
        """End a job (failed / aborted) with its reason, unless it has already ended."""
        if run.journal.state in FINAL:
            return
        try:
            self._move(run, state, why=reason, status=status, reason=reason, **detail)
        except StaleJobStateError as exc:
            log.warning("job %s could not be ended: %s", run.job_id, exc)

    def _broke(self, run: RunningJob, reason: str) -> None:
        """End a job whose thread broke (an error nothing caught): `Conclusion` records it with
        its signed record when the job had a plan."""
        raise NotImplementedError

    def _check_cancel(self, run: RunningJob) -> bool:
        if run.cancel.is_set():
            self._end(run, JobState.ABORTED, reason="aborted by the operator", status="aborted")
            return True
        return False

    def _load_signer(self) -> StationSigner:
        with self._signer_lock:
            if self._signer is None:
                self._signer = self.deps.signer()
            return self._signer

    def signing_refusal(self) -> str:
        """Why this station cannot sign a certificate now ("" when it can).

        The same judgement signing makes, not a copy of it: the signer is loaded afresh as a
        certificate's first signature loads it (a missing, unreadable or mismatched key or
        certificate is refused there), then `StationSigner.check_usable` (revoked, retired,
        not valid now, not issued by the organisation CA), which every signature runs first.
        """
        try:
            self.deps.signer().check_usable()
        except SanitiserError as exc:
            return exc.msg
        except OSError as exc:  # a key or certificate file the system would not read
            return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        return ""

    def check_can_sign(self) -> None:
        """Refuse to start work whose certificate this station could not sign (pre-flight).

        Raises:
            SanitiserError: the station cannot sign now (why, and what to do).
        """
        refusal = self.signing_refusal()
        if refusal:
            raise SanitiserError(
                f"this station ({self.station}) cannot sign certificates now: {refusal}. "
                "Nothing was started and nothing was written to any drive. Give the station "
                "a valid certificate and key (whoever holds the organisation CA: 'sanitiser "
                "keys new-station --force'), or erase on a station that can sign.",
                title="Station cannot sign",
            )

    def _checkpoint(self) -> None:
        """Sign a checkpoint of this station's chain head (kept in the store and beside it;
        a failure is logged: the job's end and its record stand)."""
        if self._checkpointer is not None:
            self._checkpointer.checkpoint()
