"""Reading the event stream of a many-drive ``sanitiser wipe --json``: how fast the bays went
together, and how long any one job went without a progress event.

The bench stamps each line of the wipe's standard output with `time.monotonic()` as it arrives
(the CLI flushes every event), so the figures are what a consumer of the stream saw. Progress
events come from each job's ticker every `INTERVAL` seconds; the first comes one interval after
a phase's I/O starts, the last right after it ends. Everything here is pure.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

INTERVAL = 0.2
"""Seconds between a job's progress events (`sanitiser.blockio.IOConfig.progress_interval`)."""

MIN_WINDOW = 1.0
"""Seconds every job must have run together for their aggregate to count (five intervals): over
a shorter stretch the figure is mostly the jitter of when events arrived."""

Kind = Literal["write", "verify"]


@dataclass(frozen=True, slots=True)
class Tick:
    """One progress event, as received."""

    at: float
    """When the line arrived (monotonic seconds)."""
    job: str
    phase: str
    """E.g. ``pass 1/1 zeros``, ``verify full``."""
    done: int
    total: int

    @property
    def kind(self) -> Kind | None:
        """``write`` for an overwrite pass, ``verify`` for a read-back, None otherwise."""
        if self.phase.startswith("pass "):
            return "write"
        if self.phase.startswith("verify"):
            return "verify"
        return None


def ticks(lines: Iterable[tuple[float, str]]) -> list[Tick]:
    """The progress events among stamped JSON lines (other events are skipped).

    Raises:
        ValueError: a line is not a JSON object (the wipe printed something else on stdout).
    """
    out: list[Tick] = []
    for at, line in lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON event line: {line[:120]!r}") from exc
        if not isinstance(event, dict):
            raise ValueError(f"not a JSON event object: {line[:120]!r}")
        if event.get("event") == "progress":
            out.append(
                Tick(
                    at,
                    str(event["job_id"]),
                    str(event["phase"]),
                    int(event["bytes_done"]),
                    int(event["total"]),
                )
            )
    return out


def _by_job(events: Iterable[Tick]) -> dict[str, list[Tick]]:
    jobs: dict[str, list[Tick]] = {}
    for t in sorted(events, key=lambda t: t.at):
        jobs.setdefault(t.job, []).append(t)
    return jobs


def all_running(events: Sequence[Tick]) -> tuple[float, float] | None:
    """The stretch in which every job was in its I/O: from the latest first event of any job to
    the earliest last one; None when there is no such stretch (a job ended before another
    began)."""
    jobs = _by_job(events)
    if not jobs:
        return None
    start = max(seq[0].at for seq in jobs.values())
    end = min(seq[-1].at for seq in jobs.values())
    return (start, end) if end > start else None


@dataclass(frozen=True, slots=True)
class Gap:
    """The longest time one job went without a progress event."""

    seconds: float
    job: str
    after: str
    """The phase of the event before the gap."""
    before: str
    """The phase of the event after it (another one when the gap spans a phase change)."""
    start: float
    """When it began (the time of the event before it)."""


def largest_gap(
    events: Sequence[Tick], window: tuple[float, float] | None = None, *, same_phase: bool = False
) -> Gap | None:
    """The longest time between consecutive progress events of one job, over all jobs.

    Args:
        events: the progress events.
        window: count only gaps that overlap this stretch (e.g. `all_running`); None: all.
        same_phase: count only gaps within one phase (not the step from a pass to its
            verification, which includes the flush and the verifier's set-up).
    """
    best: Gap | None = None
    for job, seq in _by_job(events).items():
        for a, b in pairwise(seq):
            if window is not None and (b.at <= window[0] or a.at >= window[1]):
                continue
            if same_phase and a.phase != b.phase:
                continue
            if best is None or b.at - a.at > best.seconds:
                best = Gap(b.at - a.at, job, a.phase, b.phase, a.at)
    return best


def _done_at(seq: Sequence[Tick], t: float) -> float:
    """Bytes a job had done at `t`, interpolated between its events (held outside them)."""
    if t <= seq[0].at:
        return float(seq[0].done)
    for a, b in pairwise(seq):
        if t <= b.at:
            share = (t - a.at) / (b.at - a.at) if b.at > a.at else 1.0
            return a.done + share * (b.done - a.done)
    return float(seq[-1].done)


