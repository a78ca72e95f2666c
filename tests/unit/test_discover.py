"""udev -> Drive mapping, built from real `udevadm info` dumps of QEMU's emulated drives.

The sysfs side of each drive comes from the same guest's real `lsblk -J -O` (lsblk.json) and the
expected capacities from its `sg_readcap` output, so nothing here is a hand-typed model of a drive.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.devices.discover import (
    ADD,
    CHANGE,
    LOOP_SKIPPED,
    MAX_TEXT,
    REMOVE,
    best_by_id,
    clean_text,
    decode_udev_escapes,
    detect_transport,
    drive_from_properties,
    parse_udevadm_properties,
    skip_reason,
    translate_event,
)
from sanitiser.domain import Drive, MediaKind, Transport

QEMU = "qemu-7.2"
DISKS = ("sda", "sdb", "sdc", "nvme0n1")
_LSBLK_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def lsblk_row(reference: Path, name: str) -> dict[str, Any]:
    """The lsblk.json entry for one kernel name."""
    rows = json.loads((reference / QEMU / "lsblk.json").read_text())["blockdevices"]
    return next(row for row in rows if row["kname"] == name)


def sysfs_from_lsblk(row: dict[str, Any]) -> dict[str, str]:
    """The sysfs attributes the kernel showed lsblk, in sysfs form (size in 512-byte sectors)."""
    match = re.fullmatch(r"([\d.]+)([KMGT]?)", row["size"])
    assert match, row["size"]
    number, unit = match.groups()
    attrs = {
        "size": str(int(float(number) * _LSBLK_UNITS[unit]) // 512),
        "queue/logical_block_size": str(row["log-sec"]),
        "queue/physical_block_size": str(row["phy-sec"]),
        "queue/rotational": "1" if row["rota"] else "0",
        "removable": "1" if row["rm"] else "0",
        "ro": "1" if row["ro"] else "0",
        "dev": row["maj:min"],
    }
    if row["vendor"] is not None:
        attrs["device/vendor"] = row["vendor"]
    if row["model"] is not None:
        attrs["device/model"] = row["model"]
    return attrs


def real_drive(reference: Path, name: str) -> tuple[Drive, dict[str, str], dict[str, Any]]:
    """The Drive mapped from the real dump of `name`, its udev properties and lsblk row."""
    props = parse_udevadm_properties((reference / QEMU / f"udev-{name}.txt").read_text())
    row = lsblk_row(reference, name)
    return drive_from_properties(props, sysfs_from_lsblk(row)), props, row


def readcap_bytes(reference: Path, name: str) -> int:
    """Capacity sg_readcap reported for an sd* disk."""
    text = (reference / QEMU / f"sg_readcap-{name}.txt").read_text()
    match = re.search(r"Device size: (\d+) bytes", text)
    assert match
    return int(match.group(1))


# --------------------------------------------------------------------------- real dumps


@pytest.mark.parametrize("name", DISKS)
def test_real_dump_keeps_identity_and_geometry(reference: Path, name: str) -> None:
    """Each real drive maps to its node, kernel name, serial, revision, sectors and MAJ:MIN."""
    drive, props, row = real_drive(reference, name)
    assert drive.path == row["path"] == f"/dev/{name}"
    assert drive.name == name
    assert drive.serial == props["ID_SERIAL_SHORT"]
    assert drive.firmware == props["ID_REVISION"]
    assert drive.logical_sector_size == row["log-sec"]
    assert drive.physical_sector_size == row["phy-sec"]
    assert drive.rotational is row["rota"]
    assert drive.removable is row["rm"]
    assert drive.read_only is row["ro"]
    assert drive.devnum == row["maj:min"]


@pytest.mark.parametrize("name", ["sda", "sdb", "sdc"])
def test_real_scsi_capacity_matches_read_capacity(reference: Path, name: str) -> None:
    """The capacity (sysfs size x 512) equals what SCSI READ CAPACITY reported for the disk."""
    drive, _, _ = real_drive(reference, name)
    assert drive.size_bytes == readcap_bytes(reference, name)


@pytest.mark.parametrize(
    ("name", "transport", "kind"),
    [
        ("sda", Transport.SATA, MediaKind.HDD),
        ("sdb", Transport.SCSI, MediaKind.HDD),
        ("sdc", Transport.USB, MediaKind.USB_DRIVE),
        ("nvme0n1", Transport.NVME, MediaKind.NVME),
    ],
)
def test_real_dump_transport(
    reference: Path, name: str, transport: Transport, kind: MediaKind
) -> None:
    """AHCI -> SATA, virtio-scsi -> SCSI, usb-storage -> USB, NVMe (no ID_BUS) -> NVMe."""
    drive, _, row = real_drive(reference, name)
    assert drive.transport is transport
    assert drive.media_kind is kind
    if row["tran"] is not None:  # lsblk's own opinion, where it has one
        assert drive.transport.value == row["tran"]


@pytest.mark.parametrize("name", DISKS)
def test_real_dump_model_is_readable(reference: Path, name: str) -> None:
    """The model is the drive's own text (spaces, not udev's underscores), as sysfs shows it."""
    drive, _, row = real_drive(reference, name)
    assert drive.model == " ".join(row["model"].split())
    assert "_" not in drive.model


def test_real_dump_vendor(reference: Path) -> None:
    """SCSI and USB vendors come through; libata's placeholder 'ATA' is not a vendor."""
    assert real_drive(reference, "sdb")[0].vendor == "QEMU"
    assert real_drive(reference, "sdc")[0].vendor == "QEMU"
    assert real_drive(reference, "sda")[0].vendor == ""
    assert real_drive(reference, "nvme0n1")[0].vendor == ""


