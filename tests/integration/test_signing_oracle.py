"""Nothing is signed from a record that does not verify (security round, the label oracle).

An insider who can write the store (a shared fleet database) or a record file must not be able
to turn a failed wipe into a QR label or an export that `verify` calls VALID: every path that
signs something derived from a record (labels, QR tokens, re-rendered PDFs, exports, the TUI's
preview, consignment manifests) verifies the record first, through one function.
"""

from __future__ import annotations

import inspect
import json
import re
import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

import sanitiser
from sanitiser.certificate.issue import IssuedCertificate, issue_certificate, token_for
from sanitiser.certificate.pdf import certificate_pdf
from sanitiser.certificate.qr import decode_token, make_token
from sanitiser.certificate.record import canonical_json
from sanitiser.certificate.samples import (
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_outcome,
)
from sanitiser.certificate.sign import parse_envelope
from sanitiser.certificate.verify import require_verified
from sanitiser.config import load_settings
from sanitiser.domain import OutcomeStatus
from sanitiser.errors import CertificateError
from sanitiser.store.sync import settings_store
from tests.cli import run_sanitiser


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with the test's isolated settings."""
    return run_sanitiser(*args, timeout=120)


def failed(pki: SamplePki) -> IssuedCertificate:
    """A genuine certificate of a FAILED wipe."""
    outcome = replace(
        sample_outcome(), status=OutcomeStatus.FAILED, verified=False, reason="I/O error"
    )
    return issue_certificate(outcome, sample_drive(), None, sample_context(), pki.signer)


def promoted(envelope: bytes) -> bytes:
    """The envelope with its record edited to say sanitised and verified (signature kept)."""
    data = json.loads(envelope)
    data["record"]["outcome"]["status"] = "sanitised"
    data["record"]["outcome"]["reason"] = ""
    return canonical_json(data) + b"\n"


def keys_args(pki: SamplePki) -> list[str]:
    return ["--certs", str(pki.certs), "--keys", str(pki.keys), "--station", "bench-01"]


@pytest.fixture
def pki(tmp_path: Path) -> SamplePki:
    return make_pki(tmp_path / "pki")


def test_an_edited_store_row_is_neither_exported_nor_labelled(
    pki: SamplePki, tmp_path: Path, isolated_settings: Path
) -> None:
    """A stored record edited from failed to sanitised: export (JSON, PDF, label) refuses with
    the reason, and writes nothing."""
    cert = failed(pki)
    edited = promoted(cert.record_json)
    assert parse_envelope(edited).record["outcome"]["status"] == "sanitised"
    settings_store(load_settings()).save_certificate(
        cert.certificate_id, edited, serial="S3Z9NB0K123456X", pdf=cert.pdf
    )
    for option, name in (("--label", "label.png"), ("--json", "r.json"), ("--pdf", "c.pdf")):
        out = cli(
            "cert", "export", cert.certificate_id, option, str(tmp_path / name), *keys_args(pki)
        )
        assert out.returncode != 0, out.stdout
        assert f"certificate {cert.certificate_id} does not verify" in out.stderr
        assert "nothing was signed" in out.stderr
        assert "Traceback" not in out.stderr
        assert not (tmp_path / name).exists()


def test_a_store_row_rewritten_as_text_is_a_clear_error(
    pki: SamplePki, tmp_path: Path, isolated_settings: Path
) -> None:
    """A certificate column rewritten by hand as text (SQLite keeps the type it is given) is
    refused in one plain line, not an internal error."""
    cert = failed(pki)
    settings_store(load_settings()).save_certificate(
        cert.certificate_id, cert.record_json, serial="S3Z9NB0K123456X", pdf=cert.pdf
    )
    db = sqlite3.connect(isolated_settings / "sanitiser.db")
    with db:
        db.execute("UPDATE certificate SET record_json = CAST(record_json AS TEXT)")
    db.close()
    out = cli("cert", "export", cert.certificate_id, "--label", str(tmp_path / "l.png"))
    assert out.returncode == 2
    assert "the signed record is stored as str, not as the bytes that were signed" in out.stderr
    assert not (tmp_path / "l.png").exists()


