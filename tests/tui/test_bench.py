"""The bench TUI, driven by Textual's Pilot: lab drives, protected drives, hot-plug."""

from __future__ import annotations

import threading
from pathlib import Path

from sanitiser.app.services import Services, build_services
from sanitiser.config import load_settings
from sanitiser.devices.guard import BlockDevice, SystemState
from sanitiser.domain import Drive, Transport
from sanitiser.lab.bench import LabKind
from sanitiser.testing import FakeDriveSource, FakeRunner
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.widgets.drive_table import DriveTable
from tests.tui.helpers import wait_for

SDZ = Drive(
    path="/dev/sdz",
    name="sdz",
    model="WDC WD10",
    serial="WD-1",
    size_bytes=10**12,
    transport=Transport.SATA,
    devnum="65:144",
)
SDY = Drive(
    path="/dev/sdy",
    name="sdy",
    model="Crucial",
    serial="CT-2",
    size_bytes=5 * 10**11,
    transport=Transport.SATA,
    devnum="65:128",
)


def services_with(source: FakeDriveSource, *, lab: bool, state: SystemState) -> Services:
    """Services over a fake drive source, no smartctl, and a fixed system snapshot."""
    services = build_services(load_settings(), lab=lab, runner=FakeRunner(), real=source)
    services.system_state = lambda: state
    return services


def cell(table: DriveTable, row: str, column: str) -> str:
    """Plain text of one cell."""
    return str(table.get_cell(row, column))


async def test_lab_bench_shows_simulated_drives() -> None:
    """With the lab on, every simulated drive is listed and marked SIMULATED, with a banner."""
    services = services_with(FakeDriveSource(), lab=True, state=SystemState())
    app = SanitiserApp(services, operator="tester")
    async with app.run_test(size=(140, 30)) as pilot:
        table = app.query_one(DriveTable)
        assert services.lab is not None
        names = [d.name for d in services.lab.list()]
        await wait_for(pilot, lambda: table.row_count == len(names))
        for name in names:
            assert cell(table, name, "drive") == f"{name} SIM"
            assert cell(table, name, "status") == "ready"
            assert "SIM" in cell(table, name, "serial")
        assert "lab bench" in str(app.query_one("#banner").render())


async def test_protected_drive_is_shown_with_its_reason() -> None:
    """A system disk is listed greyed as PROTECTED with the guard's reason; a free disk is ready."""
    state = SystemState(
        blocks={"sdz": BlockDevice("sdz", "65:144"), "sdy": BlockDevice("sdy", "65:128")},
        system_disks={"sdz": ("holds the root filesystem /",)},
    )
    app = SanitiserApp(
        operator="tester",
        services=services_with(FakeDriveSource([SDZ, SDY]), lab=False, state=state),
    )
    async with app.run_test(size=(160, 30)) as pilot:
        table = app.query_one(DriveTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert cell(table, "sdz", "status").startswith("PROTECTED: holds the")
        assert table.states["sdz"].status.protection.reason == "holds the root filesystem /"
        assert cell(table, "sdy", "status") == "ready"


async def test_hotplug_from_another_thread_adds_and_removes_rows() -> None:
    """Drives plugged and unplugged on a foreign thread (as udev does) appear and go."""
    state = SystemState(blocks={"sdy": BlockDevice("sdy", "65:128")})
    source = FakeDriveSource()
    app = SanitiserApp(operator="tester", services=services_with(source, lab=False, state=state))
    async with app.run_test(size=(140, 30)) as pilot:
        table = app.query_one(DriveTable)
        await pilot.pause(0.2)
        assert table.row_count == 0
        t = threading.Thread(target=source.plug, args=(SDY,))
        t.start()
        t.join()
        await wait_for(pilot, lambda: "sdy" in table.rows)
        assert cell(table, "sdy", "serial") == "CT-2"
        threading.Thread(target=source.unplug, args=("sdy",)).start()
        await wait_for(pilot, lambda: "sdy" not in table.rows)


async def test_lab_hotplug_adds_a_simulated_drive(isolated_settings: Path) -> None:
    """Adding a lab drive while the bench runs shows it as a new SIMULATED row."""
    services = services_with(FakeDriveSource(), lab=True, state=SystemState())
    app = SanitiserApp(services, operator="tester")
    async with app.run_test(size=(140, 30)) as pilot:
        table = app.query_one(DriveTable)
        assert services.lab is not None
        before = len(services.lab.list())
        await wait_for(pilot, lambda: table.row_count == before)
        added = services.lab.add_drive(LabKind.NVME)
        await wait_for(pilot, lambda: added.name in table.rows)
        assert cell(table, added.name, "drive") == f"{added.name} SIM"


async def test_bench_notices_are_shown_in_the_banner() -> None:
    """A bench notice (e.g. udev not running: no hot-plug) is shown to the technician."""
    services = services_with(FakeDriveSource([SDY]), lab=False, state=SystemState())
    services.notices = ("udev is not running: drives plugged in now will not appear",)
    app = SanitiserApp(services, operator="tester")
    async with app.run_test(size=(140, 30)):
        banner = app.query_one("#banner")
        assert "udev is not running" in str(banner.render())
        assert banner.display
