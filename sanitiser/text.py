"""Free text that people type and records keep: one check for every entry point (pure).

Operator names, destination names and contacts, notes, reasons, collectors, tags: whatever a
technician types (or a barcode scanner, a script, a settings file or an environment variable
supplies) may end up in a signed record. Such text must read the same to everyone who reads
the record, so it may not carry control characters (a newline would forge a second line in a
report; an escape sequence repaints a terminal), Unicode bidirectional overrides and isolates
(which reorder what is displayed), zero-width and other invisible format characters, letters
that show as blank (Hangul fillers), Unicode noncharacters, or lone surrogates (what undecodable
bytes on a command line become); and it has a length limit per kind of field. `text_problem` is
the one check: `clean_text` raises with a sentence naming the field and the problem; the CLI's
parameter type (`sanitiser.cli.text`), the TUI's validator (`sanitiser.tui.widgets.text_input`),
the settings, the store's functions and, as the last line of defence, the record builder all
call it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from sanitiser.errors import SanitiserError

MAX_LENGTHS: Final = {
    "operator": 64,
    "name": 80,
    "station": 63,
    "collector": 120,
    "contact": 200,
    "scheme": 120,
    "tag": 64,
    "model": 120,
    "reason": 500,
    "details": 1000,
    "notes": 1000,
    "organisation": 120,
    "url": 2000,
}
"""The longest value each kind of field takes, in characters."""

STATION_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
"""What a station name may be (it names the station's certificate and key files); always
matched whole (`re.fullmatch`: a ``$`` would let a trailing newline through)."""

STATION_RULE: Final = (
    "must be 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit"
)

_BIDI: Final = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))

_INVISIBLE_LETTERS: Final = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Letters that draw as nothing (Hangul fillers, the blank Braille pattern): a name made of
them looks empty, or like another name."""


FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
"""How a cell that a spreadsheet would run as a formula begins."""


def spreadsheet_text(text: str) -> str:
    """`text` as a CSV cell: one a spreadsheet would run as a formula gets a leading ``'``
    (typed text, a model name say, never runs where a CSV export is opened)."""
    return "'" + text if text.startswith(FORMULA_START) else text


class TextInputError(SanitiserError):
    """Typed text that a record may not carry."""


def _is_noncharacter(code: int) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane: never text."""
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def character_problem(char: str) -> str:
    """What is wrong with one character in typed text ("" when nothing is)."""
    category = unicodedata.category(char)
    if char in _BIDI:
        return "a bidirectional text control"
    if category == "Cc":
        return "a control character"
    if category == "Cs":
        return "an unpaired surrogate (text that is not valid UTF-8)"
    if category in ("Cf", "Zl", "Zp"):
        return "an invisible formatting character"
    if char in _INVISIBLE_LETTERS:
        return "a character that shows as blank"
    if _is_noncharacter(ord(char)):
        return "a Unicode noncharacter"
    return ""


def text_problem(value: str, kind: str) -> str:
    """Why `value` may not be kept as a field of this `kind` ("" when it may).

    The one check every entry point uses (CLI parameter type, TUI validator, settings, the
    store's functions and the record builder): too long for `MAX_LENGTHS[kind]`, a character
    a record may not carry (see the module docstring), or, for a ``station``, not a name
    its key files can have.

    Args:
        value: the text as given (not stripped).
        kind: a key of `MAX_LENGTHS`.
    """
    limit = MAX_LENGTHS[kind]
    if len(value) > limit:
        return f"is {len(value)} characters long; at most {limit} are allowed"
    for i, char in enumerate(value):
        what = character_problem(char)
        if what:
            return f"contains {what} (U+{ord(char):04X}) at position {i + 1}"
    if kind == "station" and not STATION_NAME.fullmatch(value):
        return STATION_RULE
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
    problem = text_problem(value, kind or field)
    if problem:
        raise TextInputError(f"{field} {problem}", title="Invalid text")
    stripped = value.strip()
    if required and not stripped:
        raise TextInputError(f"{field} is empty", title="Invalid text")
    return stripped
