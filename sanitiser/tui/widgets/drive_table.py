"""The bench's live table of drives."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from sanitiser.services import DriveStatus
from sanitiser.units import human_size

COLUMNS = ("Path", "Model", "Serial", "Transport", "Size", "Health", "Status")


class DriveTable(DataTable[str | Text]):
    """One row per drive, keyed by kernel name; protected drives are greyed with their reason."""

    DEFAULT_CSS = """
    DriveTable { height: 1fr; }
    """

    def on_mount(self) -> None:
        """Set up columns and row cursor."""
        self.cursor_type = "row"
        self.zebra_stripes = True
        for col in COLUMNS:
            self.add_column(col, key=col.lower())

    def upsert(self, status: DriveStatus) -> None:
        """Add the drive's row, or refresh it if it is already shown."""
        key = status.drive.name
        cells = _cells(status)
        if key in self.rows:
            for col, value in zip(COLUMNS, cells, strict=True):
                self.update_cell(key, col.lower(), value)
        else:
            self.add_row(*cells, key=key)

    def drop(self, name: str) -> None:
        """Remove the drive's row if shown."""
        if name in self.rows:
            self.remove_row(name)

    def replace_all(self, statuses: list[DriveStatus]) -> None:
        """Show exactly these drives."""
        keep = {s.drive.name for s in statuses}
        for key in [k.value for k in self.rows if k.value not in keep]:
            if key is not None:
                self.remove_row(key)
        for s in statuses:
            self.upsert(s)


def _cells(status: DriveStatus) -> tuple[str | Text, ...]:
    d, p = status.drive, status.protection
    style = "dim" if p.protected else ""
    state = f"PROTECTED: {p.reason}" if p.protected else "ready"
    if d.simulated:
        state = f"SIMULATED · {state}"
    grade = status.health.grade.value
    grade_style = {"A": "green", "B": "green", "C": "yellow", "FAIL": "bold red"}.get(grade, "")
    return (
        Text(d.path, style=style),
        Text(d.model or "-", style=style),
        Text(d.serial or "(none)", style=style),
        Text(d.transport.value, style=style),
        Text(human_size(d.size_bytes), style=style, justify="right"),
        Text(grade, style=grade_style or style),
        Text(state, style="dim italic" if p.protected else "green"),
    )
