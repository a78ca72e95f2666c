"""Faults under the engine on real loop devices: I/O errors in ranges, and devices that vanish.

This kernel has no device-mapper, so I/O errors come from a loop device over a FUSE file that
fails chosen byte ranges (`faultfs.py`): the engine sees real EIO from the block layer. A device
that stops responding is that FUSE daemon killed mid-run; a device that disappears is a loop
device whose capacity drops to 0 (what the kernel does to a hot-unplugged disk).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sanitiser.blockio import DeviceTarget, IOConfig, VerifyMode, run_scheme, scheme
from sanitiser.domain import ByteRange, OutcomeStatus

MiB = 1 << 20
SIZE = 64 * MiB
FAULTFS = Path(__file__).with_name("faultfs.py")
JUNK = bytes(range(1, 256)) * (MiB // 255 + 1)


def fill_junk(path: Path, size: int) -> None:
    """Write non-zero bytes over `size` bytes of `path`."""
    with path.open("wb") as f:
        for _ in range(size // MiB):
            f.write(JUNK[:MiB])


def losetup(*args: str) -> str:
    """Run losetup, return its stdout."""
    return subprocess.run(
        ["losetup", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


@dataclass
class Rig:
    """A loop device this test made (maybe over faultfs), its backing file and a held fd."""

    dev: str
    backing: Path
    fd: int
    daemon: subprocess.Popen[bytes] | None = None
    detached: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def target(self) -> DeviceTarget:
        """The engine's view of it."""
        return DeviceTarget.from_fd(self.fd, self.dev)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """Factory: ``rig(bad_write=[(start, len)], bad_read=[...], fuse=True)``; all torn down."""
    made: list[tuple[Rig, Path | None]] = []

    def make(
        *,
        bad_write: tuple[tuple[int, int], ...] = (),
        bad_read: tuple[tuple[int, int], ...] = (),
        fuse: bool = True,
    ) -> Rig:
        backing = tmp_path / f"backing{len(made)}.img"
        fill_junk(backing, SIZE)
        daemon, mnt, image = None, None, backing
        if fuse:
            mnt = tmp_path / f"mnt{len(made)}"
            mnt.mkdir()
            argv = [sys.executable, str(FAULTFS), str(backing), str(mnt)]
            argv += [a for s, n in bad_write for a in ("--bad-write", f"{s}:{n}")]
            argv += [a for s, n in bad_read for a in ("--bad-read", f"{s}:{n}")]
            daemon = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.monotonic() + 120  # generous: a loaded CI machine
            while not (mnt / "disk").exists():
                assert daemon.poll() is None, daemon.stderr.read().decode() if daemon.stderr else ""
                assert time.monotonic() < deadline, "faultfs did not mount"
                time.sleep(0.05)
            image = mnt / "disk"
            dev = losetup("-f", "--show", str(image))
        else:
            dev = losetup("-f", "--show", "--direct-io=on", str(image))
        fd = os.open(dev, os.O_RDWR | os.O_EXCL | os.O_CLOEXEC)
        r = Rig(dev, backing, fd, daemon)
        made.append((r, mnt))
        return r

    try:
        yield make
    finally:
        for r, mnt in reversed(made):
            if r.fd >= 0:
                os.close(r.fd)
            if not r.detached:  # a detached number may already belong to someone else
                subprocess.run(["losetup", "-d", r.dev], capture_output=True, check=False)
            if mnt is not None:
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)
            if r.daemon is not None:
                if r.daemon.poll() is None:
                    r.daemon.kill()
                r.daemon.wait(timeout=10)
                if r.daemon.stderr:
                    r.daemon.stderr.close()


def after_blocks(n: int, action: Callable[[], None]) -> Callable[[], bool]:
    """A `cancel` hook that never cancels but runs `action` once, when block n is about to start."""
    lock, seen = threading.Lock(), [0]

    def hook() -> bool:
        with lock:
            seen[0] += 1
            fire = seen[0] == n
        if fire:
            action()
        return False

    return hook


def read_backing(path: Path, start: int, length: int) -> bytes:
    """Bytes of the backing file, read directly (outside the engine and the loop device)."""
    with path.open("rb") as f:
        f.seek(start)
        return f.read(length)


@pytest.mark.root
def test_write_errors_become_failed_ranges_and_the_rest_is_written(
    rig: Callable[..., Rig],
) -> None:
    """EIO on [1 MiB, 2 MiB): that range is recorded exactly, the run goes on, status FAILED."""
    r = rig(bad_write=((1 * MiB, 1 * MiB),))
    report = run_scheme(r.target, scheme("zeros"), verify=VerifyMode.FULL)
    assert report.status is OutcomeStatus.FAILED
    assert report.overwrite.bad_ranges == (ByteRange(1 * MiB, 1 * MiB),)
    assert report.overwrite.bytes_written == SIZE
    assert "1048576 bytes in 1 ranges could not be written" in report.reason
    assert report.failed_ranges == (ByteRange(1 * MiB, 1 * MiB),)
    v = report.verification
    assert v is not None
    assert not v.passed
    assert v.mismatched == (ByteRange(1 * MiB, 1 * MiB),)  # old data still there, and found
    assert any("EIO" in e for e in report.overwrite.errors)
    assert read_backing(r.backing, 0, MiB) == bytes(MiB)
    assert read_backing(r.backing, MiB, MiB) == JUNK[:MiB]
    assert read_backing(r.backing, 2 * MiB, SIZE - 2 * MiB) == bytes(SIZE - 2 * MiB)