def test_a_foreign_signed_record_in_the_store_is_refused(
    pki: SamplePki, tmp_path: Path, isolated_settings: Path
) -> None:
    """A record whose signature is good but made by a key of someone else's CA (inserted in a
    shared store) is refused: it does not chain to our organisation CA."""
    rogue = make_pki(tmp_path / "rogue", organisation="Rogue Ltd")
    cert = issue_certificate(sample_outcome(), sample_drive(), None, sample_context(), rogue.signer)
    settings_store(load_settings()).save_certificate(
        cert.certificate_id, cert.record_json, serial="S3Z9NB0K123456X", pdf=cert.pdf
    )
    label = tmp_path / "label.png"
    out = cli("cert", "export", cert.certificate_id, "--label", str(label), *keys_args(pki))
    assert out.returncode != 0
    assert "not issued by a trusted organisation CA" in out.stderr
    assert not label.exists()


def test_label_refuses_an_edited_record_file_and_labels_a_genuine_one(
    pki: SamplePki, tmp_path: Path
) -> None:
    """`sanitiser label FILE`: an edited JSON file is refused; the genuine file is labelled."""
    cert = failed(pki)
    genuine, edited = tmp_path / "genuine.json", tmp_path / "edited.json"
    genuine.write_bytes(cert.record_json)
    edited.write_bytes(promoted(cert.record_json))
    out = cli("label", str(edited), "--out", str(tmp_path / "bad.png"), *keys_args(pki))
    assert out.returncode != 0
    assert "does not verify" in out.stderr
    assert not (tmp_path / "bad.png").exists()
    good = cli("label", str(genuine), "--out", str(tmp_path / "good.png"), *keys_args(pki))
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "good.png").read_bytes().startswith(b"\x89PNG")


def test_no_token_is_signed_for_an_edited_record(pki: SamplePki) -> None:
    """The one function every token goes through (the TUI's preview too) refuses."""
    cert = failed(pki)
    with pytest.raises(CertificateError, match="does not verify"):
        token_for(parse_envelope(promoted(cert.record_json)), pki.signer)
    token, url = token_for(cert.signed, pki.signer)
    assert token in url


def test_a_store_row_holding_another_certificates_record_is_refused(
    pki: SamplePki, tmp_path: Path, isolated_settings: Path
) -> None:
    """The store's row for a failed wipe holding the genuine record of another, sanitised drive
    (swapped in): the record verifies, but it is not the certificate asked for, so `cert
    export` signs no label for it and passes on no JSON, and no token is signed."""
    bad, good = (
        failed(pki),
        issue_certificate(sample_outcome(), sample_drive(), None, sample_context(), pki.signer),
    )
    settings_store(load_settings()).save_certificate(
        bad.certificate_id, good.record_json, serial="S3Z9NB0K123456X", pdf=bad.pdf
    )
    for option, name in (("--label", "label.png"), ("--json", "r.json"), ("--pdf", "c.pdf")):
        out = cli(
            "cert", "export", bad.certificate_id, option, str(tmp_path / name), *keys_args(pki)
        )
        assert out.returncode == 2, out.stdout
        assert (
            f"the stored record of certificate {bad.certificate_id} is the record of "
            f"certificate {good.certificate_id}"
        ) in out.stderr
        assert "Traceback" not in out.stderr
        assert not (tmp_path / name).exists()
    with pytest.raises(CertificateError, match="is the record of certificate"):
        token_for(good.signed, pki.signer, certificate_id=bad.certificate_id)  # the TUI's path
    token, _url = token_for(good.signed, pki.signer, certificate_id=good.certificate_id)
    assert decode_token(token).certificate_id == good.certificate_id


def test_only_the_verifying_gate_makes_what_the_signing_functions_take() -> None:
    """Tokens and certificate PDFs are signed only from a `VerifiedRecord`, and nothing in the
    package makes one except `require_verified`: a new caller cannot skip the check."""
    assert inspect.signature(make_token).parameters["verified"].annotation == "VerifiedRecord"
    assert inspect.signature(certificate_pdf).parameters["verified"].annotation == (
        "VerifiedRecord"
    )
    package = Path(sanitiser.__file__).parent
    makers = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"\bVerifiedRecord\(", path.read_text(encoding="utf-8"))
    }
    assert makers == {"certificate/verify.py"}
    source = inspect.getsource(require_verified)
    assert "return VerifiedRecord(signed)" in source
