"""Discovery against real kernel drivers: `sanitiser scan --json` inside the QEMU drive lab.

One guest with an NVMe drive, a SATA SSD and a SATA HDD on AHCI, a usb-storage stick and a
virtio-scsi disk runs the project's own CLI (this checkout and its venv, seen over 9p at the same
paths), and the raw identify outputs of every drive (udevadm, hdparm -I, nvme id-ctrl, sg_inq,
smartctl) are captured as steps ``raw.<tool>.<SERIAL>`` for tests that parse them.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lab.drivelab import MIB, DriveSpec, LabPlan, LabRun

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]

DRIVES = (
    DriveSpec("nvme", "LABNVME1", 64),
    DriveSpec("sata", "LABSATA1", 48, model="LabSATA", extra="rotation_rate=1"),
    DriveSpec("sata", "LABHDD01", 40),
    DriveSpec("usb", "LABUSB01", 32),
    DriveSpec("vscsi", "LABSCSI1", 56),
)
EXPECTED_TRANSPORT = {
    "LABNVME1": "nvme",
    "LABSATA1": "sata",
    "LABHDD01": "sata",
    "LABUSB01": "usb",
    "LABSCSI1": "scsi",
}
REAL_GRADES = {"A", "B", "C", "FAIL"}

RAW_TOOLS = {
    "udevadm": 'udevadm info "$(dev {s})"',
    "hdparm": 'hdparm -I "$(dev {s})"',
    "sg_inq": 'sg_inq "$(dev {s})"',
    "smartctl": 'smartctl -j -a "$(dev {s})"',
}


def scan_command(python: str = sys.executable, repo: Path = REPO) -> str:
    """The guest step running this checkout's CLI with settings isolated from the host's."""
    env = "SANITISER_DATA_DIR=/tmp/sanitiser-data SANITISER_CONFIG_FILE=/dev/null"
    return (
        f"cd {shlex.quote(str(repo))} && env {env} {shlex.quote(python)} -m sanitiser scan --json"
    )


def discovery_plan(scan: str) -> LabPlan:
    """The boot: the scan, and the raw captures of every drive."""
    steps = {"scan": scan, "lsblk": "lsblk -J -b -d -o NAME,SIZE,SERIAL,TRAN,ROTA"}
    for d in DRIVES:
        for tool, cmd in RAW_TOOLS.items():
            steps[f"raw.{tool}.{d.serial}"] = cmd.format(s=d.serial)
        if d.kind == "nvme":
            steps[f"raw.nvme-id-ctrl.{d.serial}"] = f'nvme id-ctrl "$(ctrl {d.serial})" -o json'
    # The raw captures only read: they run beside the scan, on the guest's second CPU.
    return LabPlan(DRIVES, steps, timeout=240, step_timeout=120, parallel=2)


LAB_PLAN = discovery_plan(scan_command())


@pytest.fixture(scope="module")
def scanned(lab_run: LabRun) -> dict[str, dict[str, Any]]:
    """The scan's drives by serial (the scan must exit 0 and print a JSON list)."""
    step = lab_run.step("scan")
    assert step.rc == 0, f"scan rc={step.rc}\nstderr:\n{step.err}\nstdout:\n{step.out}"
    drives = json.loads(step.out)
    assert isinstance(drives, list), step.out
    by_serial: dict[str, dict[str, Any]] = {}
    for d in drives:
        assert d["serial"] not in by_serial, f"serial {d['serial']!r} listed twice: {drives}"
        by_serial[d["serial"]] = d
    return by_serial


def test_scan_lists_every_emulated_drive_with_its_transport(
    scanned: dict[str, dict[str, Any]],
) -> None:
    """Every emulated drive is listed, by serial, with the transport of its real driver."""
    got = {
        serial: scanned[serial]["transport"] for serial in EXPECTED_TRANSPORT if serial in scanned
    }
    assert got == EXPECTED_TRANSPORT


def test_scan_lists_nothing_but_the_emulated_drives(
    scanned: dict[str, dict[str, Any]], lab_run: LabRun
) -> None:
    """The guest's own root (9p + overlay + tmpfs) is no drive: only the five disks are listed."""
    assert set(scanned) == set(EXPECTED_TRANSPORT)
    lsblk = json.loads(lab_run.step("lsblk").out)["blockdevices"]
    nodes = {f"/dev/{b['name']}" for b in lsblk if b["serial"] in EXPECTED_TRANSPORT}
    assert {d["path"] for d in scanned.values()} == nodes
    for d in scanned.values():
        assert d["transport"] not in ("loop", "virtio"), d