def test_real_nvme_wwn_and_by_id(reference: Path) -> None:
    """NVMe gets its namespace WWN and the model_serial_nsid by-id link, not the WWN-based one."""
    drive, props, _ = real_drive(reference, "nvme0n1")
    assert drive.wwn == props["ID_WWN"]
    assert drive.by_id == "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_NVME0001_1"
    assert drive.identity == ("NVME0001", props["ID_WWN"], drive.size_bytes)


@pytest.mark.parametrize(
    ("name", "link"),
    [
        ("sda", "/dev/disk/by-id/ata-LabSATA_SATA0001"),
        ("sdb", "/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_SCSI0001"),
        ("sdc", "/dev/disk/by-id/usb-QEMU_QEMU_HARDDISK_USB0001-0:0"),
    ],
)
def test_real_dump_by_id(reference: Path, name: str, link: str) -> None:
    """The stable path is the bus id link from DEVLINKS, never by-path or by-diskseq."""
    drive, props, _ = real_drive(reference, name)
    assert drive.by_id == link
    assert link in props["DEVLINKS"].split()


@pytest.mark.parametrize("name", DISKS)
def test_real_dump_is_a_wipe_candidate(reference: Path, name: str) -> None:
    """Every real whole disk with a medium is listed."""
    props = parse_udevadm_properties((reference / QEMU / f"udev-{name}.txt").read_text())
    assert skip_reason(props, sysfs_from_lsblk(lsblk_row(reference, name))) == ""


# --------------------------------------------------------------------------- udevadm parser


def test_parser_reads_the_record_format() -> None:
    """`udevadm info DEV` output: only E: lines are properties; values keep '=' and spaces."""
    text = (
        "P: /devices/virtual/block/loop0\nM: loop0\nN: loop0\nS: disk/by-diskseq/11\n"
        "E: DEVNAME=/dev/loop0\nE: DEVTYPE=disk\nE: ID_FS_LABEL_ENC=a=b c\n\n"
    )
    assert parse_udevadm_properties(text) == {
        "DEVNAME": "/dev/loop0",
        "DEVTYPE": "disk",
        "ID_FS_LABEL_ENC": "a=b c",
    }


def test_parser_reads_the_property_format(reference: Path) -> None:
    """`--query=property` output (the reference dumps): every KEY=VALUE line is kept."""
    text = (reference / QEMU / "udev-sda.txt").read_text()
    props = parse_udevadm_properties(text)
    assert len(props) == len([line for line in text.splitlines() if "=" in line])
    assert props["ID_PATH"] == "pci-0000:00:05.0-ata-1.0"


# --------------------------------------------------------------------------- transport rules


