"""The bench TUI on real udev: a loop device attached while it runs appears, by its udev event.

The product's promise is "within 2 s"; a test that times it would fail on a loaded CI machine
for reasons that are not the product's. So the test proves the mechanism instead: the row comes
from the udev event stream, not from a rescan (the source's ``list()`` is not called again), and
the latency seen is printed for the record (``-s`` shows it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sanitiser.app.services import build_services
from sanitiser.config import load_settings
from sanitiser.devices.discover import UdevDriveSource
from sanitiser.devices.guard import read_system_state
from sanitiser.domain import Drive
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.widgets.drive_table import DriveTable
from tests.e2e.udevd import LoopDevices, running_udevd
from tests.tui.helpers import wait_for

pytestmark = [pytest.mark.root, pytest.mark.serial, pytest.mark.udev]


class CountingSource(UdevDriveSource):
    """The real udev source, counting full enumerations (a rescan would show here)."""

    listed = 0

    def list(self) -> list[Drive]:
        """Count, then enumerate as the real source does."""
        self.listed += 1
        return super().list()


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[LoopDevices]:
    """A udev daemon and loop devices that are detached afterwards."""
    with running_udevd(tmp_path):
        devices = LoopDevices(tmp_path)
        try:
            yield devices
        finally:
            devices.close()


async def test_loop_device_appears_and_goes_by_its_udev_event(loops: LoopDevices) -> None:
    """Attach -> a new usable row; detach -> the row goes; neither by a rescan."""
    system_disk = next(iter(read_system_state().system_disks))
    source = CountingSource(loop_devices=True)
    services = build_services(load_settings(), lab=False, real=source)
    app = SanitiserApp(services, operator="tester")
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(DriveTable)
        await wait_for(pilot, lambda: system_disk in table.rows)  # the first scan has landed
        scans = source.listed
        node = loops.attach(32 << 20, "tui")
        name = Path(node).name
        start = time.monotonic()
        await wait_for(pilot, lambda: name in table.rows)
        print(f"{node} shown after {time.monotonic() - start:.2f} s")
        assert str(table.get_cell(name, "status")) == "ready"
        assert str(table.get_cell(name, "transport")) == "loop"
        loops.detach(node)
        start = time.monotonic()
        await wait_for(pilot, lambda: name not in table.rows)
        print(f"{node} gone after {time.monotonic() - start:.2f} s")
        assert source.listed == scans, "the row came from a rescan, not from the udev event"
        assert str(table.get_cell(system_disk, "status")).startswith("PROTECTED")
