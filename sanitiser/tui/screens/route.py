"""RouteOverrideModal: the technician sends a drive elsewhere, and must say why."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from sanitiser.app.routes import OVERRIDE_ROUTES
from sanitiser.tui.widgets.text_input import TextInput


class RouteOverrideModal(ModalScreen[tuple[str, str] | None]):
    """Choose a destination and give the reason; dismisses with (destination, reason)."""

    AUTO_FOCUS = "#cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-route")]

    def __init__(self, current: str) -> None:
        super().__init__(classes="modal")
        self.current = current

    def compose(self) -> ComposeResult:
        """Current route, choice, reason, buttons."""
        with Vertical(id="dialog"):
            yield Static("Override the destination", classes="dialog-title")
            yield Static(
                f"Now: {self.current}. The certificate is not changed; the override "
                "is recorded in the job and the custody log.",
                id="route-now",
            )
            yield Select(
                [(r, r) for r in OVERRIDE_ROUTES if r != self.current],
                prompt="destination",
                id="route-choice",
            )
            yield TextInput(
                "The reason",
                "reason",
                required=True,
                placeholder="reason (required)",
                id="route-reason",
            )
            yield Static("", id="route-hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Override", id="override", variant="warning")

    @on(Input.Submitted, "#route-reason")
    @on(Button.Pressed, "#override")
    def _override(self) -> None:
        choice = self.query_one("#route-choice", Select).value
        reason = self.query_one("#route-reason", TextInput)
        hint = self.query_one("#route-hint", Static)
        if not isinstance(choice, str):
            hint.update("[b red]Choose a destination.[/]")
            return
        problem = reason.problem()
        if problem:
            hint.update(Text(problem, style="bold red"))
            return
        self.dismiss((choice, reason.value.strip()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Leave the destination as it is."""
        self.dismiss(None)
