"""HelpModal: the key map of the screen below it (`?`)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

GENERAL = (
    ("?", "this help"),
    ("Esc", "back / close"),
    ("Tab", "next field or button"),
    ("ctrl+q", "quit at once"),
)
"""The keys every screen has, shown two to a line (the bench's key map fits at 80x24)."""


def phrase_note(what: str) -> str:
    """The reminder a screen that erases shows under its keys; `what` names how it erases."""
    return f"Nothing is erased by one key: {what} asks you to type a phrase."


class HelpModal(ModalScreen[None]):
    """Lists the keys of the screen it was opened from, and the general keys.

    Args:
        title: the screen's name.
        keys: (key, what it does) of that screen.
        erases: how that screen can erase a disk ("starting", "restarting"), so the help
            reminds that a typed phrase is asked first; "" on screens that cannot erase.
    """

    BINDINGS = [
        Binding("escape,question_mark,q", "close", "Close", id="close-help"),
    ]

    def __init__(self, title: str, keys: list[tuple[str, str]], *, erases: str = "") -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.keys = keys
        self.erases = erases

    def compose(self) -> ComposeResult:
        """One line per key."""
        width = max((len(k) for k, _ in [*self.keys, *GENERAL]), default=4)
        lines = [f"[b]{k:<{width}}[/b]  {d}" for k, d in self.keys]
        general = [f"[b]{k:<{width}}[/b]  {d:<22}" for k, d in GENERAL]
        lines += ["", *(a + b for a, b in zip(general[::2], general[1::2], strict=True))]
        if self.erases:
            lines += ["", phrase_note(self.erases)]
        with Vertical(id="dialog"):
            yield Static(f"Keys: {self.title_text}", classes="dialog-title")
            with VerticalScroll():
                yield Static("\n".join(lines), id="keys", markup=True)

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
