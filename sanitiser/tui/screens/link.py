"""LinkModal: the drives chosen on the bench are linked to the device they came out of.

The device's tag is scanned or typed, Enter; the link is made by `DeviceDesk.link` (the CLI's
``sanitiser device link``). A refusal (an unknown tag, a monitor or dock, a drive that is
already another device's) is said in the dialog with the desk's reason, the tag stays as typed,
and nothing is linked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from sanitiser.assets.model import DeviceError
from sanitiser.domain import Drive
from sanitiser.errors import SanitiserError
from sanitiser.text import TextInputError
from sanitiser.tui.bench import Bench
from sanitiser.tui.screens.error import report_worker_failure
from sanitiser.tui.session import operator_of
from sanitiser.tui.widgets.text_input import TextInput

HINT = "Scan or type the device's tag, Enter links. Esc: cancel."


@dataclass
class LinkRefused(Message):
    """The desk refused the link, and why."""

    reason: str


@dataclass
class DrivesLinked(Message):
    """The desk linked the drives: a line per drive."""

    lines: list[str]


class LinkModal(ModalScreen[list[str] | None]):
    """Asks for the device's tag; dismisses with the desk's line per drive once linked.

    Args:
        bench: the core seam.
        drives: the drives to link.
        link: how the tag links them (default: `DeviceDesk.link` of their paths; a computer
            running the agent: `Bench.attach_computer`); the lines to show, or a
            `SanitiserError` with the reason.
        title: the dialog's title.
    """

    AUTO_FOCUS = "#link-tag"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-link")]

    def __init__(
        self,
        bench: Bench,
        drives: Sequence[Drive],
        *,
        link: Callable[[str], list[str]] | None = None,
        title: str = "Link drives to a device",
    ) -> None:
        super().__init__(classes="modal")
        self.bench = bench
        self.drives = list(drives)
        self.linking = False
        self.link = link
        self.title_text = title

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self.linking = False

    def compose(self) -> ComposeResult:
        """The drives, the tag, the hint."""
        names = ", ".join(f"{d.name} ({d.serial or 'no serial'})" for d in self.drives)
        with Vertical(id="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(Text(f"Drives: {names}"), id="link-drives")
            yield TextInput(
                "The tag", "tag", required=True, placeholder="device tag", id="link-tag"
            )
            yield Static(HINT, id="link-hint")

    @on(Input.Submitted, "#link-tag")
    def _submit(self) -> None:
        if self.linking:
            return
        field = self.query_one("#link-tag", TextInput)
        problem = field.problem()
        if problem:
            self._hint(Text(problem, style="bold red"))
            return
        self.linking = True
        self._hint(Text("Linking…"))
        self._link(field.value.strip())

    @work(thread=True, exit_on_error=False, group="link", description="Linking drives")
    def _link(self, tag: str) -> None:
        try:
            if self.link is not None:
                lines = self.link(tag)
            else:
                desk = self.bench.desk(operator_of(self.app))
                _device, lines = desk.link(tag, [d.path for d in self.drives])
        except (DeviceError, TextInputError, SanitiserError) as e:
            self.post_message(LinkRefused(e.msg))
            return
        self.post_message(DrivesLinked(lines))

    @on(LinkRefused)
    def _refused(self, message: LinkRefused) -> None:
        self.linking = False
        self._hint(Text(f"Not linked: {message.reason}", style="bold red"))

    @on(DrivesLinked)
    def _linked(self, message: DrivesLinked) -> None:
        self.dismiss(message.lines)

    def _hint(self, text: Text) -> None:
        self.query_one("#link-hint", Static).update(text)

    def action_cancel(self) -> None:
        """Close; nothing is linked."""
        self.dismiss(None)
