"""IntakeScreen: devices taken in one after another by scanning their asset tags.

A USB barcode scanner types like a keyboard and ends with Enter, so the tag field is where the
focus starts and Enter there takes the device in at once (through `DeviceDesk.intake`, the CLI's
``sanitiser device add``), with the other fields as they are. The form then clears for the next
device, focus back in the tag field; the kind and the lot stay (a batch comes from one lot).
Each device taken in adds a line to the list on the screen. A refusal (a tag already taken in,
characters a tag may not carry) is said under the fields in red, what was typed is put back,
and nothing is recorded. Enter in any other field goes back to the tag field (scan the serial,
then the tag).
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Select, Static
from textual.worker import Worker

from sanitiser.assets.model import Device, DeviceKind
from sanitiser.errors import SanitiserError
from sanitiser.tui.bench import Bench
from sanitiser.tui.screens.error import report_worker_failure
from sanitiser.tui.session import operator_of
from sanitiser.tui.widgets.text_input import TextInput, labelled, refused_field

HINT = "Scan or type the tag, Enter takes the device in. Kind and lot stay for the next one."

FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("lot", "Lot", "name", "collection or lot (stays for the batch)"),
    ("make", "Make", "name", "optional"),
    ("model", "Model", "model", "optional"),
    ("serial", "Serial", "tag", "optional: the maker's serial number"),
    ("service_tag", "Service", "tag", "optional: the maker's service tag"),
    ("notes", "Notes", "notes", "optional"),
)
"""The optional fields after the tag and kind: (intake field, label, text kind, placeholder)."""

KIND_KEYS: dict[str, DeviceKind] = {f"f{n}": k for n, k in enumerate(DeviceKind, start=2)}
"""One key per kind (F2 laptop ... F8 other): press it, then scan; it stays for the batch."""

KIND_NAMES = [
    (key.upper(), "dock" if kind is DeviceKind.DOCK else kind.value)
    for key, kind in KIND_KEYS.items()
]


def kinds_text() -> Text:
    """The kind keys in one line that fits at 80 columns: each key bold, then its kind."""
    text = Text()
    for key, name in KIND_NAMES:
        text.append(key, style="bold")
        text.append(f" {name} ")
    text.rstrip()
    return text


PER_DEVICE = ("tag", "make", "model", "serial", "service_tag", "notes")
"""The fields cleared after each device (the kind and the lot stay)."""


@dataclass
class IntakeBatch:
    """What stays from one device to the next, and across visits to the screen."""

    kind: str = DeviceKind.LAPTOP.value
    lot: str = ""


@dataclass
class DeviceTaken(Message):
    """The desk took a device in."""

    device: Device


@dataclass
class IntakeRefused(Message):
    """The desk refused an intake, and why; `fields` is what was submitted."""

    fields: dict[str, str]
    reason: str


def field_id(name: str) -> str:
    """The widget id of an intake field."""
    return "intake-" + name.replace("_", "-")


def taken_line(device: Device) -> str:
    """The one-line confirmation of a device taken in."""
    i = device.intake
    lot = f"  lot {i.lot}" if i.lot else ""
    what = f"  {i.make} {i.model}".rstrip()
    return f"✔ {device.tag}  {device.kind.value}{what}{lot}"


class IntakeScreen(Screen[None]):
    """The intake form and the devices taken in while it was open (newest first)."""

    AUTO_FOCUS = "#intake-tag"
    BINDINGS = [
        Binding("escape", "back", "Back", id="back-intake"),
        Binding("f1", "help", "Keys", id="help-intake"),
        *(
            Binding(key, f"kind('{kind.value}')", kind.value, show=False, id=f"kind-{key}")
            for key, kind in KIND_KEYS.items()
        ),
    ]

    def __init__(self, bench: Bench, batch: IntakeBatch) -> None:
        super().__init__()
        self.bench = bench
        self.intake_batch = batch
        self.taken: list[Device] = []

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)

    def compose(self) -> ComposeResult:
        """The tag, the kind, the optional fields, the hint, the list of devices taken in."""
        yield Header()
        with Vertical(id="intake-form"):
            yield labelled(
                "Tag",
                TextInput(
                    "The tag",
                    "tag",
                    required=True,
                    placeholder="scan or type the asset tag, Enter",
                    id="intake-tag",
                    compact=True,
                ),
            )
            yield labelled(
                "Kind",
                Select(
                    [(k.value, k.value) for k in DeviceKind],
                    value=self.intake_batch.kind,
                    allow_blank=False,
                    id="intake-kind",
                    compact=True,
                ),
            )
            yield labelled("", Static(kinds_text(), id="intake-kinds"))
            for name, label, kind, placeholder in FIELDS:
                yield labelled(
                    label,
                    TextInput(
                        f"The {label.lower()}",
                        kind,
                        placeholder=placeholder,
                        value=self.intake_batch.lot if name == "lot" else "",
                        id=field_id(name),
                        compact=True,
                    ),
                )
            yield Static(HINT, id="intake-hint")
        yield Static("Taken in", classes="section-title", id="intake-title")
        with VerticalScroll(id="intake-list"):
            yield Static("(none yet)", id="intake-taken")
        yield Footer()

    def on_mount(self) -> None:
        """Name the screen."""
        self.sub_title = "device intake"

    def value(self, name: str) -> str:
        """What a field holds now."""
        return self.query_one(f"#{field_id(name)}", Input).value

    def _set(self, name: str, value: str) -> None:
        self.query_one(f"#{field_id(name)}", Input).value = value

    @on(Input.Submitted, ".field Input")
    def _to_tag(self, event: Input.Submitted) -> None:
        if event.input.id != "intake-tag":
            self.query_one("#intake-tag").focus()

    @on(Input.Submitted, "#intake-tag")
    def _submit(self) -> None:
        if refused_field(self.query(TextInput), self._refuse):
            return
        kind = self.query_one("#intake-kind", Select).value
        fields = {name: self.value(name) for name in ("tag", *(f[0] for f in FIELDS))}
        fields["kind"] = str(kind)
        for name in PER_DEVICE:  # the next scan goes into an empty tag field at once
            self._set(name, "")
        self.query_one("#intake-tag").focus()
        self._say(f"Taking {fields['tag'].strip()} in…")
        self._take_in(fields)

    @work(thread=True, exit_on_error=False, group="intake", description="Taking a device in")
    def _take_in(self, fields: dict[str, str]) -> None:
        desk = self.bench.desk(operator_of(self.app))
        try:
            device = desk.intake(**fields)
        except SanitiserError as e:  # refused, or the store failed: nothing lost either way
            self.post_message(IntakeRefused(fields, e.msg))
            return
        self.post_message(DeviceTaken(device))

    @on(DeviceTaken)
    def _taken(self, message: DeviceTaken) -> None:
        device = message.device
        self.intake_batch.kind, self.intake_batch.lot = device.kind.value, device.intake.lot
        self.taken.append(device)
        lines = "\n".join(taken_line(d) for d in reversed(self.taken))
        self.query_one("#intake-taken", Static).update(Text(lines))
        self._say(f"{device.tag} taken in ({device.kind.value}): {len(self.taken)} so far.")

    @on(IntakeRefused)
    def _refused(self, message: IntakeRefused) -> None:
        if not self.value("tag"):  # nothing new typed since: put back what was submitted
            for name in PER_DEVICE:
                self._set(name, message.fields[name])
        tag = message.fields["tag"].strip()
        self._refuse(f"{tag} NOT taken in: {message.reason}")
        field = self.query_one("#intake-tag", Input)
        field.focus()
        field.select_all()  # the next scan replaces the refused tag, never runs into it

    def _refuse(self, reason: str) -> None:
        self.query_one("#intake-hint", Static).update(Text(reason, style="bold red"))

    def _say(self, text: str) -> None:
        self.query_one("#intake-hint", Static).update(Text(text))

    def action_kind(self, kind: str) -> None:
        """Take the next devices in as `kind` (the focus stays where it is)."""
        self.query_one("#intake-kind", Select).value = kind

    def action_back(self) -> None:
        """Back to the bench."""
        self.dismiss(None)

    def action_help(self) -> None:
        """The keys of this screen."""
        from sanitiser.tui.screens.help import HelpModal

        keys = [
            ("Enter", "in the tag field: take the device in; elsewhere: back to the tag"),
            ("F2-F8", "the kind: " + ", ".join(f"{k} {n}" for k, n in KIND_NAMES)),
            ("Tab", "next field (kind, lot, make, model, serial, service tag, notes)"),
            ("Esc", "back to the bench"),
            ("F1", "this help"),
        ]
        self.app.push_screen(HelpModal("device intake", keys))
