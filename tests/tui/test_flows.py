"""The technician's flows, driven by Pilot over the real core and the simulated lab bench:
operator, selection, plan and typed confirmation (and its refusals), live jobs, detail,
routing override, label, consignment, history and help."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from textual.widgets import Button, Input, RichLog, Select

from sanitiser.app.services import Services, build_services
from sanitiser.config import load_settings
from sanitiser.devices.guard import BlockDevice, SystemState
from sanitiser.domain import DestinationKind, Drive, MediaKind, Transport
from sanitiser.jobs.events import JobPhase, JobProgress
from sanitiser.store.audit import entries
from sanitiser.store.consignments import consignment_of
from sanitiser.store.destinations import add_destination
from sanitiser.testing import FakeDriveSource, FakeRunner
from sanitiser.tui.messages import JobEventReceived
from sanitiser.tui.screens.drive_detail import DriveDetailScreen
from sanitiser.tui.screens.help import HelpModal
from sanitiser.tui.screens.history import HistoryScreen
from sanitiser.tui.screens.operator import OperatorModal
from sanitiser.tui.screens.route import RouteOverrideModal
from sanitiser.tui.screens.start_erase import StartEraseModal
from tests.tui.helpers import SYSTEM, bench_ready, go_to, make_app, sanitise_one, wait_for


async def test_operator_is_asked_and_empty_or_unreadable_names_are_refused(
    services: Services,
) -> None:
    """Without an operator the bench asks; an empty name is refused; the name is shown."""
    app = make_app(services, operator="")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OperatorModal))
        await pilot.press("enter")
        assert isinstance(app.screen, OperatorModal)
        assert "required" in str(app.screen.query_one("#hint").render())
        await pilot.press("escape")
        assert isinstance(app.screen, OperatorModal)
        app.screen.query_one("#operator", Input).value = "Dana\x1b[2J"  # pasted, say
        await pilot.press("enter")
        assert isinstance(app.screen, OperatorModal)
        assert "control character (U+001B)" in str(app.screen.query_one("#hint").render())
        app.screen.query_one("#operator", Input).value = ""
        await pilot.press(*"Dana K", "enter")
        await wait_for(pilot, lambda: app.operator == "Dana K")
        assert "operator Dana K" in app.sub_title
        assert f"station {services.settings.station}" in app.sub_title


async def test_protected_drive_cannot_be_selected_or_started(services: Services) -> None:
    """Space and Start on the system disk are refused; no confirmation is even offered."""
    app = make_app(services)
    async with app.run_test(size=(120, 30)) as pilot:
        await bench_ready(pilot, app)
        await go_to(pilot, app, "sdz")
        await pilot.press("space")
        assert not app.table.states["sdz"].selected
        await pilot.press("s")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, StartEraseModal)
        await pilot.press("a")  # select all: every eligible drive, never the system disk
        assert not app.table.states["sdz"].selected
        assert {r.drive.name for r in app.table.selected()} == {
            n for n in app.table.states if n != "sdz"
        }
    assert services.store.jobs() == []


async def test_select_all_beside_the_lab_takes_the_simulated_drives_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real, unprotected data disk beside the lab bench: `a` selects the five lab drives and
    never it (as `wipe --lab --all`); it can still be selected by itself with Space."""
    monkeypatch.setenv("SANITISER_CERTS_DIR", str(tmp_path / "certs"))
    data_disk = dataclasses.replace(SYSTEM, path="/dev/sdy", name="sdy", serial="DATA-1",
                                    model="DATA DISK", devnum="65:128")  # fmt: skip
    svc = build_services(
        load_settings(), lab=True, runner=FakeRunner(), real=FakeDriveSource([SYSTEM, data_disk])
    )
    state = SystemState(
        blocks={"sdz": BlockDevice("sdz", "65:144"), "sdy": BlockDevice("sdy", "65:128")},
        system_disks={"sdz": ("holds the root filesystem /",)},
    )
    svc.system_state = lambda: state
    app = make_app(svc)
    async with app.run_test(size=(120, 30)) as pilot:
        await bench_ready(pilot, app)
        assert app.table.states["sdy"].eligible
        await pilot.press("a")
        selected = {r.drive.name for r in app.table.selected()}
        assert "sdy" not in selected
        assert selected == {n for n, r in app.table.states.items() if r.drive.simulated}
        assert len(selected) == 5
        await go_to(pilot, app, "sdy")
        await pilot.press("space")
        assert app.table.states["sdy"].selected
    assert svc.store.jobs() == []


