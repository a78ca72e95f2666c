"""Another process holding a drive open, as a test needs it (to show the guard sees it)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def opened_by_another_process(path: str, mode: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding `path` open (``r+b`` or ``rb``) until the block ends."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys; f = open({path!r}, {mode!r}); print('ready', "
            "flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        yield child
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
