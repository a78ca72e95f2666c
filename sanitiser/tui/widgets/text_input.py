"""TextInput: an Input for text a record keeps, checked by `sanitiser.text`'s one check.

The validator marks the field invalid as soon as it holds a character a record may not carry
or is too long, and a form asks `TextInput.problem()` before it submits: the sentence names
the field and the problem, and nothing typed is lost. A paste is taken whole: Textual's own
Input keeps only the first line of a pasted text, which would silently change what was meant;
here a pasted newline stays in the field and is refused like any other control character.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual import events
from textual.containers import Horizontal
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label

from sanitiser.text import text_problem


class TypedTextValidator(Validator):
    """Valid when `text_problem` finds nothing (and, if required, something is typed).

    Args:
        field: the field's name, as the sentence starts ("Name", "Reason" ...).
        kind: the kind of field (a key of `sanitiser.text.MAX_LENGTHS`).
        required: an empty (or all-blank) value is a failure too.
    """

    def __init__(self, field: str, kind: str, *, required: bool = False) -> None:
        super().__init__()
        self.field = field
        self.kind = kind
        self.required = required

    def validate(self, value: str) -> ValidationResult:
        """Success, or a failure whose description is the sentence to show."""
        problem = text_problem(value, self.kind)
        if problem:
            return self.failure(f"{self.field} {problem}.", value)
        if self.required and not value.strip():
            return self.failure(f"{self.field} is required.", value)
        return self.success()


class TextInput(Input):
    """An Input validated by `TypedTextValidator`; pastes are kept whole (see the module).

    Args:
        field: the field's name for the messages.
        kind: the kind of field (a key of `sanitiser.text.MAX_LENGTHS`).
        required: an empty value is refused.
        **kwargs: passed to `Input` (placeholder, value, id, compact ...).
    """

    def __init__(self, field: str, kind: str, *, required: bool = False, **kwargs: Any) -> None:
        super().__init__(validators=[TypedTextValidator(field, kind, required=required)], **kwargs)

    def problem(self) -> str:
        """What is wrong with the value now ("" when it may be kept); marks the field."""
        result = self.validate(self.value)
        if result is None or result.is_valid:
            return ""
        return " ".join(result.failure_descriptions)

    def _on_paste(self, event: events.Paste) -> None:
        if event.text:
            start, end = sorted(self.selection)
            self.replace(event.text, start, end)
        event.stop()
        event.prevent_default()  # Input's own handler would insert the first line again


def labelled(label: str, field: Widget) -> Horizontal:
    """One line of a form: the label, then the field (styled by ``.field`` in app.tcss)."""
    return Horizontal(Label(label, classes="field-label"), field, classes="field")


def refused_field(fields: Iterable[TextInput], refuse: Callable[[str], None]) -> bool:
    """Before a form submits: the first field whose text may not be kept is said (`refuse`),
    marked and focused, and True returned; False when every field may be kept."""
    for field in fields:
        problem = field.problem()
        if problem:
            refuse(problem)
            field.focus()
            return True
    return False