def _cumulative(seq: Sequence[Tick]) -> list[Tick]:
    """A job's events of one kind with bytes counted across its phases (a scheme of two
    passes counts the second pass's bytes after the first's)."""
    out: list[Tick] = []
    base, phase, last_total = 0, "", 0
    for t in seq:
        if phase and t.phase != phase:
            base += last_total
        phase, last_total = t.phase, t.total
        out.append(Tick(t.at, t.job, t.phase, base + t.done, base + t.total))
    return out


@dataclass(frozen=True, slots=True)
class Aggregate:
    """How fast the bays went together, in one kind of I/O (write or verify)."""

    jobs: int
    bytes: int
    """Bytes done by all jobs."""
    all_running_mbps: float | None
    """MB/s of all jobs together while every one of them was in this I/O (None: never)."""
    all_running_s: float
    window: tuple[float, float] | None
    """That stretch (monotonic seconds), when it counted."""
    """How long that stretch was."""
    overall_mbps: float
    """All bytes over the time from the first job's start to the last job's end."""
    overall_s: float
    start_spread_s: float
    """From the first job's first event of this kind to the last job's: how staggered the
    jobs started (each job's set-up, one after another, is the usual cause)."""
    per_job_mbps: tuple[float, ...]
    """Each job's own MB/s (between its first steady event and its last), sorted."""

    def record(self) -> dict[str, object]:
        """The JSON figures."""
        per = self.per_job_mbps
        return {
            "jobs": self.jobs,
            "bytes": self.bytes,
            "all_running_MBps": _round(self.all_running_mbps),
            "all_running_seconds": round(self.all_running_s, 2),
            "overall_MBps": round(self.overall_mbps, 1),
            "overall_seconds": round(self.overall_s, 2),
            "start_spread_seconds": round(self.start_spread_s, 2),
            "per_bay_MBps": None
            if not per
            else {
                "min": round(per[0], 1),
                "median": round(statistics.median(per), 1),
                "max": round(per[-1], 1),
            },
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _steady(seq: Sequence[Tick]) -> Sequence[Tick]:
    """A job's events from its second on, when it has three or more: the first of a phase can
    reach the stream late (a job records its move into verification before it publishes that
    event) while it carries the bytes done when it was taken."""
    return seq[1:] if len(seq) >= 3 else seq


def _rate(seq: Sequence[Tick]) -> float | None:
    """A job's MB/s between its first steady event and its last (None: no time between)."""
    steady = _steady(seq)
    span = steady[-1].at - steady[0].at
    return (steady[-1].done - steady[0].done) / span / 1e6 if span > 0 else None


def aggregate(
    events: Sequence[Tick],
    kind: Kind,
    *,
    interval: float = INTERVAL,
    min_window: float = MIN_WINDOW,
) -> Aggregate | None:
    """The `kind` I/O of all jobs, taken together; None when no job did any.

    Overall, a job's I/O is taken to start one `interval` before its first progress event (its
    ticker waits that long before the first) and to end at its last. The aggregate while all
    ran counts from each job's first steady event (`_steady`), and is None when all ran
    together for less than `min_window` seconds.
    """
    jobs = {
        job: _cumulative(seq)
        for job, seq in _by_job(t for t in events if t.kind == kind).items()
        if seq
    }
    if not jobs:
        return None
    total = sum(seq[-1].done for seq in jobs.values())
    firsts = [seq[0].at for seq in jobs.values()]
    first = min(firsts) - interval
    last = max(seq[-1].at for seq in jobs.values())
    per_job = sorted(r for seq in jobs.values() if (r := _rate(seq)) is not None)
    window = all_running([t for seq in jobs.values() for t in _steady(seq)])
    mbps: float | None = None
    span = 0.0 if window is None else window[1] - window[0]
    if window is not None and span >= min_window:
        moved = sum(_done_at(seq, window[1]) - _done_at(seq, window[0]) for seq in jobs.values())
        mbps = moved / span / 1e6
    return Aggregate(
        jobs=len(jobs),
        bytes=total,
        all_running_mbps=mbps,
        all_running_s=span,
        window=window if mbps is not None else None,
        overall_mbps=total / (last - first) / 1e6,
        overall_s=last - first,
        start_spread_s=max(firsts) - min(firsts),
        per_job_mbps=tuple(per_job),
    )
