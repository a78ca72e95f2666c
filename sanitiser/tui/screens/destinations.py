"""DestinationsScreen: the registry of reuse schemes, recyclers and destruction providers,
managed from the bench as ``sanitiser destinations add|list|remove`` manages it from the CLI.

The store checks every field and writes every change to the audit log with the operator as
the actor; this screen gathers the fields (its text fields make the store's own text check as
they are typed, `TextInput`) and shows the store's answer. A refused form stays open with what
was typed and says why; a removal is always confirmed first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Select,
    SelectionList,
    Static,
)
from textual.worker import Worker, WorkerState

from sanitiser.domain import DestinationKind, MediaKind
from sanitiser.routing.destinations import DestinationError, DestinationView
from sanitiser.text import TextInputError
from sanitiser.tui.bench import Bench
from sanitiser.tui.screens.confirm import ConfirmModal
from sanitiser.tui.screens.error import ErrorModal, report_worker_failure
from sanitiser.tui.session import operator_of
from sanitiser.tui.widgets.text_input import TextInput, labelled, refused_field

KIND_CHOICES = {
    DestinationKind.REUSE: "reuse: a reuse scheme",
    DestinationKind.RECYCLE: "recycle: a recycler",
    DestinationKind.DESTROY: "destroy: a destruction provider",
}
"""What each kind of destination does, as the form offers it."""

KEY_NAMES = {"question_mark": "?", "delete": "Del"}
"""How the help names keys whose binding name is not what is printed on the key."""

EMPTY_HINT = (
    "No destination is registered yet. Press a to add a reuse scheme, a recycler or a "
    "destruction provider."
)

HINT = "Tab or Enter: next field · Space: tick a device kind · Esc: cancel"
"""What the form says under its fields until the store refuses something."""


def accepts_text(kinds: Iterable[MediaKind]) -> str:
    """The accepted device kinds, short: ``all`` when every kind is accepted."""
    accepted = set(kinds)
    if accepted >= set(MediaKind):
        return "all"
    return ", ".join(k.value for k in MediaKind if k in accepted)


def destination_cells(view: DestinationView) -> list[Text]:
    """One table row: name, kind, accepts, contact, scheme; a removed one dimmed and marked.

    Cells are `Text`, never markup strings: names and contacts are typed by people.
    """
    style = "dim" if not view.active else ""
    name = view.name if view.active else f"{view.name} (removed)"
    values = [name, view.kind.value, accepts_text(view.accepts), view.contact, view.scheme or "-"]
    return [Text(v, style=style, no_wrap=True, overflow="ellipsis") for v in values]


def key_label(key: str) -> str:
    """The printed name of a binding's keys: ``delete,x`` reads ``Del / x``."""
    return " / ".join(KEY_NAMES.get(k, k) for k in key.split(","))


@dataclass
class DestinationsLoaded(Message):
    """The registry was read (removed destinations included when asked)."""

    views: list[DestinationView]
    include_removed: bool


@dataclass
class DestinationRemoved(Message):
    """The store retired a destination."""

    view: DestinationView


@dataclass
class DestinationSaved(Message):
    """The store accepted the form."""

    view: DestinationView


@dataclass
class DestinationRefused(Message):
    """The store refused the form, and why."""

    reason: str


