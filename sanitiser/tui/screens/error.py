"""ErrorModal: a failure the technician can recover from, said plainly."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ErrorModal(ModalScreen[None]):
    """Shows a title and a message until dismissed (Enter or Escape)."""

    BINDINGS = [Binding("escape", "dismiss_error", "Close", id="close-error")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        """Title, message, OK."""
        with Vertical(id="dialog", classes="-error"):
            yield Static(self.title_text or "Error", classes="dialog-title")
            yield Static(self.message, id="error-message")
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="error")

    @on(Button.Pressed, "#ok")
    def action_dismiss_error(self) -> None:
        """Close the error."""
        self.dismiss(None)
