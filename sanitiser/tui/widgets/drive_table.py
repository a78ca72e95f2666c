"""The bench's live table of drives: identity, health, plan, job state and progress."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from sanitiser.app.services import DriveStatus
from sanitiser.jobs.events import JobEvent
from sanitiser.tui.model import (
    COMPUTER_ROW,
    RowState,
    apply_event,
    computer_row,
    duration,
    elapsed,
    progress_bar,
    rate,
    row_key,
)
from sanitiser.units import human_size

if TYPE_CHECKING:
    from sanitiser.agent.service import ComputerView

COLUMNS: tuple[tuple[str, str], ...] = (
    ("sel", " "),
    ("drive", "Drive"),
    ("serial", "Serial"),
    ("status", "State"),
    ("progress", "Progress"),
    ("eta", "ETA"),
    ("elapsed", "Elapsed"),
    ("speed", "Speed"),
    ("health", "Health"),
    ("method", "Method"),
    ("size", "Size"),
    ("transport", "Transport"),
    ("model", "Model"),
    ("path", "Bay/Path"),
)
"""(key, label) of each column, most important first (narrow terminals scroll the rest)."""

WIDTHS = {
    "sel": 1,
    "status": 22,
    "progress": 13,
    "eta": 7,
    "elapsed": 7,
    "speed": 10,
    "health": 7,
    "method": 22,
}
"""Fixed widths of the columns that change while jobs run (so the table never jitters)."""
STATE_WIDTH = WIDTHS["status"]

LIVE_COLUMNS = ("status", "progress", "eta", "elapsed", "speed", "method", "sel")
"""The columns a job event can change."""

GRADE_STYLES = {"A": "green", "B": "green", "C": "yellow", "FAIL": "bold red"}
STATE_STYLES = {
    "sanitised": "bold green",
    "routed": "bold green",
    "failed": "bold red",
    "refused": "bold red",
    "aborted": "yellow",
    "interrupted": "yellow",
}


class DriveTable(DataTable[str | Text]):
    """One row per drive, keyed by kernel name; protected drives are greyed with their reason.

    A computer running the agent is a row of its own (make, model, serial, its device's tag,
    "agent" and its link) with its drives' rows under it, keyed by their ``agent://`` names
    (`row_key`); they are selected, confirmed and followed as this bench's drives are.

    The table keeps each drive's `RowState`; job events are applied with `apply` and shown on
    the next `flush` (the app flushes a few times a second, so 24 busy drives stay cheap).
    """

    DEFAULT_CSS = """
    DriveTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.states: dict[str, RowState] = {}
        self._by_job: dict[str, str] = {}
        self._dirty: set[str] = set()
        self.computers: dict[str, ComputerView] = {}
        """The computers shown, by key."""
        self.now: datetime | None = None
        """The time shown rows are computed at (set by the app before each flush)."""

    def on_mount(self) -> None:
        """Set up the columns."""
        for key, label in COLUMNS:
            self.add_column(label, key=key, width=WIDTHS.get(key))

    # --- drives -----------------------------------------------------------------------------

    def upsert(self, status: DriveStatus) -> None:
        """Add the drive's row, or refresh its identity and verdict if it is already shown."""
        key = row_key(status.drive)
        old = self.states.get(key)
        row = RowState(status) if old is None else dataclasses.replace(old, status=status)
        if row.status.protection.protected:
            row = dataclasses.replace(row, selected=False)
        self.states[key] = row
        cells = self._cells(row)
        if key in self.rows:
            for (col, _label), value in zip(COLUMNS, cells, strict=True):
                self.update_cell(key, col, value)
        else:
            self.add_row(*cells, key=key)

    def drop(self, name: str) -> None:
        """Remove the drive's row if shown."""
        self.states.pop(name, None)
        self._dirty.discard(name)
        if name in self.rows:
            self.remove_row(name)

    def replace_all(self, statuses: list[DriveStatus]) -> None:
        """Show exactly these drives of this bench (a busy drive keeps its job state); the
        computers' rows are theirs (`show_computer`)."""
        keep = {row_key(s.drive) for s in statuses}
        for key in [k.value for k in self.rows if k.value not in keep]:
            if key is not None and not self._computers_row(key):
                self.drop(key)
        for s in statuses:
            self.upsert(s)

    def _computers_row(self, key: str) -> bool:
        """A computer's row, or one of its drives'."""
        return key.startswith(COMPUTER_ROW) or (key in self.states and self.states[key].remote)

    def show_computer(self, view: ComputerView) -> None:
        """Show a computer's row and its drives under it (refreshed when it changed)."""
        key = computer_row(view.key)
        before = self.computers.get(view.key)
        self.computers[view.key] = view
        if before == view and key in self.rows:
            return
        cells = self._computer_cells(view)
        if key in self.rows:
            for (col, _label), value in zip(COLUMNS, cells, strict=True):
                self.update_cell(key, col, value)
        else:
            self.add_row(*cells, key=key)
        for status in view.drives:
            self.upsert(status)

    def computer_at_cursor(self) -> str:
        """The key of the computer whose row (or drive's row) is under the cursor ("")."""
        if not self.row_count:
            return ""
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value or ""
        if key.startswith(COMPUTER_ROW):
            return key.removeprefix(COMPUTER_ROW)
        row = self.states.get(key)
        if row is None or not row.remote:
            return ""
        return next(
            (
                c.key
                for c in self.computers.values()
                if any(row_key(s.drive) == key for s in c.drives)
            ),
            "",
        )

    # --- selection --------------------------------------------------------------------------

    def current(self) -> RowState | None:
        """The row under the cursor."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.states.get(key) if key is not None else None

    def set_selected(self, name: str, selected: bool) -> bool:
        """Select or unselect one drive; False (and nothing changes) when it is not eligible."""
        row = self.states.get(name)
        if row is None or (selected and not row.eligible):
            return False
        self.states[name] = dataclasses.replace(row, selected=selected)
        self._show_cells(name, ("sel",))
        return True

    def select_all(self, taken: Callable[[RowState], bool] = lambda _r: True) -> int:
        """Select every eligible drive that `taken` accepts (or unselect them all when all are
        selected); the count."""
        eligible = [n for n, r in self.states.items() if r.eligible and taken(r)]
        everything = all(self.states[n].selected for n in eligible)
        for n in eligible:
            self.set_selected(n, not everything)
        return 0 if everything else len(eligible)

    def selected(self) -> list[RowState]:
        """The selected drives that are still eligible, in table order."""
        return [r for r in self.states.values() if r.selected and r.eligible]

    # --- jobs -------------------------------------------------------------------------------

    def bind_job(self, job_id: str, name: str) -> None:
        """Remember which drive a job runs on."""
        self._by_job[job_id] = name

    def set_method(self, name: str, method: str) -> None:
        """Show the planned method of a drive."""
        row = self.states.get(name)
        if row is not None:
            self.states[name] = dataclasses.replace(row, method=method)
            self._dirty.add(name)

    def apply(self, event: JobEvent) -> str | None:
        """Apply a job event to its drive's row (shown at the next flush); the drive's name."""
        name = self._by_job.get(event.job_id or "")
        if name is None:
            name = next((n for n, r in self.states.items() if r.drive.path == event.device), None)
            if name is None:
                return None
            if event.job_id:
                self._by_job[event.job_id] = name
        self.states[name] = apply_event(self.states[name], event)
        self._dirty.add(name)
        return name

    def flush(self) -> None:
        """Show what changed since the last flush, and the running clocks."""
        busy = {n for n, r in self.states.items() if r.busy}
        for name in self._dirty | busy:
            if name in self.rows:
                self._show_cells(name, LIVE_COLUMNS)
        self._dirty.clear()

    # --- rendering --------------------------------------------------------------------------

    def _show_cells(self, name: str, columns: tuple[str, ...]) -> None:
        cells = dict(zip((c for c, _ in COLUMNS), self._cells(self.states[name]), strict=True))
        for col in columns:
            self.update_cell(name, col, cells[col])

    def _computer_cells(self, view: ComputerView) -> tuple[str | Text, ...]:
        attachment = view.attachment
        if attachment is None:
            device = Text("looking up its device…", style="italic")
        elif attachment.attached:
            device = Text(f"device {attachment.tag}", style="green")
        else:
            device = Text("NOT LINKED: t scans its tag", style="bold yellow")
        lost = view.link != "connected"
        link = Text(
            _clip(f"agent · {view.link.upper() if lost else view.link}", STATE_WIDTH),
            style="bold red" if lost else "green",
        )
        name = " ".join(w for w in (view.make, view.model) if w) or "computer (no DMI)"
        return (
            Text(" "),
            Text(f"▣ {view.tag or 'no tag'}", style="bold"),
            Text(view.serial or "(none)"),
            link,
            Text(""),
            Text(""),
            Text(""),
            Text(""),
            Text(""),
            device,
            Text(f"{len(view.drives)} drive(s)", justify="right"),
            Text("agent"),
            Text(name),
            Text(f"agent://{view.key}"),
        )

    def _cells(self, row: RowState) -> tuple[str | Text, ...]:
        d, p = row.drive, row.status.protection
        dim = "dim" if p.protected else ""
        if p.protected:
            state = Text(_clip(f"PROTECTED: {p.reason}", STATE_WIDTH), style="dim italic")
        elif row.state:
            label = row.outcome if row.outcome else row.state
            state = Text(_clip(label, STATE_WIDTH), style=STATE_STYLES.get(label, "bold cyan"))
        else:
            state = Text("ready", style="green")
        grade = row.status.health.grade.value
        now = self.now or datetime.now().astimezone()
        name = f"{d.name} SIM" if d.simulated else d.name
        if row.remote:
            name = f" └ {name}"
        return (
            Text("●" if row.selected else " ", style="bold magenta"),
            Text(name, style=dim),
            Text(d.serial or "(none)", style=dim),
            state,
            Text(progress_bar(row.fraction, width=8), style="cyan"),
            Text(duration(row.eta_s) if row.busy else "", justify="right"),
            Text(duration(elapsed(row, now)), justify="right"),
            Text(rate(row.mbps) if row.busy else "", justify="right"),
            Text(grade, style=GRADE_STYLES.get(grade, dim)),
            Text(row.method or "", style=dim),
            Text(human_size(d.size_bytes), style=dim, justify="right"),
            Text(d.transport.value, style=dim),
            Text(d.model or "-", style=dim),
            Text(d.path, style=dim),
        )


def _clip(text: str, width: int) -> str:
    """`text`, cut to `width` characters with an ellipsis (the detail screen shows it all)."""
    return text if len(text) <= width else text[: width - 1] + "…"
