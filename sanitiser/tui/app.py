"""The bench TUI (Textual). Presentation only: the work is done by `sanitiser.services`."""

from __future__ import annotations

from collections.abc import Callable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from sanitiser.domain import Drive
from sanitiser.services import Services, assess_drives
from sanitiser.tui.messages import (
    DriveAttached,
    DriveDetached,
    DriveEventReceived,
    DrivesScanned,
)
from sanitiser.tui.widgets.drive_table import DriveTable


class SanitiserApp(App[None]):
    """The bench: a live table of drives, updated on hot-plug."""

    TITLE = "sanitiser"
    CSS = """
    #banner { height: auto; padding: 0 1; background: $warning 30%; }
    #banner.-hidden { display: none; }
    #status { height: 1; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("r", "rescan", "Rescan", id="rescan", tooltip="Re-read every drive"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__()
        self.services = services
        self._stop_watch: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        """Header, lab banner, drive table, status line, footer."""
        yield Header()
        banner = Static(self.services.lab_reason, id="banner")
        if not self.services.lab_reason:
            banner.add_class("-hidden")
        yield banner
        yield DriveTable(id="drives")
        yield Static("Scanning drives…", id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Start following hot-plug, then scan."""
        self.sub_title = f"station {self.services.settings.station}"
        self._stop_watch = self.services.source.watch(self._on_udev_event)
        self._scan()

    def on_unmount(self) -> None:
        """Stop the hot-plug observer."""
        if self._stop_watch is not None:
            self._stop_watch()

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
        self.query_one(DriveTable).replace_all(message.statuses)
        self._update_status()

    @on(DriveAttached)
    def _show_attached(self, message: DriveAttached) -> None:
        self.query_one(DriveTable).upsert(message.status)
        self._update_status()
        self.notify(f"Drive attached: {message.status.drive.path}")

    @on(DriveDetached)
    def _show_detached(self, message: DriveDetached) -> None:
        self.query_one(DriveTable).drop(message.name)
        self._update_status()

    def _update_status(self) -> None:
        table = self.query_one(DriveTable)
        self.query_one("#status", Static).update(f"{table.row_count} drive(s)")
