"""The click parameter type for typed text: `sanitiser.text`'s one check, at the command line.

Every option or argument whose text can end up in a record or a label is declared with
``type=TypedText(kind)``: click then refuses a bad value before the command runs, as it does
a bad number, with a usage error naming the option and the problem (exit status 2)::

    Error: Invalid value for '--operator': contains a control character (U+000A) at position 5
"""

from __future__ import annotations

from typing import Any

import click

from sanitiser.text import MAX_LENGTHS, text_problem


class TypedText(click.ParamType[str]):
    """Text fit for a record: plain characters only, at most `MAX_LENGTHS[kind]` long.

    The value is returned without surrounding blanks.

    Args:
        kind: the kind of field (a key of `MAX_LENGTHS`: ``operator``, ``notes`` ...).
        required: refuse an empty (or all-blank) value too.
    """

    name = "text"

    def __init__(self, kind: str, *, required: bool = False) -> None:
        if kind not in MAX_LENGTHS:
            raise ValueError(f"no text limit for {kind!r}")
        self.kind = kind
        self.required = required

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """`value` stripped, or a usage error saying what is wrong with it."""
        text = str(value)
        problem = text_problem(text, self.kind)
        if problem:
            self.fail(problem, param, ctx)
        if self.required and not text.strip():
            self.fail("is empty", param, ctx)
        return text.strip()
