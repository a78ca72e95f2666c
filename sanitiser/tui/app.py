"""The bench TUI (Textual). Presentation only: the work is done by the core through `Bench`.

Threads: udev (or the lab) reports hot-plug on its observer thread and the orchestrator's event
bus delivers job events on its own thread; both only `post_message` here. Everything that
blocks (scans, probes, plans, starting jobs, the store, signing) runs in thread workers, which
report back by message too. Failures of workers open an `ErrorModal`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from textual import on, work
from textual.app import App
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import Worker

from sanitiser.app.confirm import taken_by_all
from sanitiser.app.services import Services, assess_drives
from sanitiser.certificate.qr import placeholder_url_warning
from sanitiser.domain import Drive
from sanitiser.errors import SanitiserError
from sanitiser.jobs.events import JobEvent
from sanitiser.jobs.restart import RestartTarget, short_id
from sanitiser.tui.bench import Bench, DrivePlan, shown_methods
from sanitiser.tui.messages import (
    ActionFailed,
    ComputerChanged,
    DriveAttached,
    DriveDetached,
    DriveEventReceived,
    DrivesScanned,
    JobEventReceived,
    JobsStarted,
)
from sanitiser.tui.model import RowState, row_key
from sanitiser.tui.restart import recovery_notice, restart_heading, restart_plan
from sanitiser.tui.screens.bench_screen import BenchScreen
from sanitiser.tui.screens.confirm import ConfirmModal
from sanitiser.tui.screens.destinations import DestinationsScreen
from sanitiser.tui.screens.devices import DevicesScreen
from sanitiser.tui.screens.drive_detail import DriveDetailScreen
from sanitiser.tui.screens.error import ErrorModal, worker_failure
from sanitiser.tui.screens.help import HelpModal
from sanitiser.tui.screens.history import HistoryScreen, RestartRequested
from sanitiser.tui.screens.intake import IntakeBatch, IntakeScreen
from sanitiser.tui.screens.link import LinkModal
from sanitiser.tui.screens.operator import OperatorModal
from sanitiser.tui.screens.start_erase import StartEraseModal
from sanitiser.tui.widgets.drive_table import DriveTable

Clock = Callable[[], datetime]

REFRESH_S = 0.25
"""How often the bench shows queued job events and ticks the clocks."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RestartChecked(Message):
    """A past job may be restarted: its drive is attached; the phrase is to be asked."""

    target: RestartTarget


@dataclass
class JobRestarted(Message):
    """A past job was started again as a new job, on the drive `name`."""

    old_id: str
    new_id: str
    name: str


