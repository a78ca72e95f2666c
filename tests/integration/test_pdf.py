"""The signed PDF certificate against real validators: poppler's pdfsig, pyHanko, pdftotext."""

from __future__ import annotations

import dataclasses
import io
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from pyhanko.pdf_utils import embed
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from sanitiser.certificate import keys as keymod
from sanitiser.certificate.issue import IssuedCertificate, issue_certificate, sign_and_render
from sanitiser.certificate.keys import P256_ORDER
from sanitiser.certificate.pdf import embedded_files, render_pdf, sign_pdf
from sanitiser.certificate.record import build_record, new_certificate_id
from sanitiser.certificate.samples import (
    HOSTILE,
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.sign import parse_envelope, sign_record
from sanitiser.certificate.verify import (
    Trust,
    Validity,
    format_verdict,
    load_trust,
    verify_pdf_bytes,
    verify_record_bytes,
)
from sanitiser.domain import OutcomeStatus
from sanitiser.errors import CertificateError
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


def _der_elements(blob: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(start, contents start, end) of every DER element in ``blob[start:end]``, depth first
    into constructed ones; asserts that the elements fill it exactly."""
    at = start
    while at < end:
        size = blob[at + 1]
        contents = at + 2
        if size & 0x80:
            n = size & 0x7F
            size = int.from_bytes(blob[contents : contents + n], "big")
            contents += n
        yield at, contents, contents + size
        if blob[at] & 0x20:
            yield from _der_elements(blob, contents, contents + size)
        at = contents + size
    assert at == end


def _signature_positions(data: bytes) -> list[int]:
    """Positions in the /Contents gap to change: every hex digit of every DER element's
    header (tag and length) in the CMS blob, the first and last byte of each element's
    contents, the delimiters and the first padding bytes."""
    start, end = _cms_span(data)
    blob = bytes.fromhex(data[start:end].decode())
    der_end = 4 + int.from_bytes(blob[2:4], "big")
    assert blob[:2] == b"\x30\x82"
    assert not blob[der_end:].strip(b"\x00")
    offsets: set[int] = set()
    for at, contents, element_end in _der_elements(blob, 0, der_end):
        offsets.update(range(at, contents))
        offsets.update({contents, element_end - 1} if element_end > contents else ())
    hex_positions = {start + 2 * o + d for o in offsets for d in (0, 1)}
    padding = set(range(start + 2 * der_end, start + 2 * der_end + 16))
    return sorted({start - 1, end, end - 1, *hex_positions, *padding})


def test_changed_bytes_in_the_pdf_are_rejected(issued: IssuedCertificate, trust: Trust) -> None:
    """Single-byte changes all fail: in the signature gap, every hex digit of every DER
    element's header (the outer length once verified when made larger: it swallowed padding)
    and of the first and last byte of its contents, the first padding bytes; and a fixed
    sample of the signed range. Positions come from the file's own structure, not luck."""
    data = issued.pdf
    assert verify_pdf_bytes(data, trust).valid
    gap = _signature_positions(data)
    start, end = _cms_span(data)
    signed = [i for i in range(len(data)) if not start - 1 <= i <= end]
    positions = gap + random.Random(88).sample(signed, 100)
    assert len(gap) > 1000
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


def _cms_span(pdf: bytes) -> tuple[int, int]:
    """Where the hex of the CMS signature sits (between ``<`` and ``>``)."""
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m is not None
    return int(m.group(1)) + 1, int(m.group(2)) - 1


def _signer_info(pdf: bytes) -> tuple[cms.ContentInfo, cms.SignerInfo]:
    start, end = _cms_span(pdf)
    info = cms.ContentInfo.load(bytes.fromhex(pdf[start:end].decode()).rstrip(b"\x00"))
    return info, info["content"]["signer_infos"][0]


def test_the_high_s_twin_of_the_pdf_signature_is_rejected(
    issued: IssuedCertificate, trust: Trust
) -> None:
    """The station signs its PDFs in low-s form, and (r, n - s), which verifies as well, is
    refused: no certificate PDF has a second valid spelling."""
    info, signer_info = _signer_info(issued.pdf)
    r, s = decode_dss_signature(signer_info["signature"].native)
    assert s <= P256_ORDER // 2
    signer_info["signature"] = cms.OctetString(encode_dss_signature(r, P256_ORDER - s))
    start, end = _cms_span(issued.pdf)
    twin_hex = info.dump(force=True).hex().upper().encode()
    twin = issued.pdf[:start] + twin_hex.ljust(end - start, b"0") + issued.pdf[end:]
    assert twin != issued.pdf
    verdict = verify_pdf_bytes(twin, trust)
    assert verdict.validity is Validity.INVALID
    assert "the PDF signature is not in canonical (low-s) form" in verdict.reason


def test_a_pdf_re_exported_by_a_newer_station_is_judged_at_its_own_signing_time(
    tmp_path: Path,
) -> None:
    """A record signed ten days ago by an old bench, re-exported today by a bench that did not
    exist then, verifies (the PDF's signer is judged when it signed the PDF, the record's when
    it signed the record). The old bench retired five days ago: its record stays valid, a PDF
    it signed today does not. Once the newer bench is revoked for key compromise its PDF is
    invalid while the record stays valid, and the revoked bench signs no PDF any more, even
    with its signer already loaded."""
    now = datetime.now(UTC)
    certs, keys_dir = tmp_path / "certs", tmp_path / "keys"
    org_key, org_ca = keymod.make_org_ca("Example Borough Council", now=now - timedelta(days=60))
    keymod.write_public(certs / keymod.ORG_CA_FILE, keymod.pem(org_ca))
    keymod.write_private_key(keys_dir / keymod.ORG_KEY_FILE, org_key)
    old_key, old_cert = keymod.make_station_cert(
        org_key, org_ca, "old-bench", now=now - timedelta(days=30)
    )
    keymod.write_public(certs / keymod.station_file("old-bench"), keymod.pem(old_cert))
    old = keymod.StationSigner(key=old_key, cert=old_cert, org_ca=org_ca)
    keymod.new_station(certs, keys_dir, "bench-01")
    newer = keymod.load_station_signer(certs, keys_dir, "bench-01")
    assert newer.cert.not_valid_before_utc > now - timedelta(days=10)
    record = build_record(
        sample_outcome(),
        sample_drive(),
        None,
        sample_context(),
        certificate_id=new_certificate_id(),
        issued_at=now - timedelta(days=10),
    )
    signed = sign_record(record, old)
    own = sign_and_render(signed, old)  # the old bench's own PDF, signed today
    reexport = sign_and_render(signed, newer)
    verdict = verify_pdf_bytes(reexport.pdf, load_trust(certs))
    assert verdict.valid, verdict.reason
    assert any("signed by station bench-01" in w for w in verdict.warnings)
    retired_at = now - timedelta(days=5)
    keymod.revoke_station(certs, keys_dir, "old-bench", reason=keymod.RETIRED, at=retired_at)
    verdict = verify_pdf_bytes(own.pdf, load_trust(certs))
    assert verdict.validity is Validity.INVALID  # its PDF claims a time after its retirement
    assert "'old-bench' was retired (revoked) on" in verdict.reason
    assert verify_record_bytes(signed.to_bytes(), load_trust(certs)).valid
    assert verify_pdf_bytes(reexport.pdf, load_trust(certs)).valid
    keymod.revoke_station(certs, keys_dir, "bench-01", reason=keymod.COMPROMISED)
    verdict = verify_pdf_bytes(reexport.pdf, load_trust(certs))
    assert verdict.validity is Validity.INVALID
    assert "revoked for key compromise" in verdict.reason
    assert verify_record_bytes(signed.to_bytes(), load_trust(certs)).valid
    with pytest.raises(CertificateError, match="revoked for key compromise"):
        sign_pdf(render_pdf(signed, "https://verify.example.invalid/v"), signed, newer)


def test_a_pdf_that_expands_beyond_a_certificate_is_not_read(
    issued: IssuedCertificate, trust: Trust
) -> None:
    """A PDF carrying a compressed stream that decodes to 32 MiB (a few KB in the file) is
    unusable input, said plainly: its streams are not decoded past the limit."""
    writer = IncrementalPdfFileWriter(io.BytesIO(render_pdf(issued.signed, "x")))
    bomb = embed.EmbeddedFileObject.from_file_data(writer, data=bytes(32 << 20))
    spec = embed.FileSpec(file_spec_string="zeros", file_name="zeros", embedded_data=bomb)
    embed.embed_file(writer, spec)
    out = io.BytesIO()
    write: Callable[[io.BytesIO], object] = writer.write  # pyhanko leaves write() unannotated
    write(out)
    assert len(out.getvalue()) < 1 << 20
    verdict = verify_pdf_bytes(out.getvalue(), trust)
    assert verdict.validity is Validity.UNUSABLE
    assert "the PDF expands to more data than a certificate holds" in verdict.reason


def test_pdf_states_the_downgrade_reason_in_full(
    pki: SamplePki, trust: Trust, tmp_path: Path
) -> None:
    """A downgraded plan's reason is printed under the sanitisation details, uncut up to what
    it was downgraded to; the page stays one page and verifies. Without one, no such row."""
    reason = (
        "no usable purge technique (blocked: ata-sanitize-crypto: behind a USB bridge: ATA "
        "erase commands may be lost; move it to a SATA port; ata-sanitize-block: behind a USB "
        "bridge); downgraded to host-overwrite (clear) as policy nist-800-88 allows"
    )
    context = dataclasses.replace(sample_context(), downgrade=reason)
    cert = issue_certificate(sample_outcome(), sample_drive(), sample_health(), context, pki.signer)
    assert verify_pdf_bytes(cert.pdf, trust).valid
    path = _write(tmp_path, cert.pdf)
    text = " ".join(RUN.run(["pdftotext", str(path), "-"]).stdout.split())
    assert "Downgraded" in text
    assert "downgraded to host-overwrite (clear) as policy nist-800-88 allows" in text
    assert re.search(r"^Pages:\s+1$", RUN.run(["pdfinfo", str(path)]).stdout, re.M)
    plain = issue_certificate(
        sample_outcome(), sample_drive(), sample_health(), sample_context(), pki.signer
    )
    assert "Downgraded" not in RUN.run(["pdftotext", str(_write(tmp_path, plain.pdf)), "-"]).stdout


def test_a_caveat_is_printed_in_full_in_its_own_place(
    pki: SamplePki, trust: Trust, tmp_path: Path
) -> None:
    """An ATA crypto scramble's record says it is Purge only if all data was encrypted from the
    start: however long the method's details, the PDF prints that caveat whole under its own
    heading (not cut inside "Method details"), the page stays one page and verifies, and
    `verify` prints it too. A record without caveats has no such section."""
    note = (
        "crypto scramble is Purge only if all data was encrypted from the start "
        "(NIST r1 §2.6); the host cannot check that"
    )
    reach = (  # an eMMC's, longer than a row's limit
        "only the user area was erased: the two boot partitions (mmcblkNboot0/1, 4096 KiB "
        "each), the RPMB (4096 KiB), any general-purpose partitions are separate areas these "
        "commands do not reach"
    )
    details = (
        *((f"pattern_{n}", "x" * 60) for n in range(6)),
        ("canaries_surviving", "0"),
        ("canaries_written", "16"),
        ("category_note", note),
        ("final_status", "SD0 (sanitize completed), no failure reported, " + "y" * 80),
        ("not_covered", reach),
        ("technique", "crypto-erase"),
    )
    outcome = dataclasses.replace(sample_outcome(), details=details)
    cert = issue_certificate(outcome, sample_drive(), sample_health(), sample_context(), pki.signer)
    assert cert.signed.record["sanitisation"]["details"]["category_note"] == note
    assert verify_pdf_bytes(cert.pdf, trust).valid
    path = _write(tmp_path, cert.pdf)
    text = " ".join(RUN.run(["pdftotext", str(path), "-"]).stdout.split())
    caveats, first_section = text.index("Caveats NIST category"), text.index("Person performing")
    assert caveats < text.index(note) < first_section
    assert caveats < text.index(reach) < first_section
    assert text.count("encrypted from the start") == 1  # not also cut inside "Method details"
    assert "category_note" not in text
    assert re.search(r"^Pages:\s+1$", RUN.run(["pdfinfo", str(path)]).stdout, re.M)
    said = format_verdict(verify_pdf_bytes(cert.pdf, trust))
    assert f"Caveat (NIST category): {note}" in said
    plain = issue_certificate(
        sample_outcome(), sample_drive(), sample_health(), sample_context(), pki.signer
    )
    assert "Caveats" not in RUN.run(["pdftotext", str(_write(tmp_path, plain.pdf)), "-"]).stdout
