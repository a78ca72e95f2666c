"""The `sanitiser` command in a subprocess, as a user or a script runs it (for tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_sanitiser(
    *args: str,
    data: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sanitiser ARGS`` to the end, with no input, in the test's environment.

    Args:
        data: the data directory (``SANITISER_DATA_DIR``; lab drives of 4 MiB), if not the
            isolated one the test environment already names.
        env: more environment variables.
        cwd: the working directory (the test's own by default).
    """
    extra = dict(env or {})
    if data is not None:
        extra |= {"SANITISER_DATA_DIR": str(data), "SANITISER_LAB_DRIVE_MIB": "4"}
    return subprocess.run(
        [sys.executable, "-m", "sanitiser", *args],
        check=False,
        capture_output=True,
        text=True,
        env=dict(os.environ) | extra,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )
