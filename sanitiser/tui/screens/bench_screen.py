"""BenchScreen: every drive on the bench, live; the technician's home screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from sanitiser.tui.widgets.drive_table import DriveTable


class BenchScreen(Screen[None]):
    """Lab banner, the drive table, a status line and the footer of current keys.

    The actions are the app's (`SanitiserApp`): the screen only names the keys, so they are
    active exactly while the bench is the screen on top.
    """

    BINDINGS = [
        Binding("question_mark", "app.help", "Keys", id="help"),
        Binding(
            "space",
            "app.toggle_select",
            "Select",
            id="toggle-select",
            tooltip="Select or unselect the drive under the cursor",
        ),
        Binding(
            "s",
            "app.start_erase",
            "Start…",
            id="start-erase",
            tooltip="Plan and confirm the erase of the selected drives",
        ),
        Binding("enter", "app.detail", "Detail", id="detail", show=False),
        Binding(
            "a", "app.select_all", "All", id="select-all", tooltip="Select every eligible drive"
        ),
        Binding("h", "app.history", "History", id="history"),
        Binding("x", "app.abort", "Abort…", id="abort"),
        Binding(
            "i",
            "app.intake",
            "Intake",
            id="intake",
            tooltip="Take devices in: scan (or type) each tag, Enter",
        ),
        Binding(
            "l",
            "app.link",
            "Link…",
            id="link",
            tooltip="Link the selected drives (or this one) to a device",
        ),
        Binding(
            "p",
            "app.print_label",
            "Print",
            id="print-label",
            tooltip="Print the drive's label; send the labels still waiting",
        ),
        Binding(
            "d",
            "app.devices",
            "Devices",
            id="devices",
            tooltip="Devices: their state, drives and readiness; grade one",
        ),
        Binding(
            "t",
            "app.tag_computer",
            "Tag computer…",
            id="tag-computer",
            tooltip="Attach the computer under the cursor (agent) to its device: scan its tag",
        ),
        Binding(
            "B",
            "app.toggle_boot",
            "Network boot",
            id="network-boot",
            tooltip="Stop (or start again) booting computers from the bench network",
        ),
        Binding("o", "app.change_operator", "Operator", id="operator"),
        Binding(
            "D",
            "app.destinations",
            "Destinations",
            id="destinations",
            tooltip="Destinations: reuse, recycling and destruction providers",
        ),
        Binding("r", "app.rescan", "Rescan", id="rescan", tooltip="Re-read every drive"),
        Binding("q", "app.quit_bench", "Quit", id="quit"),
    ]

    def __init__(self, lab_reason: str) -> None:
        super().__init__(id="bench")
        self.lab_reason = lab_reason
        self._table = DriveTable(id="drives")
        self._status = Static("Scanning drives…", id="status")

    def compose(self) -> ComposeResult:
        """Header, lab banner, drive table, status line, footer."""
        yield Header()
        banner = Static(self.lab_reason, id="banner")
        if not self.lab_reason:
            banner.add_class("-hidden")
        yield banner
        yield self._table
        yield self._status
        yield Footer()

    @property
    def table(self) -> DriveTable:
        """The drive table."""
        return self._table

    @property
    def status(self) -> Static:
        """The status line."""
        return self._status

    def key_map(self, *, computers: bool = False) -> list[tuple[str, str]]:
        """(key, what it does) for the help; the computers' key only with `computers` (a
        bench with an agent service)."""
        keys = [("↑ ↓", "move between drives"), ("Enter", "drive detail")]
        names = {"space": "Space", "question_mark": "?"}
        keys += [
            (names.get(b.key, b.key), b.tooltip or b.description)
            for b in self.BINDINGS
            if isinstance(b, Binding)
            and b.show
            and b.key != "question_mark"
            and (computers or b.id not in ("tag-computer", "network-boot"))
        ]
        return keys