@pytest.mark.parametrize(
    ("name", "props", "attrs", "expected"),
    [
        ("sdd", {"ID_BUS": "ata", "ID_USB_DRIVER": "uas"}, {}, Transport.USB),  # SATA in a UAS box
        ("sdd", {"ID_PATH": "pci-0000:00:14.0-usb-0:3:1.0-scsi-0:0:0:0"}, {}, Transport.USB),
        ("sdd", {"ID_BUS": "usb"}, {}, Transport.USB),
        ("nvme1n2", {}, {}, Transport.NVME),
        ("sdx", {"ID_PATH": "pci-0000:01:00.0-nvme-1"}, {}, Transport.NVME),
        ("mmcblk0", {}, {}, Transport.MMC),
        ("vdb", {}, {"device/vendor": "0x1af4"}, Transport.VIRTIO),
        ("loop12", {}, {}, Transport.LOOP),
        ("sde", {}, {"device/vendor": "ATA     "}, Transport.SATA),  # libata, no udev database
        ("sde", {"ID_ATA": "1"}, {}, Transport.SATA),
        ("sdf", {"ID_PATH": "pci-0000:03:00.0-sas-phy2-lun-0"}, {}, Transport.SCSI),
        ("sdf", {}, {"device/vendor": "SEAGATE"}, Transport.SCSI),
        ("nbd0", {}, {}, Transport.UNKNOWN),
    ],
)
def test_transport_rules(
    name: str, props: dict[str, str], attrs: dict[str, str], expected: Transport
) -> None:
    """Transport comes from ID_USB_DRIVER/ID_PATH/ID_BUS/ID_ATA, the kernel name, or libata."""
    assert detect_transport(name, props, attrs) is expected


def test_usb_flash_stick_is_usb_flash() -> None:
    """A removable USB disk is a flash stick (overwrite only); a fixed one a drive in a box."""
    base = {"DEVPATH": "/devices/x/usb1/1-1/host0/block/sdg", "ID_USB_DRIVER": "usb-storage"}
    stick = drive_from_properties(base, {"size": "2048", "removable": "1"})
    box = drive_from_properties(base, {"size": "2048", "removable": "0"})
    assert stick.media_kind is MediaKind.USB_FLASH
    assert box.media_kind is MediaKind.USB_DRIVE


def test_ata_rotation_rate_decides_rotational() -> None:
    """ID_ATA_ROTATION_RATE_RPM=0 marks an SSD even if the queue flag claims rotation."""
    props = {"DEVNAME": "/dev/sda", "ID_BUS": "ata", "ID_ATA_ROTATION_RATE_RPM": "0"}
    drive = drive_from_properties(props, {"queue/rotational": "1", "size": "8"})
    assert drive.rotational is False
    assert drive.media_kind is MediaKind.SSD
    spinning = drive_from_properties({**props, "ID_ATA_ROTATION_RATE_RPM": "7200"}, {})
    assert spinning.media_kind is MediaKind.HDD


def test_sector_sizes_and_4k_capacity() -> None:
    """size is always 512-byte sectors, whatever the logical block size (4Kn disk)."""
    attrs = {
        "size": "7814037168",
        "queue/logical_block_size": "4096",
        "queue/physical_block_size": "4096",
    }
    drive = drive_from_properties({"DEVNAME": "/dev/sdh"}, attrs)
    assert drive.size_bytes == 7814037168 * 512
    assert (drive.logical_sector_size, drive.physical_sector_size) == (4096, 4096)


# --------------------------------------------------------------------------- by-id


def test_by_id_prefers_wwn_and_skips_partitions() -> None:
    """wwn- beats the bus id; -partN links and by-path links are never chosen."""
    links = (
        "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4-part1 /dev/disk/by-path/pci-0-ata-1 "
        "/dev/disk/by-id/ata-ST1000_Z1D2 /dev/disk/by-id/wwn-0x5000c500a1b2c3d4"
    )
    assert best_by_id(links, "ST1000_Z1D2", "Z1D2") == "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"
    only_parts = "/dev/disk/by-id/ata-ST1000_Z1D2-part1 /dev/disk/by-path/pci-0-ata-1"
    assert best_by_id(only_parts, "ST1000_Z1D2", "Z1D2") == ""


