"""OperatorModal: who is working at this station (asked at start, recorded on every job)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from sanitiser.tui.widgets.text_input import TextInput


class OperatorModal(ModalScreen[str]):
    """Asks for the operator's name; an empty name is refused.

    Args:
        station: the station name, shown.
        current: the operator so far ("" at start: the modal cannot be left without a name).
    """

    BINDINGS = [Binding("escape", "keep", "Keep current", id="keep-operator")]

    def __init__(self, station: str, current: str = "") -> None:
        super().__init__(classes="modal")
        self.station = station
        self.current = current

    def compose(self) -> ComposeResult:
        """Station, prompt, name input."""
        with Vertical(id="dialog"):
            yield Static("Who is operating this bench?", classes="dialog-title")
            yield Static(f"Station: [b]{self.station}[/b]", id="station", markup=True)
            yield TextInput(
                "The name",
                "operator",
                required=True,
                value=self.current,
                placeholder="your name or staff id",
                id="operator",
            )
            yield Static("Enter to continue. Recorded on every job.", id="hint")

    @on(Input.Submitted, "#operator")
    def _submitted(self, event: Input.Submitted) -> None:
        problem = self.query_one("#operator", TextInput).problem()
        if problem:
            self.query_one("#hint", Static).update(Text(problem, style="bold red"))
            return
        self.dismiss(" ".join(event.value.split()))

    def action_keep(self) -> None:
        """Leave the operator unchanged (only possible once someone is operating)."""
        if self.current:
            self.dismiss(self.current)
        else:
            self.query_one("#hint", Static).update("[b red]A name is required.[/]")
