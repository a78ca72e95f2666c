"""The simulated lab bench: backing files, identity, hot-plug, and SMART through the real parser."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from sanitiser.devices.health import read_health
from sanitiser.domain import Drive, HealthGrade, MediaKind, Transport
from sanitiser.lab.bench import (
    DEFAULT_KINDS,
    PATTERN_MAGIC,
    SECTOR,
    LabBench,
    LabKind,
    expected_bytes,
    lab_health,
    lab_kind,
    lab_smartctl,
    sector_pattern,
)
from sanitiser.testing import FakeRunner

DATA = Path(__file__).resolve().parents[1] / "data" / "smartctl"
MIB = 1 << 20


@pytest.fixture
def lab(tmp_path: Path) -> LabBench:
    """A small bench (4 MiB drives) in a private data directory."""
    return LabBench(tmp_path / "data", drive_mib=4)


def by_name(lab: LabBench) -> dict[str, Drive]:
    """The bench's drives by name."""
    return {d.name: d for d in lab.drives()}


# --- backing files and the pattern ----------------------------------------------------------


def test_backing_files_hold_the_pattern(lab: LabBench, tmp_path: Path) -> None:
    """Each drive's file is data_dir/lab/<serial>.img, drive_mib long, all pattern sectors."""
    for drive in lab.drives():
        path = Path(drive.path)
        assert path == tmp_path / "data" / "lab" / f"{drive.serial}.img"
        assert path.stat().st_size == drive.size_bytes == 4 * MIB
        content = path.read_bytes()
        assert content == expected_bytes(drive.serial, 0, 4 * MIB)
        assert content.startswith(PATTERN_MAGIC + drive.serial.encode() + b" 000000000000\n")
        last = content[-SECTOR:]
        assert last.startswith(f"LABDATA {drive.serial} {4 * MIB - SECTOR:012x}".encode())
    assert not list((tmp_path / "data" / "lab").glob("*.part"))


def test_every_sector_is_distinct(lab: LabBench) -> None:
    """Sectors carry their own offset, so a misplaced or partial write is visible."""
    drive = lab.drives()[0]
    content = Path(drive.path).read_bytes()
    sectors = {content[o : o + SECTOR] for o in range(0, len(content), SECTOR)}
    assert len(sectors) == len(content) // SECTOR
    assert b"\0" not in content


@pytest.mark.parametrize(
    ("offset", "length"),
    [(0, SECTOR), (7 * 4096, 8192), (MIB - 1024, 4096), (5 * MIB, 3 * MIB), (0, 0)],
)
def test_expected_bytes_matches_sector_by_sector_pattern(offset: int, length: int) -> None:
    """The fast chunked pattern equals the simple per-sector definition, across MiB borders."""
    for serial in ("SIM-HDD-0001", "SIM-NVME-0042", "S"):
        simple = b"".join(sector_pattern(serial, o) for o in range(offset, offset + length, SECTOR))
        assert expected_bytes(serial, offset, length) == simple


def test_sector_pattern_is_whole_lines() -> None:
    """A sector is whole LABDATA lines padded with dots, 512 bytes, ending in a newline."""
    sector = sector_pattern("SIM-SSD-0001", 0xABC00)
    assert len(sector) == SECTOR
    assert sector.endswith(b"\n")
    lines = sector.split(b"\n")[:-2]
    assert set(lines) == {b"LABDATA SIM-SSD-0001 0000000abc00"}


def test_expected_bytes_rejects_unaligned_ranges() -> None:
    """Offsets and lengths must be whole sectors."""
    with pytest.raises(ValueError, match="multiples of 512"):
        expected_bytes("SIM-HDD-0001", 100, SECTOR)


