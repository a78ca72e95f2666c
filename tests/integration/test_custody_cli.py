"""`sanitiser destinations`, `consignment` and `audit` end to end, in subprocesses."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.samples import make_pki, sample_context, sample_drive, sample_outcome
from sanitiser.config import load_settings
from sanitiser.custody.events import record_sanitised
from sanitiser.runner import SubprocessRunner
from sanitiser.store.sync import settings_store


def sanitiser(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the test's environment (isolated settings)."""
    return subprocess.run(
        [sys.executable, "-m", "sanitiser", *args],
        check=False,
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )


@pytest.fixture
def bench(isolated_settings: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Station bench-01 with its keys in the data directory and two certificates issued."""
    monkeypatch.setenv("SANITISER_STATION", "bench-01")
    monkeypatch.setenv("SANITISER_CERTS_DIR", str(isolated_settings / "certs"))
    pki = make_pki(isolated_settings, station="bench-01")
    store = settings_store(load_settings())
    ids = []
    for serial in ("CLI0001", "CLI0002"):
        drive = dataclasses.replace(sample_drive(simulated=True), serial=serial)
        cert = issue_certificate(sample_outcome(), drive, None, sample_context(), pki.signer)
        store.save_certificate(cert.certificate_id, cert.record_json, serial=serial)
        record_sanitised(store, cert.signed.record, station="bench-01")
        ids.append(cert.certificate_id)
    return ids


def test_handover_round_trip_and_tamper_detection(
    bench: list[str], isolated_settings: Path, tmp_path: Path
) -> None:
    """Register a destination, hand two devices over with a signed manifest, verify the
    audit log; then an edited row makes `audit verify` exit 1 naming the entry."""
    out = sanitiser(
        "destinations", "add", "London Device Bank", "--kind", "reuse",
        "--contact", "collections@devicebank.example", "--accepts", "ssd,hdd,nvme",
        "--scheme", "RP-7", "--operator", "ana",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (dest,) = json.loads(sanitiser("destinations", "list", "--json").stdout)
    assert (dest["name"], dest["kind"], dest["accepts"]) == (
        "London Device Bank",
        "reuse",
        ["hdd", "nvme", "ssd"],
    )

    out = sanitiser("consignment", "open", "London Device Bank", "--operator", "ana")
    assert out.returncode == 0, out.stderr
    cid = out.stdout.strip()
    out = sanitiser("consignment", "add", cid, *bench, "--operator", "ana")
    assert out.returncode == 0, out.stderr
    again = sanitiser("consignment", "add", cid, bench[0])
    assert again.returncode == 2
    assert f"certificate {bench[0]} is already in this consignment" in again.stderr
    early = sanitiser("consignment", "close", cid, "--collector", "Bob", "--operator", "ana")
    assert early.returncode == 2
    assert "no current manifest" in early.stderr

    pdf, csv_path = tmp_path / "m.pdf", tmp_path / "m.csv"
    out = sanitiser("consignment", "manifest", cid, "--pdf", str(pdf), "--csv", str(csv_path))
    assert out.returncode == 0, out.stderr
    sig = SubprocessRunner().run(["pdfsig", str(pdf)])
    assert "Signature Validation: Signature is Valid." in sig.stdout
    lines = csv_path.read_text().splitlines()
    assert len(lines) == 3
    assert all(any(i in line for line in lines) for i in bench)

    out = sanitiser("consignment", "close", cid, "--collector", "Bob", "--operator", "ana")
    assert out.returncode == 0, out.stderr
    shown = json.loads(sanitiser("consignment", "show", cid, "--json").stdout)
    assert shown["state"] == "closed"
    assert shown["collector"] == "Bob"
    assert [d["handed_over"] for d in shown["devices"]] == [True, True]
    late = sanitiser("consignment", "add", cid, bench[1])
    assert late.returncode == 2
    assert "is closed" in late.stderr
    reexport = tmp_path / "again.pdf"
    assert sanitiser("consignment", "manifest", cid, "--pdf", str(reexport)).returncode == 0
    assert reexport.read_bytes() == pdf.read_bytes()

    trail = json.loads(sanitiser("audit", "show", "--ref", bench[1], "--json").stdout)
    assert [e["kind"] for e in trail] == ["sanitised", "consigned", "handed-over"]
    assert trail[-1]["data"]["collector"] == "Bob"
    ok = sanitiser("audit", "verify")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "audit log intact" in ok.stdout

    consigned = next(e for e in trail if e["kind"] == "consigned")
    assert consigned["data"]["consignment_id"] == cid
    db = sqlite3.connect(isolated_settings / "sanitiser.db")
    with db:
        db.execute(
            "UPDATE audit_entry SET actor = 'mallory' WHERE station = ? AND seq = ?",
            (consigned["station"], consigned["seq"]),
        )
    db.close()
    bad = sanitiser("audit", "verify", "--json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["ok"] is False
    assert report["first_broken"]["seq"] == consigned["seq"]
    assert report["first_broken"]["station"] == "bench-01"


def test_destination_errors_exit_2(bench: list[str]) -> None:
    """A bad device kind or an unknown destination is one clear line and exit status 2."""
    out = sanitiser(
        "destinations", "add", "X", "--kind", "reuse", "--contact", "c", "--accepts", "floppy"
    )
    assert out.returncode == 2
    assert "unknown device kind 'floppy'" in out.stderr
    out = sanitiser("consignment", "open", "Nowhere")
    assert out.returncode == 2
    assert "no destination 'Nowhere'" in out.stderr
    assert sanitiser("destinations", "remove", "Nowhere").returncode == 2


def test_a_manifest_is_not_signed_over_an_edited_store_row(
    bench: list[str], isolated_settings: Path, tmp_path: Path
) -> None:
    """A certificate edited in the store after it joined a consignment (its serial changed,
    its signature kept): `consignment manifest` signs nothing, names the certificate, exit 2."""
    out = sanitiser(
        "destinations", "add", "London Device Bank", "--kind", "reuse",
        "--contact", "collections@devicebank.example", "--accepts", "ssd,hdd,nvme",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    cid = sanitiser("consignment", "open", "London Device Bank").stdout.strip()
    assert sanitiser("consignment", "add", cid, *bench).returncode == 0
    db = sqlite3.connect(isolated_settings / "sanitiser.db")
    with db:
        db.execute(
            "UPDATE certificate SET record_json = "
            "CAST(replace(record_json, 'CLI0001', 'CLI0009') AS BLOB) "
            "WHERE id = ?",
            (bench[0],),
        )
    db.close()
    pdf = tmp_path / "manifest.pdf"
    out = sanitiser("consignment", "manifest", cid, "--pdf", str(pdf))
    assert out.returncode == 2, out.stdout
    assert f"certificate {bench[0]} does not verify" in out.stderr
    assert "the record's signature does not match its contents" in out.stderr
    assert "Traceback" not in out.stderr
    assert not pdf.exists()
