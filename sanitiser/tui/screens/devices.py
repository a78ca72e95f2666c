"""DevicesScreen and DeviceDetailScreen: the devices taken in, and one device graded by keys.

The list shows each device's tag, kind, state, grade, drives sanitised and destination; Enter
opens it. The detail shows the record, the computer's facts (`spec_lines`), the linked drives
with their certificates and the readiness explanation (each condition held or NOT held, the
destination and why). ``f`` opens the form where the technician types or confirms the
computer's facts (`sanitiser.tui.screens.facts`). One key records the cosmetic grade (``A``
... ``D``), one key per functional check cycles pass / fail / n/a, and ``1`` ``2`` ``3``
cycle the locks; each press is recorded at once through `DeviceDesk.grade` (with the
operator and the time) and the readiness is read again. ``ctrl+s`` issues the device's
signed certificate (`Bench.certify_device`: the desk's ``certify``, the CLI's ``sanitiser
device certificate``) once the grades pressed before it are recorded, and files its PDF,
signed record and label under ``<data_dir>/device-certificates``; the screen shows the id
and the paths, or the refusal and why (nothing is written then). Everything is read and
written through the desk (`Bench.desk`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from sanitiser.app.devices import DeviceReport
from sanitiser.assets.facts import drives_summary, spec_lines
from sanitiser.assets.model import (
    CHECK_RESULTS,
    COSMETIC_GRADES,
    LOCK_STATES,
    LOCKS,
    Device,
    DeviceError,
)
from sanitiser.errors import CertificateError, SanitiserError
from sanitiser.tui.bench import Bench
from sanitiser.tui.screens.error import report_worker_failure
from sanitiser.tui.screens.facts import FactsScreen
from sanitiser.tui.session import operator_of

CHECK_KEYS: dict[str, str] = {
    "s": "screen",
    "k": "keyboard",
    "t": "trackpad",
    "c": "camera",
    "a": "audio",
    "p": "ports",
    "b": "battery-holds-charge",
    "h": "charger-included",
}
"""The key of each functional check (`sanitiser.assets.model.CHECKS`): pass, fail, n/a."""

LOCK_KEYS: dict[str, str] = dict(zip(("1", "2", "3"), LOCKS, strict=True))
"""The key of each lock: present, cleared, none."""

GRADE_KEYS: dict[str, str] = {g: g for g in COSMETIC_GRADES}
"""Shift+A ... Shift+D: the cosmetic grade (lower-case letters are checks)."""

DEVICE_COLUMNS = (
    ("tag", "Tag"),
    ("kind", "Kind"),
    ("state", "State"),
    ("grade", "Grade"),
    ("drives", "Drives"),
    ("destination", "Destination"),
    ("model", "Make / model"),
)


def next_value(values: Sequence[str], current: str | None) -> str:
    """The value after `current` in `values`, round again; the first when none is recorded."""
    if current is None or current not in values:
        return values[0]
    return values[(list(values).index(current) + 1) % len(values)]


def device_cells(device: Device) -> list[Text]:
    """One row of the device list (typed text as `Text`, never markup)."""
    i = device.intake
    values = [
        device.tag,
        device.kind.value,
        device.state.value,
        device.cosmetic or "-",
        drives_summary(device),
        device.destination or "-",
        f"{i.make} {i.model}".strip() or "-",
    ]
    return [Text(v, no_wrap=True, overflow="ellipsis") for v in values]


def record_text(device: Device) -> str:
    """The record: tag, kind, make and model, service tag, serial, lot, state, intake, grade."""
    i = device.intake
    lines = [f"{device.tag}  {i.kind.value}  {i.make} {i.model}".rstrip()]
    for label, value in (
        ("Service tag", i.service_tag),
        ("Serial", i.serial),
        ("Lot", i.lot),
        ("State", device.state.value),
        (
            "Received",
            f"{device.received_at:%Y-%m-%d %H:%M} by {device.received_by} at {device.station}",
        ),
        ("Grade", device.cosmetic or "not graded"),
        ("Notes", i.notes),
    ):
        if value:
            lines.append(f"{label:<13}{value}")
    return "\n".join(lines)


def checks_text(device: Device, required: Collection[str] = ()) -> str:
    """Every check and lock with its key: the result, who recorded it and when; the checks
    the policy asks of this kind of device (`required`) marked ``*``."""
    lines = []
    for key, name in CHECK_KEYS.items():
        check = device.checks.get(name)
        said = f"{check.result:<5} ({check.operator}, {check.at})" if check else "-"
        mark = "*" if name in required else " "
        lines.append(f"[{key}]{mark}{name:<22}{said}")
    if required:
        lines.append("    * the policy asks these of a " + device.kind.value)
    for key, name in LOCK_KEYS.items():
        lines.append(f"[{key}] {name:<22}{device.locks.get(name, '-')}")
    return "\n".join(lines)


def drives_text(device: Device) -> str:
    """The linked drives with their certificates (or why there are none)."""
    if not device.holds_data:
        return "none (holds no data-bearing media)"
    if not device.drives:
        return "none linked yet (on the bench: select its drives, l)"
    lines = []
    for d in device.drives:
        cert = d.certificate_id or "no certificate yet"
        sim = " [SIMULATED]" if d.simulated else ""
        lines.append(f"{d.serial or d.drive_key} {d.model}: {cert} {d.outcome}{sim}".rstrip())
    return "\n".join(lines)


def readiness_text(report: DeviceReport) -> Text:
    """The readiness explanation, NOT held in red, the decision in bold."""
    r = report.readiness
    text = Text(f"policy {r.policy}\n")
    for line in r.explain().splitlines():
        style = "bold" if line.startswith("->") else ("red" if line.startswith("NOT") else "")
        text.append(line + "\n", style=style)
    for note in r.notes:
        text.append(f"note: {note}\n", style="yellow")
    return text


@dataclass(frozen=True, slots=True)
class Grade:
    """One key's grade, as `DeviceDesk.grade` takes it."""

    cosmetic: str | None = None
    checks: tuple[str, ...] = ()
    locks: tuple[str, ...] = ()


