"""The multi-bay bench's reading of a wipe's event stream (scripts/bay_events.py): aggregate
throughput while every bay ran, and the longest silence of any one job."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from bay_events import Tick, aggregate, all_running, largest_gap, ticks  # noqa: E402

MiB = 1 << 20
REAL = REPO / "tests" / "data" / "bays" / "wipe-2-bays-100MBps.tsv"
"""`sanitiser wipe --json` on two 64 MiB loop devices capped at 100 MB/s, full read-back, each
line stamped (seconds from the first) as the bench received it."""
LOOP0 = "310b5a7d-3d17-460c-9fc5-29c71595f618"
LOOP1 = "e4c3a26e-ed71-4de8-9ba8-842c453e5717"


def real_stream() -> list[Tick]:
    lines = []
    for row in REAL.read_text().splitlines():
        at, text = row.split("\t", 1)
        lines.append((float(at), text))
    return ticks(lines)


def test_only_progress_events_of_the_real_stream_are_ticks() -> None:
    """37 lines (phases, logs, outcomes and 15 progress events) from the real CLI."""
    events = real_stream()
    assert len(events) == 15
    assert {t.job for t in events} == {LOOP0, LOOP1}
    assert [t.kind for t in events if t.job == LOOP0] == ["write"] * 4 + ["verify"] * 4
    assert events[0] == Tick(0.455, LOOP0, "pass 1/1 zeros", 16 * MiB, 64 * MiB)


def test_aggregate_write_is_counted_while_both_bays_wrote() -> None:
    """From each bay's second write event (the first may arrive late) to the earliest last one:
    0.655 to 0.887 s. loop0 went from 37,748,736 to 67,108,864 bytes; loop1 from 37,853,072.9
    (its 37,748,736 at 0.654 and 58,720,256 at 0.855, interpolated) to 63,429,650.5 (its
    58,720,256 at 0.855 and 67,108,864 at 0.912): 54,936,705.6 bytes in 0.232 s."""
    write = aggregate(real_stream(), "write", min_window=0.0)
    assert write is not None
    assert write.jobs == 2
    assert write.bytes == 2 * 64 * MiB
    assert write.all_running_s == pytest.approx(0.232)
    assert write.window == (0.655, 0.887)
    assert write.all_running_mbps == pytest.approx(54_936_705.6 / 0.232 / 1e6)
    # From one interval (0.2 s) before the first event to the last one, 0.912.
    assert write.overall_s == pytest.approx(0.912 - 0.255)
    assert write.start_spread_s == 0.0  # both bays' first write events came at 0.455
    # loop0 from its second event to its last: 29,360,128 bytes in 0.232 s.
    assert max(write.per_job_mbps) == pytest.approx(29_360_128 / 0.232 / 1e6)


def test_a_stretch_under_a_second_gives_no_aggregate_figure() -> None:
    """The real run's bays wrote together for 0.23 s: too short to be a figure by default."""
    write = aggregate(real_stream(), "write")
    assert write is not None
    assert write.all_running_mbps is None
    assert write.window is None
    assert write.record()["all_running_MBps"] is None


def test_the_largest_gap_while_all_ran_is_loop0s_step_into_verification() -> None:
    """loop0: 0.887 (last write event) to 1.135 (first verify event); within a phase, loop1's
    1.357 to 1.603 while verifying."""
    events = real_stream()
    window = all_running(events)
    assert window == (0.455, 1.603)
    gap = largest_gap(events, window)
    assert gap is not None
    assert (gap.job, gap.after, gap.before) == (LOOP0, "pass 1/1 zeros", "verify full")
    assert gap.seconds == pytest.approx(0.248)
    assert gap.start == 0.887
    within = largest_gap(events, window, same_phase=True)
    assert within is not None
    assert (within.job, within.after, within.before) == (LOOP1, "verify full", "verify full")
    assert within.seconds == pytest.approx(0.246)


def tick(at: float, job: str, done: int, phase: str = "pass 1/1 zeros", total: int = 100) -> Tick:
    return Tick(at, job, phase, done, total)


def test_gaps_outside_the_window_do_not_count() -> None:
    """Job a's 3 s silence before b started is not 'while all ran'; its 0.5 s one is."""
    events = [
        tick(0.0, "a", 10), tick(3.0, "a", 20), tick(3.5, "a", 30), tick(4.0, "a", 40),
        tick(3.2, "b", 10), tick(3.4, "b", 20), tick(3.6, "b", 30),
    ]  # fmt: skip
    window = all_running(events)
    assert window == (3.2, 3.6)
    gap = largest_gap(events, window)
    assert gap is not None
    assert gap.job == "a"
    assert gap.seconds == pytest.approx(0.5)
    everywhere = largest_gap(events)
    assert everywhere is not None
    assert everywhere.seconds == pytest.approx(3.0)


def test_no_window_when_one_bay_finished_before_another_began() -> None:
    events = [tick(0.2, "a", 50), tick(0.4, "a", 100), tick(0.6, "b", 50), tick(0.8, "b", 100)]
    assert all_running(events) is None
    write = aggregate(events, "write", interval=0.2, min_window=0.0)
    assert write is not None
    assert write.all_running_mbps is None
    # 200 bytes from 0.0 (one interval before a's first event) to 0.8.
    assert write.overall_mbps == pytest.approx(200 / 0.8 / 1e6)
    assert write.start_spread_s == pytest.approx(0.4)


def test_two_passes_count_their_bytes_one_after_the_other() -> None:
    """A two-pass scheme: the second pass's progress restarts at 0 but the job has done the
    first pass's bytes too."""
    events = [
        tick(0.2, "a", 50, "pass 1/2 ones"), tick(0.4, "a", 100, "pass 1/2 ones"),
        tick(0.6, "a", 50, "pass 2/2 zeros"), tick(0.8, "a", 100, "pass 2/2 zeros"),
    ]  # fmt: skip
    write = aggregate(events, "write", interval=0.2, min_window=0.0)
    assert write is not None
    assert write.bytes == 200
    # From its second event (0.4 s, 100 bytes) to its last (0.8 s, 200 bytes).
    assert write.per_job_mbps == pytest.approx((100 / 0.4 / 1e6,))


def test_no_progress_of_a_kind_is_no_aggregate() -> None:
    assert aggregate([tick(0.2, "a", 50)], "verify") is None


def test_a_line_that_is_not_json_is_an_error_not_skipped() -> None:
    with pytest.raises(ValueError, match="not a JSON event line"):
        ticks([(0.0, "Traceback (most recent call last):\n")])


def test_a_late_first_event_does_not_inflate_a_bay() -> None:
    """A bay's first verify event arrives 0.5 s late (stamped 0.7, carrying the 20 bytes done
    at 0.2); from its second event on it reads 100 bytes/s, and that is its figure."""
    events = [
        tick(0.7, "a", 20, "verify full"), tick(0.8, "a", 80, "verify full"),
        tick(1.0, "a", 100, "verify full"), tick(1.2, "a", 120, "verify full"),
    ]  # fmt: skip
    read = aggregate(events, "verify", min_window=0.0)
    assert read is not None
    assert read.per_job_mbps == pytest.approx((40 / 0.4 / 1e6,))
