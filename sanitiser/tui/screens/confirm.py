"""ConfirmModal: a yes/no question whose default answer (focus) is Cancel."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmModal(ModalScreen[bool]):
    """Asks a question; Enter on the focused Cancel (or Escape) answers no."""

    AUTO_FOCUS = "#cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel")]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__(classes="modal")
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        """The question, Cancel and the yes button."""
        with Vertical(id="dialog"):
            yield Static(self.question, id="question", markup=False)  # plain text, always
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.yes, id="yes", variant="warning")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Answer no."""
        self.dismiss(False)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)
