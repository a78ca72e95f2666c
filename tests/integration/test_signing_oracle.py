"""Nothing is signed from a record that does not verify (security round, the label oracle).

An insider who can write the store (a shared fleet database) or a record file must not be able
to turn a failed wipe into a QR label or an export that `verify` calls VALID: every path that
signs something derived from a record (labels, QR tokens, re-rendered PDFs, exports, the TUI's
preview, consignment manifests) verifies the record first, through one function.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from sanitiser.certificate.issue import IssuedCertificate, issue_certificate, token_for
from sanitiser.certificate.record import canonical_json
from sanitiser.certificate.samples import (
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_outcome,
)
from sanitiser.certificate.sign import parse_envelope
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
