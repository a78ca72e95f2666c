"""Bounded memory (issue 4): an overwrite with the random pattern and its full verification add
less than 64 MiB to the process at their peak, and the peak does not grow with the device.

Measured on real loop devices of 128 MiB and 1 GiB (both have enough blocks to busy every
worker): the peak resident set (VmHWM) is reset before each run (``5`` into
``/proc/self/clear_refs``) and compared with the resident set at the start, so the growth is
what the engine itself touched: its buffers, thread stacks and anything else it allocated.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sanitiser.blockio import DeviceTarget, Pattern, new_seed, overwrite, verify_full
from tests.e2e.conftest import LoopFactory

MiB = 1 << 20
BUDGET = 64 * MiB


def _kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/self/status")


def peak_growth(fn: Callable[[], None]) -> int:
    """Bytes the process's peak resident set rose above its start while `fn` ran."""
    Path("/proc/self/clear_refs").write_text("5")
    start = _kib("VmRSS")
    fn()
    return (_kib("VmHWM") - start) * 1024


def wipe_and_verify(dev: str) -> None:
    """A random pass and its full read-back on `dev`, both of which must succeed."""
    fd = os.open(dev, os.O_RDWR | os.O_EXCL | os.O_CLOEXEC)
    try:
        target = DeviceTarget.from_fd(fd, dev)
        pattern = Pattern.random(new_seed())
        written = overwrite(target, [pattern])
        assert written.ok, written.reason
        checked = verify_full(target, pattern)
        assert checked.verification.passed, checked.reason
        assert checked.verification.bytes_checked == target.size_bytes
    finally:
        os.close(fd)


def test_peak_memory_stays_under_64_mib_whatever_the_size(loop_device: LoopFactory) -> None:
    """128 MiB and 1 GiB devices: each run's peak growth < 64 MiB, and 8x the device size
    adds no more than a few MiB (allocator noise), i.e. memory does not scale with the device."""
    small, large = loop_device(128 * MiB), loop_device(1024 * MiB)
    wipe_and_verify(small)  # warm-up: imports, crypto backend, first thread stacks
    small_peak = peak_growth(lambda: wipe_and_verify(small))
    large_peak = peak_growth(lambda: wipe_and_verify(large))
    assert 0 < small_peak < BUDGET, f"{small_peak / MiB:.1f} MiB"
    assert 0 < large_peak < BUDGET, f"{large_peak / MiB:.1f} MiB"
    assert large_peak - small_peak < 8 * MiB, (small_peak / MiB, large_peak / MiB)
