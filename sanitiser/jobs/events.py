"""One typed event stream for every job: phase changes, progress, log lines and outcomes.

The TUI, the headless CLI and the store all subscribe to the same `EventBus`. Publishing never
blocks the publisher (an I/O worker, a ticker thread): events are queued and handed to the
subscribers by one dispatcher thread, in order. When a subscriber falls behind, a job's queued
progress events are coalesced to the newest one; phases, log lines and outcomes are never dropped.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class JobPhase:
    """A job moved to another state (already journalled when this is published)."""

    kind: ClassVar[str] = "phase"
    job_id: str
    device: str
    state: str
    previous: str = ""
    reason: str = ""
    at: datetime = field(default_factory=_now)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready object (one line of ``wipe --json``)."""
        return {
            "event": self.kind,
            "job_id": self.job_id,
            "device": self.device,
            "state": self.state,
            "previous": self.previous,
            "reason": self.reason,
            "at": _time(self.at),
        }


@dataclass(frozen=True, slots=True)
class JobProgress:
    """How far the current phase of a job is."""

    kind: ClassVar[str] = "progress"
    job_id: str
    device: str
    phase: str
    bytes_done: int
    total: int
    mbps: float = 0.0
    eta_s: float | None = None

    @property
    def fraction(self) -> float:
        """0.0 to 1.0."""
        return self.bytes_done / self.total if self.total else 1.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready object."""
        return {
            "event": self.kind,
            "job_id": self.job_id,
            "device": self.device,
            "phase": self.phase,
            "bytes_done": self.bytes_done,
            "total": self.total,
            "percent": round(100 * self.fraction, 1),
            "mbps": round(self.mbps, 1),
            "eta_s": None if self.eta_s is None else round(self.eta_s),
        }


@dataclass(frozen=True, slots=True)
class JobLog:
    """One log line of a job (a command run, a note, a warning)."""

    kind: ClassVar[str] = "log"
    job_id: str
    device: str
    message: str
    level: str = "info"
    """``info``, ``warning`` or ``error``."""
    at: datetime = field(default_factory=_now)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready object."""
        return {
            "event": self.kind,
            "job_id": self.job_id,
            "device": self.device,
            "level": self.level,
            "message": self.message,
            "at": _time(self.at),
        }


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How a job ended, for one drive: the final object ``wipe --json`` prints per drive."""

    kind: ClassVar[str] = "outcome"
    job_id: str | None
    """None for a drive refused before any job was made (e.g. it does not exist)."""
    device: str
    serial: str
    status: str
    """``sanitised``, ``failed``, ``refused``, ``aborted`` or ``interrupted``."""
    state: str
    """The job's final state (``routed``, ``failed``, ``aborted``, ``interrupted``)."""
    method: str = ""
    nist_category: str = ""
    verified: bool = False
    reason: str = ""
    certificate_id: str | None = None
    destination: str = ""
    """Where the drive goes: ``reuse``, ``recycle`` or ``destroy`` (routing's decision);
    ``undecided`` when routing failed; "" when the job ended before anything was decided."""
    simulated: bool = False
    operator: str = ""
    station: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    routing_reason: str = ""
    """Why the drive goes there: the deciding rule's reason (or why routing failed)."""
    destruction_level: str = ""
    """The ISO/IEC 21964 level for a ``destroy`` destination (e.g. ``ISO/IEC 21964 E-4``)."""

    @property
    def succeeded(self) -> bool:
        """The drive was sanitised (and the job reached its end)."""
        return self.status == "sanitised"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready object with at least ``method``, ``nist_category``, ``verified``,
        ``status``, ``reason`` and ``certificate_id``."""
        return {
            "event": self.kind,
            "job_id": self.job_id,
            "device": self.device,
            "serial": self.serial,
            "status": self.status,
            "state": self.state,
            "method": self.method,
            "nist_category": self.nist_category,
            "verified": self.verified,
            "reason": self.reason,
            "certificate_id": self.certificate_id,
            "destination": self.destination,
            "routing_reason": self.routing_reason,
            "destruction_level": self.destruction_level,
            "simulated": self.simulated,
            "operator": self.operator,
            "station": self.station,
            "started_at": _time(self.started_at),
            "finished_at": _time(self.finished_at),
        }


JobEvent = JobPhase | JobProgress | JobLog | JobOutcome
"""Anything a job publishes."""

Subscriber = Callable[[JobEvent], None]


class EventBus:
    """Fan-out of job events to subscribers from one dispatcher thread; publish never blocks.

    Subscribers may be added or removed from any thread. A subscriber that raises is logged and
    kept; it cannot stop the others or the jobs.
    """

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._queue: deque[JobEvent] = deque()
        self._latest_progress: dict[str, JobProgress] = {}
        self._subscribers: list[Subscriber] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._busy = False

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber(event)` for every event from now on; returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: JobEvent) -> None:
        """Queue `event` for the subscribers and return at once."""
        with self._lock:
            if self._closed:
                return
            if isinstance(event, JobProgress):
                key = event.job_id
                if key in self._latest_progress:  # one still queued: just update it
                    self._latest_progress[key] = event
                    return
                self._latest_progress[key] = event
            self._queue.append(event)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="job-events", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def _next(self) -> tuple[JobEvent, list[Subscriber]] | None:
        with self._lock:
            self._busy = False
            self._lock.notify_all()
            while not self._queue and not self._closed:
                self._lock.wait()
            if not self._queue:
                return None
            event = self._queue.popleft()
            if isinstance(event, JobProgress):
                event = self._latest_progress.pop(event.job_id, event)
            self._busy = True
            return event, list(self._subscribers)

    def _run(self) -> None:
        while (item := self._next()) is not None:
            event, subscribers = item
            for subscriber in subscribers:
                try:
                    subscriber(event)
                except Exception:  # a broken subscriber must not stop the jobs or the others
                    log.exception("job event subscriber %r failed", subscriber)

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event has been delivered; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self) -> None:
        """Deliver what is queued, then stop the dispatcher."""
        self.drain()
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)