class DestinationsScreen(Screen[None]):
    """Every registered destination; add one, remove one (asks first), show removed ones."""

    AUTO_FOCUS = "#destinations"
    BINDINGS = [
        Binding(
            "a",
            "add",
            "Add…",
            id="add-destination",
            tooltip="Add a reuse scheme, recycler or destruction provider",
        ),
        Binding(
            "delete,x",
            "remove",
            "Remove…",
            id="remove-destination",
            tooltip="Remove the destination under the cursor (asks first)",
        ),
        Binding(
            "r",
            "toggle_removed",
            "Removed",
            id="toggle-removed",
            tooltip="Show or hide removed destinations",
        ),
        Binding("escape", "back", "Back", id="back-destinations"),
        Binding("question_mark", "help", "Keys", id="help-destinations"),
    ]

    def __init__(self, bench: Bench) -> None:
        super().__init__()
        self.bench = bench
        self.include_removed = False
        self.views: list[DestinationView] = []
        self.loaded = False
        self._cursor_to = ""

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)

    def compose(self) -> ComposeResult:
        """Status line, the table, footer."""
        yield Header()
        yield Static("Reading the registry…", id="dest-status")
        yield DataTable(id="destinations", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then the registry."""
        self.sub_title = "destinations"
        table = self.query_one("#destinations", DataTable)
        for key, label in (
            ("name", "Name"),
            ("kind", "Kind"),
            ("accepts", "Accepts"),
            ("contact", "Contact"),
            ("scheme", "Scheme"),
        ):
            table.add_column(label, key=key)
        self._load()

    # --- the list -----------------------------------------------------------------------------

    def _load(self) -> None:
        self._read(self.include_removed)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="destinations",
        description="Reading destinations",
    )
    def _read(self, include_removed: bool) -> None:
        views = self.bench.destinations(include_removed=include_removed)
        self.post_message(DestinationsLoaded(views, include_removed))

    @on(DestinationsLoaded)
    def _show(self, message: DestinationsLoaded) -> None:
        table = self.query_one("#destinations", DataTable)
        current = self._current()
        keep = self._cursor_to or (current.name if current is not None else "")
        self._cursor_to = ""
        self.views = message.views
        self.loaded = True
        table.clear()
        for view in message.views:
            table.add_row(*destination_cells(view), key=view.name)
        table.display = bool(message.views)
        if table.display and self.focused is None:
            table.focus()  # the first destination: the keys move in the table again
        names = [v.name for v in message.views]
        if keep in names:
            table.move_cursor(row=names.index(keep))
        self.query_one("#dest-status", Static).update(self._status(message))

    def _status(self, message: DestinationsLoaded) -> str:
        removed = sum(1 for v in message.views if not v.active)
        active = len(message.views) - removed
        if not message.views:
            if message.include_removed:
                return EMPTY_HINT
            return f"{EMPTY_HINT} (r shows removed ones)"
        if message.include_removed:
            return f"{active} destination(s), {removed} removed · r hides removed ones"
        return f"{active} destination(s) · r shows removed ones"

    def _current(self) -> DestinationView | None:
        table = self.query_one("#destinations", DataTable)
        if not self.views or not table.display:
            return None
        row = table.cursor_row
        return self.views[row] if 0 <= row < len(self.views) else None

    def action_toggle_removed(self) -> None:
        """Show removed destinations too, or hide them again."""
        self.include_removed = not self.include_removed
        self._load()

    # --- changes ------------------------------------------------------------------------------

    def action_add(self) -> None:
        """Open the form; a destination the store accepts is listed, under the cursor."""

        def done(view: DestinationView | None) -> None:
            if view is not None:
                self.notify(f"Destination {view.name!r} added.", markup=False)
                self._cursor_to = view.name
                self._load()

        self.app.push_screen(DestinationFormModal(self.bench, operator_of(self.app)), done)

    def action_remove(self) -> None:
        """Ask, then retire the destination under the cursor."""
        view = self._current()
        if view is None:
            self.notify("No destination to remove.", severity="warning")
            return
        if not view.active:
            self.notify(f"{view.name!r} is removed already.", severity="warning", markup=False)
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self._remove(view.name)

        question = (
            f"Remove destination {view.name!r}? It takes no new consignments; "
            "past consignments keep naming it."
        )
        self.app.push_screen(ConfirmModal(question, "Remove"), answer)

    @work(
        thread=True,
        exit_on_error=False,
        group="destinations-remove",
        description="Removing a destination",
    )
    def _remove(self, name: str) -> None:
        try:
            view = self.bench.remove_destination(name, operator=operator_of(self.app))
        except DestinationError as e:
            # Said in a dialog (plain text: the store's sentence quotes the typed name).
            modal = ErrorModal("Destination not removed", e.msg)
            self.app.call_from_thread(self.app.push_screen, modal)
            return
        self.post_message(DestinationRemoved(view))

    @on(DestinationRemoved)
    def _removed(self, message: DestinationRemoved) -> None:
        self.notify(f"Destination {message.view.name!r} removed.", markup=False)
        self._load()

    # --- navigation -----------------------------------------------------------------------------

    def action_back(self) -> None:
        """Back to the bench."""
        self.dismiss(None)

    def action_help(self) -> None:
        """The key map of this screen."""
        from sanitiser.tui.screens.help import HelpModal

        keys = [("↑ ↓", "move between destinations")]
        keys += [
            (key_label(b.key), b.tooltip or b.description)
            for b in self.BINDINGS
            if isinstance(b, Binding) and b.key not in ("question_mark", "escape")
        ]
        self.app.push_screen(HelpModal("destinations", keys))


class DestinationFormModal(ModalScreen[DestinationView | None]):
    """The fields of a new destination; dismisses with what the store registered.

    Enter moves to the next field (on the last one, and on Add, it submits); Space ticks a
    device kind; Escape cancels. What the store refuses is said under the fields and nothing
    typed is lost.
    """

    AUTO_FOCUS = "#dest-name"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-destination")]

    def __init__(self, bench: Bench, operator: str) -> None:
        super().__init__(classes="modal")
        self.bench = bench
        self.operator = operator
        self.saving = False
        """A submission is with the store: another Enter must not send it twice."""

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self.app, event)
        if event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self.saving = False
            self._say("")

    def compose(self) -> ComposeResult:
        """Title, one labelled field per line, the hint (or the refusal), buttons."""
        with Vertical(id="dialog", classes="-form"):
            yield Static("Add a destination", classes="dialog-title")
            yield labelled(
                "Name",
                TextInput(
                    "The name",
                    "name",
                    placeholder="e.g. County reuse scheme",
                    id="dest-name",
                    compact=True,
                ),
            )
            yield labelled(
                "Kind",
                Select(
                    [(label, kind.value) for kind, label in KIND_CHOICES.items()],
                    prompt="choose what it does",
                    id="dest-kind",
                    compact=True,
                ),
            )
            yield labelled(
                "Contact",
                TextInput(
                    "The contact",
                    "contact",
                    placeholder="who collects, how to reach them",
                    id="dest-contact",
                    compact=True,
                ),
            )
            yield labelled(
                "Accepts",
                SelectionList[str](
                    *[(kind.value, kind.value) for kind in MediaKind],
                    id="dest-accepts",
                    compact=True,
                ),
            )
            yield labelled(
                "Scheme",
                TextInput(
                    "The scheme",
                    "scheme",
                    placeholder="optional: scheme or accreditation",
                    id="dest-scheme",
                    compact=True,
                ),
            )
            yield labelled(
                "Notes",
                TextInput(
                    "The note", "notes", placeholder="optional", id="dest-notes", compact=True
                ),
            )
            yield Static(HINT, id="dest-hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Add", id="add", variant="primary")

    @on(Input.Submitted, "#dest-name, #dest-contact, #dest-scheme")
    def _next_field(self) -> None:
        self.focus_next()

    @on(Input.Submitted, "#dest-notes")
    @on(Button.Pressed, "#add")
    def _submit(self) -> None:
        if self.saving:
            return
        if refused_field(self.query(TextInput), self._refuse):
            return
        kind = self.query_one("#dest-kind", Select).value
        if not isinstance(kind, str):
            self._refuse("Choose the kind: reuse, recycle or destroy.")
            return
        fields: dict[str, Any] = {
            "name": self.query_one("#dest-name", Input).value,
            "kind": kind,
            "contact": self.query_one("#dest-contact", Input).value,
            "accepts": list(self.query_one("#dest-accepts", SelectionList).selected),
            "scheme": self.query_one("#dest-scheme", Input).value,
            "notes": self.query_one("#dest-notes", Input).value,
        }
        self.saving = True
        self._say("Saving…")
        self._save(fields)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="destination-add",
        description="Adding a destination",
    )
    def _save(self, fields: dict[str, Any]) -> None:
        try:
            view = self.bench.add_destination(**fields, operator=self.operator)
        except (DestinationError, TextInputError) as e:
            self.post_message(DestinationRefused(e.msg))
            return
        self.post_message(DestinationSaved(view))

    @on(DestinationRefused)
    def _refused(self, message: DestinationRefused) -> None:
        self.saving = False
        self._refuse(message.reason)

    @on(DestinationSaved)
    def _saved(self, message: DestinationSaved) -> None:
        self.dismiss(message.view)

    def _refuse(self, reason: str) -> None:
        hint = self.query_one("#dest-hint", Static)
        hint.update(Text(reason, style="bold red"))

    def _say(self, text: str) -> None:
        hint = self.query_one("#dest-hint", Static)
        hint.update(text or HINT)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Close the form; nothing is registered."""
        self.dismiss(None)