def test_by_id_prefers_the_serial_link_over_compat_links() -> None:
    """Among bus links, the one udev builds from ID_SERIAL wins over scsi-SATA_/scsi-1ATA_ ones."""
    links = (
        "/dev/disk/by-id/scsi-1ATA_Samsung_SSD_860_S3Z9 /dev/disk/by-id/ata-Samsung_SSD_860_S3Z9 "
        "/dev/disk/by-id/scsi-SATA_Samsung_SSD_860_S3Z9"
    )
    chosen = best_by_id(links, "Samsung_SSD_860_S3Z9", "S3Z9")
    assert chosen == "/dev/disk/by-id/ata-Samsung_SSD_860_S3Z9"


def test_loop_device_has_no_by_id() -> None:
    """A loop device only has by-diskseq links: by_id is empty, serial is empty."""
    props = {"DEVNAME": "/dev/loop0", "DEVLINKS": "/dev/disk/by-diskseq/11"}
    drive = drive_from_properties(props, {"size": "131072", "queue/rotational": "1"})
    assert (drive.by_id, drive.serial, drive.transport) == ("", "", Transport.LOOP)
    assert drive.rotational is False
    assert drive.media_kind is MediaKind.VIRTUAL


# --------------------------------------------------------------------------- hostile input


def test_missing_everything_gives_clear_values() -> None:
    """No properties and no attributes: empty strings, zero size, 512-byte defaults."""
    drive = drive_from_properties({}, {})
    assert (drive.path, drive.name, drive.model, drive.serial, drive.wwn) == ("", "", "", "", "")
    assert drive.size_bytes == 0
    assert (drive.logical_sector_size, drive.physical_sector_size) == (512, 512)
    assert drive.transport is Transport.UNKNOWN


def test_control_characters_and_bidi_are_removed() -> None:
    """Control, escape-sequence and bidi-override characters never reach the screen or records."""
    props = {
        "DEVNAME": "/dev/sdz",
        "ID_MODEL_ENC": "Evil\\x1b[31mDisk\\x07",
        "ID_SERIAL_SHORT": "AB\x00C\u202eD\tE\n",
    }
    drive = drive_from_properties(props, {})
    assert drive.model == "Evil[31mDisk"
    assert drive.serial == "ABCD E"


def test_ten_kilobyte_strings_are_capped() -> None:
    """A 10 kB model or serial becomes MAX_TEXT characters ending in an ellipsis."""
    props = {"DEVNAME": "/dev/sdz", "ID_MODEL": "M" * 10_000, "ID_SERIAL_SHORT": "S" * 10_000}
    drive = drive_from_properties(props, {"size": "9" * 10_000})
    assert len(drive.model) == MAX_TEXT
    assert drive.model.endswith("…")
    assert len(drive.serial) == MAX_TEXT
    assert drive.size_bytes == 0  # an absurd 10 000-digit size is no size


def test_escapes_decode_utf8_and_mark_bad_bytes() -> None:
    r"""\xNN runs decode as UTF-8 (é); bytes that are not UTF-8 become '?', never a crash."""
    assert decode_udev_escapes("Caf\\xc3\\xa9\\x20Disk") == "Café Disk"
    assert clean_text("Bad\\xff\\xfeName\\x2") == "Bad??Name\\x2"


def test_garbage_numbers_fall_back() -> None:
    """Non-numeric, negative or Python-only (1_000) sysfs numbers give 0 / 512, not an error."""
    attrs = {
        "size": "1_000",
        "queue/logical_block_size": "-4096",
        "queue/physical_block_size": "",
        "dev": "x:y",
    }
    drive = drive_from_properties({"DEVNAME": "/dev/sdz", "MAJOR": "8", "MINOR": "16"}, attrs)
    assert (drive.size_bytes, drive.logical_sector_size, drive.physical_sector_size) == (
        0,
        512,
        512,
    )
    assert drive.devnum == "8:16"


PROPERTY_KEYS = [
    "DEVNAME",
    "DEVPATH",
    "DEVTYPE",
    "ID_BUS",
    "ID_PATH",
    "ID_USB_DRIVER",
    "ID_ATA",
    "ID_MODEL",
    "ID_MODEL_ENC",
    "ID_VENDOR",
    "ID_VENDOR_ENC",
    "ID_SERIAL",
    "ID_SERIAL_SHORT",
    "ID_SCSI_SERIAL",
    "ID_WWN",
    "ID_WWN_WITH_EXTENSION",
    "ID_REVISION",
    "ID_ATA_ROTATION_RATE_RPM",
    "DEVLINKS",
    "MAJOR",
    "MINOR",
    "ID_CDROM",
]
ATTR_KEYS = [
    "size",
    "queue/logical_block_size",
    "queue/physical_block_size",
    "queue/rotational",
    "removable",
    "ro",
    "dev",
    "device/vendor",
    "device/model",
    "device/rev",
]
hostile_text = st.one_of(
    st.text(max_size=300),
    st.text(alphabet="\\x0123456789abcdefABCDEF_ -/\x00\x1b\u202e\t", max_size=200),
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.integers(1, 4000)),
)


