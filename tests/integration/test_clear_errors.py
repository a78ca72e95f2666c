"""Bad input gets one clear line and a documented exit status, never a traceback (without -v).

Each case is one the adversarial pass met as a traceback, run through the real CLI.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.samples import make_pki, sample_context, sample_drive, sample_outcome
from tests.cli import run_sanitiser


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_sanitiser(*args, env=env, timeout=120)


def refused(out: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert out.returncode == code, out.stdout + out.stderr
    assert text in out.stderr + out.stdout
    assert "Traceback" not in out.stderr


def test_a_report_date_past_the_calendar(tmp_path: Path) -> None:
    refused(cli("report", "--to", "9999-12-31"), 2, "9999-12-31 is past the last date")


def test_a_report_bound_at_the_calendar_start() -> None:
    """A bound in year 1 is a report over everything, not an overflow."""
    out = cli("report", "--from", "0001-01-01", "--to", "0001-01-01")
    assert out.returncode == 0, out.stderr
    assert "total,0,0,0,0,0" in out.stdout
    ahead = cli("report", "--from", "0001-01-01T00:00:00+14:00")
    assert ahead.returncode == 0, ahead.stderr


def test_an_unsupported_database_scheme() -> None:
    out = cli("jobs", env={"SANITISER_DATABASE_URL": "mysql://bench@db/sanitiser"})
    refused(out, 2, "unsupported database scheme 'mysql'")
    given = cli("db", "current", "--url", "mysql://bench@db/sanitiser")
    refused(given, 2, "unsupported database scheme 'mysql'")


def test_a_database_url_given_to_db_is_never_created(tmp_path: Path) -> None:
    """`db current/upgrade --url` bypass the settings: the store still makes no folder."""
    folder = tmp_path / "typo" / "dir"
    for command in ("current", "upgrade"):
        out = cli("db", command, "--url", f"sqlite:///{folder}/s.db")
        refused(out, 2, "does not exist (create it first)")
    assert not (tmp_path / "typo").exists()


def test_an_sqlite_url_with_a_driver_names_its_file(tmp_path: Path) -> None:
    """``sqlite+pysqlite:///PATH`` is the file PATH: nothing else is made (it made a folder
    named after the URL in the working directory)."""
    work = tmp_path / "work"
    work.mkdir()
    url = f"sqlite+pysqlite:///{work / 'store.db'}"
    out = run_sanitiser("jobs", env={"SANITISER_DATABASE_URL": url}, cwd=work)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in work.iterdir()) == ["store.db", "store.db.migrate-lock"]


def test_help_documents_the_exit_status() -> None:
    out = cli("--help")
    assert out.returncode == 0
    assert "Exit status: 0 done; 1 the answer is no" in " ".join(out.stdout.split())


def test_an_sqlite_database_whose_folder_is_missing_is_not_created(tmp_path: Path) -> None:
    folder = tmp_path / "typo" / "dir"
    out = cli("jobs", env={"SANITISER_DATABASE_URL": f"sqlite:///{folder}/s.db"})
    refused(out, 2, "does not exist (create it first)")
    assert not folder.exists()


def test_a_settings_path_that_is_a_directory(tmp_path: Path) -> None:
    out = cli("jobs", env={"SANITISER_CONFIG_FILE": str(tmp_path)})
    refused(out, 2, "is a directory, not a TOML file")


def test_a_keys_directory_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    out = cli(
        "keys", "init-org", "--organisation", "X", "--no-encrypt",
        env={"SANITISER_DATA_DIR": str(blocker / "data")},
    )  # fmt: skip
    refused(out, 2, "Not a directory")


def test_verify_does_not_read_a_huge_file(tmp_path: Path) -> None:
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as f:
        f.truncate(200 << 20)  # sparse: costs no disk
    refused(cli("verify", str(huge)), 2, "so it was not read")


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf"])
def test_verify_calls_a_bom_prefixed_signed_record_invalid(tmp_path: Path, prefix: bytes) -> None:
    pki = make_pki(tmp_path / "pki")
    cert = issue_certificate(sample_outcome(), sample_drive(), None, sample_context(), pki.signer)
    record = tmp_path / "r.json"
    record.write_bytes(prefix + cert.record_json)
    refused(cli("verify", str(record), "--certs", str(pki.certs)), 1, "not strict JSON")


def test_an_unexpected_error_is_one_line_and_the_traceback_needs_verbose(tmp_path: Path) -> None:
    """Any error no command expected still ends as one line; --verbose shows the traceback."""
    data = tmp_path / "data"
    data.write_text("a file where the data directory should be\n")
    out = cli("jobs", env={"SANITISER_DATA_DIR": str(data)})
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    loud = cli("--verbose", "jobs", env={"SANITISER_DATA_DIR": str(data)})
    assert loud.returncode == 2


def test_an_operator_name_with_a_newline_is_refused(tmp_path: Path) -> None:
    """`wipe --operator` (and SANITISER_OPERATOR) must not carry a second line into records."""
    out = cli("wipe", "--lab", "lab-usb-hdd0", "--yes", "--operator", "Dana\nroot")
    refused(out, 2, "'--operator': contains a control character (U+000A)")
    env = cli("wipe", "--lab", "lab-usb-hdd0", "--yes", env={"SANITISER_OPERATOR": "\x1b[2Jx"})
    refused(env, 2, "SANITISER_OPERATOR contains a control character (U+001B)")
    assert cli("jobs", "--json").stdout.strip() == "[]"


def test_destination_text_with_a_bidi_override_is_refused() -> None:
    out = cli(
        "destinations", "add", "Tech Aid", "--kind", "reuse", "--contact", "0207 946 0000",
        "--accepts", "ssd", "--notes", "collects \u202eyadnoM",
    )  # fmt: skip
    refused(out, 2, "'--notes': contains a bidirectional text control (U+202E)")


def test_a_settings_organisation_with_a_newline_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('organisation = "Example\\nFake Council"\n')
    out = cli("jobs", env={"SANITISER_CONFIG_FILE": str(config)})
    refused(out, 2, "organisation: Value error, contains a control character (U+000A)")