@pytest.mark.root
def test_read_errors_during_verification_are_unreadable_ranges(rig: Callable[..., Rig]) -> None:
    """EIO on reads of [8 MiB, 8.25 MiB): verification records it as unreadable; FAILED."""
    r = rig(bad_read=((8 * MiB, 256 * 1024),))
    report = run_scheme(r.target, scheme("zeros"), verify=VerifyMode.FULL)
    assert report.overwrite.ok
    assert report.status is OutcomeStatus.FAILED
    v = report.verification
    assert v is not None
    assert v.unreadable == (ByteRange(8 * MiB, 256 * 1024),)
    assert v.mismatched == ()
    assert v.bytes_checked == SIZE - 256 * 1024
    assert "could not read 262144 bytes" in report.reason
    assert read_backing(r.backing, 0, SIZE) == bytes(SIZE)


@pytest.mark.root
def test_policy_can_stop_at_the_first_error(rig: Callable[..., Rig]) -> None:
    """continue_on_error=False ends the pass at the first bad range, without verifying."""
    r = rig(bad_write=((4 * MiB, 64 * 1024),))
    cfg = IOConfig(block_size=1 * MiB, workers=1, continue_on_error=False)
    report = run_scheme(r.target, scheme("zeros"), config=cfg)
    assert report.status is OutcomeStatus.FAILED
    assert "stops at the first error" in report.reason
    assert report.overwrite.bad_ranges == (ByteRange(4 * MiB, 64 * 1024),)
    assert report.overwrite.bytes_written == 5 * MiB
    assert report.verification is None


@pytest.mark.root
def test_device_that_stops_responding_ends_the_job_cleanly(rig: Callable[..., Rig]) -> None:
    """The FUSE daemon killed mid-run: every I/O fails; the run stops soon with FAILED."""
    r = rig()
    assert r.daemon is not None
    daemon = r.daemon
    cfg = IOConfig(block_size=1 * MiB, workers=2)
    started = time.monotonic()
    report = run_scheme(
        r.target,
        scheme("zeros"),
        config=cfg,
        cancel=after_blocks(10, lambda: daemon.send_signal(signal.SIGKILL)),
    )
    assert time.monotonic() - started < 60
    assert report.status is OutcomeStatus.FAILED
    assert report.overwrite.gone
    assert "stopped responding" in report.reason
    assert report.verification is None
    assert not report.overwrite.flushed
    assert 9 * MiB <= report.overwrite.bytes_written < SIZE


@pytest.mark.root
def test_device_that_disappears_ends_the_job_with_what_is_known(rig: Callable[..., Rig]) -> None:
    """Capacity drops to 0 mid-run (as on hot-unplug): FAILED, 'disappeared', no exception."""
    r = rig(fuse=False)

    def unplug() -> None:
        os.truncate(r.backing, 0)
        losetup("-c", r.dev)

    cfg = IOConfig(block_size=1 * MiB, workers=2)
    report = run_scheme(r.target, scheme("random"), config=cfg, cancel=after_blocks(6, unplug))
    assert report.status is OutcomeStatus.FAILED
    assert report.overwrite.gone
    assert "device disappeared" in report.reason
    assert "its size is now" in report.reason  # 0, or what a write in flight re-extended
    assert report.overwrite.bytes_written < SIZE
    assert report.verification is None


@pytest.mark.root
def test_loop_detached_mid_run_is_kept_by_the_kernel_until_released(
    rig: Callable[..., Rig],
) -> None:
    """losetup -d during the run only sets autoclear while our fd is open: the run completes,
    every byte is written, and the device vanishes once the claim is released."""
    r = rig(fuse=False)
    name = Path(r.dev).name

    def detach() -> None:
        losetup("-d", r.dev)
        r.detached = True

    cfg = IOConfig(block_size=1 * MiB, workers=2)
    report = run_scheme(r.target, scheme("zeros"), config=cfg, cancel=after_blocks(5, detach))
    assert r.detached
    assert report.status is OutcomeStatus.SANITISED, report.reason
    assert read_backing(r.backing, 0, SIZE) == bytes(SIZE)
    os.close(r.fd)
    r.fd = -1
    deadline = time.monotonic() + 120  # generous: a loaded CI machine
    while Path(f"/sys/block/{name}/loop/backing_file").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/sys/block/{name}/loop/backing_file").exists()