@dataclass
class DevicesListed(Message):
    """The desk listed the devices."""

    devices: list[Device]


@dataclass
class DeviceShown(Message):
    """The desk's report of one device (after reading it, or after a grade)."""

    report: DeviceReport
    graded: bool = False
    """The answer to a grade (not a plain read)."""


@dataclass
class GradeRefused(Message):
    """The desk refused a grade, and why."""

    reason: str


@dataclass
class DeviceCertified(Message):
    """The device's certificate was issued and filed: its id and the files written."""

    certificate_id: str
    route: str
    paths: list[Path]


@dataclass
class CertificateRefused(Message):
    """The desk refused the certificate, and why (nothing was issued or written)."""

    reason: str


FACTS_KEY = "f"
"""Type or confirm the computer's facts (`sanitiser.tui.screens.facts.FactsScreen`)."""

CERTIFY_KEY = "ctrl+s"
"""Issue the device's certificate: a chord, not a letter (letters grade; signing is on purpose)."""
PRINT_KEY = "P"
"""Shift+P prints the device's label: lower-case p is the ports check here (on the bench,
p prints)."""
CONSIGN_KEY = "o"
"""Send the device out in a consignment (by its current certificate); ``c`` is the camera check
here (the drive's detail screen consigns with ``c``)."""


def certified_text(message: DeviceCertified) -> Text:
    """The certificate issued and where its files are."""
    text = Text(f"Issued {message.certificate_id} ({message.route})\n", style="bold green")
    for path in message.paths:
        text.append(f"wrote {path}\n")
    return text


