"""Every TUI form that takes typed text refuses what a record may not carry, by Pilot.

A value is pasted (a paste is how a newline, an escape or an invisible character gets into a
terminal field): the form stays open, says which field and what is wrong, marks the field,
keeps the text exactly as pasted (never cut to its first line), and nothing is stored. Once
the text is fixed the form goes through.
"""

from __future__ import annotations

from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Select

from sanitiser.app.services import Services
from sanitiser.domain import DestinationKind
from sanitiser.store.audit import AuditKind, entries
from sanitiser.store.destinations import list_destinations
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.screens.operator import OperatorModal
from sanitiser.tui.screens.route import RouteOverrideModal
from tests.tui.helpers import make_app, wait_for
from tests.tui.test_destinations import hint, open_form, open_registry


async def paste(pilot: Pilot[None], field: Input, text: str) -> None:
    """Paste `text` into `field` (focused), as a terminal delivers a paste."""
    field.focus()
    field.post_message(events.Paste(text))
    await pilot.pause()


async def test_the_operator_prompt_refuses_a_pasted_second_line(services: Services) -> None:
    app = make_app(services, operator="")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OperatorModal))
        modal = app.screen
        field = modal.query_one("#operator", Input)
        await paste(pilot, field, "Dana\nChecked by: root")
        assert field.value == "Dana\nChecked by: root"  # kept whole, not cut to "Dana"
        await pilot.press("enter")
        assert app.screen is modal
        assert app.operator == ""
        said = str(modal.query_one("#hint").render())
        assert "The name contains a control character (U+000A) at position 5." in said
        assert field.has_class("-invalid")

        field.value = ""
        await paste(pilot, field, "D" * 65)
        await pilot.press("enter")
        assert app.screen is modal
        assert "65 characters long; at most 64" in str(modal.query_one("#hint").render())

        field.value = ""
        await pilot.press(*"Dana K", "enter")
        await wait_for(pilot, lambda: app.operator == "Dana K")


async def test_the_route_override_refuses_an_unreadable_reason(services: Services) -> None:
    app = make_app(services, operator="alice")
    chosen: list[tuple[str, str] | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        modal = RouteOverrideModal("undecided")
        await app.push_screen(modal, chosen.append)
        modal.query_one("#route-choice", Select).value = "destruction"
        field = modal.query_one("#route-reason", Input)
        await paste(pilot, field, "asset \u202edeyortsed")
        await pilot.press("enter")
        assert app.screen is modal
        assert chosen == []
        said = str(modal.query_one("#route-hint").render())
        assert "The reason contains a bidirectional text control (U+202E) at position 7." in said

        field.value = ""
        await pilot.press(*"screen cracked", "enter")
        await wait_for(pilot, lambda: chosen == [("destruction", "screen cracked")])


async def test_the_destination_form_refuses_unreadable_text_and_stores_nothing(
    services: Services,
) -> None:
    app: SanitiserApp = make_app(services, operator="alice")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_registry(pilot, app)
        form = await open_form(pilot, app)
        await pilot.press(*"County Reuse", "enter", "enter", "down", "enter")  # kind: reuse
        contact = form.query_one("#dest-contact", Input)
        await paste(pilot, contact, "Sam\u200b 01632")
        await pilot.press("enter", "space", "tab")  # on to the device kinds; tick hdd
        await paste(pilot, form.query_one("#dest-scheme", Input), "WEEE")
        notes = form.query_one("#dest-notes", Input)
        await paste(pilot, notes, "x" * 1001)
        await pilot.press("enter")  # submit from the notes
        assert app.screen is form
        assert "The contact contains an invisible formatting character (U+200B) at position 4." in (
            hint(form)
        )
        assert form.focused is contact  # the first field in the way
        assert contact.value == "Sam\u200b 01632"
        assert notes.has_class("-invalid")

        contact.value = "Sam, 01632 960000"
        await pilot.press("enter")  # the contact is fine now; the notes still are not
        notes.focus()
        await pilot.press("enter")
        assert "The note is 1001 characters long; at most 1000 are allowed." in hint(form)
        assert list_destinations(services.store) == []
        assert entries(services.store, kind=AuditKind.DESTINATION_ADDED) == []

        notes.value = "collects Fridays"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
    (stored,) = list_destinations(services.store)
    assert (stored.name, stored.kind, stored.contact, stored.notes) == (
        "County Reuse",
        DestinationKind.REUSE,
        "Sam, 01632 960000",
        "collects Fridays",
    )
