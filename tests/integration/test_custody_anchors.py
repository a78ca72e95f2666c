"""A custody chain cut short is caught (reliability round): an insider deletes the newest
entries and moves audit_head back, leaving a valid chain; the signed anchors of the chain
(each certificate's chain position, the station's signed checkpoints kept in the store and in
a file beside it) contradict it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from tests.cli import run_sanitiser


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_sanitiser(*args, data=data)


def wiped(data: Path) -> str:
    """One lab drive wiped; its certificate id. The chain is intact, its anchors agree."""
    out = cli(data, "wipe", "--lab", "lab-usb-hdd0", "--yes", "--json")
    assert out.returncode == 0, out.stderr
    [outcome] = [json.loads(x) for x in out.stdout.splitlines() if '"outcome"' in x]
    intact = cli(data, "audit", "verify")
    assert intact.returncode == 0, intact.stdout
    # its certificate, and the checkpoint signed at its issuance: in the store and the file
    assert "3 signed anchor(s) agree" in intact.stdout
    return str(outcome["certificate_id"])


def cut_chain(
    data: Path, keep: int, *, drop_certificates: bool = False, drop_checkpoints: bool = False
) -> None:
    """What the insider does with SQL: delete entries after `keep`, move the head back; and
    perhaps delete the certificates and the checkpoints kept in the store."""
    db = sqlite3.connect(data / "sanitiser.db")
    with db:
        db.execute("DELETE FROM audit_entry WHERE seq > ?", (keep,))
        db.execute(
            "UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_entry WHERE seq = ?)",
            (keep, keep),
        )
        if drop_certificates:
            db.execute("DELETE FROM certificate")
        if drop_checkpoints:
            db.execute("DELETE FROM audit_checkpoint")
    db.close()


def test_a_chain_cut_short_is_caught_by_the_checkpoint_file(tmp_path: Path) -> None:
    """Certificates and checkpoints deleted from the store too: the signed checkpoint in the
    file beside it still tells."""
    data = tmp_path / "data"
    wiped(data)
    cut_chain(data, 2, drop_certificates=True, drop_checkpoints=True)
    out = cli(data, "audit", "verify")
    assert out.returncode == 1, out.stdout
    assert "CUT SHORT OR REWRITTEN: checkpoint of vm at" in out.stdout
    assert "custody-checkpoints.jsonl) records station vm's chain at entry" in out.stdout
    assert "but it now ends at entry 2: entries were removed" in out.stdout


def test_a_chain_cut_short_is_caught_by_the_checkpoint_in_the_store(tmp_path: Path) -> None:
    """The file beside the store deleted and the certificates deleted from the store: the
    signed checkpoint kept in the store still tells (deleting one copy is not enough)."""
    data = tmp_path / "data"
    wiped(data)
    cut_chain(data, 2, drop_certificates=True)
    (data / "custody-checkpoints.jsonl").unlink()
    out = cli(data, "audit", "verify", "--json")
    assert out.returncode == 1, out.stdout
    report = json.loads(out.stdout)
    assert report["ok"] is False
    assert report["first_broken"] is None  # what is left is a valid chain
    [problem] = report["anchor_problems"]
    assert problem.startswith("checkpoint of vm at ")
    assert "(the store) records station vm's chain at entry" in problem
    assert problem.endswith("but it now ends at entry 2: entries were removed")


def test_a_chain_cut_short_is_caught_by_a_certificate_handed_out(tmp_path: Path) -> None:
    """No checkpoint file and no certificate or checkpoint left in the store (say the bench was
    replaced): the certificate handed out, or a copy of the checkpoints file kept elsewhere,
    given with --certs, still tells; without them nothing can."""
    data = tmp_path / "data"
    cert_id = wiped(data)
    handed_out, kept = tmp_path / "handed-out", tmp_path / "kept"
    handed_out.mkdir()
    kept.mkdir()
    exported = cli(data, "cert", "export", cert_id, "--json", str(handed_out / "record.json"))
    assert exported.returncode == 0, exported.stderr
    (kept / "bench.jsonl").write_bytes((data / "custody-checkpoints.jsonl").read_bytes())
    cut_chain(data, 2, drop_certificates=True, drop_checkpoints=True)
    (data / "custody-checkpoints.jsonl").unlink()
    blind = cli(data, "audit", "verify")
    assert blind.returncode == 0  # the limit, stated in the README: nothing signed to compare
    out = cli(data, "audit", "verify", "--certs", str(handed_out))
    assert out.returncode == 1, out.stdout
    assert f"certificate {cert_id} ({handed_out / 'record.json'}) records" in out.stdout
    assert "entries were removed" in out.stdout
    copy = cli(data, "audit", "verify", "--certs", str(kept))
    assert copy.returncode == 1, copy.stdout
    assert f"({kept / 'bench.jsonl'}) records station vm's chain" in copy.stdout


def test_an_edited_checkpoint_file_is_refused(tmp_path: Path) -> None:
    """The checkpoints file is signed line by line: an edited line is reported, not skipped."""
    data = tmp_path / "data"
    wiped(data)
    path = data / "custody-checkpoints.jsonl"
    path.write_text(path.read_text().replace('"seq":', '"seq": ', 1))
    out = cli(data, "audit", "verify")
    assert out.returncode != 0
    assert "custody-checkpoints.jsonl line 1 is damaged" in out.stderr


def test_an_edited_checkpoint_in_the_store_is_refused(tmp_path: Path) -> None:
    """A checkpoint kept in the store is signed too: one edited there is reported."""
    data = tmp_path / "data"
    wiped(data)
    db = sqlite3.connect(data / "sanitiser.db")
    with db:
        db.execute(
            "UPDATE audit_checkpoint SET envelope = replace(envelope, '\"seq\":', '\"seq\": ')"
        )
    db.close()
    out = cli(data, "audit", "verify")
    assert out.returncode == 2
    assert "the store's checkpoint" in out.stderr
    assert "is damaged" in out.stderr
