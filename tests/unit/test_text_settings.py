"""Typed text in settings (TOML file and SANITISER_* variables) and policy files is refused at
start, before any drive is touched, with the key and the problem: it is printed on records.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from sanitiser.config import load_settings
from sanitiser.errors import ConfigError
from sanitiser.policy.loader import BUILTIN_PACKAGE, parse_policy


def test_a_station_name_with_a_trailing_newline_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``SANITISER_STATION=$'bench-01\\n'`` (a file read into a variable, say) used to pass:
    the old pattern's ``$`` matched before the newline, and records and key file names then
    carried it."""
    monkeypatch.setenv("SANITISER_STATION", "bench-01\n")
    with pytest.raises(
        ConfigError,
        match=r"SANITISER_\* environment .*station: Value error, contains a control "
        r"character \(U\+000A\) at position 9",
    ):
        load_settings()


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ('station = "bench\\u202e10"', r"station: Value error, contains a bidirectional"),
        ('organisation = "Example\\u200bCouncil"', r"organisation: .* invisible formatting"),
        (f'organisation = "{"O" * 121}"', r"organisation: .* 121 characters long; at most 120"),
        ('verify_base_url = "https://v.example/\\u202e"', r"verify_base_url: .* bidirectional"),
        ('verify_base_url = "https://v.example/\\r\\nX: y"', r"verify_base_url: .* \(U\+000D\)"),
    ],
    ids=["station-bidi", "organisation-zero-width", "organisation-long", "url-bidi", "url-crlf"],
)
def test_settings_file_text_is_checked(tmp_path: Path, toml: str, problem: str) -> None:
    (tmp_path / "config.toml").write_text(toml + "\n")
    with pytest.raises(ConfigError, match=problem):
        load_settings()


def test_settings_environment_text_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANITISER_ORGANISATION", "Example\x1b]0;owned\x07")
    with pytest.raises(ConfigError, match=r"organisation: .* control character \(U\+001B\)"):
        load_settings()


def test_plain_settings_text_is_kept() -> None:
    """The check refuses only what it must (accents, other scripts, punctuation pass)."""
    settings = load_settings(organisation="Zoë's Ōsaka Re-use – 大阪", station="bench_07.a")
    assert settings.organisation == "Zoë's Ōsaka Re-use – 大阪"


def _policy(header: str = "", routing_reason: str = '"clean"') -> str:
    text = (resources.files(BUILTIN_PACKAGE) / "nist-800-88.toml").read_text(encoding="utf-8")
    head = text.partition("# --- Routing")[0]
    head = head.replace('version = "1"', header or 'version = "1"')
    return head + (
        '[routing.default]\ndestination = "recycle"\n'
        f"reason = {routing_reason}\n"
        '[routing.destruction]\nhdd = "H-4"\nssd = "E-4"\nnvme = "E-4"\nusb-flash = "E-4"\n'
        'usb-drive = "E-4"\nmmc = "E-4"\nunknown = "E-4"\n'
    )


def test_a_policy_whose_record_text_is_unreadable_is_refused_at_load() -> None:
    """The policy's version and a routing reason go on every record: a multi-line TOML string
    or an invisible character is refused when the policy loads, not after an erase (when the
    record builder would refuse it and the drive would be left without a certificate)."""
    assert parse_policy(_policy(), source="site.toml").version == "1"
    with pytest.raises(ConfigError, match=r"policy\.version: .*invisible formatting"):
        parse_policy(_policy(header='version = "1\\u200b"'), source="site.toml")
    with pytest.raises(ConfigError, match=r"reason: contains a control character \(U\+000A\)"):
        parse_policy(_policy(routing_reason='"""clean\nVerified: by hand"""'), source="site.toml")