def test_scan_sizes_match_the_backing_images(
    scanned: dict[str, dict[str, Any]], lab_run: LabRun
) -> None:
    """Each drive's size is exactly its backing file's size."""
    got = {s: d["size_bytes"] for s, d in scanned.items()}
    want = {d.serial: lab_run.lab.drive(d.serial).image.stat().st_size for d in DRIVES}
    assert got == want
    assert want == {d.serial: d.size_mb * MIB for d in DRIVES}


def test_scan_reports_identity_and_rotation(scanned: dict[str, dict[str, Any]]) -> None:
    """Model and rotation come from the drive: the SSD says rotation_rate=1, the HDD nothing."""
    assert scanned["LABSATA1"]["model"] == "LabSATA"
    assert scanned["LABHDD01"]["model"] == "QEMU HARDDISK"
    assert scanned["LABNVME1"]["model"] == "QEMU NVMe Ctrl"
    assert scanned["LABSATA1"]["rotational"] is False
    assert scanned["LABHDD01"]["rotational"] is True
    assert scanned["LABNVME1"]["rotational"] is False


def test_scan_grades_nvme_health_and_not_usb(scanned: dict[str, dict[str, Any]]) -> None:
    """The NVMe health log gives a real grade; a usb-storage bridge without SMART is 'unknown'."""
    assert scanned["LABNVME1"]["health_grade"] in REAL_GRADES
    assert scanned["LABUSB01"]["health_grade"] == "unknown"


def test_scan_does_not_protect_unmounted_lab_drives(scanned: dict[str, dict[str, Any]]) -> None:
    """None of the drives holds the guest's root or a mount, so none is protected."""
    protected = {s: d["protected_reason"] for s, d in scanned.items() if d["protected"]}
    assert protected == {}


@pytest.mark.parametrize("serial", [d.serial for d in DRIVES])
def test_raw_udev_properties_identify_the_drive(lab_run: LabRun, serial: str) -> None:
    """udev (the host's rules, in the guest) gives every drive its serial, as real hardware."""
    step = lab_run.step(f"raw.udevadm.{serial}")
    assert step.rc == 0, step.err
    props = dict(line[3:].split("=", 1) for line in step.out.splitlines() if line.startswith("E: "))
    assert props.get("ID_SERIAL_SHORT") == serial or props.get("ID_SERIAL", "").endswith(serial)
    assert props["DEVTYPE"] == "disk"


def test_raw_nvme_id_ctrl_is_the_emulated_controller(lab_run: LabRun) -> None:
    """nvme id-ctrl reaches the controller: its serial, and Format NVM advertised (OACS bit 1)."""
    step = lab_run.step("raw.nvme-id-ctrl.LABNVME1")
    assert step.rc == 0, step.err
    ctrl = json.loads(step.out)
    assert ctrl["sn"].strip() == "LABNVME1"
    assert ctrl["oacs"] & 0b10
    assert ctrl["sanicap"] == 0


def test_raw_hdparm_identify_reaches_the_sata_disk(lab_run: LabRun) -> None:
    """hdparm -I reads ATA IDENTIFY through the real AHCI driver: model and serial."""
    step = lab_run.step("raw.hdparm.LABSATA1")
    assert "Model Number:       LabSATA" in step.out
    assert "Serial Number:      LABSATA1" in step.out


def test_raw_smartctl_json_for_sata_and_nvme(lab_run: LabRun) -> None:
    """smartctl -j parses for the SATA and NVMe drives and names their serials."""
    for serial in ("LABSATA1", "LABHDD01", "LABNVME1"):
        report = json.loads(lab_run.step(f"raw.smartctl.{serial}").out)
        assert report["serial_number"] == serial
    nvme = json.loads(lab_run.step("raw.smartctl.LABNVME1").out)
    assert "percentage_used" in nvme["nvme_smart_health_information_log"]


def test_raw_sg_inq_on_the_scsi_disk(lab_run: LabRun) -> None:
    """sg_inq answers for the virtio-scsi disk with its unit serial number."""
    step = lab_run.step("raw.sg_inq.LABSCSI1")
    assert step.rc == 0, step.err
    assert "QEMU" in step.out
    assert "LABSCSI1" in step.out
