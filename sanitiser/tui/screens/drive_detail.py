"""DriveDetailScreen: one drive and its job, live: identity, SMART, capabilities, log, outcome,
routing and the certificate preview with its QR; and what to do after (route, label, consign)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, RichLog, Static
from textual.worker import Worker

from sanitiser.app.routes import RouteInfo
from sanitiser.domain import Drive, Health
from sanitiser.errors import SanitiserError
from sanitiser.jobs.detail import detail_of
from sanitiser.jobs.events import JobEvent, JobLog, JobOutcome, JobPhase
from sanitiser.jobs.orchestrator import outcome_of
from sanitiser.probe.capabilities import Capabilities
from sanitiser.store import JobEventView, JobView, drive_key
from sanitiser.tui.bench import Bench, CertificatePreview
from sanitiser.tui.model import RowState
from sanitiser.tui.screens.error import report_worker_failure
from sanitiser.tui.session import operator_of
from sanitiser.units import human_size


@dataclass
class JobLoaded(Message):
    """The job's record, journal, route and certificate preview were read."""

    view: JobView | None
    log: list[JobEventView]
    route: RouteInfo | None
    preview: CertificatePreview | None


@dataclass
class LinkedDeviceRead(Message):
    """The device the drive is linked to ("" when none)."""

    tag: str
    kind: str = ""


@dataclass
class CapabilitiesRead(Message):
    """The probe answered (or said why not)."""

    caps: Capabilities | None
    error: str = ""


def identity_text(drive: Drive) -> str:
    """The drive's identity, one fact per line."""
    facts = [
        ("Path", drive.path),
        ("Model", drive.model or "-"),
        ("Serial", drive.serial or "(none)"),
        ("WWN", drive.wwn or "-"),
        ("Firmware", drive.firmware or "-"),
        ("Size", f"{human_size(drive.size_bytes)} ({drive.size_bytes} bytes)"),
        ("Transport", drive.transport.value),
        ("Media", drive.media_kind.value),
    ]
    if drive.simulated:
        facts.append(("Note", "SIMULATED lab drive"))
    return "\n".join(f"{k:<10}{v}" for k, v in facts)


def health_text(health: Health) -> str:
    """The SMART summary: grade, reasons and the counters the drive reports."""
    lines = [f"Grade     {health.grade.value}"]
    lines += [f"          {r}" for r in health.reasons]
    for label, value in (
        ("Hours", health.power_on_hours),
        ("Made", health.manufactured),
        ("Realloc", health.reallocated_sectors),
        ("Pending", health.pending_sectors),
        ("Used %", health.percentage_used),
        ("Media err", health.media_errors),
        ("Temp °C", health.temperature_c),
    ):
        if value is not None:
            lines.append(f"{label:<10}{value}")
    return "\n".join(lines)


def capabilities_text(caps: Capabilities) -> str:
    """Each technique the drive offers, usable or why not; then the probe's notes."""
    lines = [
        f"{'✔' if o.usable else '✘'} {o.technique.value}" + (f"  ({o.reason})" if o.reason else "")
        for o in caps.options
    ]
    if caps.hidden_sectors:
        lines.append(f"HPA/DCO hide {caps.hidden_sectors} sectors")
    lines += [f"· {n}" for n in caps.notes]
    return "\n".join(lines) or "(nothing reported)"


def certificate_text(preview: CertificatePreview) -> Text:
    """The certificate's main facts beside nothing fancy: id, outcome, method, then the QR."""
    r = preview.record
    dev = r.get("device") or {}
    san = r.get("sanitisation") or {}
    out = r.get("outcome") or {}
    flags = [f for k, f in (("simulated", "SIMULATED"), ("development_key", "DEV KEY")) if r.get(k)]
    facts = [
        f"Certificate {preview.certificate_id}",
        f"Device      {dev.get('model', '')} S/N {dev.get('serial', '')}",
        f"Outcome     {str(out.get('status', '?')).upper()}  "
        f"{str(san.get('nist_category', '')).upper()}  {san.get('technique', '')}",
        f"Finished    {san.get('finished_at', '')}",
        f"Verify at   {preview.url[:60]}…",
    ]
    if flags:
        facts.append(" · ".join(flags))
    text = Text("\n".join(facts) + "\n\n")
    text.append("\n".join(preview.qr), style="white on black")
    return text


