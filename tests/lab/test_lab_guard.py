"""The safety guard against real kernel situations the host kernel cannot make.

The bench's host kernel has no device-mapper and cannot read partition tables; the lab guest runs
Debian's kernel, which can. One boot: an NVMe drive gets a partition with a mounted ext4 file
system, a SATA disk is put under a device-mapper mapping, a second SATA disk has a mounted loop
device attached over it (the loop driver makes no holders/ link), a USB disk is used as swap,
and a virtio-scsi disk is left alone. Then this checkout's `sanitiser scan --json` runs in the
guest and a guard `claim()` is attempted on the device-mapper disk.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lab.drivelab import DriveSpec, LabPlan, LabRun

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
PY = shlex.quote(sys.executable)
ENV = "env SANITISER_DATA_DIR=/tmp/sanitiser-data SANITISER_CONFIG_FILE=/dev/null"

DRIVES = (
    DriveSpec("nvme", "GRDNVME1", 48),
    DriveSpec("sata", "GRDSATA1", 40, model="GuardSATA"),
    DriveSpec("sata", "GRDLOOP1", 32, model="GuardLoop"),
    DriveSpec("usb", "GRDUSB01", 32),
    DriveSpec("vscsi", "GRDSCSI1", 32),
)

CLAIM_DM_DISK = f"""
cd {shlex.quote(str(REPO))} && {ENV} {PY} - "$(dev GRDSATA1)" <<'PY'
import json, sys
from sanitiser.devices.discover import UdevDriveSource
from sanitiser.devices.guard import claim
from sanitiser.errors import DriveBusyError
path = __import__("os").path.realpath(sys.argv[1])
drive = next(d for d in UdevDriveSource().list() if d.path == path)
try:
    with claim(drive, drive):
        print(json.dumps({{"claimed": True}}))
except DriveBusyError as e:
    print(json.dumps({{"claimed": False, "reasons": list(e.reasons)}}))
PY
"""

LAB_PLAN = LabPlan(
    DRIVES,
    {
        "modules": "modprobe dm_mod && modprobe ext4 && modprobe loop && echo ok",
        "partition": (
            'd=$(dev GRDNVME1); echo "1MiB,,L" | sfdisk -q "$d" && udevadm settle '
            '&& mkfs.ext4 -q "${d}p1" && mkdir -p /mnt/guard && mount "${d}p1" /mnt/guard '
            "&& echo ok"
        ),
        "dm": (
            'd=$(dev GRDSATA1); dmsetup create guardlin --table "0 $(blockdev --getsz "$d") '
            'linear $d 0" && udevadm settle && echo ok'
        ),
        "swap": 'd=$(dev GRDUSB01); mkswap -q "$d" && swapon "$d" && echo ok',
        "loopstack": (
            'd=$(dev GRDLOOP1); l=$(losetup --find --show "$d") && mkfs.ext4 -q "$l" '
            '&& mkdir -p /mnt/loopup && mount "$l" /mnt/loopup && echo "ok $l"'
        ),
        "scan": f"cd {shlex.quote(str(REPO))} && {ENV} {PY} -m sanitiser scan --json",
        "claim": CLAIM_DM_DISK,
    },
    timeout=300,
    step_timeout=120,
)


@pytest.fixture(scope="module")
def by_serial(lab_run: LabRun) -> dict[str, dict[str, Any]]:
    """The guest scan's drives by serial, after every set-up step succeeded."""
    for name in ("modules", "partition", "dm", "swap", "loopstack"):
        step = lab_run.step(name)
        assert step.rc == 0, f"{name}: rc={step.rc}\n{step.out}\n{step.err}"
    scan = lab_run.step("scan")
    assert scan.rc == 0, scan.err
    return {d["serial"]: d for d in json.loads(scan.out)}


def test_mounted_partition_protects_the_nvme_disk(by_serial: dict[str, dict[str, Any]]) -> None:
    """A disk whose partition is mounted is protected, naming the partition and mount point."""
    d = by_serial["GRDNVME1"]
    assert d["protected"] is True
    assert "nvme0n1p1 is mounted at /mnt/guard" in d["protected_reason"]


def test_device_mapper_holder_protects_the_disk(by_serial: dict[str, dict[str, Any]]) -> None:
    """A disk under a device-mapper mapping is protected with the dm reason."""
    d = by_serial["GRDSATA1"]
    assert d["protected"] is True
    assert "device-mapper" in d["protected_reason"]
    assert "guardlin" in d["protected_reason"]


def test_swap_protects_the_usb_disk(by_serial: dict[str, dict[str, Any]]) -> None:
    """A disk in use as swap is protected."""
    d = by_serial["GRDUSB01"]
    assert d["protected"] is True
    assert "swap" in d["protected_reason"]


def test_a_loop_device_over_a_sata_disk_protects_it(
    lab_run: LabRun, by_serial: dict[str, dict[str, Any]]
) -> None:
    """A real SATA disk with a mounted loop device attached over it is protected, the loop
    named twice (attached, and mounted through it), and the disk is left untouched."""
    loop = Path(lab_run.step("loopstack").out.split()[-1]).name
    d = by_serial["GRDLOOP1"]
    assert d["protected"] is True
    assert f"loop device {loop} is attached over this disk" in d["protected_reason"]
    assert f"{loop}, built on this disk, is mounted at /mnt/loopup" in d["protected_reason"]


def test_untouched_disk_is_usable(by_serial: dict[str, dict[str, Any]]) -> None:
    """The disk nobody uses is offered."""
    assert by_serial["GRDSCSI1"]["protected"] is False


def test_claim_refuses_the_device_mapper_disk(lab_run: LabRun) -> None:
    """The destructive gate itself refuses the dm-held disk, with the reason."""
    step = lab_run.step("claim")
    assert step.rc == 0, step.err
    result = json.loads(step.out.strip().splitlines()[-1])
    assert result["claimed"] is False
    assert any("device-mapper" in r for r in result["reasons"])


def test_drives_untouched_by_the_scan(lab_run: LabRun) -> None:
    """Scanning and the refused claim wrote nothing to the disk the guard refused."""
    assert lab_run.image_state("GRDSATA1").verdict.name == "UNTOUCHED"
