"""Fixtures for tests against real block devices: loop devices this suite creates and removes.

Tests here only ever touch devices their own fixtures attached. Names are unique and
``losetup -f`` picks a free device, so these tests may run in parallel with others.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

LoopFactory = Callable[..., str]
"""``loop_device(size_bytes=64 MiB, *, read_only=False, partscan=False, image=None) -> path``."""

DEFAULT_LOOP_BYTES = 64 << 20


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[LoopFactory]:
    """A factory attaching loop devices over sparse files in tmp_path; all detached afterwards.

    Call it as ``loop_device()`` or ``loop_device(size_bytes, read_only=True, partscan=True,
    image=path)`` (an existing ``image`` is attached as it is; otherwise a sparse file of
    ``size_bytes`` is made). It returns the ``/dev/loopN`` path. Teardown detaches each device;
    a device still in use (a test's own mount or swap left behind) is detached by the kernel as
    soon as it is released (``losetup -d`` sets autoclear).
    """
    attached: list[str] = []

    def attach(
        size_bytes: int = DEFAULT_LOOP_BYTES,
        *,
        read_only: bool = False,
        partscan: bool = False,
        image: Path | None = None,
    ) -> str:
        if image is None:
            image = tmp_path / f"loop{len(attached)}.img"
            with image.open("wb") as f:
                f.truncate(size_bytes)
        argv = ["losetup", "--find", "--show"]
        argv += ["--read-only"] if read_only else []
        argv += ["--partscan"] if partscan else []
        done = subprocess.run([*argv, str(image)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"losetup failed: {done.stderr.strip()}"
        path = done.stdout.strip()
        assert path.startswith("/dev/loop"), path
        attached.append(path)
        return path

    try:
        yield attach
    finally:
        for path in reversed(attached):
            subprocess.run(["losetup", "--detach", path], capture_output=True, check=False)
