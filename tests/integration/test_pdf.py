"""The signed PDF certificate against real validators: poppler's pdfsig, pyHanko, pdftotext."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from sanitiser.certificate.issue import IssuedCertificate, issue_certificate
from sanitiser.certificate.pdf import embedded_files
from sanitiser.certificate.samples import (
    HOSTILE,
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.sign import parse_envelope
from sanitiser.certificate.verify import Trust, Validity, load_trust, verify_pdf_bytes
from sanitiser.domain import OutcomeStatus
from sanitiser.runner import SubprocessRunner

RUN = SubprocessRunner()


@pytest.fixture(scope="module")
def issued(pki: SamplePki) -> IssuedCertificate:
    """A certificate for a sanitised simulated drive."""
    return issue_certificate(
        sample_outcome(),
        sample_drive(simulated=True),
        sample_health(),
        sample_context(),
        pki.signer,
    )


def _write(tmp_path: Path, data: bytes, name: str = "cert.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _other_byte(b: int) -> int:
    """A different byte; hex digits stay hex digits so the change survives hex parsing."""
    if b in b"0123456789ABCDEF":
        return ord("8") if b != ord("8") else ord("9")
    return b ^ 0x01


def test_pdfsig_reports_the_signature_valid(issued: IssuedCertificate, tmp_path: Path) -> None:
    """poppler's pdfsig finds one signature, valid and covering the whole document."""
    result = RUN.run(["pdfsig", str(_write(tmp_path, issued.pdf))])
    assert result.returncode == 0, result.stderr
    assert "Signature Validation: Signature is Valid." in result.stdout
    assert "Total document signed" in result.stdout
    assert "Signer Certificate Common Name: bench-01" in result.stdout


def test_pdfsig_notices_a_changed_byte(issued: IssuedCertificate, tmp_path: Path) -> None:
    """pdfsig itself reports a byte change inside the signed range."""
    data = bytearray(issued.pdf)
    data[len(data) // 3] ^= 0x01
    result = RUN.run(["pdfsig", str(_write(tmp_path, bytes(data)))])
    assert "Signature is Valid." not in result.stdout


def test_pyhanko_validates_against_the_org_ca(issued: IssuedCertificate, pki: SamplePki) -> None:
    """pyHanko: intact, valid, trusted with the organisation CA as the only root."""
    reader = PdfFileReader(io.BytesIO(issued.pdf))
    (sig,) = reader.embedded_signatures
    root = asn1_x509.Certificate.load(pki.signer.org_ca.public_bytes(serialization.Encoding.DER))
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root]))
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.bottom_line


@pytest.mark.parametrize("status", list(OutcomeStatus))
def test_round_trip_every_outcome(pki: SamplePki, trust: Trust, status: OutcomeStatus) -> None:
    """Issue -> verify the PDF for every outcome; the embedded record is the signed one."""
    cert = issue_certificate(
        sample_outcome(status), sample_drive(), sample_health(), sample_context(), pki.signer
    )
    verdict = verify_pdf_bytes(cert.pdf, trust)
    assert verdict.validity is Validity.VALID, verdict.reason
    assert verdict.fact("outcome") == status.value
    assert verdict.fact("certificate_id") == cert.certificate_id


def test_pdf_is_one_page_with_the_record_embedded(
    issued: IssuedCertificate, tmp_path: Path
) -> None:
    """One page; the embedded file is exactly the signed record envelope."""
    info = RUN.run(["pdfinfo", str(_write(tmp_path, issued.pdf))]).stdout
    assert re.search(r"^Pages:\s+1$", info, re.M)
    files = dict(embedded_files(PdfFileReader(io.BytesIO(issued.pdf))))
    assert list(files.values()) == [issued.record_json]
    assert parse_envelope(files[next(iter(files))]).record == issued.signed.record


def test_pdf_text_states_the_key_facts(issued: IssuedCertificate, tmp_path: Path) -> None:
    """The page says what an auditor looks for, including SIMULATED."""
    text = RUN.run(["pdftotext", "-layout", str(_write(tmp_path, issued.pdf)), "-"]).stdout
    for fact in (
        "Certificate of Sanitization",
        "SANITISED",
        "PURGE",
        "S3Z9NB0K123456X",
        "Ada Lovelace",
        "external-reuse",
        "SIMULATED",
        issued.certificate_id,
        "bench-01",
        "crypto-erase",
        "PASS",
    ):
        assert fact in text, fact


def test_changed_bytes_in_the_pdf_are_rejected(issued: IssuedCertificate, trust: Trust) -> None:
    """A sample of single-byte changes across the file (signed range and signature) all fail."""
    data = issued.pdf
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data)
    assert m is not None
    gap_start, gap_end = int(m.group(1)), int(m.group(2))
    rng = random.Random(88)
    positions = rng.sample(range(len(data)), 250)
    positions += [*list(range(gap_start, gap_end, 97)), gap_start, gap_start + 1, gap_end - 2]
    for i in positions:
        changed = bytearray(data)
        changed[i] = _other_byte(changed[i])
        verdict = verify_pdf_bytes(bytes(changed), trust)
        assert verdict.validity is not Validity.VALID, i


def test_content_appended_after_signing_is_rejected(
    issued: IssuedCertificate, trust: Trust
) -> None:
    """An incremental update appended after the signature makes the certificate invalid."""
    appended = issued.pdf + b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
    assert verify_pdf_bytes(appended, trust).validity is not Validity.VALID


def test_pdf_from_another_organisation_is_rejected(tmp_path: Path, trust: Trust) -> None:
    """A well-formed certificate signed under another organisation's CA is invalid."""
    rogue = make_pki(tmp_path)
    cert = issue_certificate(
        sample_outcome(), sample_drive(), sample_health(), sample_context(), rogue.signer
    )
    verdict = verify_pdf_bytes(cert.pdf, trust)
    assert verdict.validity is Validity.INVALID
    assert verify_pdf_bytes(cert.pdf, load_trust(rogue.certs)).valid


def test_hostile_strings_render_safely(pki: SamplePki, trust: Trust, tmp_path: Path) -> None:
    """Unicode, HTML, PDF syntax, controls and a 400-character model print as inert text."""
    cert = issue_certificate(
        sample_outcome(),
        sample_drive(model=HOSTILE),
        sample_health(),
        sample_context(),
        pki.signer,
    )
    assert verify_pdf_bytes(cert.pdf, trust).valid
    path = _write(tmp_path, cert.pdf)
    text = RUN.run(["pdftotext", str(path), "-"]).stdout
    flat = " ".join(text.split())
    assert '<script>alert("x")</script>' in flat
    assert "<b>bold</b>" in flat
    assert "Ünïcödé Ωμέγα Кириллица" in flat
    assert ") Tj ET BT /F1 99 Tf (pdf)" in flat
    assert "\\x07\\x1b[31m" in flat
    assert "\\u202eevil\\u202c" in flat
    assert "(shortened)" in flat
    assert "\x07" not in text
    assert "\u202e" not in text
    assert re.search(r"^Pages:\s+1$", RUN.run(["pdfinfo", str(path)]).stdout, re.M)
    record = parse_envelope(
        next(iter(dict(embedded_files(PdfFileReader(io.BytesIO(cert.pdf)))).values()))
    ).record
    assert record["device"]["model"] == HOSTILE
