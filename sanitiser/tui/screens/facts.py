"""FactsScreen: the computer's facts typed or confirmed by the technician (``f`` on a device),
for a device that did not run our agent.

The form opens filled with what the store holds (`DeviceDesk.facts_form`: the recorded facts,
else the make, model and serial taken in; the locks noted). Tab and Enter go from field to
field; ``ctrl+r`` records the form through `DeviceDesk.confirm_facts` (the same checks as
``sanitiser device inventory``: `sanitiser.text` for text, numbers and dates where they are
wanted), one ``inventoried`` custody entry naming who confirmed and which fields changed. A
refused field is named in red under the form and focused, every value stays as typed, nothing
is recorded. Storage is shown, not typed: it is what the linked drives' certificates prove.
Esc goes back without recording.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from sanitiser.app.devices import DeviceReport
from sanitiser.assets.facts_form import FACT_FIELDS, FactsFormError, storage_text
from sanitiser.assets.model import Device
from sanitiser.errors import SanitiserError
from sanitiser.tui.bench import Bench
from sanitiser.tui.screens.error import report_worker_failure
from sanitiser.tui.session import operator_of
from sanitiser.tui.widgets.text_input import TextInput, labelled, refused_field

RECORD_KEY = "ctrl+r"
"""Record the form (a chord: letters are typed into the fields)."""

HINT = "Tab / Enter: next field · ctrl+r: record the facts as shown · Esc: back, nothing recorded"


def field_id(key: str) -> str:
    """The widget id of a form field."""
    return "fact-" + key.replace("_", "-").replace(":", "-")


@dataclass
class FactsRead(Message):
    """The desk's device and its form filled with what is recorded."""

    device: Device
    values: dict[str, str]


@dataclass
class FactsRecorded(Message):
    """The desk recorded the facts: the device's report now."""

    report: DeviceReport


@dataclass
class FactsRefused(Message):
    """The desk refused the form: the field (a `FACT_FIELDS` key, "" when none) and why."""

    field: str
    reason: str


class FactsScreen(Screen[DeviceReport | None]):
    """The facts form of one device; dismissed with the report once recorded (None: not)."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back-facts"),
        Binding(RECORD_KEY, "record", "Record facts", id="record-facts"),
        Binding("f1", "help", "Keys", id="help-facts"),
    ]

    def __init__(self, bench: Bench, tag: str) -> None:
        super().__init__()
        self.bench = bench
        self.tag = tag
        self.loaded = False
        self.recording = False

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)
        if event.worker.group == "facts-record" and event.state is WorkerState.ERROR:
            self.recording = False

    def compose(self) -> ComposeResult:
        """A line per fact, the storage the drives prove, the hint."""
        yield Header()
        with VerticalScroll(id="facts-form"):
            for f in FACT_FIELDS:
                yield labelled(
                    f.label,
                    TextInput(
                        f.label, f.kind, placeholder=f.hint, id=field_id(f.key), compact=True
                    ),
                )
            yield labelled("Storage", Static("-", id="facts-storage"))
            yield Static("Reading the device…", id="facts-hint")
        yield Footer()

    def on_mount(self) -> None:
        """Read what the store holds."""
        self.sub_title = f"facts of {self.tag}"
        self._read()

    @work(thread=True, exit_on_error=False, group="facts", description="Reading the facts")
    def _read(self) -> None:
        device, values = self.bench.desk(operator_of(self.app)).facts_form(self.tag)
        self.post_message(FactsRead(device, values))

    @on(FactsRead)
    def _fill(self, message: FactsRead) -> None:
        for key, value in message.values.items():
            self.field(key).value = value
        self.query_one("#facts-storage", Static).update(Text(storage_text(message.device)))
        self._say(HINT)
        self.loaded = True
        self.field(FACT_FIELDS[0].key).focus()

    def field(self, key: str) -> Input:
        """The input of one fact."""
        return self.query_one(f"#{field_id(key)}", Input)

    def values(self) -> dict[str, str]:
        """What the form holds now."""
        return {f.key: self.field(f.key).value for f in FACT_FIELDS}

    @on(Input.Submitted, "#facts-form Input")
    def _next(self) -> None:
        self.focus_next()

    def action_record(self) -> None:
        """Record the form as it is (after the text check of every field)."""
        if not self.loaded or self.recording:
            return
        if refused_field(self.query(TextInput), self._refuse):
            return
        self.recording = True
        self._say("Recording…")
        self._record(self.values())

    @work(thread=True, exit_on_error=False, group="facts-record", description="Recording facts")
    def _record(self, values: dict[str, str]) -> None:
        desk = self.bench.desk(operator_of(self.app))
        try:
            report = desk.confirm_facts(self.tag, values)
        except FactsFormError as e:
            self.post_message(FactsRefused(e.field, e.msg))
            return
        except SanitiserError as e:  # an unknown tag, the store failed: nothing lost
            self.post_message(FactsRefused("", e.msg))
            return
        self.post_message(FactsRecorded(report))

    @on(FactsRecorded)
    def _recorded(self, message: FactsRecorded) -> None:
        self.recording = False
        self.notify(f"{self.tag}: facts recorded", title="Facts")
        self.dismiss(message.report)

    @on(FactsRefused)
    def _refused(self, message: FactsRefused) -> None:
        self.recording = False
        self._refuse(f"NOT recorded: {message.reason}")
        if message.field:
            self.field(message.field).focus()

    def _refuse(self, reason: str) -> None:
        self.query_one("#facts-hint", Static).update(Text(reason, style="bold red"))

    def _say(self, text: str) -> None:
        self.query_one("#facts-hint", Static).update(Text(text))

    def action_back(self) -> None:
        """Back to the device, nothing recorded."""
        self.dismiss(None)

    def action_help(self) -> None:
        """The keys of this screen."""
        from sanitiser.tui.screens.help import HelpModal

        keys = [
            ("Tab / Enter", "next field (shift+Tab: the one before)"),
            ("Ctrl+R", "record the facts as shown (each field checked first)"),
            ("Esc", "back to the device, nothing recorded"),
            ("F1", "this help"),
        ]
        self.app.push_screen(HelpModal("computer facts", keys))
