"""The devices `make bench` measures on: loop devices over a disk file or over memory, capped.

A loop device over a file on the VM's disk is the obvious target, but the disk under it is shared
and cached by the host: fio's own figure moves by +-40% between rounds, more than the 5% the
targets are about. So the benchmark also builds a quiet device: a loop device over a file in
``/dev/shm`` (memory, nothing shared), optionally capped at a fixed speed with the kernel's block
throttling (cgroup v1 ``blkio.throttle.*_bps_device`` or v2 ``io.max``) to stand in for a SATA
SSD (~550 MB/s) or an NVMe drive (~2 GB/s). The cap applies to this process and to the fio, dd
and nwipe it starts, so every tool meets the same device. Uncapped, the memory-backed device is
as fast as the loop driver can copy, and that copy runs on the same CPUs as the engine: it shows
the engine's CPU cost, not a device's speed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30


@dataclass(frozen=True)
class Profile:
    """One device to measure on: where the loop device's file lives, and its speed cap."""

    name: str
    """``disk``, ``ram``, or ``ram@N`` (memory capped at N MB/s both ways)."""
    backing: str
    """``disk`` (a sparse file on the VM's disk, loop direct-io on) or ``ram`` (/dev/shm)."""
    cap_mbps: int = 0
    """Read and write cap in MB/s (10^6 bytes); 0: none."""

    @classmethod
    def parse(cls, name: str) -> Profile:
        """``disk``, ``ram`` or ``ram@<MB/s>``.

        Raises:
            ValueError: any other name.
        """
        m = re.fullmatch(r"(disk|ram)(?:@(\d+))?", name.strip())
        if m is None or (m[1] == "disk" and m[2]):
            raise ValueError(f"unknown device profile {name!r} (disk, ram, ram@<MB/s>)")
        return cls(name.strip(), m[1], int(m[2] or 0))

    def describe(self) -> str:
        """One line for the results."""
        if self.backing == "disk":
            return "loop device (direct-io) over a sparse file on the VM's disk"
        cap = f", capped at {self.cap_mbps} MB/s by block throttling" if self.cap_mbps else ""
        return f"loop device over a file in /dev/shm (memory){cap}"


def run(argv: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a tool, failing loudly with its stderr."""
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return res


@contextlib.contextmanager
def loop_device(
    profile: Profile, size: int, disk_dir: str, *, allocate: bool = False
) -> Iterator[tuple[str, Path]]:
    """Attach a loop device of `size` bytes for `profile`; yields (device, scratch dir).

    `allocate` reserves the whole backing file first (in memory: every page), so no timed run
    pays for allocating it; otherwise the file is sparse and the caller fills it.

    Raises:
        RuntimeError: not enough room for the backing file, or losetup failed.
    """
    base = "/dev/shm" if profile.backing == "ram" else disk_dir  # noqa: S108 - memory on purpose
    free = shutil.disk_usage(base).free
    if free < size + GiB // 4:
        raise RuntimeError(f"{base} has {free} bytes free; the {profile.name} device needs {size}")
    workdir = Path(tempfile.mkdtemp(prefix="sanitiser-bench-", dir=base))
    image = workdir / "bench.img"
    loop = ""
    try:
        with image.open("wb") as f:
            f.truncate(size)
            if allocate:
                os.posix_fallocate(f.fileno(), 0, size)
        # The disk file is read and written by the loop driver with O_DIRECT, as a real drive
        # would be; tmpfs has no O_DIRECT, so the memory one is buffered (it is memory anyway).
        direct = ["--direct-io=on"] if profile.backing == "disk" else []
        loop = run(["losetup", "-f", "--show", *direct, str(image)]).stdout.strip()
        yield loop, workdir
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


class Throttle:
    """A cgroup capping this process (and the tools it starts) on one block device.

    cgroup v1 (a ``blkio`` hierarchy) or v2 (``io`` controller). The process moves into a new
    child cgroup while the cap is set, and back where it was afterwards.
    """

    def __init__(self) -> None:
        v1 = _v1_blkio_root()
        root = v1 or _v2_root()
        if root is None:
            raise RuntimeError("no blkio (cgroup v1) or io (cgroup v2) controller to cap a device")
        self._v1 = v1 is not None
        self._root = root
        self._group = root / f"sanitiser-bench-{os.getpid()}"
        self._home = root / _current_group(v1=self._v1).lstrip("/")

    def __enter__(self) -> Throttle:
        if not self._v1:
            controllers = (self._root / "cgroup.subtree_control").read_text().split()
            if "io" not in controllers:
                (self._root / "cgroup.subtree_control").write_text("+io")
        self._group.mkdir(exist_ok=True)
        (self._group / "cgroup.procs").write_text(str(os.getpid()))
        return self

    def cap(self, dev: str, mbps: int) -> None:
        """Cap reads and writes to `dev` at `mbps` MB/s (0: no cap)."""
        rdev = os.stat(dev).st_rdev
        key = f"{os.major(rdev)}:{os.minor(rdev)}"
        bps = mbps * 1_000_000
        if self._v1:
            for rw in ("read", "write"):
                (self._group / f"blkio.throttle.{rw}_bps_device").write_text(f"{key} {bps}")
            return
        limit = f"wbps={bps} rbps={bps}" if bps else "wbps=max rbps=max"
        (self._group / "io.max").write_text(f"{key} {limit}")

    def __exit__(self, *exc: object) -> None:
        (self._home / "cgroup.procs").write_text(str(os.getpid()))
        with contextlib.suppress(OSError):
            self._group.rmdir()


def _v1_blkio_root() -> Path | None:
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mnt, fstype, opts, *_ = line.split()
        if fstype == "cgroup" and "blkio" in opts.split(","):
            return Path(mnt)
    return None


def _v2_root() -> Path | None:
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mnt, fstype, *_ = line.split()
        if fstype == "cgroup2" and "io" in (Path(mnt) / "cgroup.controllers").read_text().split():
            return Path(mnt)
    return None


def _current_group(*, v1: bool) -> str:
    """This process's cgroup path in the blkio (v1) or unified (v2) hierarchy."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (v1 and "blkio" in controllers.split(",")) or (not v1 and controllers == ""):
            return path
    return "/"
