"""Progress events: a ticker thread samples a byte counter a few times a second.

The I/O workers only add to a counter when a block completes; they never call back. The ticker
turns the counter into a moving-average throughput and an ETA and calls `on_progress` from its
own thread, so a slow subscriber (a TUI, a journal) can never slow the I/O.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """Where one phase of a job stands."""

    bytes_done: int
    total: int
    mbps_avg: float
    """Moving average over the last few seconds, MB/s (10^6 bytes)."""
    eta_s: float | None
    """Seconds to the end of this phase at the current rate; None until a rate is known."""
    phase: str = ""
    """E.g. ``pass 1/3 zeros``, ``verify full``."""

    @property
    def fraction(self) -> float:
        """0.0 to 1.0."""
        return self.bytes_done / self.total if self.total else 1.0


ProgressCallback = Callable[[ProgressEvent], None]


class Counter:
    """Bytes done, shared by the workers (one lock-protected add per block)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, n: int) -> None:
        """Count `n` more bytes."""
        with self._lock:
            self._value += n

    @property
    def value(self) -> int:
        """Bytes counted so far."""
        return self._value


class Ticker:
    """Calls `callback` every `interval` seconds with the counter's progress, until stopped.

    Use as a context manager around the I/O; a final event is sent on exit.
    """

    def __init__(
        self,
        counter: Counter,
        total: int,
        callback: ProgressCallback | None,
        *,
        phase: str = "",
        interval: float = 0.2,
        window: float = 3.0,
    ) -> None:
        self._counter = counter
        self._total = total
        self._callback = callback
        self._phase = phase
        self._interval = interval
        self._window = window
        self._stop = threading.Event()
        self._samples: deque[tuple[float, int]] = deque()
        self._thread: threading.Thread | None = None

    def event(self) -> ProgressEvent:
        """The progress now (also records a sample for the moving average)."""
        now, done = time.monotonic(), self._counter.value
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        rate = (done - d0) / (now - t0) if now > t0 else 0.0
        eta = (self._total - done) / rate if rate > 0 else None
        return ProgressEvent(done, self._total, rate / 1e6, eta, self._phase)

    def _run(self, callback: ProgressCallback) -> None:
        while not self._stop.wait(self._interval):
            callback(self.event())

    def __enter__(self) -> Ticker:
        self.event()
        if self._callback is not None:
            self._thread = threading.Thread(
                target=self._run, args=(self._callback,), name="blockio-progress", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None and self._callback is not None:
            self._thread.join()
            self._callback(self.event())
