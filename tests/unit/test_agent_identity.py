"""A computer's identity on the bench (`sanitiser.agent.bench.host_key`): what names the same
computer at its next boot, so a job it was running is found again, and what never does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sanitiser.agent.bench import host_key, own_drives_identity
from sanitiser.domain import Drive, Transport
from sanitiser.inventory.dmi import parse_dmidecode
from sanitiser.inventory.model import HostInventory, inventory_from_dmi

DMI = Path(__file__).parents[1] / "data/real/dmidecode/lenovo-thinkpad-t480-20l5.txt"
"""A real laptop's dmidecode whose serial and UUID were redacted to ``--`` by its capturer
(tests/data/real/dmidecode/SOURCES): no DMI identity, as on many tablets and white boxes."""


def no_dmi_identity() -> HostInventory:
    return inventory_from_dmi(parse_dmidecode(DMI.read_text(encoding="utf-8")))


def emmc(serial: str = "0x8b4c1e52", size: int = 62_537_072_640) -> Drive:
    return Drive("/dev/mmcblk0", "mmcblk0", "DA4064", serial, size, Transport.MMC)


def nvme(serial: str = "S4EWNX0R123456") -> Drive:
    return Drive("/dev/nvme0n1", "nvme0n1", "Samsung SSD 970", serial, 512 * 10**9, Transport.NVME)


def stick(serial: str = "4C530001230517115294") -> Drive:
    return Drive(
        "/dev/sdb", "sdb", "Cruzer Blade", serial, 16 * 10**9, Transport.USB, removable=True
    )


def test_the_capture_has_no_dmi_identity() -> None:
    inventory = no_dmi_identity()
    assert host_key(inventory, "a" * 32) == "boot-" + "a" * 12


def test_dmi_names_the_computer_whatever_its_drives() -> None:
    system = dataclasses.replace(no_dmi_identity().system, serial="PF1LAB01")
    inventory = dataclasses.replace(no_dmi_identity(), system=system)
    assert host_key(inventory, "a" * 32, [emmc()]) == host_key(inventory, "b" * 32, [nvme()])
    assert not host_key(inventory, "a" * 32).startswith(("boot-", "drives-"))


def test_without_dmi_its_own_drives_name_it_at_every_boot() -> None:
    inventory = no_dmi_identity()
    first = host_key(inventory, "a" * 32, [emmc(), nvme()])
    again = host_key(inventory, "b" * 32, [nvme(), emmc()])  # another boot, another order
    assert first == again
    assert first.startswith("drives-")
    assert host_key(inventory, "b" * 32, [emmc()]) != first  # a drive pulled: a new computer
    assert host_key(inventory, "b" * 32, [emmc(serial="0x8b4c1e53"), nvme()]) != first


def test_a_usb_stick_goes_with_whoever_has_it_and_names_no_computer() -> None:
    inventory = no_dmi_identity()
    assert host_key(inventory, "a" * 32, [stick()]) == "boot-" + "a" * 12
    assert host_key(inventory, "a" * 32, [emmc(), stick()]) == host_key(
        inventory, "b" * 32, [emmc()]
    )
    fixed_usb = dataclasses.replace(stick(), removable=False)
    assert own_drives_identity([fixed_usb]) == ""
    loop = Drive("/dev/loop0", "loop0", "", "", 4 << 20, Transport.LOOP)
    assert own_drives_identity([loop]) == ""


def test_placeholder_drive_serials_name_nothing() -> None:
    for serial in ("", "  ", "0x00000000", "0xffffffff", "0000000000", "Not Specified"):
        assert own_drives_identity([emmc(serial=serial)]) == "", serial
    assert host_key(no_dmi_identity(), "c" * 32, [emmc(serial="0x00000000")]).startswith("boot-")
