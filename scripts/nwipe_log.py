"""Reading nwipe's log: how long its work took, by its own timestamps.

nwipe lingers after its passes (it prints summaries and, from version 0.35, writes a PDF
report), so the time its process lives is not the time it wiped. The bench times nwipe from its
log: from ``Starting round 1`` to ``Finished final round``, which covers every pass and the
verification and nothing after. nwipe stamps its log lines to the second, so a span is known to
within a second: the bench sizes its devices so that a pass takes long enough for that to
matter little, and reports the span.
"""

from __future__ import annotations

import re
from datetime import datetime

_LINE = re.compile(r"^\[(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)\]\s+\w+:\s+(.*?)\s*$")


def work_seconds(log: str) -> int:
    """Whole seconds between the first round's start and the final round's end in `log`.

    Raises:
        ValueError: the log holds no complete round (nwipe failed or was stopped), or the span
            is under one second (too short to time from one-second stamps).
    """
    start: datetime | None = None
    end: datetime | None = None
    for line in log.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        at = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S")
        message = match.group(2)
        if start is None and message.startswith("Starting round 1 "):
            start = at
        elif message.startswith("Finished final round"):
            end = at
    if start is None or end is None:
        raise ValueError("nwipe's log holds no complete round (did it fail or get stopped?)")
    seconds = int((end - start).total_seconds())
    if seconds < 1:
        raise ValueError("nwipe's round took under a second: too short to time from its log")
    return seconds


def version(text: str) -> str:
    """``0.33`` from ``nwipe --version`` output ("" when it says no version)."""
    match = re.search(r"nwipe version (\S+)", text)
    return match.group(1) if match else ""
