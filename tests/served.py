"""Directories a served session can use (for the network-boot tests)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def served_dir() -> Iterator[Path]:
    """A fresh directory under /tmp, removed afterwards. Not under pytest's tmp_path: its
    parents are private (0700) and dnsmasq, which drops to the user nobody, could not read
    its TFTP root there."""
    path = Path(tempfile.mkdtemp(prefix="sanitiser-netboot-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
