"""The one check for typed text that records keep (sanitiser.text)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sanitiser.certificate.record import Person
from sanitiser.errors import CertificateError
from sanitiser.store import Store
from sanitiser.store.consignments import close_consignment
from sanitiser.store.destinations import add_destination
from sanitiser.text import MAX_LENGTHS, TextInputError, clean_text, text_problem

BAD = {
    "newline": "Dana\nK",
    "escape": "\x1b[31mroot",
    "bell": "a\x07",
    "delete": "a\x7f",
    "c1": "a\x85b",
    "rtl-override": "abc\u202edcba",
    "isolate": "x\u2066y\u2069",
    "zero-width": "ad\u200bmin",
    "bom": "\ufeffname",
    "line-separator": "a\u2028b",
    "surrogate": "a\ud800",
}


@pytest.mark.parametrize("value", BAD.values(), ids=BAD.keys())
def test_unreadable_text_is_refused_naming_the_field(value: str) -> None:
    with pytest.raises(TextInputError, match=r"^operator contains .* \(U\+[0-9A-F]{4}\)"):
        clean_text(value, "operator")


def test_too_long_and_empty_required_are_refused() -> None:
    with pytest.raises(TextInputError, match="at most 64"):
        clean_text("x" * 65, "operator")
    with pytest.raises(TextInputError, match="notes is empty"):
        clean_text("   ", "notes", required=True)


def test_plain_text_of_every_script_is_kept_without_surrounding_blanks() -> None:
    assert clean_text("  Zoë Ó Briain-Ng, 王小明, Ελένη  ", "operator") == (
        "Zoë Ó Briain-Ng, 王小明, Ελένη"
    )


@given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=80))
def test_printable_text_within_the_limit_is_accepted(value: str) -> None:
    assert text_problem(value, MAX_LENGTHS["name"]) == ""


@given(st.text(max_size=20), st.sampled_from(sorted(BAD.values())), st.text(max_size=20))
def test_any_bad_character_anywhere_is_caught(before: str, bad: str, after: str) -> None:
    assert text_problem(before + bad + after, 1000) != ""


def test_the_record_builder_refuses_unreadable_text_as_a_last_line_of_defence() -> None:
    """Even a caller that skipped the entry checks cannot put a newline into a record."""
    with pytest.raises(CertificateError, match="the record's name contains a control character"):
        Person(name="Dana\nChecked by: nobody")


def test_consignment_and_destination_text_is_checked_before_the_store_is_touched(
    tmp_path: Path,
) -> None:
    """The store-facing functions every shell (CLI and TUI) calls check their text first."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(TextInputError, match="collector contains a control character"):
        close_consignment(store, "c-1", collector="Van\x07", operator="Dana", station="b")
    with pytest.raises(TextInputError, match="contact contains an invisible formatting"):
        add_destination(
            store, "Tech Aid", kind="reuse", contact="0207\u200b", accepts="ssd", station="b"
        )
