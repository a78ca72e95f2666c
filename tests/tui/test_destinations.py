"""The destinations registry from the bench, driven by Pilot over the real store: add one by
keystrokes (listed, stored, audited with the operator), refusals kept in the form, removal
only after a confirmation and never while a consignment is open, removed ones on demand."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import DataTable, Input, SelectionList

from sanitiser.app.services import Services
from sanitiser.domain import DestinationKind, MediaKind
from sanitiser.store.audit import AuditKind, entries
from sanitiser.store.consignments import open_consignment
from sanitiser.store.destinations import add_destination, list_destinations, remove_destination
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.screens.confirm import ConfirmModal
from sanitiser.tui.screens.destinations import (
    EMPTY_HINT,
    DestinationFormModal,
    DestinationsScreen,
    accepts_text,
    key_label,
)
from sanitiser.tui.screens.error import ErrorModal
from sanitiser.tui.screens.help import HelpModal
from tests.tui.helpers import bench_ready, make_app, wait_for


def register(services: Services, name: str, kind: DestinationKind, *accepts: MediaKind) -> None:
    """A destination added straight to the store (by someone else, at the CLI)."""
    add_destination(
        services.store,
        name,
        kind=kind,
        contact=f"{name.lower()}@example.org",
        accepts=[m.value for m in accepts or tuple(MediaKind)],
        station=services.settings.station,
        actor="cli-user",
    )


def active_names(services: Services) -> list[str]:
    """Names of the active destinations in the store."""
    return [d.name for d in list_destinations(services.store)]


async def open_registry(pilot: Pilot[None], app: SanitiserApp) -> DestinationsScreen:
    """From the bench, `D`; the registry has been read."""
    await bench_ready(pilot, app)
    await pilot.press("D")
    await wait_for(pilot, lambda: isinstance(app.screen, DestinationsScreen))
    screen = app.screen
    assert isinstance(screen, DestinationsScreen)
    await wait_for(pilot, lambda: screen.loaded)
    return screen


async def open_form(pilot: Pilot[None], app: SanitiserApp) -> DestinationFormModal:
    """`a` opens the form, focus in the name."""
    await pilot.press("a")
    await wait_for(pilot, lambda: isinstance(app.screen, DestinationFormModal))
    form = app.screen
    assert isinstance(form, DestinationFormModal)
    assert form.focused is not None
    assert form.focused.id == "dest-name"
    return form


def listed(screen: DestinationsScreen) -> list[str]:
    """The names in the table, top to bottom."""
    table = screen.query_one("#destinations", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def hint(form: DestinationFormModal) -> str:
    """What the form says under its fields."""
    return str(form.query_one("#dest-hint").render())


async def test_add_a_destination_by_keystrokes(services: Services) -> None:
    """An empty registry says how to add one; the form filled by keys alone (Enter moves on,
    the kind from its list, Space ticks device kinds) registers the destination: listed, in
    the store with every field, and in the audit log with the operator as the actor."""
    app = make_app(services, operator="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_registry(pilot, app)
        assert EMPTY_HINT in str(screen.query_one("#dest-status").render())
        assert not screen.query_one("#destinations", DataTable).display

        form = await open_form(pilot, app)
        await pilot.press(*"County Reuse", "enter")  # Enter: on to the kind
        await pilot.press("enter", "down", "enter")  # open the list, first kind: reuse
        await pilot.press("tab", *"Sam, 01632 960000", "enter")  # on to the device kinds
        await pilot.press("space", "down", "space", "down", "down", "down", "space")
        assert form.query_one("#dest-accepts", SelectionList).selected == [
            "hdd",
            "ssd",
            "usb-drive",
        ]
        await pilot.press("tab", *"WEEE AATF 123", "enter", *"collects Fridays", "enter")
        await wait_for(pilot, lambda: app.screen is screen and listed(screen) == ["County Reuse"])
        row = [str(c) for c in screen.query_one("#destinations", DataTable).get_row_at(0)]
        assert row == [
            "County Reuse",
            "reuse",
            "hdd, ssd, usb-drive",
            "Sam, 01632 960000",
            "WEEE AATF 123",
        ]
        assert screen.query_one("#destinations", DataTable).has_focus

    (stored,) = list_destinations(services.store)
    assert stored.kind is DestinationKind.REUSE
    assert stored.accepts == (MediaKind.HDD, MediaKind.SSD, MediaKind.USB_DRIVE)
    assert (stored.contact, stored.scheme, stored.notes) == (
        "Sam, 01632 960000",
        "WEEE AATF 123",
        "collects Fridays",
    )
    (added,) = entries(services.store, kind=AuditKind.DESTINATION_ADDED)
    assert (added.subject, added.actor, added.station) == (
        "County Reuse",
        "alice",
        services.settings.station,
    )


async def test_refusals_keep_the_form_and_what_was_typed(services: Services) -> None:
    """A name in use and an empty contact are refused with the store's reason; the form stays
    open with every field as typed; nothing is stored or audited; Escape then cancels."""
    register(services, "Partner", DestinationKind.RECYCLE)
    app = make_app(services, operator="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_registry(pilot, app)
        form = await open_form(pilot, app)
        await pilot.press("enter", "tab", "tab", "tab", "tab", "enter")  # Add, no kind chosen
        await wait_for(pilot, lambda: "Choose the kind" in hint(form))
        await pilot.press(*["shift+tab"] * 5)  # from the notes back to the name
        await pilot.press(*"Partner", "enter", "enter", "down", "down", "enter")  # recycle
        await pilot.press("tab", *"bob@example.org", "enter", "space", "tab", "tab", "enter")
        await wait_for(pilot, lambda: "'Partner' exists already" in hint(form))
        assert app.screen is form
        assert form.query_one("#dest-name", Input).value == "Partner"
        assert form.query_one("#dest-contact", Input).value == "bob@example.org"
        assert form.query_one("#dest-accepts", SelectionList).selected == ["hdd"]

        await pilot.press("shift+tab", "shift+tab", "shift+tab", "backspace")  # contact cleared
        await pilot.press("shift+tab", "shift+tab", *"Other recycler")  # the name replaced
        await pilot.press(*["tab"] * 5, "enter")
        await wait_for(pilot, lambda: "needs a contact" in hint(form))
        assert app.screen is form
        assert form.query_one("#dest-name", Input).value == "Other recycler"
        assert form.query_one("#dest-contact", Input).value == ""

        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert listed(screen) == ["Partner"]
    assert active_names(services) == ["Partner"]
    assert [e.actor for e in entries(services.store, kind=AuditKind.DESTINATION_ADDED)] == [
        "cli-user"
    ]


async def test_remove_asks_first_and_cancel_keeps_it(services: Services) -> None:
    """`x` asks (focus on Cancel): Enter keeps the destination. `Delete`, then Remove, retires
    it: gone from the list and the store, audited with the operator."""
    register(services, "Alpha Recycling", DestinationKind.RECYCLE)
    register(services, "Beta Shredding", DestinationKind.DESTROY)
    app = make_app(services, operator="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_registry(pilot, app)
        assert listed(screen) == ["Alpha Recycling", "Beta Shredding"]
        await pilot.press("down", "x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "Beta Shredding" in str(app.screen.query_one("#question").render())
        await pilot.press("enter")  # Cancel
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.pause(0.2)
        assert active_names(services) == ["Alpha Recycling", "Beta Shredding"]

        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("tab", "enter")  # Remove
        await wait_for(pilot, lambda: listed(screen) == ["Alpha Recycling"])
        assert app.screen is screen
    assert active_names(services) == ["Alpha Recycling"]
    (removed,) = entries(services.store, kind=AuditKind.DESTINATION_REMOVED)
    assert (removed.subject, removed.actor) == ("Beta Shredding", "alice")


async def test_removal_refused_while_a_consignment_is_open(services: Services) -> None:
    """A destination with an open consignment is not removed: the store's reason is shown and
    the destination stays, listed and active."""
    register(services, "Partner", DestinationKind.RECYCLE)
    consignment = open_consignment(
        services.store, "Partner", station=services.settings.station, operator="bob"
    )
    app = make_app(services, operator="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_registry(pilot, app)
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        message = str(app.screen.query_one("#error-message").render())
        assert "open consignment" in message
        assert consignment.id in message
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert listed(screen) == ["Partner"]
    assert active_names(services) == ["Partner"]
    assert entries(services.store, kind=AuditKind.DESTINATION_REMOVED) == []


async def test_removed_ones_are_shown_on_demand(services: Services) -> None:
    """`r` shows removed destinations too (marked, and not removable twice); `r` hides them."""
    register(services, "Alpha Recycling", DestinationKind.RECYCLE)
    register(services, "Beta Shredding", DestinationKind.DESTROY, MediaKind.HDD, MediaKind.SSD)
    remove_destination(services.store, "Beta Shredding", station=services.settings.station)
    app = make_app(services, operator="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_registry(pilot, app)
        assert listed(screen) == ["Alpha Recycling"]
        assert "r shows removed" in str(screen.query_one("#dest-status").render())
        await pilot.press("r")
        await wait_for(pilot, lambda: len(listed(screen)) == 2)
        assert listed(screen) == ["Alpha Recycling", "Beta Shredding (removed)"]
        assert "1 destination(s), 1 removed" in str(screen.query_one("#dest-status").render())
        await pilot.press("down", "x")
        await pilot.pause(0.2)
        assert app.screen is screen  # nothing to confirm: it is removed already
        await pilot.press("r")
        await wait_for(pilot, lambda: listed(screen) == ["Alpha Recycling"])


async def test_keys_and_back(services: Services) -> None:
    """`?` lists this screen's keys; Escape closes it, and Escape again is the bench."""
    app = make_app(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_registry(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpModal))
        keys = str(app.screen.query_one("#keys").render())
        for text in (
            "Add a reuse scheme, recycler or destruction provider",
            "Del / x  Remove the destination under the cursor (asks first)",
            "Show or hide removed destinations",
        ):
            assert text in keys
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DestinationsScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.bench_screen)


def test_accepted_kinds_are_short_and_in_a_fixed_order() -> None:
    """Every kind reads ``all``; fewer are listed in `MediaKind` order, whatever order given."""
    assert accepts_text(list(reversed(MediaKind))) == "all"
    assert accepts_text([MediaKind.NVME, MediaKind.HDD]) == "hdd, nvme"
    assert accepts_text([m for m in MediaKind if m is not MediaKind.UNKNOWN]).endswith("virtual")


def test_key_labels_name_the_printed_key() -> None:
    """Binding names become what is printed on the keyboard; several keys are joined."""
    assert key_label("delete,x") == "Del / x"
    assert key_label("question_mark") == "?"
    assert key_label("a") == "a"
