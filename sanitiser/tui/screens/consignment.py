"""ConsignmentModal: add a drive (by its certificate) or a device (by its tag) to an open
consignment, or open one; `start_consign` is the whole flow, for the drive and device screens."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option


class ConsignmentModal(ModalScreen[str | None]):
    """Pick an open consignment (its id) or a destination (a new consignment, its name)."""

    AUTO_FOCUS = "#targets"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-consignment")]

    def __init__(self, consignments: list[Any], destinations: list[Any]) -> None:
        super().__init__(classes="modal")
        self.consignments = consignments
        self.destinations = destinations

    def compose(self) -> ComposeResult:
        """Choices, buttons."""
        options = [
            Option(f"{c.destination}: consignment {c.id[:13]}… ({c.items} items)", id=c.id)
            for c in self.consignments
        ]
        options += [
            Option(f"new consignment for {d.name} ({d.kind.value})", id=f"dest:{d.name}")
            for d in self.destinations
            if d.active
        ]
        with Vertical(id="dialog"):
            yield Static("Add to a consignment", classes="dialog-title")
            if not options:
                yield Static(
                    "No destination is registered: add one with D on the bench "
                    "(or 'sanitiser destinations add')."
                )
            yield OptionList(*options, id="targets")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")

    @on(OptionList.OptionSelected, "#targets")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        key = event.option.id or ""
        self.dismiss(key.removeprefix("dest:"))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Add nothing."""
        self.dismiss(None)


def start_consign(screen: Screen[Any], bench: Any, name: str, operator: str) -> None:
    """Ask which consignment `name` joins (an open one, or a new one for a destination), then
    add it: `name` is a drive's certificate id or a device's tag (its current certificate).

    The store is read and written in thread workers of `screen`; a refusal (the destination's
    rule, a device without a certificate ...) fails the worker and the app shows its reason.
    """

    def add(target: str) -> None:
        cid = bench.add_to_consignment(name, target, operator=operator)
        screen.app.call_from_thread(screen.notify, f"Added to consignment {cid}.")

    def done(target: str | None) -> None:
        if target:
            screen.run_worker(
                partial(add, target),
                thread=True,
                exit_on_error=False,
                group="consign",
                description="Consigning",
            )

    def ask(consignments: list[Any], destinations: list[Any]) -> None:
        screen.app.push_screen(ConsignmentModal(consignments, destinations), done)

    def load() -> None:
        choices = (bench.open_consignments(), bench.destinations())
        screen.app.call_from_thread(ask, *choices)

    screen.run_worker(
        load, thread=True, exit_on_error=False, group="consign", description="Consignments"
    )
