"""ErrorModal: a failure the technician can recover from, said plainly."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from sanitiser.errors import SanitiserError


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
            # Plain text: messages quote drive models, tool output and typed names.
            yield Static(self.message, id="error-message", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="error")

    @on(Button.Pressed, "#ok")
    def action_dismiss_error(self) -> None:
        """Close the error."""
        self.dismiss(None)


def worker_failure(event: Worker.StateChanged) -> tuple[str, str] | None:
    """(title, message) of a failed worker, None when the worker did not fail."""
    if event.state is not WorkerState.ERROR:
        return None
    error = event.worker.error
    if isinstance(error, SanitiserError):
        return error.title or event.worker.description, error.msg
    return event.worker.description, repr(error)


def report_worker_failure(app: Any, event: Worker.StateChanged) -> None:
    """Open an `ErrorModal` when `event` says a worker failed.

    `Worker.StateChanged` does not bubble: each screen with workers calls this from its own
    handler.
    """
    failure = worker_failure(event)
    if failure is not None:
        app.push_screen(ErrorModal(*failure))
