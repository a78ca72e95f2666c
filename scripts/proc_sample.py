"""Watching a running process from ``/proc``: its CPU time and resident memory, and the
machine's busy time, a few times a second, so a bench can say what a process used during one
stretch of its life (its I/O, a pass of nwipe) rather than over all of it.

The parsers are pure (they take the text of ``/proc`` files); `Sampler` is the thread that reads
them, and `between` interpolates a figure at two moments.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
"""Clock ticks per second, the unit of the CPU times in ``/proc``."""


def cpu_ticks(stat: str) -> int:
    """User plus system CPU time, in clock ticks, of every thread of a process, from the text
    of its ``/proc/PID/stat`` (fields 14 and 15).

    The command name (field 2) is in parentheses and may itself hold spaces or parentheses, so
    the fields are counted from after its last ``)``.

    Raises:
        ValueError: the text is not a ``stat`` line.
    """
    close = stat.rfind(")")
    rest = stat[close + 1 :].split()
    if close < 0 or len(rest) < 13:
        raise ValueError(f"not a /proc/PID/stat line: {stat[:80]!r}")
    return int(rest[11]) + int(rest[12])


def status_kib(status: str, key: str) -> int | None:
    """A ``/proc/PID/status`` figure in KiB (``VmRSS``, ``VmHWM``); None when absent (a kernel
    thread, or a process already reaped)."""
    for line in status.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return None


def machine_ticks(stat: str) -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs from the text of ``/proc/stat``: busy is everything
    but idle and iowait.

    Raises:
        ValueError: no ``cpu`` line.
    """
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(f) for f in fields[1:]]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            return sum(ticks) - idle, sum(ticks)
    raise ValueError("no cpu line in /proc/stat")


@dataclass(frozen=True, slots=True)
class Sample:
    """One look at a process (and the machine)."""

    at: float
    """`time.monotonic()` when taken."""
    cpu_s: float
    """The process's user + system CPU seconds so far."""
    rss_kib: int
    """Its resident memory."""
    machine_busy: int
    """The machine's busy clock ticks so far (all CPUs)."""
    machine_total: int
    """The machine's clock ticks so far (all CPUs)."""


def between(
    samples: Sequence[Sample], t0: float, t1: float, value: Callable[[Sample], float]
) -> float:
    """How much `value` grew from `t0` to `t1`, interpolating linearly between the samples on
    either side of each moment (held at the first or last sample outside their range).

    Raises:
        ValueError: no samples.
    """
    return value_at(samples, t1, value) - value_at(samples, t0, value)


def value_at(samples: Sequence[Sample], t: float, value: Callable[[Sample], float]) -> float:
    """`value` at moment `t`, interpolated between the samples either side (held outside them).

    Raises:
        ValueError: no samples.
    """
    if not samples:
        raise ValueError("no samples")
    i = bisect_left([s.at for s in samples], t)
    if i == 0:
        return value(samples[0])
    if i == len(samples):
        return value(samples[-1])
    a, b = samples[i - 1], samples[i]
    share = (t - a.at) / (b.at - a.at) if b.at > a.at else 1.0
    return value(a) + share * (value(b) - value(a))


def busy_fraction(samples: Sequence[Sample], t0: float, t1: float) -> float | None:
    """The share of all CPUs' time that was busy from `t0` to `t1` (None if no time passed)."""
    total = between(samples, t0, t1, lambda s: s.machine_total)
    if total <= 0:
        return None
    return between(samples, t0, t1, lambda s: s.machine_busy) / total


class Sampler:
    """Samples process `pid` every `interval` seconds in a thread until stopped or it exits.

    Use as a context manager; `samples` holds what was seen, oldest first: one taken on entry,
    one on exit (while the process still runs), and those in between.
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sample-{pid}", daemon=True)

    def take(self) -> Sample | None:
        """One sample now (None when the process is gone)."""
        proc = Path(f"/proc/{self.pid}")
        try:
            stat = (proc / "stat").read_text()
            status = (proc / "status").read_text()
        except OSError:
            return None
        rss = status_kib(status, "VmRSS")
        if rss is None:  # a zombie: exited, not yet reaped
            return None
        busy, total = machine_ticks(Path("/proc/stat").read_text())
        return Sample(time.monotonic(), cpu_ticks(stat) / CLOCK_TICKS, rss, busy, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            sample = self.take()
            if sample is None:
                return
            self.samples.append(sample)

    def __enter__(self) -> Sampler:
        first = self.take()  # one at once, so even a short run has a sample at its start
        if first is not None:
            self.samples.append(first)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        last = self.take()
        if last is not None:
            self.samples.append(last)