async def test_confirmation_refuses_anything_but_the_phrase(services: Services) -> None:
    """Enter on the default focus cancels; a wrong phrase is refused; nothing is started."""
    app = make_app(services)
    async with app.run_test(size=(120, 34)) as pilot:
        await bench_ready(pilot, app)
        await go_to(pilot, app, "lab-sata-ssd0")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, StartEraseModal))
        modal = app.screen
        assert isinstance(modal, StartEraseModal)
        assert modal.focused is not None
        assert modal.focused.id == "cancel"
        assert modal.phrase == "ERASE 0001"
        await wait_for(pilot, lambda: modal.plans is not None)
        assert modal.query_one("#erase", Button).disabled
        await pilot.press("tab", *"ERASE 9999", "enter")
        assert app.screen is modal
        assert "Not confirmed" in str(modal.query_one("#plan-status").render())
        assert modal.query_one("#erase", Button).disabled
        await pilot.press("shift+tab", "enter")  # back to Cancel, Enter
        await wait_for(pilot, lambda: app.screen is app.bench_screen)
        await pilot.pause(0.3)
    assert services.store.jobs() == []


async def test_two_drives_are_sanitised_with_certificates(services: Services) -> None:
    """Select two lab drives, see their plans, type the phrase: both end sanitised, with
    certificates, recorded with the operator; the table shows it live."""
    app = make_app(services, operator="alice")
    async with app.run_test(size=(160, 40)) as pilot:
        await bench_ready(pilot, app)
        await go_to(pilot, app, "lab-sata-ssd0")
        await pilot.press("space")  # selects and moves down to lab-nvme0
        await go_to(pilot, app, "lab-nvme0")
        await pilot.press("space")
        assert [r.drive.name for r in app.table.selected()] == ["lab-sata-ssd0", "lab-nvme0"]
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, StartEraseModal))
        modal = app.screen
        assert isinstance(modal, StartEraseModal)
        await wait_for(pilot, lambda: modal.plans is not None)
        assert modal.plans is not None
        methods = {p.drive.name: (p.method, p.category) for p in modal.plans}
        assert methods["lab-nvme0"][0].startswith("nvme-")
        assert methods["lab-sata-ssd0"][1] == "purge"
        await pilot.press("tab", *"erase 2 drives")
        assert not modal.query_one("#erase", Button).disabled
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: all(
                app.table.states[n].outcome == "sanitised" for n in ("lab-sata-ssd0", "lab-nvme0")
            ),
        )
        await wait_for(pilot, lambda: str(app.table.get_cell("lab-nvme0", "status")) == "sanitised")
        assert str(app.table.get_cell("lab-nvme0", "progress")).endswith("100%")
        assert str(app.table.get_cell("lab-sata-hdd0", "status")) == "ready"
    jobs = services.store.jobs()
    assert {j.serial for j in jobs} == {"SIM-SSD-0001", "SIM-NVME-0001"}
    assert {j.operator for j in jobs} == {"alice"}
    for j in jobs:
        cert = j.detail["certificate_id"]
        assert services.store.certificate_record(cert) is not None


async def test_detail_route_override_label_and_consignment(services: Services) -> None:
    """After a job: the detail shows the log, outcome and certificate with its QR; a route
    override needs a reason and is recorded (job and custody log); a label is written; the
    drive joins a consignment."""
    app = make_app(services, operator="alice")
    async with app.run_test(size=(120, 60)) as pilot:
        await bench_ready(pilot, app)
        await sanitise_one(pilot, app, "lab-nvme0", "0001")
        cert = app.table.states["lab-nvme0"].certificate_id
        # A reuse destination: the technician's route below (internal-reuse) is what counts.
        add_destination(
            services.store,
            name="Partner",
            kind=DestinationKind.REUSE,
            contact="partner@example.org",
            accepts=[m.value for m in MediaKind],
            station=services.settings.station,
        )
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DriveDetailScreen))
        detail = app.screen
        assert isinstance(detail, DriveDetailScreen)
        await wait_for(pilot, lambda: detail.preview is not None)
        assert cert in str(detail.query_one("#certificate").render())
        assert "SANITISED" in str(detail.query_one("#outcome").render())
        assert detail.query_one("#job-log", RichLog).lines  # the journal was shown

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, RouteOverrideModal))
        route_modal = app.screen
        route_modal.query_one("#route-choice", Select).value = "internal-reuse"
        route_modal.query_one("#route-reason", Input).focus()
        await pilot.press("enter")  # no reason: refused
        assert app.screen is route_modal
        assert "reason is required" in str(route_modal.query_one("#route-hint").render())
        await pilot.press(*"asset kept by IT", "enter")
        await wait_for(pilot, lambda: detail.route is not None and detail.route.overridden_by)
        assert detail.route is not None
        assert (detail.route.destination, detail.route.route) == ("reuse", "internal-reuse")

        await pilot.press("l")
        label = services.settings.data_dir / "labels" / f"{cert}.pdf"
        await wait_for(pilot, label.exists)
        assert label.read_bytes().startswith(b"%PDF-")

        await pilot.press("c")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConsignmentModal")
        await pilot.press("enter")  # the only choice: a new consignment for Partner
        await wait_for(pilot, lambda: consignment_of(services.store, cert) is not None)

    job = services.store.jobs()[0]
    assert job.detail["route_override"]["reason"] == "asset kept by IT"
    assert job.detail["route_override"]["operator"] == "alice"
    assert "route-override" in [e.kind for e in services.store.job_events(job.id)]
    routed = [e for e in entries(services.store) if e.kind == "routed" and e.ref == cert]
    assert any(e.data.get("override") for e in routed)


