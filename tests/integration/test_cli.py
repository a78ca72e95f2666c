"""The `sanitiser` command end to end, in a subprocess as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.samples import make_pki, sample_context, sample_drive, sample_outcome
from sanitiser.config import load_settings
from sanitiser.store.sync import settings_store

REQUIRED_SCAN_KEYS = {
    "path",
    "model",
    "serial",
    "transport",
    "size_bytes",
    "rotational",
    "health_grade",
    "protected",
    "protected_reason",
}


def sanitiser(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the test's environment (isolated settings)."""
    return subprocess.run(
        [sys.executable, "-m", "sanitiser", *args],
        check=False,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=cwd,
        timeout=120,
    )


def test_help_documents_every_command() -> None:
    """`sanitiser --help` lists every command, and each has its own help."""
    out = sanitiser("--help")
    assert out.returncode == 0
    for command in ("scan", "tui", "keys", "verify", "label", "cert"):
        assert f"  {command} " in out.stdout
        assert sanitiser(command, "--help").returncode == 0


def test_scan_json_lab_lists_simulated_drives_and_records_them(isolated_settings: Path) -> None:
    """`scan --json --lab` prints every lab drive with the contract keys and stores each."""
    out = sanitiser("scan", "--json", "--lab")
    assert out.returncode == 0, out.stderr
    drives = json.loads(out.stdout)
    lab = [d for d in drives if d["simulated"]]
    assert {d["transport"] for d in lab} >= {"sata", "nvme", "usb"}
    for d in drives:
        assert d.keys() >= REQUIRED_SCAN_KEYS
        assert isinstance(d["protected"], bool)
    for d in lab:
        assert d["protected"] is False
        assert d["serial"].startswith("SIM-")
    seen = {v.path for v in settings_store(load_settings()).drives()}
    assert {d["path"] for d in drives} <= seen


def test_scan_json_marks_the_system_disk_protected() -> None:
    """The disk holding / is listed protected with a reason naming the root filesystem."""
    drives = json.loads(sanitiser("scan", "--json").stdout)
    root = [d for d in drives if "root filesystem" in d["protected_reason"]]
    assert root, drives
    assert all(d["protected"] for d in root)


def test_bad_settings_file_is_a_clear_error_exit_2(tmp_path: Path) -> None:
    """A broken config file stops the command with a one-line message and exit status 2."""
    (tmp_path / "config.toml").write_text("nonsense_key = 1\n")
    out = sanitiser("scan")
    assert out.returncode == 2
    assert "nonsense_key" in out.stderr
    assert "Traceback" not in out.stderr


def test_cert_export_by_id_from_the_store_verifies(tmp_path: Path) -> None:
    """A certificate kept in the store exports by id, and the export verifies against certs/."""
    pki = make_pki(tmp_path / "pki")
    issued = issue_certificate(sample_outcome(), sample_drive(), None, sample_context(), pki.signer)
    settings_store(load_settings()).save_certificate(
        issued.certificate_id, issued.record_json, serial="S3Z9NB0K123456A", pdf=issued.pdf
    )
    out_json = tmp_path / "out.json"
    export = sanitiser(
        "cert",
        "export",
        issued.certificate_id,
        "--json",
        str(out_json),
        "--certs",
        str(pki.certs),
        "--keys",
        str(pki.keys),
        "--station",
        "bench-01",
    )
    assert export.returncode == 0, export.stderr
    verdict = sanitiser("verify", str(out_json), "--certs", str(pki.certs), "--json")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert json.loads(verdict.stdout)["valid"] is True


def test_scanning_twice_puts_each_usable_drive_in_custody_once() -> None:
    """`received` is chained once per usable drive however often it is seen; never for protected."""
    from sanitiser.store.audit import entries, verify_chain

    assert sanitiser("scan", "--lab").returncode == 0
    out = sanitiser("scan", "--json", "--lab")
    drives = json.loads(out.stdout)
    store = settings_store(load_settings())
    received = entries(store, kind="received")
    subjects = [e.subject for e in received]
    assert len(subjects) == len(set(subjects))
    usable = [d for d in drives if not d["protected"]]
    assert len(received) == len(usable)
    assert verify_chain(store).ok


def test_unusable_data_dir_is_a_clear_error_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data directory that cannot be created gives one clear line and exit status 2."""
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("SANITISER_DATA_DIR", str(tmp_path / "afile" / "data"))
    out = sanitiser("scan", "--lab")
    assert out.returncode == 2
    assert "data directory" in out.stderr
    assert "Traceback" not in out.stderr
