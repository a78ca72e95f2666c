"""A computer running the agent, joined to its device record (`sanitiser.app.computers`) over
a real store: found by its DMI serial, or attached by its scanned tag; never a guess."""

from __future__ import annotations

import pytest

from sanitiser.app.computers import AGENT_SOURCE, ComputerDesk, Match, internal_drives
from sanitiser.app.devices import DeviceDesk
from sanitiser.app.services import Services, build_services
from sanitiser.assets.model import DeviceError
from sanitiser.config import Settings
from sanitiser.domain import Drive, Transport
from sanitiser.inventory.model import HostInventory, identifier, identity_serials
from sanitiser.store import drive_key
from sanitiser.store.audit import entries
from sanitiser.testing import FakeDriveSource
from tests.integration.agent_rig import laptop_inventory


def inventory(serial: str) -> HostInventory:
    """The real T480's facts with the serial `serial` (the capture's is redacted)."""
    return laptop_inventory(serial)


NVME = Drive(
    "agent://h/dev/nvme0n1", "nvme0n1", "SAMSUNG MZVLB512", "S4EWNX0R1", 512 * 10**9, Transport.NVME
)
SATA = Drive("agent://h/dev/sda", "sda", "ST1000LM035", "WL1A2B3C", 10**12, Transport.SATA)
STICK = Drive(
    "agent://h/dev/sdb",
    "sdb",
    "SanDisk Ultra",
    "4C53000",
    32 * 10**9,
    Transport.USB,
    removable=True,
)


@pytest.fixture
def services() -> Services:
    return build_services(Settings(), lab=False, real=FakeDriveSource())


def intake(services: Services, tag: str, **more: str) -> None:
    DeviceDesk(services, "mia").intake(kind="laptop", tag=tag, **more)


def test_a_computer_is_found_by_its_serial_and_its_internal_drives_linked(
    services: Services,
) -> None:
    """The serial typed at intake is the computer's DMI serial: its facts are recorded from the
    agent, its internal drives linked (the stick it booted from is not), with custody entries;
    a second hello (a reboot) changes nothing."""
    intake(services, "LBC-0199", serial="PF1ABCDE")
    desk = ComputerDesk(services, "mia")
    got = desk.arrived(inventory("PF1ABCDE"), [NVME, SATA, STICK])
    assert got.match is Match.ATTACHED, got.message
    assert got.tag == "LBC-0199"
    device = DeviceDesk(services, "mia").report("LBC-0199").device
    assert device.inventory_source == AGENT_SOURCE
    assert device.inventory is not None
    assert device.inventory.system.serial == "PF1ABCDE"
    assert {d.drive_key for d in device.drives} == {drive_key(NVME), drive_key(SATA)}
    kinds = [e.kind for e in entries(services.store)]
    assert kinds.count("drive-linked") == 2
    assert kinds.count("inventoried") == 1
    again = desk.arrived(inventory("PF1ABCDE"), [NVME, SATA, STICK])
    assert again.attached
    assert [e.kind for e in entries(services.store)] == kinds  # nothing new to say


def test_the_service_tag_matches_too_case_aside(services: Services) -> None:
    """A Dell's service tag is its DMI serial: taken in by service tag, typed in lower case."""
    intake(services, "ASSET-7", service_tag="h7x9k2")
    got = ComputerDesk(services, "mia").arrived(inventory("H7X9K2"), [NVME])
    assert got.attached
    assert got.tag == "ASSET-7"


def test_an_unknown_computer_waits_for_its_tag_then_is_attached(services: Services) -> None:
    """No device has its serial: unmatched, nothing written; the scanned tag attaches it, and
    at its next boot it is found by the facts recorded then."""
    intake(services, "LBC-0200")
    desk = ComputerDesk(services, "mia")
    got = desk.arrived(inventory("PF9ZZZZZ"), [NVME])
    assert got.match is Match.UNMATCHED
    assert "scan its tag" in got.message
    assert DeviceDesk(services, "mia").report("LBC-0200").device.drives == ()
    assert desk.attach("lbc-0200", inventory("PF9ZZZZZ"), [NVME]).tag == "LBC-0200"
    assert desk.arrived(inventory("PF9ZZZZZ"), [NVME]).tag == "LBC-0200"


def test_a_serial_matching_two_devices_links_nothing(services: Services) -> None:
    """Two devices taken in with the same serial: the bench says so and links nothing."""
    intake(services, "A-1", serial="PF1SAME")
    intake(services, "A-2", serial="PF1SAME")
    got = ComputerDesk(services, "mia").arrived(inventory("PF1SAME"), [NVME])
    assert got.match is Match.AMBIGUOUS
    assert "A-1, A-2" in got.message
    for tag in ("A-1", "A-2"):
        device = DeviceDesk(services, "mia").report(tag).device
        assert device.drives == ()
        assert device.inventory is None


def test_a_device_holding_other_drives_links_nothing() -> None:
    """The matched device already holds a drive that is not this computer's (linked by hand):
    refused with the reason, nothing linked, no facts recorded."""
    other = Drive("/dev/sdq", "sdq", "WDC WD5000", "WX11", 5 * 10**11, Transport.SATA)
    services = build_services(Settings(), lab=False, real=FakeDriveSource([other]))
    intake(services, "LBC-0300", serial="PF1HELD")
    DeviceDesk(services, "mia").link("LBC-0300", ["/dev/sdq"])
    got = ComputerDesk(services, "mia").arrived(inventory("PF1HELD"), [NVME])
    assert got.match is Match.REFUSED
    assert "already holds other drive(s) (WX11" in got.message
    device = DeviceDesk(services, "mia").report("LBC-0300").device
    assert [d.serial for d in device.drives] == ["WX11"]
    assert device.inventory is None


def test_a_scanned_tag_of_a_device_with_another_serial_is_refused(services: Services) -> None:
    """The technician scans the wrong laptop's tag: its intake serial is not this computer's."""
    intake(services, "LBC-0400", serial="PF1OTHER")
    with pytest.raises(DeviceError, match="taken in with serial PF1OTHER"):
        ComputerDesk(services, "mia").attach("LBC-0400", inventory("PF1THIS"), [NVME])
    assert DeviceDesk(services, "mia").report("LBC-0400").device.drives == ()


def test_a_drive_of_another_device_is_refused_and_nothing_linked(services: Services) -> None:
    """One of the computer's drives is already linked to another device: all or nothing."""
    intake(services, "OLD-1")
    intake(services, "NEW-1")
    desk = ComputerDesk(services, "mia")
    desk.attach("OLD-1", None, [NVME])
    with pytest.raises(DeviceError, match="already linked to device 'OLD-1'"):
        desk.attach("NEW-1", inventory("PF1NEW"), [SATA, NVME])
    assert DeviceDesk(services, "mia").report("NEW-1").device.drives == ()


def test_a_monitor_is_not_a_computer(services: Services) -> None:
    DeviceDesk(services, "mia").intake(kind="monitor", tag="MON-1")
    with pytest.raises(DeviceError, match="monitor"):
        ComputerDesk(services, "mia").attach("MON-1", inventory("X1Y2"), [NVME])


def test_placeholder_serials_identify_nothing() -> None:
    """Firmware placeholders never match a device (or name a computer)."""
    for text in ("To Be Filled By O.E.M.", "Default string", "0000000", "--", " ", None, "FFFF"):
        assert identifier(text) == ""
    assert identifier(" PF1ABCDE ") == "PF1ABCDE"
    assert identity_serials(inventory("System Serial Number")) == ()
    assert internal_drives([NVME, SATA, STICK]) == [NVME, SATA]
