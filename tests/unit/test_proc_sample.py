"""Reading /proc for the bench (scripts/proc_sample.py): a process's CPU and memory, the
machine's busy time, and their growth between two moments."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from proc_sample import (  # noqa: E402
    Sample,
    Sampler,
    between,
    busy_fraction,
    cpu_ticks,
    machine_ticks,
    status_kib,
)

# /proc/PID/stat of a process whose name holds ") (" and spaces: fields are counted from the
# last ')'. utime (14) = 1234, stime (15) = 56.
STAT = (
    "4242 (odd) (name x) S 1 4242 4242 0 -1 4194560 1203 0 0 0 1234 56 0 0 20 0 7 0 "
    "3379 48037888 5117 18446744073709551615 1 1 0 0 0 0 0 16781312 17642 0 0 0 17 1 0 0"
)


def test_cpu_ticks_are_utime_plus_stime_after_the_name() -> None:
    assert cpu_ticks(STAT) == 1234 + 56


def test_a_line_that_is_not_stat_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a /proc/PID/stat line"):
        cpu_ticks("4242 (truncated")


def test_this_process_is_read_from_proc() -> None:
    """The real files parse: this process has a resident set and has used some CPU."""
    me = Path(f"/proc/{os.getpid()}")
    assert cpu_ticks((me / "stat").read_text()) >= 0
    rss = status_kib((me / "status").read_text(), "VmRSS")
    assert rss is not None
    assert rss > 1024


def test_status_figures_and_their_absence() -> None:
    text = "Name:\tpython\nVmHWM:\t  20480 kB\nVmRSS:\t  10240 kB\n"
    assert status_kib(text, "VmRSS") == 10240
    assert status_kib(text, "VmHWM") == 20480
    assert status_kib("Name:\tkworker/0:1\n", "VmRSS") is None


def test_machine_busy_leaves_out_idle_and_iowait() -> None:
    stat = "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\n"
    assert machine_ticks(stat) == (100 + 5 + 50 + 3 + 2, 1000)


def sample(at: float, cpu: float, busy: int = 0, total: int = 0) -> Sample:
    return Sample(at, cpu, 1000, busy, total)


def test_growth_between_two_moments_is_interpolated() -> None:
    """CPU 1.0 s at t=10, 3.0 at t=12: from t=10.5 (1.5) to t=11.5 (2.5) it grew by 1.0."""
    samples = [sample(10.0, 1.0), sample(12.0, 3.0)]
    assert between(samples, 10.5, 11.5, lambda s: s.cpu_s) == pytest.approx(1.0)
    # Outside the samples the figure is held at the nearest one.
    assert between(samples, 0.0, 20.0, lambda s: s.cpu_s) == pytest.approx(2.0)


def test_busy_fraction_over_a_stretch() -> None:
    samples = [sample(0.0, 0, busy=0, total=0), sample(1.0, 0, busy=150, total=200)]
    assert busy_fraction(samples, 0.0, 1.0) == pytest.approx(0.75)
    assert busy_fraction(samples, 0.5, 0.5) is None


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no samples"):
        between([], 0.0, 1.0, lambda s: s.cpu_s)


def test_the_sampler_sees_this_process() -> None:
    with Sampler(os.getpid(), interval=0.01) as sampler:
        first = sampler.take()
    assert first is not None
    assert first.rss_kib > 0
    assert len(sampler.samples) >= 2  # one on entry, one on exit
    assert sampler.samples[0].machine_total > 0
    assert sampler.samples[-1].at >= sampler.samples[0].at