def test_reopen_keeps_existing_contents(tmp_path: Path) -> None:
    """Opening the bench again does not refill: an erased lab drive stays erased."""
    first = LabBench(tmp_path, drive_mib=4)
    drive = first.drives()[0]
    with open(drive.path, "r+b") as f:
        f.write(b"\0" * MIB)
    mtime = os.stat(drive.path).st_mtime_ns
    again = LabBench(tmp_path, drive_mib=4)
    assert again.drives() == first.drives()
    content = Path(drive.path).read_bytes()
    assert content[:MIB] == b"\0" * MIB
    assert content[MIB : 2 * MIB] == expected_bytes(drive.serial, MIB, MIB)
    assert os.stat(drive.path).st_mtime_ns == mtime


def test_reopen_recreates_missing_file_and_keeps_sizes(tmp_path: Path) -> None:
    """A deleted backing file is made again; existing files keep their size if drive_mib changes."""
    first = LabBench(tmp_path, drive_mib=4)
    gone, kept = first.drives()[0], first.drives()[1]
    os.unlink(gone.path)
    again = by_name(LabBench(tmp_path, drive_mib=8))
    assert again[gone.name].size_bytes == 8 * MIB
    assert Path(gone.path).read_bytes()[:SECTOR] == sector_pattern(gone.serial, 0)
    assert again[kept.name].size_bytes == 4 * MIB


def test_default_drive_size_fills_quickly(tmp_path: Path) -> None:
    """Five 64 MiB drives are created in well under a second each."""
    start = time.monotonic()
    lab = LabBench(tmp_path)
    elapsed = time.monotonic() - start
    assert all(d.size_bytes == 64 * MIB for d in lab.drives())
    assert elapsed < len(lab.drives()) * 1.0


def test_rejects_non_positive_size(tmp_path: Path) -> None:
    """A zero-size lab drive is a configuration error."""
    with pytest.raises(ValueError, match="drive_mib"):
        LabBench(tmp_path, drive_mib=0)


# --- identity -------------------------------------------------------------------------------


def test_every_drive_is_marked_simulated(lab: LabBench) -> None:
    """Every lab drive is simulated, and its model, vendor and serial say so."""
    drives = lab.drives()
    assert len(drives) == len(DEFAULT_KINDS) == 5
    for d in drives:
        assert d.simulated
        assert d.model.startswith("SIMULATED ")
        assert d.vendor == "SIMULATED"
        assert d.serial.startswith("SIM-")
        assert d.name.startswith("lab-")
    assert len({d.serial for d in drives}) == len({d.name for d in drives}) == 5


def test_bench_has_mixed_kinds(lab: LabBench) -> None:
    """The bench holds a SATA HDD and SSD, an NVMe, a USB stick and a USB-bridged HDD."""
    drives = by_name(lab)
    assert {n: d.media_kind for n, d in drives.items()} == {
        "lab-sata-hdd0": MediaKind.HDD,
        "lab-sata-ssd0": MediaKind.SSD,
        "lab-nvme0": MediaKind.NVME,
        "lab-usb-flash0": MediaKind.USB_FLASH,
        "lab-usb-hdd0": MediaKind.USB_DRIVE,
    }
    assert drives["lab-sata-hdd0"].rotational
    assert drives["lab-sata-hdd0"].transport is Transport.SATA
    assert drives["lab-usb-flash0"].removable
    assert drives["lab-nvme0"].transport is Transport.NVME
    assert {lab_kind(d) for d in drives.values()} == set(LabKind)


def test_list_is_drives(lab: LabBench) -> None:
    """list() (the DriveSource shape) gives the same drives as drives()."""
    assert lab.list() == lab.drives()


def test_kind_and_drive_by_path(lab: LabBench) -> None:
    """A drive's kind and value are found from its backing file path (str or Path)."""
    nvme = by_name(lab)["lab-nvme0"]
    assert lab.kind_of(nvme.path) is MediaKind.NVME
    assert lab.kind_of(Path(nvme.path)) is MediaKind.NVME
    assert lab.drive_at(nvme.path) == nvme
    assert lab.drive_at("/dev/sda") is None
    with pytest.raises(KeyError, match="not a lab drive"):
        lab.kind_of("/dev/sda")


