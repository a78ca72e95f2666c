"""Computers running the agent on the bench, by keys: a real `AgentService` and a real agent
over mutual TLS on localhost, whose drives are lab files (tests/integration/agent_rig.py). The
computer is a row of its own with its drives under it, beside the bench's own lab drives; its
drive is selected and confirmed with the same phrase and plan screen as a local one; an
unmatched computer is attached by its scanned tag; a lost link shows and invents nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from sanitiser.agent.service import AgentService
from sanitiser.app.devices import DeviceDesk
from sanitiser.app.jobs import make_orchestrator
from sanitiser.app.services import Services
from sanitiser.certificate.sign import parse_envelope
from sanitiser.lab.bench import LabKind
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.bench import Bench
from sanitiser.tui.model import computer_row, row_key
from sanitiser.tui.screens.link import LinkModal
from sanitiser.tui.screens.start_erase import StartEraseModal
from tests.integration.agent_rig import (
    AgentRig,
    Cable,
    cable_cut_after,
    device_seams,
    laptop_inventory,
    sanitising,
)
from tests.tui.helpers import bench_ready, noticed, pushed, wait_for


@pytest.fixture
def rig(services: Services, tmp_path: Path) -> Iterator[AgentRig]:
    """The agent service over the TUI's lab bench services (its link lost after 1 s quiet)."""
    service = AgentService(services, host="127.0.0.1", lost_after=1.0)
    service.start()
    made = AgentRig(services, service, tmp_path)
    try:
        yield made
    finally:
        for running in made.agents:
            running.power_off()
        service.stop()


def app_for(rig: AgentRig) -> SanitiserApp:
    bench = Bench(
        rig.services, make_orchestrator(rig.services, poll_interval=0.01), agent=rig.service
    )
    return SanitiserApp(rig.services, bench=bench, operator="mia")


def cell(app: SanitiserApp, row: str, column: str) -> str:
    return str(app.table.get_cell(row, column))


async def go_to_row(pilot: Pilot[None], app: SanitiserApp, key: str) -> None:
    app.table.move_cursor(row=app.table.get_row_index(key))
    await pilot.pause()


async def test_a_computer_joins_the_bench_and_its_drive_is_wiped_like_a_local_one(
    rig: AgentRig,
) -> None:
    """A laptop taken in by tag and serial boots the agent: its row (make, model, serial, tag,
    agent, connected) and its drive under it appear beside the lab drives; Space, s, the plan
    and the typed phrase start it; the row follows to sanitised and the certificate names the
    device's tag."""
    DeviceDesk(rig.services, "mia").intake(kind="laptop", tag="LBC-0199", serial="PF1ABCDE")
    rig.service.mint_session(rig.tmp / "creds")
    lab, seams = device_seams(rig.tmp / "laptop", (LabKind.NVME,))
    seams.inventory = lambda: laptop_inventory("PF1ABCDE")
    [disk] = lab.drives()
    app = app_for(rig)
    async with app.run_test(size=(200, 40)) as pilot:
        await bench_ready(pilot, app)
        rig.boot(rig.tmp / "creds", seams)
        await wait_for(pilot, lambda: any(c.tag for c in app.table.computers.values()))
        [view] = app.table.computers.values()
        row = computer_row(view.key)
        assert "LBC-0199" in cell(app, row, "drive")
        assert cell(app, row, "serial") == "PF1ABCDE"
        assert cell(app, row, "transport") == "agent"
        # connected: it polls for orders; under load a poll may come later than the rig's 1 s
        await wait_for(pilot, lambda: "connected" in cell(app, row, "status"))
        assert "ThinkPad" in cell(app, row, "model") or "20L5" in cell(app, row, "model")
        [status] = view.drives
        key = row_key(status.drive)
        assert key.startswith("agent://")
        assert app.table.get_row_index(key) == app.table.get_row_index(row) + 1
        assert "lab-nvme0" in app.table.states  # the bench's own drive of the same name
        await wait_for(pilot, noticed(app, "device LBC-0199"))
        await go_to_row(pilot, app, key)
        await pilot.press("space")
        assert [r.key for r in app.table.selected()] == [key]
        modal = await pushed(pilot, app, "s", StartEraseModal)
        await wait_for(pilot, lambda: modal.plans is not None)
        assert modal.plans is not None
        [plan] = modal.plans
        assert plan.plan is not None  # the plan the policy made on the computer
        await pilot.press("tab", *f"ERASE {disk.serial[-4:]}", "enter")
        await wait_for(pilot, lambda: app.table.states[key].outcome == "sanitised")
        cert = app.table.states[key].certificate_id
        envelope = rig.services.store.certificate_record(cert)
        assert envelope is not None
        record = parse_envelope(envelope).record
        assert record["device"]["property_number"] == "LBC-0199"
        assert record["sanitisation"]["captured"] == "on-device"


