"""The host shell against a fake sysfs tree built from real samples and a runner answering with
a real dmidecode dump (tests/data/real, see each folder's SOURCES)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.devices.host import collect_inventory
from sanitiser.errors import CommandFailedError, ToolOutputError
from sanitiser.inventory.edid import edid_from_hex
from sanitiser.inventory.model import Tpm
from sanitiser.inventory.security import SECURE_BOOT_VAR
from sanitiser.testing import FakeRunner

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
ATTRS = bytes((0x06, 0x00, 0x00, 0x00))


def dmidecode(name: str) -> FakeRunner:
    return FakeRunner().reply(["dmidecode"], stdout=(REAL / "dmidecode" / name).read_text())


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


@pytest.fixture
def laptop_sys(tmp_path: Path) -> Path:
    """A ThinkPad-like /sys: two batteries, mains, a TPM 2.0, Secure Boot on, a panel and an
    HDMI connector with nothing plugged in."""
    root = tmp_path / "sys"
    ps = root / "class" / "power_supply"
    write(ps / "BAT0" / "uevent", (REAL / "power_supply/smp-42t4977-energy.uevent").read_text())
    write(ps / "BAT0" / "type", "Battery\n")
    write(
        ps / "BAT1" / "uevent",
        (REAL / "power_supply" / "lgc-42t4969-bat1-energy.uevent").read_text(),
    )
    write(ps / "AC" / "uevent", "POWER_SUPPLY_NAME=AC\nPOWER_SUPPLY_ONLINE=1\n")
    write(ps / "AC" / "type", "Mains\n")
    write(root / "class" / "tpm" / "tpm0" / "tpm_version_major", "2\n")
    write(root / "firmware" / "efi" / "efivars" / SECURE_BOOT_VAR, ATTRS + b"\x01")
    write(
        root / "firmware" / "efi" / "efivars" / "BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c",
        ATTRS + b"\x00\x00",
    )
    panel = edid_from_hex((REAL / "edid" / "auo-b133hab-auo102d.edid-decode.txt").read_text())
    write(root / "class" / "drm" / "card0-eDP-1" / "edid", panel)
    write(root / "class" / "drm" / "card0-HDMI-A-1" / "edid", b"")
    (root / "class" / "drm" / "card0").mkdir()
    return root


def test_a_laptop(laptop_sys: Path) -> None:
    runner = dmidecode("lenovo-thinkpad-t480-20l5.txt")
    inv = collect_inventory(runner, sys_root=laptop_sys)
    assert runner.calls == [("dmidecode",)]
    assert (inv.system.vendor, inv.system.version) == ("LENOVO", "ThinkPad T480")
    assert inv.cpu is not None
    assert inv.cpu.generation == 8
    assert inv.memory.total_bytes == 32 << 30
    assert [(b.name, b.model, b.health_pct) for b in inv.batteries] == [
        ("BAT0", "42T4977", 65.5),
        ("BAT1", "42T4969", 99.9),
    ]
    assert inv.tpm == Tpm("2.0", None, None, "sysfs")
    assert inv.secure_boot == "enabled"
    assert [(d.connector, d.manufacturer, d.resolution) for d in inv.displays] == [
        ("eDP-1", "AUO", (1920, 1080)),
    ]
    assert inv.notes == ()


def test_a_desktop_with_nothing_else(tmp_path: Path) -> None:
    """No power_supply, no TPM in sysfs, legacy BIOS boot, no drm: all "not present"."""
    inv = collect_inventory(dmidecode("dell-optiplex-7050.txt"), sys_root=tmp_path)
    assert inv.chassis is not None
    assert inv.chassis.kind == "desktop"
    assert inv.batteries == ()
    assert inv.displays == ()
    assert inv.tpm == Tpm("2.0", None, "1.3", "dmi")  # DMI type 43 when sysfs has none
    assert inv.secure_boot == "unsupported"
    assert inv.notes == ()


def test_efivars_not_mounted_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "firmware" / "efi" / "efivars").mkdir(parents=True)
    inv = collect_inventory(dmidecode("apple-macbookpro14-1.txt"), sys_root=tmp_path)
    assert inv.secure_boot == "unknown"


def test_unreadable_parts_become_notes(laptop_sys: Path) -> None:
    write(laptop_sys / "class" / "power_supply" / "BAT1" / "uevent", "garbage\n")
    write(laptop_sys / "class" / "drm" / "card0-DP-1" / "edid", bytes(128))
    write(laptop_sys / "firmware" / "efi" / "efivars" / SECURE_BOOT_VAR, b"\x01")
    inv = collect_inventory(dmidecode("hp-elitebook-840-g5.txt"), sys_root=laptop_sys)
    assert [b.name for b in inv.batteries] == ["BAT0"]
    assert len(inv.displays) == 1
    assert inv.secure_boot == "unknown"
    assert [n.split(":")[0] for n in inv.notes] == [
        "power_supply BAT1",
        "secure boot",
        "display DP-1",
    ]


def test_dmidecode_failing_is_an_error(tmp_path: Path) -> None:
    runner = FakeRunner().reply(["dmidecode"], stderr="/dev/mem: Permission denied", returncode=1)
    with pytest.raises(CommandFailedError, match="Permission denied"):
        collect_inventory(runner, sys_root=tmp_path)
    with pytest.raises(CommandFailedError, match="command not found"):
        collect_inventory(FakeRunner(), sys_root=tmp_path)
    garbage = FakeRunner().reply(["dmidecode"], stdout="# dmidecode 3.3\nSMBIOS 3.0 present.\n")
    with pytest.raises(ToolOutputError, match="no System Information"):
        collect_inventory(garbage, sys_root=tmp_path)