class SanitiserApp(App[None]):
    """The bench: a live table of drives, jobs started by typed confirmation, and records.

    Args:
        services: the shared services.
        bench: the core seam (None: the real one over `make_orchestrator(services)`).
        operator: who is working ("" asks at start).
        clock: the time shown (tests fix it).
        recover: record and continue jobs a crash left unfinished, at start.
    """

    TITLE = "sanitiser"
    CSS_PATH = "app.tcss"

    def __init__(
        self,
        services: Services,
        *,
        bench: Bench | None = None,
        operator: str = "",
        clock: Clock = _utc_now,
        recover: bool = True,
    ) -> None:
        super().__init__()
        self.services = services
        if bench is None:
            from sanitiser.app.jobs import make_orchestrator

            bench = Bench(services, make_orchestrator(services))
        self.bench = bench
        self.operator = operator
        self.clock = clock
        self._recover = recover
        self._stop_watch: Callable[[], None] | None = None
        self._stop_events: Callable[[], None] | None = None
        self._stop_computers: Callable[[], None] | None = None
        self._said: dict[str, str] = {}
        """The device-record message last said for each computer (each is said once)."""
        self.batch = IntakeBatch()
        """The kind and lot of the devices being taken in (kept between visits to intake)."""
        self.bench_screen = BenchScreen(
            "\n".join(filter(None, (services.lab_reason, *services.notices)))
        )

    def get_default_screen(self) -> Screen[None]:
        """The bench is the home screen."""
        return self.bench_screen

    @property
    def table(self) -> DriveTable:
        """The bench's drive table (whatever screen is on top)."""
        return self.bench_screen.table

    def on_mount(self) -> None:
        """Follow jobs and hot-plug, scan, and ask who is operating."""
        self._stop_events = self.bench.subscribe(self._on_job_event)
        self._stop_watch = self.services.source.watch(self._on_udev_event)
        self._stop_computers = self.bench.watch_computers(self._on_computer)
        self._show_operator()
        self.bench.set_operator(self.operator)
        self.table.now = self.clock()
        self.set_interval(REFRESH_S, self._tick)
        self._scan()
        if self._recover:
            self._recover_jobs()
        if warning := placeholder_url_warning(self.services.settings.verify_base_url):
            self.notify(warning, title="Labels", severity="warning", timeout=15)
        if not self.operator:
            self.push_screen(OperatorModal(self.bench.station), self._set_operator)

    def on_unmount(self) -> None:
        """Stop following hot-plug and jobs."""
        for stop in (self._stop_watch, self._stop_events, self._stop_computers):
            if stop is not None:
                stop()

    def _show_operator(self) -> None:
        who = self.operator or "(nobody)"
        self.sub_title = f"station {self.bench.station} · operator {who}"

    def _set_operator(self, name: str | None) -> None:
        if name:
            self.operator = name
            self.bench.set_operator(name)
        self._show_operator()

    def _tick(self) -> None:
        self.table.now = self.clock()
        self.table.flush()
        if self.bench.agent is not None:
            self._show_computers()  # in memory: their links are re-judged as time passes

    # --- computers running the agent ---------------------------------------------------------

    def _on_computer(self, key: str) -> None:
        """A computer changed (on the receiver's or a worker's thread): tell the UI thread."""
        self.post_message(ComputerChanged(key))

    @on(ComputerChanged)
    def _computer_changed(self, message: ComputerChanged) -> None:
        self._show_computers()
        view = self.table.computers.get(message.key)
        attachment = view.attachment if view is not None else None
        if attachment is None or self._said.get(message.key) == attachment.message:
            return
        self._said[message.key] = attachment.message
        self.notify(
            attachment.message,
            title="Computer on the bench network",
            severity="information" if attachment.attached else "warning",
            markup=False,
        )

    def _show_computers(self) -> None:
        for view in self.bench.computers():
            self.table.show_computer(view)
        self._update_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The computers' key is shown only on a bench with an agent service."""
        if action == "tag_computer":
            return self.bench.agent is not None
        if action == "toggle_boot":
            return self.bench.serving is not None
        return True

    def action_toggle_boot(self) -> None:
        """Stop the network boot, or start it again (a bench started with --serve-agents)."""
        self._toggle_boot()

    @work(thread=True, exit_on_error=False, group="network-boot", description="Network boot")
    def _toggle_boot(self) -> None:
        said = self.bench.toggle_network_boot()
        self.call_from_thread(self.notify, said, title="Network boot", markup=False)

    def action_tag_computer(self) -> None:
        """Attach the computer under the cursor to its device: scan (or type) its tag."""
        key = self.table.computer_at_cursor()
        if not key:
            self.notify("Not a computer on the bench network.", severity="warning")
            return
        view = self.table.computers.get(key)
        drives = [s.drive for s in view.drives] if view is not None else []

        def link(tag: str) -> list[str]:
            return self.bench.attach_computer(key, tag, self.operator)

        def linked(lines: list[str] | None) -> None:
            if lines:
                self.notify("\n".join(lines), title="Attached", markup=False)

        self._as_operator(
            lambda: self.push_screen(
                LinkModal(self.bench, drives, link=link, title="Attach the computer to a device"),
                linked,
            )
        )

    # --- drives -----------------------------------------------------------------------------

    def action_rescan(self) -> None:
        """Re-read every drive."""
        self._scan()

    @work(thread=True, exclusive=True, exit_on_error=False, group="scan", description="Scanning")
    def _scan(self) -> None:
        """List every drive, assess health and protection, post DrivesScanned."""
        statuses = assess_drives(self.services, self.services.source.list())
        self.post_message(DrivesScanned(statuses))

    def _on_udev_event(self, action: str, drive: Drive | None, name: str) -> None:
        """Hot-plug callback, on the observer thread: hand the event to the UI thread."""
        self.post_message(DriveEventReceived(action, drive, name))

    @on(DriveEventReceived)
    def _handle_drive_event(self, message: DriveEventReceived) -> None:
        if message.action == "remove":
            self.post_message(DriveDetached(message.name))
        elif message.drive is not None and message.action in ("add", "change"):
            self._assess_one(message.drive)

    @work(thread=True, exit_on_error=False, group="hotplug", description="Assessing new drive")
    def _assess_one(self, drive: Drive) -> None:
        """Assess one hot-plugged drive and post DriveAttached."""
        (status,) = assess_drives(self.services, [drive])
        self.post_message(DriveAttached(status))

    @on(DrivesScanned)
    def _show_scan(self, message: DrivesScanned) -> None:
        self.table.replace_all(message.statuses)
        self._update_status()

    @on(DriveAttached)
    def _show_attached(self, message: DriveAttached) -> None:
        self.table.upsert(message.status)
        self._update_status()
        self.notify(f"Drive attached: {message.status.drive.name}")

    @on(DriveDetached)
    def _show_detached(self, message: DriveDetached) -> None:
        row = self.table.states.get(message.name)
        self.table.drop(message.name)
        self._update_status()
        if row is not None and row.busy:
            self.notify(f"{message.name} was removed while its job ran", severity="error")

    def _update_status(self) -> None:
        rows = self.table.states.values()
        busy = sum(1 for r in rows if r.busy)
        protected = sum(1 for r in rows if r.status.protection.protected)
        selected = len(self.table.selected())
        self.bench_screen.status.update(
            f"{len(rows)} drive(s) · {selected} selected · {busy} running · {protected} protected"
        )

    # --- selection and start ----------------------------------------------------------------

    def action_toggle_select(self) -> None:
        """Select or unselect the drive under the cursor (protected/busy ones are refused)."""
        row = self.table.current()
        if row is None:
            return
        if not row.selected and not row.eligible:
            why = row.status.protection.reason if row.status.protection.protected else "busy"
            self.notify(f"{row.drive.name} cannot be selected: {why}", severity="warning")
            return
        self.table.set_selected(row.key, not row.selected)
        self.table.action_cursor_down()
        self._update_status()

    def action_select_all(self) -> None:
        """Select every eligible drive (again: unselect them); with the lab on, the simulated
        drives only (`taken_by_all`)."""
        lab_on = self.services.lab is not None
        n = self.table.select_all(lambda r: taken_by_all(r.drive, lab_on=lab_on))
        self._update_status()
        self.notify(f"{n} drive(s) selected" if n else "Selection cleared")

    def _chosen(self) -> list[RowState]:
        """The selected drives, else the one under the cursor (none, and a notice, when the
        bench is empty)."""
        rows = self.table.selected()
        if rows:
            return rows
        current = self.table.current()
        if current is None:
            if self.table.computer_at_cursor():
                self.notify(
                    "A computer's row: select its drives (Space) on the rows under it.",
                    severity="warning",
                )
            else:
                self.notify("No drive on the bench.", severity="warning")
            return []
        return [current]

    def action_start_erase(self) -> None:
        """Plan and confirm the erase of the selected drives (or the one under the cursor)."""
        if warning := placeholder_url_warning(self.services.settings.verify_base_url):
            self.notify(warning, title="Labels", severity="warning", timeout=15)
        if not self.operator:
            self.push_screen(OperatorModal(self.bench.station), self._set_operator)
            return
        rows = self._chosen()
        if not rows:
            return
        if not rows[0].eligible:  # the drive under the cursor (selected ones are eligible)
            current = rows[0]
            why = (
                current.status.protection.reason
                if current.status.protection.protected
                else "a job is running on it"
            )
            self.notify(f"{current.drive.name} cannot be erased: {why}", severity="error")
            return
        drives = [r.drive for r in rows]

        self.push_screen(
            StartEraseModal(self.bench, drives),
            self._when_confirmed(lambda plans: self._start_jobs(drives, self.operator, plans)),
        )

    def _when_confirmed(
        self, start: Callable[[list[DrivePlan]], object]
    ) -> Callable[[list[DrivePlan] | None], None]:
        """The start-erase modal's callback: Cancel says nothing was erased; the typed phrase
        shows each drive's planned method on its row, then `start` runs."""

        def confirmed(plans: list[DrivePlan] | None) -> None:
            if plans is None:
                self.notify("Cancelled: nothing was erased.")
                return
            for p in plans:
                self.table.set_method(row_key(p.drive), p.method)
            start(plans)

        return confirmed

    @work(thread=True, exit_on_error=False, group="start", description="Starting jobs")
    def _start_jobs(self, drives: list[Drive], operator: str, plans: list[DrivePlan]) -> None:
        ids = self.bench.start(drives, operator, plans)
        self.post_message(JobsStarted([(i, row_key(d)) for i, d in zip(ids, drives, strict=True)]))

    @on(JobsStarted)
    def _jobs_started(self, message: JobsStarted) -> None:
        for job_id, name in message.jobs:
            self.table.bind_job(job_id, name)
            self.table.set_selected(name, False)
        self.notify(f"Started {len(message.jobs)} job(s) for {self.operator}.")
        self._update_status()

    # --- jobs -------------------------------------------------------------------------------

    def _on_job_event(self, event: JobEvent) -> None:
        """Job events arrive on the event-bus thread: hand them to the UI thread."""
        self.post_message(JobEventReceived(event))

    @on(JobEventReceived)
    def _job_event(self, message: JobEventReceived) -> None:
        event = message.event
        name = self.table.apply(event)
        for screen in self.screen_stack:
            if isinstance(screen, DriveDetailScreen):
                screen.job_event(event)
            elif isinstance(screen, HistoryScreen) and event.kind == "outcome":
                screen.reload()  # a job ended: History shows its final state
        if getattr(event, "kind", "") in ("phase", "outcome"):
            self._update_status()
        certificate = getattr(event, "certificate_id", None)
        if (
            event.kind == "outcome"
            and certificate
            and self.bench.services.settings.printers.auto_print
        ):
            self._auto_print(certificate)
        if event.kind == "outcome" and name is not None:
            status = getattr(event, "status", "")
            self.notify(
                f"{name}: {status}", severity="information" if status == "sanitised" else "error"
            )

    @work(thread=True, exit_on_error=False, group="recover", description="Recovering jobs")
    def _recover_jobs(self) -> None:
        notice = recovery_notice(self.bench.orchestrator.recover())
        if notice:
            self.call_from_thread(self.notify, notice, severity="warning", timeout=10)

    # --- restarting a past job (from History) -------------------------------------------------

    @on(RestartRequested)
    def _restart_requested(self, message: RestartRequested) -> None:
        """Check the job and find its drive; the confirmation follows (`_confirm_restart`)."""
        job_id = message.job_id
        if self.operator:
            self._check_restart(job_id)
            return

        def named(name: str | None) -> None:  # a restart is recorded with who did it
            self._set_operator(name)
            if self.operator:
                self._check_restart(job_id)

        self.push_screen(OperatorModal(self.bench.station), named)

    @work(thread=True, exit_on_error=False, group="restart", description="Checking the job")
    def _check_restart(self, job_id: str) -> None:
        try:
            target = self.bench.orchestrator.restart_target(job_id)
        except SanitiserError as e:
            self.call_from_thread(self.notify, e.msg, severity="warning", markup=False)
            return
        self.post_message(RestartChecked(target))

    @on(RestartChecked)
    def _confirm_restart(self, message: RestartChecked) -> None:
        """The same plan and typed phrase as a start on the bench; nothing runs without it."""
        target = message.target
        drive = target.drive
        row = self.table.states.get(row_key(drive))
        if row is not None and not row.eligible:  # the bench's own rule for any start
            protection = row.status.protection
            why = (
                f"{drive.name} is protected ({protection.reason})"
                if protection.protected
                else f"a job is running on {drive.name}"
            )
            self.notify(
                f"Job {short_id(target.job.id)} cannot be restarted now: {why}.",
                severity="error",
                markup=False,
            )
            return

        confirmed = self._when_confirmed(
            lambda plans: self._restart(target.job.id, row_key(drive), self.operator, plans)
        )
        modal = StartEraseModal(
            self.bench,
            [drive],
            planner=lambda d: restart_plan(self.bench, target),
            heading=restart_heading(target),
        )
        self.push_screen(modal, confirmed)

    @work(thread=True, exit_on_error=False, group="start", description="Restarting a job")
    def _restart(self, job_id: str, name: str, operator: str, plans: list[DrivePlan]) -> None:
        shown = next(iter(shown_methods(plans).values()), "")
        try:
            new_id = self.bench.orchestrator.restart(
                job_id, operator=operator, confirmed_method=shown
            )
        except SanitiserError as e:  # the orchestrator checks again: something changed
            self.call_from_thread(
                self.notify,
                f"Job {short_id(job_id)} was not restarted: {e.msg}",
                severity="error",
                markup=False,
            )
            return
        self.post_message(JobRestarted(job_id, new_id, name))

    @on(JobRestarted)
    def _job_restarted(self, message: JobRestarted) -> None:
        self.table.bind_job(message.new_id, message.name)
        self.table.set_selected(message.name, False)
        self.notify(
            f"Job {short_id(message.old_id)} restarted as job {short_id(message.new_id)} on "
            f"{message.name} for {self.operator}: follow it on the bench.",
            markup=False,
        )
        self._update_status()
        for screen in self.screen_stack:
            if isinstance(screen, HistoryScreen):
                screen.reload()

    def action_abort(self) -> None:
        """Abort the job of the drive under the cursor (asks first)."""
        row = self.table.current()
        if row is None or not row.busy:
            self.notify("No job is running on this drive.", severity="warning")
            return
        self.ask_abort(row.job_id)

    def ask_abort(self, job_id: str) -> None:
        """Ask, then ask the orchestrator to abort `job_id` (it says when it cannot)."""

        def answer(yes: bool | None) -> None:
            if yes:
                self._abort(job_id)

        self.push_screen(
            ConfirmModal(f"Abort job {job_id[:8]}…? The drive will NOT be sanitised.", "Abort"),
            answer,
        )

    @work(thread=True, exit_on_error=False, group="abort", description="Aborting")
    def _abort(self, job_id: str) -> None:
        reply = self.bench.abort(job_id)
        self.call_from_thread(
            self.notify, reply.message, severity="warning" if reply.accepted else "error"
        )

    # --- other screens ----------------------------------------------------------------------

    @on(DataTable.RowSelected, "#drives")
    def action_detail(self) -> None:
        """Open the drive under the cursor."""
        row = self.table.current()
        if row is not None:
            self.push_screen(DriveDetailScreen(self.bench, row=row))

    def action_history(self) -> None:
        """Past jobs and certificates."""
        self.push_screen(HistoryScreen(self.bench))

    def action_destinations(self) -> None:
        """The destinations registry: reuse schemes, recyclers, destruction providers."""
        self.push_screen(DestinationsScreen(self.bench))

    # --- devices ------------------------------------------------------------------------------

    def _as_operator(self, then: Callable[[], object]) -> None:
        """Run `then` once someone is operating (asks first when nobody is)."""
        if self.operator:
            then()
            return

        def named(name: str | None) -> None:
            self._set_operator(name)
            if self.operator:
                then()

        self.push_screen(OperatorModal(self.bench.station), named)

    def action_intake(self) -> None:
        """Take devices in, one scanned tag after another."""
        self._as_operator(lambda: self.push_screen(IntakeScreen(self.bench, self.batch)))

    def action_link(self) -> None:
        """Link the selected drives (or the one under the cursor) to a device, by its tag."""
        rows = self._chosen()
        if not rows:
            if self.table.computer_at_cursor():
                self.action_tag_computer()
            return
        if any(r.remote for r in rows):  # a computer's drives go with it, by its tag
            self.action_tag_computer()
            return
        drives = [r.drive for r in rows]

        def linked(lines: list[str] | None) -> None:
            if lines:
                for d in drives:
                    self.table.set_selected(row_key(d), False)
                self._update_status()
                self.notify("\n".join(lines), title="Linked", markup=False)

        self._as_operator(lambda: self.push_screen(LinkModal(self.bench, drives), linked))

    # --- labels -------------------------------------------------------------------------------

    def action_print_label(self) -> None:
        """Print the label of the drive under the cursor (its latest certificate) on the
        default printer, and send the labels still waiting in the queue."""
        row = self.table.current()
        if row is None:
            self.notify("No drive on the bench.", severity="warning")
            return
        drive = row.drive
        self._as_operator(lambda: self._print_labels(drive))

    @work(thread=True, exit_on_error=False, group="labels", description="Printing labels")
    def _print_labels(self, drive: Drive) -> None:
        desk = self.bench.labels(self.operator)
        lines: list[str] = []
        failed = False
        certificate = self.bench.drive_certificate(drive)
        if certificate is None:
            lines.append(f"{drive.name}: no certificate yet, so no label")
        else:
            try:
                for o in desk.print(certificate):
                    failed |= not o.printed
                    lines.append(f"{drive.name}: {o.message}")
            except SanitiserError as e:
                failed = True
                lines.append(f"{drive.name}: {e.msg}")
        for o in desk.retry():
            failed |= not o.printed
            lines.append(f"{o.job.kind} {o.job.subject}: {o.message}")
        self.call_from_thread(
            self.notify,
            "\n".join(lines),
            title="Labels",
            severity="error" if failed else "information",
            markup=False,
        )

    @work(thread=True, exit_on_error=False, group="labels", description="Auto-printing a label")
    def _auto_print(self, subject: str) -> None:
        """The label of a certificate just issued, when auto-print is on (never the job's)."""
        said = self.bench.labels(self.operator or "bench").auto_print(subject)
        if said:
            self.call_from_thread(self.notify, said, title="Label", markup=False)

    def action_devices(self) -> None:
        """The devices taken in; open one to grade it."""
        self.push_screen(DevicesScreen(self.bench))

    def action_change_operator(self) -> None:
        """Hand the bench to another operator."""
        self.push_screen(OperatorModal(self.bench.station, self.operator), self._set_operator)

    def action_help(self) -> None:
        """The key map."""
        self.push_screen(
            HelpModal(
                "bench",
                self.bench_screen.key_map(computers=self.bench.agent is not None),
                erases="starting",
            )
        )

    def action_quit_bench(self) -> None:
        """Quit; with jobs running, ask first (abortable ones are stopped)."""
        running = self.bench.running()
        if not running:
            self.exit()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.bench.abort_all()
                self.exit()

        self.push_screen(
            ConfirmModal(
                f"{len(running)} job(s) are running. Quit anyway? Host overwrites are stopped; "
                "firmware erases go on and are recovered at the next start.",
                "Quit",
            ),
            answer,
        )

    # --- errors -----------------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        failure = worker_failure(event)
        if failure is not None:
            self.post_message(ActionFailed(*failure))

    @on(ActionFailed)
    def _show_error(self, message: ActionFailed) -> None:
        self.push_screen(ErrorModal(message.title, message.message))