async def test_history_finds_jobs_by_serial_and_operator(services: Services) -> None:
    """History lists past jobs; a search by serial or operator narrows them; Enter opens one."""
    app = make_app(services, operator="bob")
    async with app.run_test(size=(120, 40)) as pilot:
        await bench_ready(pilot, app)
        await sanitise_one(pilot, app, "lab-sata-ssd0", "0001")
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await wait_for(pilot, lambda: len(history.views) == 1)
        await pilot.press(*"nobody-like-this")
        await wait_for(pilot, lambda: history.views == [])
        search = history.query_one("#search", Input)
        search.value = "SIM-SSD bob"
        await wait_for(pilot, lambda: len(history.views) == 1)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DriveDetailScreen))


async def test_help_lists_the_keys(services: Services) -> None:
    """`?` opens the key map with the bench's keys; Escape closes it."""
    app = make_app(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await bench_ready(pilot, app)
        await pilot.press("question_mark")
        help_modal = app.screen
        assert isinstance(help_modal, HelpModal)
        keys = str(help_modal.query_one("#keys").render())
        for word in ("Space", "Start", "History", "Abort", "Operator", "Destinations"):
            assert word.lower() in keys.lower()
        await pilot.press("escape")
        assert app.screen is app.bench_screen


async def test_abort_without_a_job_is_refused(services: Services) -> None:
    """Abort on an idle drive says so and asks nothing."""
    app = make_app(services)
    async with app.run_test(size=(120, 30)) as pilot:
        await bench_ready(pilot, app)
        await go_to(pilot, app, "lab-nvme0")
        await pilot.press("x")
        await pilot.pause(0.2)
        assert app.screen is app.bench_screen


async def test_24_busy_drives_stay_responsive(services: Services) -> None:
    """24 drives each updating 5 times a second: the bench keeps up and keys still work."""
    drives = [
        Drive(
            path=f"/dev/sd{chr(97 + i // 26)}{chr(97 + i % 26)}",
            name=f"bay{i:02d}",
            model="LOAD",
            serial=f"LOAD-{i:02d}",
            size_bytes=10**12,
            transport=Transport.SATA,
            devnum=f"8:{16 * i}",
        )
        for i in range(24)
    ]
    state = SystemState(blocks={d.name: BlockDevice(d.name, d.devnum) for d in drives})
    svc = build_services(
        load_settings(), lab=False, runner=FakeRunner(), real=FakeDriveSource(drives)
    )
    svc.system_state = lambda: state
    app = make_app(svc)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: len(app.table.states) == 24)
        for d in drives:
            app.post_message(JobEventReceived(JobPhase(f"job-{d.name}", d.path, "sanitising")))
        total = 10**12
        for step in range(1, 11):  # 2 s of updates at 5 per second per drive
            for d in drives:
                app.post_message(
                    JobEventReceived(
                        JobProgress(
                            f"job-{d.name}",
                            d.path,
                            "overwrite",
                            step * total // 10,
                            total,
                            150.0,
                            10.0,
                        )
                    )
                )
            await pilot.pause(0.2)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpModal)  # keys answered while the updates flowed
        await pilot.press("escape")
        # No wall-clock bound here (speed is the benchmark's business): every update must land.
        await wait_for(
            pilot,
            lambda: all(
                str(app.table.get_cell(d.name, "progress")).endswith("100%") for d in drives
            ),
        )
        for d in drives:
            assert str(app.table.get_cell(d.name, "status")) == "sanitising"
