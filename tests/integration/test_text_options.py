"""Typed text is refused at every command that takes it, before anything happens.

Each command whose text can reach a record, the audit log or a label is run through the real
CLI (``python -m sanitiser``) with one bad value: it must stop with exit status 2 and a line
naming the option and the problem, print no traceback, echo no raw control character back to
the terminal, and leave the data directory untouched (no store, no key made).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli import run_sanitiser

NEWLINE = "Dana\nChecked by: root"
ESCAPE = "Dana\x1b[2J"
BIDI = "collects \u202eyadnoM"
ZERO_WIDTH = "ad\u200bmin"

CASES = {
    "wipe --operator": (
        ["wipe", "--lab", "lab-usb-hdd0", "--yes", "--operator", NEWLINE],
        "'--operator': contains a control character (U+000A) at position 5",
    ),
    "jobs restart --operator": (
        ["jobs", "restart", "j-1", "--yes", "--operator", ESCAPE],
        "'--operator': contains a control character (U+001B) at position 5",
    ),
    "destinations add NAME": (
        ["destinations", "add", "Tech\u2066Aid", "--kind", "reuse", "--contact", "0207",
         "--accepts", "ssd"],
        "'NAME': contains a bidirectional text control (U+2066) at position 5",
    ),
    "destinations add --contact": (
        ["destinations", "add", "Tech Aid", "--kind", "reuse", "--contact", "0207\u200b946",
         "--accepts", "ssd"],
        "'--contact': contains an invisible formatting character (U+200B) at position 5",
    ),
    "destinations add --scheme": (
        ["destinations", "add", "Tech Aid", "--kind", "reuse", "--contact", "0207",
         "--accepts", "ssd", "--scheme", "W" * 121],
        "'--scheme': is 121 characters long; at most 120 are allowed",
    ),
    "destinations add --notes": (
        ["destinations", "add", "Tech Aid", "--kind", "reuse", "--contact", "0207",
         "--accepts", "ssd", "--notes", BIDI],
        "'--notes': contains a bidirectional text control (U+202E) at position 10",
    ),
    "destinations add --operator": (
        ["destinations", "add", "Tech Aid", "--kind", "reuse", "--contact", "0207",
         "--accepts", "ssd", "--operator", ZERO_WIDTH],
        "'--operator': contains an invisible formatting character (U+200B) at position 3",
    ),
    "destinations remove --operator": (
        ["destinations", "remove", "Tech Aid", "--operator", NEWLINE],
        "'--operator': contains a control character (U+000A)",
    ),
    "consignment open --operator": (
        ["consignment", "open", "Tech Aid", "--operator", "Dana\x85"],
        "'--operator': contains a control character (U+0085) at position 5",
    ),
    "consignment add --operator": (
        ["consignment", "add", "c-1", "cert-1", "--operator", "\u3164"],
        "'--operator': contains a character that shows as blank (U+3164) at position 1",
    ),
    "consignment manifest --operator": (
        ["consignment", "manifest", "c-1", "--csv", "m.csv", "--operator", ESCAPE],
        "'--operator': contains a control character (U+001B)",
    ),
    "consignment close --collector": (
        ["consignment", "close", "c-1", "--collector", "Van\x07", "--operator", "Dana"],
        "'--collector': contains a control character (U+0007) at position 4",
    ),
    "consignment close --operator": (
        ["consignment", "close", "c-1", "--collector", "Van", "--operator", "   "],
        "'--operator': is empty",
    ),
    "keys init-org --organisation": (
        ["keys", "init-org", "--no-encrypt", "--organisation", "Example\nFake Council"],
        "'--organisation': contains a control character (U+000A) at position 8",
    ),
    "keys new-station NAME": (
        ["keys", "new-station", "bench-02\n"],
        "'[NAME]': contains a control character (U+000A) at position 9",
    ),
    "keys revoke NAME": (
        ["keys", "revoke", "bench 02", "--reason", "retired"],
        "'NAME': must be 1-63 letters, digits",
    ),
    "label --station": (
        ["label", "x.json", "--out", "l.pdf", "--station", "bench\u202e"],
        "'--station': contains a bidirectional text control (U+202E)",
    ),
    "cert export --base-url": (
        ["cert", "export", "c-1", "--json", "c.json", "--base-url", "https://v.example/\u200b"],
        "'--base-url': contains an invisible formatting character (U+200B)",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("args", "message"), CASES.values(), ids=CASES.keys())
def test_bad_text_stops_the_command_naming_the_option(args: list[str], message: str) -> None:
    data = Path(os.environ["SANITISER_DATA_DIR"])
    out = run_sanitiser(*args, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"Error: Invalid value for {message}" in out.stderr
    assert "Traceback" not in out.stderr
    assert not any(c in out.stderr for c in "\x1b\x07\x85\u202e\u2066\u200b")
    assert not data.exists() or not any(data.iterdir()), sorted(data.rglob("*"))


def test_an_undecodable_byte_in_an_argument_is_refused() -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates; they never reach a record."""
    out = run_sanitiser(
        "destinations", "add", "Tech Aid", "--kind", "reuse", "--contact", "0207",
        "--accepts", "ssd", "--notes", os.fsdecode(b"caf\xe9"),
    )  # fmt: skip
    assert out.returncode == 2
    assert "'--notes': contains an unpaired surrogate (text that is not valid UTF-8)" in (
        out.stderr
    )


def test_good_text_is_kept_as_typed_but_for_surrounding_blanks() -> None:
    """The type refuses only what it must: any script, inner spaces, punctuation are kept."""
    out = run_sanitiser(
        "destinations", "add", "  Ōsaka Re-use, 大阪  ", "--kind", "reuse",
        "--contact", "Zoë O'Briain +44 20 7946 0000", "--accepts", "ssd",
        "--notes", "collects Mondays – “bay 3”", "--operator", "Dana K",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (kept,) = json.loads(run_sanitiser("destinations", "list", "--json").stdout)
    assert kept["name"] == "Ōsaka Re-use, 大阪"
    assert kept["contact"] == "Zoë O'Briain +44 20 7946 0000"
    assert kept["notes"] == "collects Mondays – “bay 3”"
