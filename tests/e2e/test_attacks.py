"""Attacks the guard refuses today, kept as tests so that no change can undo them.

Each one goes through the real `sanitiser wipe` (a subprocess, as a script would run it) against
the machine's own root disk or loop devices this suite attached; every run passes ``--yes``, so
only the guard stands between the attack and the disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.cli import run_sanitiser
from tests.e2e.conftest import LoopFactory
from tests.e2e.test_jobs_crash import (
    MiB,
    cli,
    env_for,
    junk_image,
    junk_left,
    outcomes,
    write_throttle,
)

pytestmark = pytest.mark.root


def root_disk() -> str:
    """``/dev/<disk>`` of the disk holding ``/`` (skips where / is not on a block device)."""
    root = os.stat("/").st_dev
    node = Path(f"/sys/dev/block/{os.major(root)}:{os.minor(root)}").resolve()
    disk = node.parent.name if (node / "partition").exists() else node.name
    if not Path(f"/dev/{disk}").exists():
        pytest.skip(f"/ is not on a block device here ({disk})")
    return f"/dev/{disk}"


def refused_outcome(tmp_path: Path, *names: str) -> dict[str, object]:
    """Run ``wipe NAMES --yes --json``: it must exit 1 with one refused outcome (no job)."""
    done = cli(tmp_path, "wipe", *names, "--yes", "--json", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    [outcome] = outcomes(done.stdout).values()
    assert (outcome["status"], outcome["job_id"]) == ("refused", None), outcome
    return outcome


def throttled_wipe(tmp_path: Path, dev: str, procs: Path) -> subprocess.Popen[str]:
    """`wipe DEV --yes --json` started in the write-throttling cgroup whose ``cgroup.procs``
    is `procs` (see `write_throttle`); its JSON lines on stdout."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sanitiser", "wipe", dev, "--yes", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env_for(tmp_path),
        cwd=tmp_path,
    )
    procs.write_text(f"{proc.pid}\n")
    return proc


def test_a_symlink_to_the_system_disk_is_refused(tmp_path: Path) -> None:
    """A link in /dev to the root disk names the root disk: refused as the system disk."""
    link = Path(f"/dev/sanitiser-attack-{uuid.uuid4().hex[:8]}")
    link.symlink_to(root_disk())
    try:
        outcome = refused_outcome(tmp_path, str(link))
    finally:
        link.unlink()
    assert "root filesystem" in str(outcome["reason"])


def test_the_system_disk_by_its_device_number_is_refused(tmp_path: Path) -> None:
    """``/dev/block/MAJ:MIN`` of the root disk is the root disk: refused. (Where udev has not
    made /dev/block, the test makes the link as udev would, and removes it.)"""
    disk = root_disk()
    st = os.stat(disk)
    folder = Path("/dev/block")
    made_folder = not folder.exists()
    folder.mkdir(exist_ok=True)
    link = folder / f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    made_link = not link.exists()
    if made_link:
        link.symlink_to(f"../{Path(disk).name}")
    try:
        outcome = refused_outcome(tmp_path, str(link))
    finally:
        if made_link:
            link.unlink()
        if made_folder:
            folder.rmdir()
    assert "root filesystem" in str(outcome["reason"])


def test_a_swap_device_is_refused(loop_device: LoopFactory, tmp_path: Path) -> None:
    """A loop device in use as swap: refused, and still swap afterwards."""
    dev = loop_device()
    subprocess.run(["mkswap", dev], check=True, capture_output=True)
    subprocess.run(["swapon", dev], check=True, capture_output=True)
    try:
        outcome = refused_outcome(tmp_path, dev)
        assert f"used as swap ({dev})" in str(outcome["reason"])
        assert dev in Path("/proc/swaps").read_text()
    finally:
        subprocess.run(["swapoff", dev], check=False, capture_output=True)


def test_the_same_disk_twice_in_one_call_is_erased_once(
    loop_device: LoopFactory,
    tmp_path: Path,
) -> None:
    """``wipe DEV DEV`` (and the same disk under another name) makes one job, not two."""
    image = junk_image(tmp_path / "twice.img", 16 * MiB)
    dev = loop_device(image=image)
    alias = Path(f"/dev/sanitiser-alias-{uuid.uuid4().hex[:8]}")
    alias.symlink_to(dev)
    try:
        done = cli(tmp_path, "wipe", dev, str(alias), dev, "--yes", "--json")
    finally:
        alias.unlink()
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    finished = [e for e in events if e["event"] == "outcome"]
    assert [(e["device"], e["status"]) for e in finished] == [(dev, "sanitised")]
    assert len(json.loads(cli(tmp_path, "jobs", "--json").stdout)) == 1
    assert junk_left(image) == 0


def test_two_wipe_processes_on_one_disk_one_is_refused(
    loop_device: LoopFactory,
    tmp_path: Path,
) -> None:
    """A second `wipe` process on a disk the first is overwriting is refused (the first holds
    it O_EXCL); the first is then stopped cleanly and recorded as aborted."""
    image = junk_image(tmp_path / "contested.img", 64 * MiB)
    dev = loop_device(image=image)
    with write_throttle(dev, 1 * MiB) as procs:  # ~64 s: the first wipe is surely still running
        first = throttled_wipe(tmp_path, dev, procs)
        try:
            assert first.stdout is not None
            for line in first.stdout:
                event = json.loads(line)
                if event["event"] == "progress" and 0 < event["bytes_done"] < event["total"]:
                    break
                assert event["event"] != "outcome", f"finished too soon: {event}"
            done = cli(tmp_path, "wipe", dev, "--yes", "--json")  # the same bench's settings
            assert done.returncode == 1, done.stdout + done.stderr
            [second] = outcomes(done.stdout).values()  # its job is refused at the claim
            assert second["status"] == "refused"
            assert "in use" in str(second["reason"]), second
            first.send_signal(signal.SIGINT)
            rest = first.stdout.read()
            assert first.wait(timeout=120) != 0
        finally:
            first.kill()
            first.wait(timeout=30)
    [outcome] = outcomes(rest).values()
    assert outcome["status"] == "aborted"


