"""Reading nwipe's log: how long its work took.

nwipe lingers after its passes (it prints summaries and, from version 0.35, writes a PDF
report), so the time its process lives is not the time it wiped. The bench times nwipe by its
log instead: from ``Starting round 1`` to ``Finished final round``, which covers every pass and
the verification and nothing after.

nwipe stamps its log lines to the second, too coarse for a pass of a few seconds; but it writes
each line to the file as it happens, so the bench watches the file and stamps each line as it
appears (`stamped_span`, to a few hundredths of a second). `work_seconds` reads nwipe's own
stamps, a cross-check.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime

_LINE = re.compile(r"^\[(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)\]\s+\w+:\s+(.*?)\s*$")
_START = "Starting round 1 "
_END = "Finished final round"


def _messages(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(nwipe's time stamp, message) of each log line; other lines (the summary tables) are
    skipped."""
    for line in lines:
        match = _LINE.match(line)
        if match is not None:
            yield match.group(1), match.group(2)


def _is_start(message: str) -> bool:
    return message.startswith(_START)


def _is_end(message: str) -> bool:
    return message.startswith(_END)


_INCOMPLETE = "nwipe's log holds no complete round (did it fail or get stopped?)"


def work_seconds(log: str) -> int:
    """Whole seconds between the first round's start and the final round's end in `log`, by
    nwipe's own stamps.

    Raises:
        ValueError: the log holds no complete round (nwipe failed or was stopped), or the span
            is under one second (too short to time from one-second stamps).
    """
    start: datetime | None = None
    end: datetime | None = None
    for stamp, message in _messages(log.splitlines()):
        at = datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S")
        if start is None and _is_start(message):
            start = at
        elif _is_end(message):
            end = at
    if start is None or end is None:
        raise ValueError(_INCOMPLETE)
    seconds = int((end - start).total_seconds())
    if seconds < 1:
        raise ValueError("nwipe's round took under a second: too short to time from its log")
    return seconds


def stamped_span(lines: Iterable[tuple[float, str]]) -> tuple[float, float]:
    """(start, end) of nwipe's work from log lines stamped by the watcher as they appeared:
    the stamp of the first ``Starting round 1`` line and of the last ``Finished final round``.

    Raises:
        ValueError: no complete round among them, or it ends before it starts.
    """
    start: float | None = None
    end: float | None = None
    for at, line in lines:
        for _, message in _messages([line]):
            if start is None and _is_start(message):
                start = at
            elif _is_end(message):
                end = at
    if start is None or end is None:
        raise ValueError(_INCOMPLETE)
    if end < start:
        raise ValueError("nwipe's log says its round ended before it started")
    return start, end


class LineWatcher:
    """Splits text read from a growing file into whole lines, stamping each with the time
    given when its end arrived."""

    def __init__(self) -> None:
        self._partial = ""
        self.lines: list[tuple[float, str]] = []

    def feed(self, text: str, at: float) -> None:
        """Add `text` (read at `at`): every line it completes is stamped `at`."""
        self._partial += text
        *whole, self._partial = self._partial.split("\n")
        self.lines.extend((at, line) for line in whole)

    def close(self, at: float) -> None:
        """The file is complete: a last line without a newline counts too."""
        if self._partial:
            self.lines.append((at, self._partial))
            self._partial = ""


def version(text: str) -> str:
    """``0.33`` from ``nwipe --version`` output ("" when it says no version)."""
    match = re.search(r"nwipe version (\S+)", text)
    return match.group(1) if match else ""
