"""The guard against real situations: loop devices mounted, swapped, stacked and read-only.

Every device touched here is a loop device the `loop_device` fixture attached; the machine's own
root disk is only assessed (never opened).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from sanitiser.devices.guard import (
    IN_USE_REASON,
    READ_ONLY_REASON,
    assess,
    claim,
    find_openers,
    read_identity,
    read_system_state,
)
from sanitiser.domain import Drive, Transport
from sanitiser.errors import DriveBusyError
from tests.openers import opened_by_another_process

LoopFactory = Callable[..., str]
"""The `loop_device` fixture (tests/e2e/conftest.py)."""

pytestmark = pytest.mark.root


def run(*argv: str) -> None:
    """Run a setup command; fail the test with its stderr if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr.strip()}"


def loop_drive(path: str) -> Drive:
    """The Drive discovery would build for a loop device (no serial, size from sysfs)."""
    name = Path(path).name
    st = os.stat(path)
    size = int(Path(f"/sys/class/block/{name}/size").read_text()) * 512
    return Drive(
        path=path,
        name=name,
        model="",
        serial="",
        size_bytes=size,
        transport=Transport.LOOP,
        devnum=f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}",
    )


def refusal(drive: Drive) -> tuple[str, ...]:
    """The reasons `claim` gives when it refuses `drive` (fails the test if it does not)."""
    with pytest.raises(DriveBusyError) as refused:
        claim(drive, drive).close()
    return refused.value.reasons


def test_mounted_loop_is_protected(loop_device: LoopFactory, tmp_path: Path) -> None:
    """A mounted filesystem (mount point with a space) protects the disk; claim refuses it."""
    path = loop_device()
    run("mkfs.ext4", "-q", "-F", path)
    mountpoint = tmp_path / "mount point"
    mountpoint.mkdir()
    run("mount", path, str(mountpoint))
    try:
        drive = loop_drive(path)
        protection = assess(drive, read_system_state())
        assert protection.reasons == (f"mounted at {mountpoint}",)
        assert refusal(drive) == (f"mounted at {mountpoint}",)
        # Kernel names move: a stale name is judged by what the path is now.
        assert refusal(replace(drive, name="sdq", devnum="")) == (f"mounted at {mountpoint}",)
        # A mount the snapshot cannot see (ZFS and the like) still trips the O_EXCL open.
        blind_state = replace(read_system_state(), mounts=())
        with pytest.raises(DriveBusyError) as blind:
            claim(drive, drive, state_reader=lambda: blind_state).close()
        assert blind.value.reasons == (IN_USE_REASON,)
    finally:
        run("umount", str(mountpoint))
    assert not assess(loop_drive(path), read_system_state()).protected