def test_lab_kind_is_none_for_real_drives() -> None:
    """A real (non-simulated) drive has no lab kind."""
    real = Drive(path="/dev/sda", name="sda", model="X", serial="Y", size_bytes=1,
                 transport=Transport.SATA)  # fmt: skip
    assert lab_kind(real) is None


# --- hot-plug -------------------------------------------------------------------------------


def test_add_and_remove_call_watchers(lab: LabBench) -> None:
    """add_drive/remove_drive report (action, drive, name) to every watcher until stopped."""
    seen: list[tuple[str, Drive | None, str]] = []
    stop = lab.watch(lambda action, drive, name: seen.append((action, drive, name)))
    added = lab.add_drive(LabKind.USB_FLASH)
    assert (added.name, added.serial) == ("lab-usb-flash1", "SIM-USB-0002")
    assert Path(added.path).read_bytes()[:SECTOR] == sector_pattern("SIM-USB-0002", 0)
    assert added in lab.drives()
    removed = lab.remove_drive("lab-usb-flash0")
    assert removed.serial == "SIM-USB-0001"
    assert "lab-usb-flash0" not in by_name(lab)
    assert seen == [("add", added, "lab-usb-flash1"), ("remove", removed, "lab-usb-flash0")]
    stop()
    stop()  # idempotent
    lab.add_drive(LabKind.NVME)
    assert len(seen) == 2


def test_removed_drive_keeps_its_data_and_comes_back(lab: LabBench) -> None:
    """Pulling a drive keeps its backing file; plugging it back shows the same data."""
    drive = lab.remove_drive("lab-sata-ssd0")
    assert lab.drive_at(drive.path) is None
    with open(drive.path, "r+b") as f:
        f.write(b"\0" * SECTOR)
    back = lab.add_drive(LabKind.SATA_SSD)
    assert back == drive
    assert Path(back.path).read_bytes()[:SECTOR] == b"\0" * SECTOR


def test_hot_plug_errors(lab: LabBench) -> None:
    """Adding a drive that is present, or removing one that is not, is an error."""
    with pytest.raises(ValueError, match="already on the bench"):
        lab.add_drive(LabKind.NVME, index=0)
    with pytest.raises(KeyError):
        lab.remove_drive("lab-nope0")


def test_failing_watcher_does_not_stop_others(lab: LabBench) -> None:
    """An exception in one callback is logged; the other watchers still hear the event."""
    seen: list[str] = []

    def broken(action: str, drive: Drive | None, name: str) -> None:
        raise RuntimeError("consumer bug")

    lab.watch(broken)
    lab.watch(lambda action, drive, name: seen.append(name))
    lab.add_drive(LabKind.SATA_HDD)
    assert seen == ["lab-sata-hdd1"]


# --- health through the real parser ---------------------------------------------------------


def test_lab_health_grades(lab: LabBench) -> None:
    """The lab's drives grade through the real parser: HDD B, SSD A, NVMe A, stick unknown,
    USB HDD C."""
    health = {name: lab_health(d) for name, d in by_name(lab).items()}
    assert {n: h.grade for n, h in health.items()} == {
        "lab-sata-hdd0": HealthGrade.B,
        "lab-sata-ssd0": HealthGrade.A,
        "lab-nvme0": HealthGrade.A,
        "lab-usb-flash0": HealthGrade.UNKNOWN,
        "lab-usb-hdd0": HealthGrade.C,
    }
    assert health["lab-sata-hdd0"].power_on_hours == 34_000
    assert health["lab-nvme0"].percentage_used == 12
    assert health["lab-usb-hdd0"].reallocated_sectors == 8
    assert "Unknown USB bridge" in health["lab-usb-flash0"].reasons[-1]
    for name, h in health.items():
        if h.smart_available:
            doc = json.loads(h.raw)
            assert doc["serial_number"] == by_name(lab)[name].serial