async def test_an_unmatched_computer_is_attached_by_scanning_its_tag(rig: AgentRig) -> None:
    """No device has its serial: its row says so; t on its row, the tag scanned, Enter: its
    facts and drive are the device's, and the row shows the tag."""
    desk = DeviceDesk(rig.services, "mia")
    desk.intake(kind="laptop", tag="LBC-0777")
    rig.service.mint_session(rig.tmp / "creds")
    _lab, seams = device_seams(rig.tmp / "laptop", (LabKind.SATA_SSD,))
    seams.inventory = lambda: laptop_inventory("PF7NOBODY")
    app = app_for(rig)
    async with app.run_test(size=(200, 40)) as pilot:
        await bench_ready(pilot, app)
        rig.boot(rig.tmp / "creds", seams)
        await wait_for(pilot, noticed(app, "scan its tag"))
        [view] = app.table.computers.values()
        row = computer_row(view.key)
        assert "NOT LINKED" in cell(app, row, "method")
        assert desk.report("LBC-0777").device.drives == ()
        await go_to_row(pilot, app, row)
        modal = await pushed(pilot, app, "t", LinkModal)
        await pilot.press(*"LBC-0777", "enter")
        await wait_for(pilot, lambda: app.screen is not modal)
        await wait_for(pilot, lambda: "LBC-0777" in cell(app, row, "drive"))
        device = desk.report("LBC-0777").device
        assert [d.serial for d in device.drives] == [view.drives[0].drive.serial]
        assert device.inventory_source == "agent"


async def test_a_lost_link_shows_and_invents_no_outcome(rig: AgentRig) -> None:
    """The cable is cut once the bench hears 'sanitising' and the computer goes quiet: its row
    says LINK LOST, and its drive's row stays sanitising with no outcome."""
    rig.service.mint_session(rig.tmp / "creds")
    lab, seams = device_seams(rig.tmp / "laptop", (LabKind.USB_FLASH,))
    [disk] = lab.drives()
    cables: list[Cable] = []

    app = app_for(rig)
    async with app.run_test(size=(200, 40)) as pilot:
        await bench_ready(pilot, app)
        running = rig.boot(rig.tmp / "creds", seams, cable_cut_after(sanitising, cables))
        await wait_for(pilot, lambda: any(c.drives for c in app.table.computers.values()))
        [view] = app.table.computers.values()
        key = row_key(view.drives[0].drive)
        await go_to_row(pilot, app, key)
        modal = await pushed(pilot, app, "s", StartEraseModal)
        await wait_for(pilot, lambda: modal.plans is not None)
        await pilot.press("tab", *f"ERASE {disk.serial[-4:]}", "enter")
        await wait_for(pilot, lambda: app.table.states[key].state == "sanitising")
        await wait_for(pilot, cables[0].cut.is_set)
        running.power_off()
        row = computer_row(view.key)
        await wait_for(pilot, lambda: "LINK LOST" in cell(app, row, "status"))
        shown = app.table.states[key]
        assert shown.state == "sanitising"
        assert shown.outcome == ""
        # the table draws the state on its next tick: wait for the cell, not the state
        await wait_for(pilot, lambda: "sanitising" in cell(app, key, "status"))
        assert app.table.states[key].outcome == ""