class DriveDetailScreen(Screen[None]):
    """A drive and its job. `row` is the drive on the bench (None for a past job)."""

    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding(
            "d",
            "override_route",
            "Route…",
            id="override-route",
            tooltip="Send the drive elsewhere (reason recorded)",
        ),
        Binding(
            "l",
            "export_label",
            "Label",
            id="export-label",
            tooltip="Write a QR label (PDF) for the certificate",
        ),
        Binding("c", "consign", "Consign…", id="consign", tooltip="Add the drive to a consignment"),
        Binding("x", "abort", "Abort…", id="abort-job"),
        Binding("question_mark", "help", "Keys", id="help-detail"),
    ]

    def __init__(self, bench: Bench, *, row: RowState | None = None, job_id: str = "") -> None:
        super().__init__()
        self.bench = bench
        self.row = row
        self.job_id = job_id or (row.job_id if row is not None else "")
        self.view: JobView | None = None
        self.route: RouteInfo | None = None
        self.preview: CertificatePreview | None = None
        self.drive: Drive | None = None
        self.device_line = ""
        """The device the drive is linked to, as the identity shows it ("" when none)."""

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)

    def compose(self) -> ComposeResult:
        """Sections, top to bottom."""
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static("Drive", classes="section-title")
            yield Static("", id="identity")
            yield Static("SMART", classes="section-title")
            yield Static("", id="health")
            yield Static("Capabilities", classes="section-title")
            yield Static("…", id="capabilities")
            yield Static("Job log", classes="section-title")
            yield RichLog(id="job-log", wrap=True, max_lines=2000, auto_scroll=True)
            yield Static("Outcome", classes="section-title")
            yield Static("no job yet", id="outcome")
            yield Static("Destination", classes="section-title")
            yield Static("-", id="route")
            yield Static("Certificate", classes="section-title")
            yield Static("-", id="certificate")
        yield Footer()

    def on_mount(self) -> None:
        """Show what is known now, then read the rest in workers."""
        if self.row is not None:
            self._show_drive(self.row.drive, self.row.status.health)
            if self.row.busy:
                self.query_one("#capabilities", Static).update("(not probed while a job runs)")
            else:
                self._read_capabilities(self.row.drive)
        else:
            self.query_one("#capabilities", Static).update("(drive not on the bench)")
        self._load_job()

    def _show_drive(self, drive: Drive, health: Health | None) -> None:
        self.sub_title = f"{drive.name} · {drive.serial or '(no serial)'}"
        if self.drive is None:
            self._read_device(drive)
        self.drive = drive
        self._show_identity()
        self.query_one("#health", Static).update(
            health_text(health) if health is not None else "(not recorded)"
        )

    def _show_identity(self) -> None:
        if self.drive is not None:
            self.query_one("#identity", Static).update(
                Text(identity_text(self.drive) + self.device_line)
            )

    @work(thread=True, exit_on_error=False, group="detail-device", description="Its device")
    def _read_device(self, drive: Drive) -> None:
        device = self.bench.desk(operator_of(self.app)).device_of_drive(drive_key(drive))
        if device is not None:
            self.post_message(LinkedDeviceRead(device.tag, device.kind.value))

    @on(LinkedDeviceRead)
    def _show_device(self, message: LinkedDeviceRead) -> None:
        self.device_line = f"\n{'Device':<10}{message.tag} ({message.kind})"
        self._show_identity()

    @work(thread=True, exit_on_error=False, group="detail-probe", description="Probing")
    def _read_capabilities(self, drive: Drive) -> None:
        try:
            self.post_message(CapabilitiesRead(self.bench.capabilities(drive)))
        except Exception as e:  # noqa: BLE001 - a failed probe is shown, not fatal
            self.post_message(CapabilitiesRead(None, str(e)))

    @on(CapabilitiesRead)
    def _show_capabilities(self, message: CapabilitiesRead) -> None:
        text = capabilities_text(message.caps) if message.caps else f"not probed: {message.error}"
        self.query_one("#capabilities", Static).update(text)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="detail-load",
        description="Reading the job",
    )
    def _load_job(self) -> None:
        job_id = self.job_id
        if not job_id and self.row is not None:
            latest = self.bench.latest_job(self.row.drive)
            job_id = latest.id if latest is not None else ""
        view = self.bench.job(job_id) if job_id else None
        if view is None:
            self.post_message(JobLoaded(None, [], None, None))
            return
        cert = detail_of(view).certificate_id
        try:
            preview = self.bench.certificate_preview(cert) if cert else None
        except SanitiserError as e:  # an altered stored record: say so, show no QR
            preview = None
            self.app.call_from_thread(self.app.notify, e.msg, title="Certificate", severity="error")
        self.post_message(
            JobLoaded(view, self.bench.job_log(view.id), self.bench.route_of(view.id), preview)
        )

    @on(JobLoaded)
    def _show_job(self, message: JobLoaded) -> None:
        self.view, self.route, self.preview = message.view, message.route, message.preview
        if message.view is None:
            return
        self.job_id = message.view.id
        detail = detail_of(message.view)
        if self.row is None and detail.drive is not None:
            self._show_drive(detail.drive, detail.health)
        log = self.query_one("#job-log", RichLog)
        log.clear()
        for entry in message.log:
            log.write(_journal_line(entry))
        o = outcome_of(message.view)
        outcome = Text(f"{o.status.upper()}", style="bold green" if o.succeeded else "bold")
        outcome.append(
            f"  {o.method} {o.nist_category}  verified: {'yes' if o.verified else 'no'}"
            f"\noperator {o.operator} @ {o.station}, job {o.job_id}"
        )
        if o.reason:
            outcome.append(f"\n{o.reason}", style="yellow")
        self.query_one("#outcome", Static).update(outcome)
        if message.route is not None:
            r = message.route
            who = f" (override by {r.overridden_by})" if r.overridden_by else ""
            why = f"\n{r.reason}" if r.reason else ""
            route = f" ({r.route})" if r.route and r.route != r.destination else ""
            self.query_one("#route", Static).update(f"{r.destination}{route}{who}{why}")
        if message.preview is not None:
            self.query_one("#certificate", Static).update(certificate_text(message.preview))

    def job_event(self, event: JobEvent) -> None:
        """A live event from the app: log it if it is this screen's job."""
        if not self.job_id or event.job_id != self.job_id:
            return
        log = self.query_one("#job-log", RichLog)
        if isinstance(event, JobLog):
            log.write(f"{event.at:%H:%M:%S} {event.level:<7} {event.message}")
        elif isinstance(event, JobPhase):
            why = f" ({event.reason})" if event.reason else ""
            log.write(f"{event.at:%H:%M:%S} state   → {event.state}{why}")
        elif isinstance(event, JobOutcome):
            self._load_job()

    # --- actions ----------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the bench."""
        self.dismiss(None)

    def _certificate_id(self) -> str | None:
        cert = detail_of(self.view).certificate_id if self.view is not None else None
        if not cert:
            self.notify("No certificate yet for this drive.", severity="warning")
            return None
        return str(cert)

    def action_override_route(self) -> None:
        """Ask for the new destination and the reason, then record it."""
        from sanitiser.tui.screens.route import RouteOverrideModal

        if self.view is None or self.view.state not in ("routed", "failed"):
            self.notify("The drive can be routed once its job has ended.", severity="warning")
            return
        current = (self.route.route or self.route.destination) if self.route else "undecided"

        def done(result: tuple[str, str] | None) -> None:
            if result is not None:
                self._override(result[0], result[1])

        self.app.push_screen(RouteOverrideModal(current), done)

    @work(thread=True, exit_on_error=False, group="detail-route", description="Routing")
    def _override(self, destination: str, reason: str) -> None:
        self.bench.override_route(self.job_id, destination, reason, operator=operator_of(self.app))
        self.app.call_from_thread(self.notify, f"Destination set to {destination}.")
        self._load_job()

    def action_export_label(self) -> None:
        """Write the certificate's QR label."""
        cert = self._certificate_id()
        if cert is not None:
            self._export(cert)

    @work(thread=True, exit_on_error=False, group="detail-label", description="Label")
    def _export(self, cert: str) -> None:
        path = self.bench.export_label(cert)
        self.app.call_from_thread(self.notify, f"Label written: {path}", timeout=8)

    def action_consign(self) -> None:
        """Choose a consignment for the drive."""
        from sanitiser.tui.screens.consignment import start_consign

        cert = self._certificate_id()
        if cert is not None:
            start_consign(self, self.bench, cert, operator_of(self.app))

    def action_abort(self) -> None:
        """Abort this drive's job (asks first)."""
        abort: Any = getattr(self.app, "ask_abort", None)
        if self.job_id and abort is not None:
            abort(self.job_id)

    def action_help(self) -> None:
        """The key map of this screen."""
        from sanitiser.tui.screens.help import HelpModal

        keys = [(b.key, b.description) for b in self.BINDINGS if isinstance(b, Binding)]
        self.app.push_screen(HelpModal("drive detail", keys))


def _journal_line(entry: JobEventView) -> str:
    data = dict(entry.data)
    if entry.kind == "log":
        return f"{entry.at:%H:%M:%S} {data.get('level', 'info'):<7} {data.get('message', '')}"
    if entry.kind == "transition" or "to" in data:
        why = data.get("why") or data.get("reason") or ""
        to = data.get("to") or entry.state
        return f"{entry.at:%H:%M:%S} state   → {to}" + (f" ({why})" if why else "")
    return f"{entry.at:%H:%M:%S} {entry.kind:<7} {data}"