def test_lab_health_refuses_real_drives() -> None:
    """A real drive is never given invented health."""
    real = Drive(path="/dev/sda", name="sda", model="X", serial="Y", size_bytes=1,
                 transport=Transport.SATA)  # fmt: skip
    h = lab_health(real)
    assert h.grade is HealthGrade.UNKNOWN
    assert h.reasons == ("not a simulated lab drive",)


def test_smartctl_at_runner_seam_matches_lab_health(lab: LabBench) -> None:
    """The bench answers smartctl at the runner seam, so read_health works on lab drives."""
    runner = FakeRunner().on(("smartctl",), lab.smartctl)
    for drive in lab.drives():
        assert read_health(drive, runner) == lab_health(drive)
    result = lab.smartctl(("smartctl", "-j", "-a", "/dev/sdz"))
    assert result.returncode == 2
    assert json.loads(result.stdout)["smartctl"]["exit_status"] == 2


def keys(obj: Any) -> set[str]:
    """Keys of a JSON object."""
    assert isinstance(obj, dict)
    return set(obj)


def test_lab_ata_json_is_shaped_like_real_smartctl(lab: LabBench, reference: Path) -> None:
    """The lab's ATA output uses only keys the real smartctl 7.3 output has, in the same shape."""
    real = json.loads((reference / "qemu-7.2" / "smartctl-sda.json").read_text())
    hdd = by_name(lab)["lab-sata-hdd0"]
    result = lab_smartctl(hdd, ("smartctl", "-j", "-a", hdd.path))
    assert result.returncode == 0
    doc = json.loads(result.stdout)
    # rotation_rate: written by smartctl 7.3 for drives that report it (QEMU's does not)
    assert keys(doc) - {"rotation_rate"} <= keys(real)
    assert keys(doc["smartctl"]) <= keys(real["smartctl"])
    assert keys(doc["device"]) == keys(real["device"])
    real_attr = real["ata_smart_attributes"]["table"][0]
    for attr in doc["ata_smart_attributes"]["table"]:
        assert keys(attr) == keys(real_attr)
        assert keys(attr["flags"]) == keys(real_attr["flags"])
        assert keys(attr["raw"]) == keys(real_attr["raw"])


def test_lab_nvme_json_is_shaped_like_real_smartctl(lab: LabBench, reference: Path) -> None:
    """The lab's NVMe health log has exactly the real log's fields."""
    real = json.loads((reference / "qemu-7.2" / "smartctl-nvme0.json").read_text())
    nvme = by_name(lab)["lab-nvme0"]
    doc = json.loads(lab_smartctl(nvme, ("smartctl", "-j", "-a", "-d", "nvme", nvme.path)).stdout)
    assert keys(doc) <= keys(real)
    assert keys(doc["nvme_smart_health_information_log"]) == keys(
        real["nvme_smart_health_information_log"]
    )
    assert keys(doc["smart_status"]) == keys(real["smart_status"])


def test_lab_usb_stick_answers_like_a_real_one(lab: LabBench) -> None:
    """The stick fails -d sat (exit 2) and auto-detection (exit 1, Unknown USB bridge) as the
    real QEMU usb-storage disk did."""
    stick = by_name(lab)["lab-usb-flash0"]
    for argv, capture in (
        (("smartctl", "-j", "-a", "-d", "sat", stick.path), "usb-storage-sat.json"),
        (("smartctl", "-j", "-a", stick.path), "usb-storage-auto.json"),
    ):
        real = json.loads((DATA / capture).read_text())
        result = lab_smartctl(stick, argv)
        doc = json.loads(result.stdout)
        assert result.returncode == real["smartctl"]["exit_status"]
        assert doc["smartctl"]["exit_status"] == real["smartctl"]["exit_status"]
        assert keys(doc) <= keys(real)
        assert ("messages" in doc["smartctl"]) == ("messages" in real["smartctl"])
