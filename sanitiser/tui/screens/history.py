"""HistoryScreen: past jobs and certificates, searched by serial, certificate id, date, operator;
and where an interrupted, failed or aborted job is started again (`r`)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import Worker

from sanitiser.jobs.detail import detail_of
from sanitiser.jobs.orchestrator import outcome_of
from sanitiser.store import JobView
from sanitiser.tui.bench import Bench
from sanitiser.tui.screens.error import report_worker_failure

STATE_STYLES = {"routed": "green", "failed": "red", "aborted": "yellow", "interrupted": "yellow"}


@dataclass
class JobsFound(Message):
    """The jobs matching a search."""

    query: str
    views: list[JobView]


@dataclass
class RestartRequested(Message):
    """The technician asked to start a past job again; the app checks it and confirms it
    through the same typed phrase as any erase (the message bubbles up to it)."""

    job_id: str


KEY_NAMES = {"question_mark": "?", "slash": "/", "escape": "Esc"}
"""How the help names keys whose binding name is not what is printed on the key."""


def state_text(view: JobView) -> Text:
    """A job's state as History shows it; a job started again says so."""
    text = Text(view.state, style=STATE_STYLES.get(view.state, ""))
    if detail_of(view).retried_by:
        text.append(" · restarted", style="dim")
    return text


class HistoryScreen(Screen[None]):
    """A search field over every recorded job; Enter on a row opens its detail, `r` restarts
    it (interrupted, failed or aborted jobs; the app confirms with the typed phrase)."""

    AUTO_FOCUS = "#search"
    BINDINGS = [
        Binding("escape", "back", "Back", id="back-history"),
        Binding("slash", "focus_search", "Search", id="focus-search"),
        Binding("down", "focus_results", "Results", show=False, id="focus-results"),
        Binding(
            "r",
            "restart",
            "Restart…",
            id="restart-job",
            tooltip="Start an interrupted, failed or aborted job again",
        ),
        Binding("question_mark", "help", "Keys", id="help-history"),
    ]

    def __init__(self, bench: Bench) -> None:
        super().__init__()
        self.bench = bench
        self.views: list[JobView] = []
        self.query_text = ""

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)

    def compose(self) -> ComposeResult:
        """Search field, count, results."""
        yield Header()
        yield Input(placeholder="serial, certificate id, date (YYYY-MM-DD), operator…", id="search")
        yield Static("", id="found")
        yield DataTable(id="results", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then every job."""
        self.sub_title = "history"
        table = self.query_one("#results", DataTable)
        for key, label in (
            ("date", "Date"),
            ("serial", "Serial"),
            ("state", "State"),
            ("method", "Method"),
            ("operator", "Operator"),
            ("certificate", "Certificate"),
            ("station", "Station"),
        ):
            table.add_column(label, key=key)
        self._search("")

    @on(Input.Changed, "#search")
    def _changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    def reload(self) -> None:
        """Read the jobs again (a job was restarted or ended), keeping the search and cursor."""
        self._search(self.query_text)

    @on(Input.Submitted, "#search")
    def action_focus_results(self) -> None:
        """Move to the results."""
        self.query_one("#results", DataTable).focus()

    def action_focus_search(self) -> None:
        """Back to the search field."""
        self.query_one("#search", Input).focus()

    @work(
        thread=True, exclusive=True, exit_on_error=False, group="history", description="Searching"
    )
    def _search(self, query: str) -> None:
        self.post_message(JobsFound(query, self.bench.search(query)))

    @on(JobsFound)
    def _show(self, message: JobsFound) -> None:
        self.views = message.views
        self.query_text = message.query
        table = self.query_one("#results", DataTable)
        keep = self.current_job_id()
        table.clear()
        for v in message.views:
            o = outcome_of(v)
            table.add_row(
                f"{v.created_at:%Y-%m-%d %H:%M}",
                v.serial or "-",
                state_text(v),
                o.method or "-",
                v.operator or "-",
                o.certificate_id or "",
                v.station,
                key=v.id,
            )
        if keep and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep))
        q = f" matching {message.query!r}" if message.query.strip() else ""
        self.query_one("#found", Static).update(f"{len(message.views)} job(s){q}")

    def current_job_id(self) -> str:
        """The id of the job under the results' cursor ("" when there is none)."""
        table = self.query_one("#results", DataTable)
        if table.row_count == 0:
            return ""
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(row_key.value or "")

    @on(DataTable.RowSelected, "#results")
    def _open(self, event: DataTable.RowSelected) -> None:
        from sanitiser.tui.screens.drive_detail import DriveDetailScreen

        job_id = event.row_key.value
        if job_id:
            self.app.push_screen(DriveDetailScreen(self.bench, job_id=job_id))

    def action_restart(self) -> None:
        """Ask the app to restart the job under the cursor (it checks, then asks the phrase)."""
        job_id = self.current_job_id()
        if not job_id:
            self.notify("No job to restart.", severity="warning")
            return
        self.post_message(RestartRequested(job_id))

    def action_back(self) -> None:
        """Back to the bench."""
        self.dismiss(None)

    def action_help(self) -> None:
        """The key map of this screen."""
        from sanitiser.tui.screens.help import HelpModal

        keys = [("type", "search"), ("↓ / Enter", "to the results"), ("Enter", "open a job")]
        keys += [
            (KEY_NAMES.get(b.key, b.key), b.tooltip or b.description)
            for b in self.BINDINGS
            if isinstance(b, Binding) and b.show and b.key != "question_mark"
        ]
        self.app.push_screen(HelpModal("history", keys, erases="restarting"))
