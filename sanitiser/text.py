"""Free text that people type and records keep: one check for every entry point (pure).

Operator names, destination names and contacts, notes, reasons, collectors, tags: whatever a
technician types (or a barcode scanner, a script, a settings file or an environment variable
supplies) may end up in a signed record. Such text must read the same to everyone who reads
the record, so it may not carry control characters (a newline would forge a second line in a
report; an escape sequence repaints a terminal), Unicode bidirectional overrides and isolates
(which reorder what is displayed), zero-width and other invisible format characters, or lone
surrogates; and it has a length limit per kind of field. `clean_text` refuses such text with a
sentence naming the field and the problem; every shell (CLI, TUI, settings) calls it, and the
record builder calls it again as the last line of defence.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from sanitiser.errors import SanitiserError

MAX_LENGTHS: Final = {
    "operator": 64,
    "name": 80,
    "collector": 120,
    "contact": 200,
    "scheme": 120,
    "tag": 64,
    "reason": 500,
    "notes": 1000,
    "organisation": 120,
}
"""The longest value each kind of field takes, in characters."""

_BIDI: Final = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


class TextInputError(SanitiserError):
    """Typed text that a record may not carry."""


def text_problem(value: str, max_length: int) -> str:
    """Why `value` may not be stored ("" when it may)."""
    if len(value) > max_length:
        return f"is {len(value)} characters long; at most {max_length} are allowed"
    for i, char in enumerate(value):
        code = ord(char)
        category = unicodedata.category(char)
        if char in _BIDI:
            what = "a bidirectional text control"
        elif category == "Cc":
            what = "a control character"
        elif category == "Cs":
            what = "an unpaired surrogate"
        elif category in ("Cf", "Zl", "Zp"):
            what = "an invisible formatting character"
        else:
            continue
        return f"contains {what} (U+{code:04X}) at position {i + 1}"
    return ""


def clean_text(value: str, field: str, *, kind: str = "", required: bool = False) -> str:
    """`value` without surrounding blanks, once it is fit to be kept in a record.

    Args:
        value: what was typed.
        field: the field's name for the message (``operator``, ``--notes`` ...).
        kind: the key of `MAX_LENGTHS` for its limit (default: `field`).
        required: refuse an empty value too.

    Raises:
        TextInputError: the text is too long, empty when required, or carries a character a
            record may not (see the module docstring).
    """
    limit = MAX_LENGTHS[kind or field]
    problem = text_problem(value, limit)
    if problem:
        raise TextInputError(f"{field} {problem}", title="Invalid text")
    stripped = value.strip()
    if required and not stripped:
        raise TextInputError(f"{field} is empty", title="Invalid text")
    return stripped
