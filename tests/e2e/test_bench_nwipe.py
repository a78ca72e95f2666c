"""`make bench`'s nwipe run (scripts/bench_nwipe.py) against the real nwipe on a loop device:
its watched log gives the span of its work, inside the life of its process, and the CPU it used
then, within what the process used in all."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import LoopFactory

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from bench_nwipe import installed, run_nwipe  # noqa: E402

SIZE = 64 << 20
TICK = 0.02
"""/proc counts CPU in clock ticks (10 ms), the process's own usage in microseconds."""


@pytest.mark.root
@pytest.mark.parametrize(("method", "verify"), [("zero", "off"), ("random", "last")])
def test_nwipe_is_timed_by_its_watched_log(
    loop_device: LoopFactory, method: str, verify: str
) -> None:
    if shutil.which("nwipe") is None:
        pytest.skip("nwipe is not installed (scripts/install-system.sh --test)")
    dev = loop_device(SIZE)
    done = run_nwipe(dev, SIZE, method, verify)
    assert 0 < done.seconds < done.process_seconds
    assert 0 <= done.cpu_s <= done.process_cpu_s + TICK
    assert done.mbps == SIZE / done.seconds / 1e6
    assert done.record()["cpu_seconds_per_GB"] == round(done.cpu_s / (SIZE / 1e9), 3)


@pytest.mark.root
def test_the_installed_nwipe_is_named_both_ways() -> None:
    if shutil.which("nwipe") is None:
        pytest.skip("nwipe is not installed (scripts/install-system.sh --test)")
    found = installed()
    assert found["reports"] != "unknown"
    assert found["reports"][0].isdigit()
