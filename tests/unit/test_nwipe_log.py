"""Timing nwipe by its own log (scripts/nwipe_log.py), on logs Debian 12's nwipe (package
0.34-1+b1, which reports 0.33) wrote here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from nwipe_log import LineWatcher, stamped_span, version, work_seconds  # noqa: E402

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


def grown(log: str, cuts: dict[str, float]) -> list[tuple[float, str]]:
    """`log` as the bench's watcher sees it grow: each chunk ends after the line starting
    with a key of `cuts` and is read at that time, the rest read at the end (99.0)."""
    watcher = LineWatcher()
    rest = log
    for marker, at in cuts.items():
        head, _, tail = rest.partition(marker)
        line_end = tail.index("\n") + 1
        # Feed it in two pieces, cut mid-line: a line counts when its end arrives.
        chunk = head + marker + tail[:line_end]
        watcher.feed(chunk[:-5], at - 0.01)
        watcher.feed(chunk[-5:], at)
        rest = tail[line_end:]
    watcher.feed(rest, 99.0)
    watcher.close(99.0)
    return watcher.lines


def test_the_watched_span_runs_from_the_start_line_to_the_final_line_as_they_appeared() -> None:
    """The real zero-pass log, its header read at 10.0, the pass's end at 12.34: 2.34 s, where
    nwipe's own stamps (to the second) say 8 s for the whole round."""
    log = (DATA / "nwipe-0.33-zero.log").read_text()
    lines = grown(
        log,
        {
            "notice: Starting round 1 of 1": 10.0,
            "notice: Finished final round": 12.34,
        },
    )
    assert "".join(text + "\n" for _, text in lines) == log
    assert stamped_span(lines) == (10.0, 12.34)


def test_the_watched_span_of_a_verified_run_ends_after_the_read_back() -> None:
    log = (DATA / "nwipe-0.33-random-verify.log").read_text()
    lines = grown(
        log,
        {
            "notice: Starting round 1 of 1": 1.0,
            "notice: 268435456 bytes written": 2.5,
            "notice: Finished final round": 3.25,
        },
    )
    assert stamped_span(lines) == (1.0, 3.25)


def test_a_watched_log_without_its_final_line_is_an_error() -> None:
    log = (DATA / "nwipe-0.33-zero.log").read_text()
    cut = log[: log.index("[2026/12/04 03:06:05]  notice: Finished final round")]
    with pytest.raises(ValueError, match="no complete round"):
        stamped_span(grown(cut, {"notice: Starting round 1 of 1": 1.0}))


def test_a_last_line_without_a_newline_counts_once_closed() -> None:
    watcher = LineWatcher()
    watcher.feed("[2026/12/04 03:06:05]  notice: Finished final round 1 of 1", 5.0)
    assert watcher.lines == []
    watcher.close(6.0)
    assert watcher.lines == [(6.0, "[2026/12/04 03:06:05]  notice: Finished final round 1 of 1")]
