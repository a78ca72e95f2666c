"""Timing nwipe by its own log (scripts/nwipe_log.py), on logs nwipe 0.33 wrote here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from nwipe_log import version, work_seconds  # noqa: E402

DATA = REPO / "tests" / "data" / "nwipe"


def test_a_zero_pass_is_timed_from_start_to_final_round() -> None:
    """256 MiB of zeros: 03:05:57 to 03:06:05, whatever the process did afterwards."""
    assert work_seconds((DATA / "nwipe-0.33-zero.log").read_text()) == 8


def test_a_verified_random_pass_includes_the_verification() -> None:
    """PRNG pass 03:04:12-03:04:21, verification to 03:04:23: 11 s in all."""
    assert work_seconds((DATA / "nwipe-0.33-random-verify.log").read_text()) == 11


@pytest.mark.parametrize("cut", ["Finished final round", "Starting round 1"])
def test_an_incomplete_log_is_an_error_not_a_figure(cut: str) -> None:
    text = (DATA / "nwipe-0.33-zero.log").read_text()
    broken = "\n".join(line for line in text.splitlines() if cut not in line)
    with pytest.raises(ValueError, match="no complete round"):
        work_seconds(broken)


def test_a_round_under_a_second_cannot_be_timed() -> None:
    text = (
        "[2026/12/04 03:03:48]  notice: Starting round 1 of 1 on /dev/loop0\n"
        "[2026/12/04 03:03:48]  notice: Finished final round 1 of 1 on /dev/loop0\n"
    )
    with pytest.raises(ValueError, match="under a second"):
        work_seconds(text)


def test_version_is_read_from_its_banner() -> None:
    assert version("nwipe version 0.33\n") == "0.33"
    assert version("something else") == ""