def _interrupted_wipe(tmp_path: Path, dev: str) -> str:
    """A wipe of `dev` killed mid-overwrite; its job id (recorded interrupted on next start)."""
    from tests.e2e.test_jobs_crash import _kill_mid_overwrite

    with write_throttle(dev, 16 * MiB) as procs:
        return _kill_mid_overwrite(throttled_wipe(tmp_path, dev, procs))


def _reattach(dev: str, image: Path) -> None:
    """Put another image behind the same /dev/loopN, as a swapped drive at the same path."""
    subprocess.run(["losetup", "--detach", dev], check=True, capture_output=True)
    subprocess.run(["losetup", dev, str(image)], check=True, capture_output=True)


@pytest.mark.parametrize("swap", ["bigger", "same-size"])
def test_restart_refuses_a_different_device_at_the_same_path(
    loop_device: LoopFactory, tmp_path: Path, swap: str
) -> None:
    """A job on a loop device (no serial) is interrupted; another image appears at the same
    /dev/loopN, bigger or of the same size: `jobs restart` refuses, naming what differs, and
    the newcomer keeps every byte."""
    dev = loop_device(image=junk_image(tmp_path / "first.img", 64 * MiB))
    job_id = _interrupted_wipe(tmp_path, dev)
    assert job_id
    size = 96 * MiB if swap == "bigger" else 64 * MiB
    stranger = tmp_path / "stranger.img"
    stranger.write_bytes(b"\x5a" * size)  # another drive's data (not the first image's junk)
    before = hashlib.sha256(stranger.read_bytes()).hexdigest()
    _reattach(dev, stranger)
    refused = cli(tmp_path, "jobs", "restart", job_id, "--yes", "--json")
    assert refused.returncode != 0, refused.stdout
    if swap == "bigger":
        assert f"size is now {size} bytes, but {64 * MiB} bytes was recorded" in refused.stderr
    else:
        assert "no longer holds the content fingerprinted" in refused.stderr
    assert hashlib.sha256(stranger.read_bytes()).hexdigest() == before


def test_restart_goes_ahead_on_the_same_device(loop_device: LoopFactory, tmp_path: Path) -> None:
    """The same image back at the same path (its end still as fingerprinted): restarted."""
    image = junk_image(tmp_path / "same.img", 64 * MiB)
    dev = loop_device(image=image)
    job_id = _interrupted_wipe(tmp_path, dev)
    _reattach(dev, image)
    again = cli(tmp_path, "jobs", "restart", job_id, "--yes", "--json")
    assert again.returncode == 0, again.stderr
    assert junk_left(image) == 0


def test_a_lab_drive_cannot_reach_a_real_disk(loop_device: LoopFactory, tmp_path: Path) -> None:
    """Lab drives whose backing files were planted as a real disk's device node and as a link to
    it (a loop device stands in for the disk): ``wipe --lab`` refuses both, since the lab's
    drives are regular files in the lab directory only, and the disk keeps every byte."""
    image = junk_image(tmp_path / "disk.img", 16 * MiB)
    dev = loop_device(image=image)
    data = tmp_path / "data"
    lab = data / "lab"
    lab.mkdir(parents=True)
    os.mknod(lab / "SIM-HDD-0001.img", stat.S_IFBLK | 0o600, os.stat(dev).st_rdev)
    (lab / "SIM-SSD-0001.img").symlink_to(dev)
    done = run_sanitiser(
        "wipe", "--lab", "lab-sata-hdd0", "lab-sata-ssd0", "--yes", "--json", data=data
    )
    assert done.returncode == 1, done.stdout + done.stderr
    final = outcomes(done.stdout)
    assert sorted(final) == [str(lab / "SIM-HDD-0001.img"), str(lab / "SIM-SSD-0001.img")]
    for outcome in final.values():
        assert outcome["status"] == "refused", outcome
        assert "is not a regular file" in str(outcome["reason"]), outcome
    assert junk_left(image) == 16


def test_lab_all_never_takes_a_real_drive_beside_the_lab(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """``wipe --lab --all`` with loop devices offered (a real, unprotected drive beside the lab):
    the drives it would erase are the five simulated ones and never the loop device. Asked
    without --yes and with no answer, so nothing is erased whatever it chose (other tests' loop
    devices are offered too); --yes acts on the same list."""
    image = junk_image(tmp_path / "beside.img", 16 * MiB)
    dev = loop_device(image=image)
    data = tmp_path / "data"
    asked = run_sanitiser(
        "wipe", "--lab", "--all", data=data, env={"SANITISER_LOOP_DEVICES": "true"}
    )
    assert asked.returncode == 1, asked.stdout + asked.stderr
    assert "not confirmed: nothing was erased" in asked.stderr
    listed = [line for line in asked.stderr.splitlines() if line.startswith("  /")]
    assert len(listed) == 5, asked.stderr
    assert all(line.endswith("[SIMULATED]") for line in listed), asked.stderr
    assert not [line for line in listed if line.split()[0] == dev], asked.stderr
    assert "Type 'ERASE 5 DRIVES' to continue" in asked.stderr
    assert junk_left(image) == 16