def _wait_for(path: Path, seconds: float = 120.0) -> None:
    """Wait for a device node the kernel is creating."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.05)


def test_mounted_partition_protects_disk(loop_device: LoopFactory, tmp_path: Path) -> None:
    """A mounted partition protects its whole disk, named in the reason."""
    # Add the partition with BLKPG (addpart), not a partition table: it works on kernels built
    # without any partition-table parser (this machine's has none).
    path = loop_device(partscan=True)
    run("addpart", path, "1", "2048", str((64 << 20) // 512 - 2048))
    part = Path(f"{path}p1")
    _wait_for(part)
    run("mkfs.ext4", "-q", "-F", str(part))
    mountpoint = tmp_path / "p1"
    mountpoint.mkdir()
    run("mount", str(part), str(mountpoint))
    try:
        expected = (f"partition {part.name} is mounted at {mountpoint}",)
        assert assess(loop_drive(path), read_system_state()).reasons == expected
        assert refusal(loop_drive(path)) == expected
    finally:
        run("umount", str(mountpoint))


def test_swap_loop_is_protected(loop_device: LoopFactory) -> None:
    """A loop device in use as swap is protected; claim refuses it."""
    path = loop_device()
    run("mkswap", path)
    run("swapon", path)
    try:
        drive = loop_drive(path)
        assert assess(drive, read_system_state()).reasons == (f"used as swap ({path})",)
        assert refusal(drive) == (f"used as swap ({path})",)
    finally:
        run("swapoff", path)


def _has_device_mapper() -> bool:
    """True when device-mapper answers (opening its control node loads the module if needed)."""
    done = subprocess.run(["dmsetup", "version"], capture_output=True, check=False)
    return done.returncode == 0


def test_device_mapper_holder_protects(loop_device: LoopFactory) -> None:
    """A loop device under a dm linear target is held by device-mapper; claim refuses it."""
    if not _has_device_mapper():
        pytest.skip("this kernel has no device-mapper (CONFIG_BLK_DEV_DM); dmsetup version fails")
    path = loop_device()
    drive = loop_drive(path)
    name = f"sanitiser-guard-{uuid.uuid4().hex[:12]}"
    table = f"0 {drive.size_bytes // 512} linear {path} 0"
    run("dmsetup", "create", name, "--noudevsync", "--table", table)
    try:
        dm = Path(os.path.realpath(f"/sys/class/block/{drive.name}/holders")).iterdir()
        (holder,) = [p.name for p in dm]
        expected = f'held by device-mapper {holder} "{name}" (LVM/dm-crypt/multipath)'
        assert assess(drive, read_system_state()).reasons == (expected,)
        assert refusal(drive) == (expected,)
    finally:
        run("dmsetup", "remove", "--retry", "--noudevsync", name)


def test_read_only_loop_is_protected(loop_device: LoopFactory) -> None:
    """A read-only loop device is protected; claim refuses it."""
    drive = loop_drive(loop_device(read_only=True))
    assert assess(drive, read_system_state()).reasons == (READ_ONLY_REASON,)
    assert refusal(drive) == (READ_ONLY_REASON,)


def _root_disks() -> set[str]:
    """Whole disks under / found independently of the guard: mountinfo, then sysfs."""
    root = [ln.split() for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
    majmin = [f[2] for f in root if f[4] == "/"][-1]
    if majmin.startswith("0:"):
        pytest.skip(f"/ is not on a block device here ({majmin})")
    pending = [Path(os.path.realpath(f"/sys/dev/block/{majmin}"))]
    disks: set[str] = set()
    while pending:
        node = pending.pop()
        if (node / "partition").exists():
            node = node.parent
        slaves = sorted((node / "slaves").iterdir()) if (node / "slaves").is_dir() else []
        if slaves:
            pending += [Path(os.path.realpath(s)) for s in slaves]
        else:
            disks.add(node.name)
    return disks


def test_root_disk_is_always_protected() -> None:
    """The disk holding / on this machine (a virtio disk here) is protected, with the reason."""
    state = read_system_state()
    for name in _root_disks():
        disk = Path(f"/sys/class/block/{name}")
        drive = Drive(
            path=f"/dev/{name}",
            name=name,
            model="",
            serial="",
            size_bytes=int((disk / "size").read_text()) * 512,
            transport=Transport.UNKNOWN,
            devnum=(disk / "dev").read_text().strip(),
        )
        protection = assess(drive, state)
        assert protection.protected
        assert "holds the root filesystem /" in protection.reasons


def test_plain_loop_claim_is_exclusive(loop_device: LoopFactory, tmp_path: Path) -> None:
    """A free loop device may be claimed: writable O_EXCL fd, refusals while held, then free."""
    path = loop_device()
    run("mkfs.ext4", "-q", "-F", path)
    drive = loop_drive(path)
    assert not assess(drive, read_system_state()).protected
    mountpoint = tmp_path / "m"
    mountpoint.mkdir()
    with claim(drive, drive) as held:
        assert held.path == path
        assert os.fstat(held.fd).st_rdev == os.stat(path).st_rdev
        os.pwrite(held.fd, b"\x5a" * 4096, 0)
        os.fsync(held.fd)
        assert os.pread(held.fd, 4096, 0) == b"\x5a" * 4096
        with pytest.raises(DriveBusyError) as second:
            claim(drive, drive)
        assert second.value.reasons == (IN_USE_REASON,)
        mounted = subprocess.run(["mount", path, str(mountpoint)], capture_output=True, check=False)
        if mounted.returncode == 0:  # the hold failed: clean up, then fail
            run("umount", str(mountpoint))
        assert mounted.returncode != 0, "mount succeeded while the drive was claimed"
    assert held.closed
    claim(drive, drive).close()  # released: claimable again


def test_changed_identity_is_refused(loop_device: LoopFactory) -> None:
    """A confirmed size or serial that differs from the device now is refused before opening."""
    drive = loop_drive(loop_device())
    with pytest.raises(DriveBusyError) as refused:
        claim(drive, replace(drive, size_bytes=drive.size_bytes + 512))
    assert refused.value.reasons == (
        "not the drive that was confirmed: size is now "
        f"{drive.size_bytes} bytes, but {drive.size_bytes + 512} bytes was confirmed",
    )


def test_udev_serial_is_compared(loop_device: LoopFactory, tmp_path: Path) -> None:
    """The serial udev recorded for the device is what the confirmed serial is checked against."""
    drive = loop_drive(loop_device())
    udev = tmp_path / "udev"
    (udev / "data").mkdir(parents=True)
    (udev / "data" / f"b{drive.devnum}").write_text(
        "S:disk/by-id/fake\nE:ID_SERIAL_SHORT=WD-WCC4N0000001\nE:ID_WWN=0x50014ee2b1c2d3e4\n"
    )
    reader = partial(read_identity, udev_root=udev)
    identity = reader(drive)
    assert (identity.name, identity.devnum, identity.size_bytes) == (
        drive.name,
        drive.devnum,
        drive.size_bytes,
    )
    with pytest.raises(DriveBusyError, match="serial is now 'WD-WCC4N0000001'"):
        claim(drive, drive, identity_reader=reader)
    confirmed = replace(drive, serial="WD-WCC4N0000001", wwn="0x50014EE2B1C2D3E4")
    with claim(drive, confirmed, identity_reader=reader) as held:
        assert held.identity.serial == "WD-WCC4N0000001"


def test_scan_json_marks_system_and_mounted_disks(loop_device: LoopFactory, tmp_path: Path) -> None:
    """`sanitiser scan --json` shows the root disk and a mounted disk protected, with reasons."""
    path = loop_device()
    run("mkfs.ext4", "-q", "-F", path)
    mountpoint = tmp_path / "scan"
    mountpoint.mkdir()
    run("mount", path, str(mountpoint))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sanitiser", "scan", "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=dict(os.environ, SANITISER_LOOP_DEVICES="true"),  # the loop device is the point
        )
    finally:
        run("umount", str(mountpoint))
    assert done.returncode == 0, done.stderr
    listed = {d["path"]: d for d in json.loads(done.stdout)}
    assert listed[path]["protected"] is True
    assert f"mounted at {mountpoint}" in listed[path]["protected_reason"]
    for disk in _root_disks():
        assert listed[f"/dev/{disk}"]["protected"] is True
        assert "holds the root filesystem /" in listed[f"/dev/{disk}"]["protected_reason"]


# ---------------------------------------------------------------------------------------------
# Stacked loop devices: the loop driver makes no holders/ links, so the guard follows
# loop/backing_file (and the driver's device and inode numbers) itself, both ways, transitively.
# Each test is an attack that once destroyed a mounted filesystem and was certified SANITISED.
# ---------------------------------------------------------------------------------------------


def losetup(target: str) -> str:
    """Attach a loop device over `target` (a file or a device node); the caller detaches it."""
    done = subprocess.run(
        ["losetup", "--find", "--show", target], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@contextmanager
def stacked(*paths: str) -> Iterator[None]:
    """Detach the loop devices `paths` (the top of the stack first) when the block ends."""
    try:
        yield
    finally:
        for path in paths:
            subprocess.run(["losetup", "--detach", path], capture_output=True, check=False)


@contextmanager
def mounted(device: str, mountpoint: Path, *, lazy: bool = False) -> Iterator[Path]:
    """Make an ext4 filesystem on `device` and mount it; unmount afterwards."""
    run("mkfs.ext4", "-q", "-F", device)
    mountpoint.mkdir(exist_ok=True)
    run("mount", device, str(mountpoint))
    try:
        yield mountpoint
    finally:
        subprocess.run(
            ["umount", *(["-l"] if lazy else []), str(mountpoint)], capture_output=True, check=False
        )


def name(path: str) -> str:
    """Kernel name of a /dev path."""
    return Path(path).name


def test_loop_over_a_device_protects_the_device_below(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """Wiping the lower device of a mounted loop-over-device stack is refused, naming the loop;
    the loop itself is refused as a stacked device (sanitise the one below)."""
    lower = loop_device()
    upper = losetup(lower)
    with stacked(upper), mounted(upper, tmp_path / "upper") as mp:
        reasons = refusal(loop_drive(lower))
        assert f"{name(upper)}, built on this disk, is mounted at {mp}" in reasons
        assert (
            f"loop device {name(upper)} is attached over this disk ({lower}); detach it first"
            in reasons
        )
        assert refusal(loop_drive(upper)) == (
            f"a loop device over {name(lower)} ({lower}): sanitise {name(lower)} itself instead",
            f"mounted at {mp}",
        )
    # Unmounted but still attached: writing the lower device still changes the upper one.
    with stacked(upper := losetup(lower)):
        assert refusal(loop_drive(lower)) == (
            f"loop device {name(upper)} is attached over this disk ({lower}); detach it first",
        )
    claim(loop_drive(lower), loop_drive(lower)).close()  # detached: free again


def test_stacks_are_followed_transitively_and_the_chain_named(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """disk <- loop <- loop, the top one mounted: the disk is refused with the whole chain."""
    disk = loop_device()
    middle = losetup(disk)
    top = losetup(middle)
    with stacked(top, middle), mounted(top, tmp_path / "top") as mp:
        chain = f"{name(top)} -> {name(middle)} -> {name(disk)}"
        reasons = refusal(loop_drive(disk))
        assert f"{name(top)}, built on this disk ({chain}), is mounted at {mp}" in reasons
        assert f"loop device {name(top)} is stacked on this disk ({chain})" in reasons


def test_two_loops_over_one_file_protect_each_other(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """A second loop device over the file behind a mounted loop device is refused, also after
    the file was renamed and deleted (the loop driver still names it by device and inode)."""
    image = tmp_path / "shared.img"
    with image.open("wb") as f:
        f.truncate(64 << 20)
    first = loop_device(image=image)
    second = loop_device(image=image)
    with mounted(first, tmp_path / "first") as mp:
        reasons = refusal(loop_drive(second))
        assert f"its backing file {image} also backs {name(first)}" in reasons
        moved = tmp_path / "moved.img"
        image.rename(moved)
        moved.unlink()  # backing_file now reads "<old path> (deleted)"
        reasons = refusal(loop_drive(second))
        assert any(f"also backs {name(first)}" in r for r in reasons), reasons
        assert any(f"also backs {name(second)}" in r for r in refusal(loop_drive(first))), mp


def test_disk_holding_a_loop_file_is_protected_even_lazily_unmounted(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """A disk whose filesystem holds the file behind a mounted loop device is refused; after a
    lazy unmount (the filesystem gone from the mount table but alive) it is still refused."""
    disk = loop_device()
    with mounted(disk, tmp_path / "outer", lazy=True) as outer:
        inner_file = outer / "inner.img"
        with inner_file.open("wb") as f:
            f.truncate(16 << 20)
        inner = losetup(str(inner_file))
        with stacked(inner), mounted(inner, tmp_path / "inner") as inner_mp:
            reasons = refusal(loop_drive(disk))
            assert f"mounted at {outer}" in reasons
            assert (
                f"loop device {name(inner)} has its backing file on this disk ({inner_file}); "
                "detach it first"
            ) in reasons
            run("umount", "-l", str(outer))
            assert not any(m.mountpoint == str(outer) for m in read_system_state().mounts)
            reasons = refusal(loop_drive(disk))
            assert f"{name(inner)}, built on this disk, is mounted at {inner_mp}" in reasons
            assert any(f"loop device {name(inner)} has its backing file" in r for r in reasons)


def test_loop_over_a_file_on_a_partition_protects_the_disk(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """The file behind a loop device lives on a partition: the whole disk is refused."""
    disk = loop_device(partscan=True)
    run("addpart", disk, "1", "2048", str((64 << 20) // 512 - 2048))
    part = Path(f"{disk}p1")
    _wait_for(part)
    with mounted(str(part), tmp_path / "p1", lazy=True) as outer:
        inner_file = outer / "inner.img"
        with inner_file.open("wb") as f:
            f.truncate(8 << 20)
        inner = losetup(str(inner_file))
        with stacked(inner):
            run("umount", "-l", str(outer))
            # The kernel now names the file relative to the detached filesystem ("/inner.img").
            assert refusal(loop_drive(disk)) == (
                f"loop device {name(inner)} has its backing file on partition {part.name} of "
                "this disk (/inner.img); detach it first",
            )


def test_loop_over_an_active_swap_file_is_protected(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """A loop device whose backing file is an active swap file is refused."""
    swapfile = tmp_path / "swapfile"
    run("dd", "if=/dev/zero", f"of={swapfile}", "bs=1M", "count=16", "status=none")
    swapfile.chmod(0o600)
    run("mkswap", str(swapfile))
    run("swapon", str(swapfile))
    try:
        loop = loop_device(image=swapfile)
        assert refusal(loop_drive(loop)) == (f"its backing file {swapfile} is active swap",)
    finally:
        run("swapoff", str(swapfile))


def test_wipe_cli_refuses_the_lower_device_of_a_mounted_stack(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """`sanitiser wipe /dev/loopN --yes` on the device under a mounted loop device: refused,
    the reason names the loop, and the mounted filesystem's data is intact."""
    lower = loop_device()
    upper = losetup(lower)
    with stacked(upper), mounted(upper, tmp_path / "upper") as mp:
        (mp / "keep.txt").write_text("precious\n")
        env = dict(
            os.environ,
            SANITISER_LOOP_DEVICES="true",
            SANITISER_CERTS_DIR=str(tmp_path / "certs"),
            SANITISER_DATA_DIR=str(tmp_path / "data"),
        )
        done = subprocess.run(
            [sys.executable, "-m", "sanitiser", "wipe", lower, "--yes"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode != 0, done.stdout
        assert f"loop device {name(upper)} is attached over this disk" in done.stdout + done.stderr
        run("sync")
        run("umount", str(mp))
        run("mount", upper, str(mp))
        assert (mp / "keep.txt").read_text() == "precious\n"


# ---------------------------------------------------------------------------------------------
# Other openers: O_EXCL keeps out mounts and exclusive openers, not a plain open().
# ---------------------------------------------------------------------------------------------


def test_another_writer_is_refused_and_a_reader_is_not(loop_device: LoopFactory) -> None:
    """A process with the device open for writing (no O_EXCL) makes claim refuse, naming it;
    one that only reads does not."""
    path = loop_device()
    drive = loop_drive(path)
    with opened_by_another_process(path, "r+b") as writer:
        command = Path(f"/proc/{writer.pid}/comm").read_text().strip()
        assert refusal(drive) == (f"process {writer.pid} ({command}) has it open for writing",)
    with opened_by_another_process(path, "rb"):
        claim(drive, drive).close()


def test_a_writer_that_comes_during_a_claim_is_seen_and_remembered(
    loop_device: LoopFactory,
) -> None:
    """A writer that opens the device after the claim is seen, and remembered once it left."""
    path = loop_device()
    drive = loop_drive(path)
    with claim(drive, drive) as held:
        assert held.other_writers() == ()
        with opened_by_another_process(path, "r+b") as writer:
            [seen] = held.other_writers()
            assert (seen.pid, seen.writable) == (writer.pid, True)
        assert held.other_writers() == ()
        assert [w.pid for w in held.writers_seen] == [writer.pid]


def test_jobs_share_one_recent_look_at_proc_but_the_claim_looks_now(tmp_path: Path) -> None:
    """A look at /proc at most `max_age` old is reused (many jobs, one scan); max_age=0 (the
    claim and the check before certifying) always looks again. (exclude_pid=0 keeps this
    test's looks apart from any other thread's in this process.)"""
    target = tmp_path / "watched.img"
    target.write_bytes(b"\0" * 4096)
    st = target.stat()
    file_id = (f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}", st.st_ino)
    look = partial(find_openers, files=[file_id], exclude_pid=0)
    assert look() == ()
    with opened_by_another_process(str(target), "r+b") as writer:
        assert look(max_age=3600) == ()  # the earlier look, reused
        [now] = look()
        assert (now.pid, now.writable) == (writer.pid, True)
        assert look(max_age=3600) == (now,)
