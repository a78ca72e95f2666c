"""StartEraseModal: the plan per drive, then a typed phrase naming what will be destroyed."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static
from textual.worker import Worker

from sanitiser.app.confirm import confirmation_phrase, phrase_matches
from sanitiser.domain import Drive
from sanitiser.tui.bench import Bench, DrivePlan
from sanitiser.tui.messages import PlansMade
from sanitiser.tui.screens.error import report_worker_failure
from sanitiser.units import human_size


class StartEraseModal(ModalScreen[list[DrivePlan] | None]):
    """Shows what will happen to each drive and asks for the phrase; default focus: Cancel.

    Dismisses with the plans when the phrase was typed exactly, None when cancelled. The Erase
    button stays disabled until the plans are made and the phrase matches. Every erase the
    bench starts (a new one, or a restart from History) is confirmed here.

    Args:
        bench: the core seam.
        drives: the drives to erase, as attached now.
        planner: how each drive is planned (default: `Bench.plan`; a restart plans with the
            job's own policy and technique).
        heading: what is being confirmed, above the plans ("" for a plain start).
    """

    AUTO_FOCUS = "#cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-erase")]

    def __init__(
        self,
        bench: Bench,
        drives: list[Drive],
        *,
        planner: Callable[[Drive], DrivePlan] | None = None,
        heading: str = "",
    ) -> None:
        super().__init__(classes="modal")
        self.bench = bench
        self.drives = drives
        self.planner = planner or bench.plan
        self.heading = heading
        self.phrase = confirmation_phrase(drives)
        self.plans: list[DrivePlan] | None = None

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)

    def compose(self) -> ComposeResult:
        """Title, plan table, phrase prompt, input, buttons."""
        n = len(self.drives)
        what = "1 drive" if n == 1 else f"{n} drives"
        with Vertical(id="dialog", classes="-wide"):
            yield Static(f"ERASE {what}: every byte will be destroyed", classes="dialog-title")
            if self.heading:
                # A Text, never markup: the heading quotes recorded reasons and names.
                yield Static(Text(self.heading, style="yellow"), id="erase-heading")
            yield DataTable(id="plans", cursor_type="none", zebra_stripes=True)
            yield Static("Planning… (reading each drive's capabilities)", id="plan-status")
            yield Static(
                Text.assemble("To confirm, type  ", (self.phrase, "bold reverse"), "  below"),
                id="phrase",
            )
            yield Input(placeholder="type the phrase here", id="confirm-input")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Erase", id="erase", variant="error", disabled=True)

    def on_mount(self) -> None:
        """Columns, then plan every drive in a worker."""
        table = self.query_one("#plans", DataTable)
        table.can_focus = False  # Tab goes from Cancel straight to the phrase
        for key, label in (
            ("drive", "Drive"),
            ("serial", "Serial"),
            ("size", "Size"),
            ("method", "Method"),
            ("nist", "NIST"),
            ("time", "Est."),
            ("note", "Downgrade / note"),
        ):
            table.add_column(label, key=key)
        for d in self.drives:
            table.add_row(
                d.name, d.serial or "(none)", human_size(d.size_bytes), "…", "", "", "", key=d.name
            )
        self._make_plans()

    @work(thread=True, exit_on_error=False, group="plan", description="Planning")
    def _make_plans(self) -> None:
        self.post_message(PlansMade([self.planner(d) for d in self.drives]))

    @on(PlansMade)
    def _show_plans(self, message: PlansMade) -> None:
        message.stop()
        self.plans = message.plans
        table = self.query_one("#plans", DataTable)
        for p in message.plans:
            style = "bold red" if p.plan is None or p.plan.destroy else ""
            table.update_cell(
                p.drive.name, "method", Text(p.method, style=style), update_width=True
            )
            table.update_cell(p.drive.name, "nist", p.category, update_width=True)
            table.update_cell(p.drive.name, "time", p.estimate, update_width=True)
            table.update_cell(
                p.drive.name, "note", Text(p.remark, style="yellow"), update_width=True
            )
        unplanned = [p for p in message.plans if p.plan is None]
        status = self.query_one("#plan-status", Static)
        if unplanned:
            status.update(
                Text(
                    f"{len(unplanned)} drive(s) could not be planned: remove them to go on",
                    style="bold red",
                )
            )
        else:
            notes = [f"{p.drive.name}: {p.remark}" for p in message.plans if p.remark]
            text = Text()
            text.append("\n".join(notes) + "\n" if notes else "", style="yellow")
            text.append("Plans ready. Tab to the field, type the phrase, Enter.")
            status.update(text)
        self._check()

    @on(Input.Changed, "#confirm-input")
    def _check(self) -> None:
        ok = self._ready(self.query_one("#confirm-input", Input).value)
        self.query_one("#erase", Button).disabled = not ok

    def _ready(self, typed: str) -> bool:
        return (
            self.plans is not None
            and all(p.plan is not None for p in self.plans)
            and phrase_matches(typed, self.phrase)
        )

    @on(Input.Submitted, "#confirm-input")
    @on(Button.Pressed, "#erase")
    def _confirm(self) -> None:
        typed = self.query_one("#confirm-input", Input).value
        if not self._ready(typed):
            why = (
                "Still planning: wait for the plans."
                if self.plans is None
                else f"Not confirmed: type exactly {self.phrase!r}."
            )
            self.query_one("#plan-status", Static).update(Text(why, style="bold red"))
            return
        self.dismiss(self.plans)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Leave without erasing anything."""
        self.dismiss(None)
