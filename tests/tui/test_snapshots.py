"""Snapshots of the main screens at 80x24 (the smallest supported) and a large terminal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from sanitiser.domain import DestinationKind
from sanitiser.store.destinations import add_destination
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.screens.destinations import DestinationsScreen
from sanitiser.tui.screens.intake import IntakeScreen
from sanitiser.tui.screens.start_erase import StartEraseModal
from tests.tui.helpers import wait_for
from tests.tui.snapshot_app import busy_bench, make_app, scanned

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inputs do not blink (a blink would make snapshots flaky)."""
    from textual.widgets import Input

    monkeypatch.setattr(Input, "cursor_blink", False)


class TestBench:
    """The bench screen."""

    def test_busy_bench_80x24(self, snap_compare: SnapCompare) -> None:
        """Protected system disk greyed with its reason; jobs with bar, ETA, elapsed, speed."""
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=busy_bench)

    def test_busy_bench_wide(self, snap_compare: SnapCompare) -> None:
        """On a large terminal every column is visible."""
        assert snap_compare(make_app(), terminal_size=(200, 30), run_before=busy_bench)


async def plans_ready(pilot: Pilot[None]) -> None:
    """Select two drives, Start, wait for the plans."""
    await scanned(pilot)
    app = pilot.app
    assert isinstance(app, SanitiserApp)
    app.table.move_cursor(row=app.table.get_row_index("sdc"))
    await pilot.press("space", "space", "down", "space", "s")
    for _ in range(200):
        screen = app.screen
        if isinstance(screen, StartEraseModal) and screen.plans is not None:
            break
        await pilot.pause(0.02)
    await pilot.pause()


class TestStartErase:
    """The plan and the typed confirmation."""

    def test_plan_and_phrase_80x24(self, snap_compare: SnapCompare) -> None:
        """Plans per drive (method, NIST, estimate), the USB stick's downgrade; focus on Cancel."""
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=plans_ready)

    def test_plan_and_phrase_wide(self, snap_compare: SnapCompare) -> None:
        """The same, wide."""
        assert snap_compare(make_app(), terminal_size=(130, 34), run_before=plans_ready)


class TestOther:
    """Help and drive detail."""

    def test_help_80x24(self, snap_compare: SnapCompare) -> None:
        """The key map fits at 80x24."""

        async def run(pilot: Pilot[None]) -> None:
            await scanned(pilot)
            await pilot.press("question_mark")

        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run)

    def test_detail_of_an_idle_drive(self, snap_compare: SnapCompare) -> None:
        """Identity, SMART summary and capabilities of a drive with no job yet."""

        async def run(pilot: Pilot[None]) -> None:
            await scanned(pilot)
            app = pilot.app
            assert isinstance(app, SanitiserApp)
            app.table.move_cursor(row=app.table.get_row_index("sdb"))
            await pilot.press("enter")
            await pilot.pause(0.3)

        assert snap_compare(make_app(), terminal_size=(100, 50), run_before=run)


async def two_destinations(pilot: Pilot[None]) -> None:
    """Register a recycler and a destruction provider, then open the registry (`D`)."""
    await scanned(pilot)
    app = pilot.app
    assert isinstance(app, SanitiserApp)
    for name, kind, contact, accepts, scheme in (
        ("Northside Recycling", DestinationKind.RECYCLE, "J. Patel, 0161 496 0000", "hdd,ssd", ""),
        (
            "ShredSafe Ltd",
            DestinationKind.DESTROY,
            "collect@shredsafe.example",
            "hdd,ssd,nvme",
            "ADISA cert. 1234",
        ),
    ):
        add_destination(
            app.services.store,
            name,
            kind=kind,
            contact=contact,
            accepts=accepts,
            scheme=scheme,
            station=app.bench.station,
            actor="Dana K",
        )
    await pilot.press("D")
    for _ in range(200):
        screen = app.screen
        if isinstance(screen, DestinationsScreen) and screen.loaded:
            break
        await pilot.pause(0.02)
    await pilot.pause()


class TestDestinations:
    """The destinations registry."""

    def test_registry_80x24(self, snap_compare: SnapCompare) -> None:
        """Two destinations (name, kind, accepts, contact, scheme); the keys in the footer."""
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=two_destinations)


async def two_devices_taken_in(pilot: Pilot[None]) -> None:
    """Intake (`i`): the lot typed once, two tags scanned; the focus is back in the tag."""
    await scanned(pilot)
    app = pilot.app
    await pilot.press("i")
    await wait_for(pilot, lambda: isinstance(app.screen, IntakeScreen))
    screen = app.screen
    assert isinstance(screen, IntakeScreen)
    screen.query_one("#intake-lot", Input).value = "Camden 2026"
    screen.query_one("#intake-tag").focus()
    for tag in ("LBC-0001", "LBC-0002"):
        await pilot.press(*tag, "enter")
    await wait_for(pilot, lambda: len(screen.taken) == 2)
    await pilot.pause()


class TestDevices:
    """Device intake."""

    def test_intake_80x24(self, snap_compare: SnapCompare) -> None:
        """The form, the two devices taken in (newest first), focus in the empty tag field."""
        assert snap_compare(make_app(), terminal_size=(80, 24), run_before=two_devices_taken_in)