class DevicesScreen(Screen[None]):
    """Every device taken in, oldest first; Enter opens one."""

    AUTO_FOCUS = "#devices"
    BINDINGS = [
        Binding("escape", "back", "Back", id="back-devices"),
        Binding("r", "reload", "Reload", id="reload-devices"),
        Binding("question_mark", "help", "Keys", id="help-devices"),
    ]

    def __init__(self, bench: Bench) -> None:
        super().__init__()
        self.bench = bench
        self.devices: list[Device] = []
        self.loaded = False

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)

    def compose(self) -> ComposeResult:
        """Status line, the table, footer."""
        yield Header()
        yield Static("Reading devices…", id="devices-status")
        yield DataTable(id="devices", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then the devices."""
        self.sub_title = "devices"
        table = self.query_one("#devices", DataTable)
        for key, label in DEVICE_COLUMNS:
            table.add_column(label, key=key)
        self.action_reload()

    def on_screen_resume(self) -> None:
        """Back from a device: show what changed."""
        if self.loaded:
            self.action_reload()

    def action_reload(self) -> None:
        """Read the devices again."""
        self._read()

    @work(thread=True, exclusive=True, exit_on_error=False, group="devices", description="Devices")
    def _read(self) -> None:
        self.post_message(DevicesListed(self.bench.desk(operator_of(self.app)).list()))

    @on(DevicesListed)
    def _show(self, message: DevicesListed) -> None:
        table = self.query_one("#devices", DataTable)
        row = table.cursor_row
        table.clear()
        self.devices = message.devices
        for d in message.devices:
            table.add_row(*device_cells(d), key=d.tag)
        if message.devices:
            table.move_cursor(row=min(row, len(message.devices) - 1))
        n = len(message.devices)
        status = f"{n} device(s). Enter: open and grade." if n else "No device taken in yet (i)."
        self.query_one("#devices-status", Static).update(status)
        self.loaded = True

    @on(DataTable.RowSelected, "#devices")
    def _open(self, event: DataTable.RowSelected) -> None:
        tag = event.row_key.value
        if tag is not None:
            self.app.push_screen(DeviceDetailScreen(self.bench, tag))

    def action_back(self) -> None:
        """Back to the bench."""
        self.dismiss(None)

    def action_help(self) -> None:
        """The keys of this screen."""
        from sanitiser.tui.screens.help import HelpModal

        keys = [("↑ ↓", "move between devices"), ("Enter", "open the device, grade it")]
        keys += [("r", "read the devices again"), ("Esc", "back to the bench")]
        self.app.push_screen(HelpModal("devices", keys))


def _bindings() -> list[Binding | tuple[str, str] | tuple[str, str, str]]:
    grades = [
        Binding(k, f"grade('{g}')", f"Grade {g}", show=False, id=f"grade-{g.lower()}")
        for k, g in GRADE_KEYS.items()
    ]
    checks = [
        Binding(k, f"check('{n}')", n, show=False, id=f"check-{n}") for k, n in CHECK_KEYS.items()
    ]
    locks = [
        Binding(k, f"lock('{n}')", n, show=False, id=f"lock-{n}") for k, n in LOCK_KEYS.items()
    ]
    return [
        Binding("escape", "back", "Back", id="back-device"),
        *grades,
        *checks,
        *locks,
        Binding(FACTS_KEY, "facts", "Facts", id="facts-device"),
        Binding(CERTIFY_KEY, "certify", "Certificate", id="certify-device"),
        Binding(PRINT_KEY, "print_label", "Print", id="print-device-label"),
        Binding(CONSIGN_KEY, "consign", "Consign…", id="consign-device"),
        Binding("question_mark", "help", "Keys", id="help-device"),
    ]


KEYS_LINE = (
    "Grade: A B C D (shift) · checks: s k t c a p b h (pass → fail → n/a) · "
    "locks: 1 2 3 (present → cleared → none) · f facts · ctrl+s certificate · "
    "P print label · o consign · ? keys"
)


class DeviceDetailScreen(Screen[None]):
    """One device: record, facts, checks and locks, drives, readiness; graded by keys."""

    BINDINGS = _bindings()

    def __init__(self, bench: Bench, tag: str) -> None:
        super().__init__()
        self.bench = bench
        self.tag = tag
        self.report: DeviceReport | None = None
        self.queue: list[Grade] = []
        """Grades not answered yet, in the order the keys were pressed; the first is with the
        desk, the rest wait for it (so the store records them in that order)."""
        self.checks: dict[str, str] = {}
        self.locks: dict[str, str] = {}
        """What the screen shows now, ahead of the desk's answer (a key pressed twice fast
        cycles twice)."""
        self.certifying = ""
        """``waiting`` (for the grades pressed before), ``signing``, or "" (not asked)."""
        self.issued: DeviceCertified | None = None
        """The last certificate issued on this screen."""

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)
        if event.state is not WorkerState.ERROR:
            return
        if event.worker.group == "device-grade":
            self.queue.clear()  # what was pressed after it is not sent
            if self.certifying == "waiting":  # nor the certificate asked for after it
                self._certificate_refused("a grade before it was not recorded")
            self._read()  # show what the store holds
        elif event.worker.group == "device-certify":
            self.certifying = ""
            self._set_certificate(Text("Not issued (see the error).", style="bold red"))

    def compose(self) -> ComposeResult:
        """Sections, top to bottom."""
        yield Header()
        yield Static(KEYS_LINE, id="device-keys")
        with VerticalScroll(id="detail"):
            yield Static("Device", classes="section-title")
            yield Static("Reading…", id="device-record")
            yield Static("Facts", classes="section-title")
            yield Static("-", id="device-facts")
            yield Static("Checks and locks", classes="section-title")
            yield Static("-", id="device-checks")
            yield Static("Drives", classes="section-title")
            yield Static("-", id="device-drives")
            yield Static("Readiness", classes="section-title")
            yield Static("-", id="device-readiness")
            yield Static("Certificate", classes="section-title")
            yield Static(
                "not issued here yet (ctrl+s issues it: PDF, record and label)",
                id="device-certificate",
            )
        yield Footer()

    def on_mount(self) -> None:
        """Read the device."""
        self.sub_title = f"device {self.tag}"
        self._read()

    @work(thread=True, exit_on_error=False, group="device", description="Reading the device")
    def _read(self) -> None:
        self.post_message(DeviceShown(self.bench.desk(operator_of(self.app)).report(self.tag)))

    @on(DeviceShown)
    def _show(self, message: DeviceShown) -> None:
        report = message.report
        self.report = report
        d = report.device
        if message.graded and self.queue:
            self.queue.pop(0)
            if self.queue:
                self._record(self.queue[0])
        if self.certifying == "waiting" and not self.queue:
            self._start_certify()
        if not self.queue:
            self.checks = {n: c.result for n, c in d.checks.items()}
            self.locks = dict(d.locks)
        self.query_one("#device-record", Static).update(Text(record_text(d)))
        facts = (
            "\n".join(f"{label:<14}{value}" for label, value in spec_lines(d.inventory))
            + f"\n(from {d.inventory_source})"
            if d.inventory is not None
            else "not recorded (f: type or confirm them)"
        )
        self.query_one("#device-facts", Static).update(Text(facts))
        asked = report.readiness.checks_asked()
        self.query_one("#device-checks", Static).update(Text(checks_text(d, asked)))
        self.query_one("#device-drives", Static).update(Text(drives_text(d)))
        self.query_one("#device-readiness", Static).update(readiness_text(report))

    # --- grading ------------------------------------------------------------------------------

    def action_grade(self, grade: str) -> None:
        """Record the cosmetic grade."""
        self._grade(cosmetic=grade)

    def action_check(self, name: str) -> None:
        """Record the check's next result (pass, fail, n/a)."""
        result = next_value(CHECK_RESULTS, self.checks.get(name))
        self.checks[name] = result
        self._grade(checks=[f"{name}={result}"])

    def action_lock(self, name: str) -> None:
        """Record the lock's next state (present, cleared, none)."""
        state = next_value(LOCK_STATES, self.locks.get(name))
        self.locks[name] = state
        self._grade(locks=[f"{name}={state}"])

    @property
    def pending(self) -> int:
        """How many grades are not answered yet."""
        return len(self.queue)

    def _grade(
        self, *, cosmetic: str | None = None, checks: Sequence[str] = (), locks: Sequence[str] = ()
    ) -> None:
        self.queue.append(Grade(cosmetic, tuple(checks), tuple(locks)))
        if len(self.queue) == 1:
            self._record(self.queue[0])

    @work(thread=True, exit_on_error=False, group="device-grade", description="Grading")
    def _record(self, grade: Grade) -> None:
        desk = self.bench.desk(operator_of(self.app))
        try:
            report = desk.grade(
                self.tag, cosmetic=grade.cosmetic, checks=grade.checks, locks=grade.locks
            )
        except DeviceError as e:
            self.post_message(GradeRefused(e.msg))
            report = desk.report(self.tag)
        self.post_message(DeviceShown(report, graded=True))

    @on(GradeRefused)
    def _refused(self, message: GradeRefused) -> None:
        self.notify(message.reason, title="Not recorded", severity="error", markup=False)

    # --- the computer's facts -----------------------------------------------------------------

    def action_facts(self) -> None:
        """Open the facts form; once recorded, show the device (its readiness read again)."""

        def recorded(report: DeviceReport | None) -> None:
            if report is not None:
                self.post_message(DeviceShown(report))

        self.app.push_screen(FactsScreen(self.bench, self.tag), recorded)

    # --- the certificate ----------------------------------------------------------------------

    def action_certify(self) -> None:
        """Issue the device's certificate, after the grades pressed before are recorded."""
        if self.certifying:
            self.notify("The certificate is being issued.", title="Certificate")
            return
        self.certifying = "waiting"
        self._set_certificate(Text("Issuing the certificate…"))
        if not self.queue:
            self._start_certify()

    def _start_certify(self) -> None:
        self.certifying = "signing"
        self._certify()

    @work(thread=True, exit_on_error=False, group="device-certify", description="Certificate")
    def _certify(self) -> None:
        try:
            issued, paths = self.bench.certify_device(operator_of(self.app), self.tag)
        except (DeviceError, CertificateError) as e:
            self.post_message(CertificateRefused(e.msg))
            return
        route = str(issued.record["destination"]["route"])
        self.post_message(DeviceCertified(issued.certificate_id, route, paths))
        said = self.bench.labels(operator_of(self.app)).auto_print(self.tag)
        if said:  # auto-print on: after the certificate, never holding it up
            self.app.call_from_thread(self.notify, said, title="Label", markup=False)

    def action_consign(self) -> None:
        """Add the device (by its current certificate) to a consignment."""
        from sanitiser.tui.screens.consignment import start_consign

        start_consign(self, self.bench, self.tag, operator_of(self.app))

    def action_print_label(self) -> None:
        """Print the device's label on the default printer (queued first)."""
        self._print_label()

    @work(thread=True, exit_on_error=False, group="device-label", description="Printing")
    def _print_label(self) -> None:
        try:
            outcomes = self.bench.labels(operator_of(self.app)).print(self.tag)
        except SanitiserError as e:
            self.app.call_from_thread(
                self.notify, e.msg, title="Label", severity="error", markup=False
            )
            return
        failed = any(not o.printed for o in outcomes)
        said = "\n".join(o.message for o in outcomes)
        self.app.call_from_thread(
            self.notify,
            said,
            title="Label",
            severity="error" if failed else "information",
            markup=False,
        )

    @on(DeviceCertified)
    def _certified(self, message: DeviceCertified) -> None:
        self.certifying = ""
        self.issued = message
        self._set_certificate(certified_text(message))
        self.notify(f"{self.tag}: {message.certificate_id}", title="Certificate issued")
        self._read()  # the trail moved on

    @on(CertificateRefused)
    def _refused_certificate(self, message: CertificateRefused) -> None:
        self._certificate_refused(message.reason)

    def _certificate_refused(self, reason: str) -> None:
        self.certifying = ""
        self._set_certificate(Text(f"NOT issued: {reason}", style="bold red"))
        self.notify(reason, title="Certificate not issued", severity="error", markup=False)

    def _set_certificate(self, text: Text) -> None:
        self.query_one("#device-certificate", Static).update(text)

    def action_back(self) -> None:
        """Back to the list."""
        self.dismiss(None)

    def action_help(self) -> None:
        """The keys of this screen."""
        from sanitiser.tui.screens.help import HelpModal

        keys = [(f"Shift+{k}", f"cosmetic grade {g}") for k, g in GRADE_KEYS.items()]
        keys += [(k, f"{n}: pass → fail → n/a") for k, n in CHECK_KEYS.items()]
        keys += [(k, f"{n}: present → cleared → none") for k, n in LOCK_KEYS.items()]
        keys += [("f", "type or confirm the computer's facts (DMI, CPU, RAM, battery, TPM ...)")]
        keys += [("Ctrl+S", "issue the signed certificate: PDF, record, label")]
        keys += [("Shift+P", "print the device's label on the default printer (p is a check)")]
        keys += [("o", "add the certified device to a consignment (or open one)")]
        keys += [("Esc", "back to the devices")]
        self.app.push_screen(HelpModal("device", keys))