@settings(max_examples=300, deadline=None)
@given(
    props=st.dictionaries(st.sampled_from(PROPERTY_KEYS) | st.text(max_size=20), hostile_text),
    attrs=st.dictionaries(st.sampled_from(ATTR_KEYS), hostile_text | st.integers().map(str)),
)
def test_never_crashes_and_strings_are_clean(props: dict[str, str], attrs: dict[str, str]) -> None:
    """Any udev input maps to a Drive whose texts are short, trimmed and free of control chars."""
    drive = drive_from_properties(props, attrs)
    skip_reason(props, attrs)
    for text in (drive.name, drive.model, drive.serial, drive.vendor, drive.wwn, drive.firmware):
        assert len(text) <= MAX_TEXT
        assert text == text.strip()
        assert not any(unicodedata.category(c).startswith("C") for c in text)
        assert "  " not in text
    assert drive.by_id == "" or drive.by_id.startswith("/dev/disk/by-id/")
    assert not re.search(r"-part\d+$", drive.by_id)
    assert drive.size_bytes >= 0
    assert drive.logical_sector_size > 0
    assert drive.physical_sector_size > 0


# --------------------------------------------------------------------------- candidates


@pytest.mark.parametrize(
    ("name", "props", "size", "listed"),
    [
        ("sda", {}, "131072", True),
        ("loop3", {}, "65536", True),
        ("loop3", {}, "0", False),  # no backing file
        ("ram0", {}, "8192", False),
        ("zram0", {}, "8192", False),
        ("dm-0", {}, "8192", False),
        ("md127", {}, "8192", False),
        ("sr0", {"ID_CDROM": "1"}, "8192", False),
        ("nvme0c0n1", {}, "8192", False),
        ("mmcblk0boot0", {}, "8192", False),
        ("sda1", {"DEVTYPE": "partition"}, "8192", False),
    ],
)
def test_wipe_candidates(name: str, props: dict[str, str], size: str, listed: bool) -> None:
    """Whole disks with a medium are listed; stacks, RAM disks, empty loops, partitions are not
    (loop devices: only with ``loop_devices`` on)."""
    full = {"DEVTYPE": "disk", "DEVPATH": f"/devices/x/block/{name}", **props}
    assert (skip_reason(full, {"size": size}, loop_devices=True) == "") is listed
    if name.startswith("loop") and listed:
        assert skip_reason(full, {"size": size}) == LOOP_SKIPPED
    else:
        assert skip_reason(full, {"size": size}) == skip_reason(
            full, {"size": size}, loop_devices=True
        )


# --------------------------------------------------------------------------- events


def _loop(size: int) -> Drive:
    return drive_from_properties({"DEVNAME": "/dev/loop4"}, {"size": str(size // 512)})


def test_loop_attach_change_becomes_add() -> None:
    """A loop device's 'change' to a non-zero size is an add for the bench."""
    assert translate_event("change", _loop(1 << 20), None) == (ADD, _loop(1 << 20))


def test_loop_detach_change_becomes_remove_with_last_known() -> None:
    """A 'change' that leaves no wipe candidate is a remove carrying the last known drive."""
    assert translate_event("change", None, _loop(1 << 20)) == (REMOVE, _loop(1 << 20))


def test_repeated_change_is_silent_and_real_change_reported() -> None:
    """udev repeats change events (write-close, duplicates): only a different value is reported."""
    assert translate_event("change", _loop(1 << 20), _loop(1 << 20)) is None
    assert translate_event("change", _loop(2 << 20), _loop(1 << 20)) == (CHANGE, _loop(2 << 20))


def test_remove_of_unknown_device_still_reported() -> None:
    """A real 'remove' is always passed on (drive None when it was never seen)."""
    assert translate_event("remove", None, None) == (REMOVE, None)
    assert translate_event("change", None, None) is None
