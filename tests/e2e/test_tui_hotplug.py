"""The bench TUI on real udev: a loop device attached while it runs appears within 2 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sanitiser.app.services import build_services
from sanitiser.config import load_settings
from sanitiser.devices.discover import UdevDriveSource
from sanitiser.devices.guard import read_system_state
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.widgets.drive_table import DriveTable
from tests.e2e.udevd import LoopDevices, running_udevd

pytestmark = [pytest.mark.root, pytest.mark.serial, pytest.mark.udev]


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[LoopDevices]:
    """A udev daemon and loop devices that are detached afterwards."""
    with running_udevd(tmp_path):
        devices = LoopDevices(tmp_path)
        try:
            yield devices
        finally:
            devices.close()


async def test_loop_device_appears_and_goes_within_two_seconds(loops: LoopDevices) -> None:
    """Attach -> a new usable row within 2 s; detach -> the row goes within 2 s."""
    system_disk = next(iter(read_system_state().system_disks))
    services = build_services(load_settings(), lab=False, real=UdevDriveSource(loop_devices=True))
    app = SanitiserApp(services, operator="tester")
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(DriveTable)
        deadline = time.monotonic() + 20
        while system_disk not in table.rows:  # the first scan has landed
            assert time.monotonic() < deadline, "initial scan did not finish"
            await pilot.pause(0.05)
        node = loops.attach(32 << 20, "tui")
        name = Path(node).name
        start = time.monotonic()
        while name not in table.rows:
            assert time.monotonic() - start < 2.0, f"{node} not shown within 2 s"
            await pilot.pause(0.02)
        assert str(table.get_cell(name, "status")) == "ready"
        assert str(table.get_cell(name, "transport")) == "loop"
        loops.detach(node)
        start = time.monotonic()
        while name in table.rows:
            assert time.monotonic() - start < 2.0, f"{node} still shown 2 s after detach"
            await pilot.pause(0.02)
        assert str(table.get_cell(system_disk, "status")).startswith("PROTECTED")
