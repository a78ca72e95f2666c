"""Verification for auditors: a PDF certificate, a signed JSON record, a QR token (or URL), an
image of the QR code, or a signed consignment manifest (its PDF or JSON), checked offline
against the organisation CA.

Every check is recorded in the `Verdict`; the first failing check gives the reason. Validity is
``valid`` (exit 0), ``invalid`` (exit 1: altered, untrusted, revoked, expired ...) or
``unusable`` (exit 2: not a certificate at all, or no trust anchor to check it with).

Why one module of ~900 lines: every input an auditor may bring (PDF, JSON, QR image, token)
reaches one verdict through the same checks (signature, chain to the organisation CA,
revocation, low-s, canonical bytes); splitting it would let one path check less than another.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.decode_limits import DecodeLimits, DocumentDecodeBudget, StreamDecodeLimits
from pyhanko.pdf_utils.misc import PdfDecodeLimitError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from sanitiser.certificate.device_facts import (
    DEVICE_LABELS,
    device_facts,
    device_token_facts,
    fact_text,
    record_part,
)
from sanitiser.certificate.device_token import (
    DEVICE_TOKEN_VERSION,
    DeviceToken,
    decode_device_token,
)
from sanitiser.certificate.keys import (
    CRL_FILE,
    ORG_CA_FILE,
    check_chain,
    check_der_signature,
    common_name,
    fingerprint,
    is_development,
    issued_by,
    key_id,
    organisation_of,
    read_certificates,
    read_crl,
)
from sanitiser.certificate.pdf import (
    MANIFEST_FIELD,
    MANIFEST_FILE_PREFIX,
    SIGNATURE_FIELD,
    embedded_files,
    visible,
)
from sanitiser.certificate.qr import (
    Token,
    capacity_text,
    check_raw_signature,
    decode_token,
    looks_like_token,
    method_label,
    token_bytes,
    token_matches_record,
)
from sanitiser.certificate.record import (
    DEVICE_SCHEMA,
    MANIFEST_SCHEMA,
    RECORD_SCHEMA,
    UnusableInputError,
    parse_utc,
    record_caveats,
    record_digest,
)
from sanitiser.certificate.sign import (
    SignedRecord,
    VerifiedRecord,
    check_signature,
    parse_envelope,
)
from sanitiser.errors import CertificateError
from sanitiser.runner import CommandRunner

_FUTURE_SKEW = timedelta(days=1)
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"BM", b"P6", b"P5", b"P4")


class Validity(StrEnum):
    """The verdict."""

    VALID = "valid"
    INVALID = "invalid"
    UNUSABLE = "unusable"


@dataclass(frozen=True, slots=True)
class Check:
    """One check and its result."""

    name: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of verifying one input."""

    validity: Validity
    kind: str
    """``pdf``, ``record``, ``token``, ``image`` or ``unknown``."""
    reason: str
    """Why it is invalid or unusable ("" when valid)."""
    facts: tuple[tuple[str, str], ...] = ()
    checks: tuple[Check, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 valid, 1 invalid, 2 unusable."""
        return {Validity.VALID: 0, Validity.INVALID: 1, Validity.UNUSABLE: 2}[self.validity]

    @property
    def valid(self) -> bool:
        """True when every check passed."""
        return self.validity is Validity.VALID

    def fact(self, name: str) -> str:
        """One fact by name ("" when absent)."""
        return dict(self.facts).get(name, "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form for machines."""
        return {
            "validity": str(self.validity),
            "valid": self.valid,
            "kind": self.kind,
            "reason": self.reason,
            "facts": dict(self.facts),
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class Trust:
    """What the verifier trusts: organisation CAs, known station certificates, CRLs."""

    org_cas: tuple[x509.Certificate, ...]
    stations: tuple[x509.Certificate, ...] = ()
    """Station certificates (not trusted by themselves; used to find a token's signer)."""
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    trust_file: Path | None = None
    """The --trust file given, if any (to say why it gave no CA)."""


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def load_trust(
    certs_dir: Path | None, trust_file: Path | None = None, crl_file: Path | None = None
) -> Trust:
    """Load trust from ``certs_dir`` (org-ca.pem, station-*.pem, org-ca.crl) or `trust_file`.

    With `trust_file` (a PEM bundle), its CA certificates are the only trust anchors; station
    certificates from both places are used to find a token's signer.
    """
    org_cas: list[x509.Certificate] = []
    stations: list[x509.Certificate] = []
    crls: list[x509.CertificateRevocationList] = []
    if trust_file is not None:
        for cert in read_certificates(trust_file):
            (org_cas if _is_ca(cert) else stations).append(cert)
    if certs_dir is not None and certs_dir.is_dir():
        if trust_file is None and (certs_dir / ORG_CA_FILE).is_file():
            org_cas += read_certificates(certs_dir / ORG_CA_FILE)
        for path in sorted(certs_dir.glob("station-*.pem")):
            stations += read_certificates(path)
        if (certs_dir / CRL_FILE).is_file():
            crls.append(read_crl(certs_dir / CRL_FILE))
    if crl_file is not None:
        crls.append(read_crl(crl_file))
    return Trust(
        org_cas=tuple(org_cas), stations=tuple(stations), crls=tuple(crls), trust_file=trust_file
    )


@dataclass
class _Run:
    """Collects checks while verifying; the first failure is the reason."""

    kind: str
    checks: list[Check] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def ok(self, name: str, detail: str = "") -> None:
        self.checks.append(Check(name, True, detail))

    def verdict(self, validity: Validity, reason: str = "") -> Verdict:
        if reason and validity is not Validity.VALID:
            self.checks.append(Check("verdict", False, reason))
        return Verdict(
            validity=validity,
            kind=self.kind,
            reason=reason,
            facts=tuple(self.facts),
            checks=tuple(self.checks),
            warnings=tuple(self.warnings),
        )


def _counts(values: Sequence[str]) -> str:
    """``2 sanitised, 1 failed``: how many of each, in name order."""
    return ", ".join(f"{n} {k or 'unknown'}" for k, n in sorted(Counter(values).items()))


def _manifest_facts(record: dict[str, Any]) -> list[tuple[str, str]]:
    """What a consignment manifest states: where the devices go, each device, the counts."""
    dest = record_part(record, "destination")
    listed = record.get("items")
    items = [i for i in (listed if isinstance(listed, list) else []) if isinstance(i, dict)]
    anchor = record_part(record, "audit_anchor")
    facts: list[tuple[str, object]] = [
        ("consignment_id", record.get("consignment_id")),
        ("record_kind", "manifest"),
        ("destination", f"{dest.get('name', '')} ({dest.get('kind', '')})"),
        ("destination_contact", dest.get("contact")),
        ("destination_scheme", dest.get("scheme")),
        ("count", record.get("count")),
        ("outcomes", _counts([str(i.get("outcome") or "") for i in items])),
        ("media", _counts([str(i.get("media_kind") or "") for i in items])),
    ]
    for n, i in enumerate(items, start=1):
        how = method_label(str(i.get("method") or i.get("technique") or ""))
        said = f"{i.get('serial')} ({i.get('media_kind')}"
        said += f" {i.get('model')})" if i.get("model") else ")"
        said += f" {i.get('outcome')} by {how} (NIST {i.get('nist_category') or '-'}, "
        said += f"verification {i.get('verification') or '-'}, grade {i.get('health_grade')}), "
        said += f"certificate {i.get('certificate_id')}"
        facts.append((f"item {n}", said))
    facts += [
        ("opened_at", record.get("opened_at")),
        ("opened_by", record.get("opened_by")),
        ("issued_at", record.get("issued_at")),
        ("organisation", record.get("organisation")),
        ("station", record.get("station")),
        ("operator", record.get("operator")),
        ("csv_sha256", record.get("csv_sha256")),
        (
            "audit_anchor",
            f"{anchor.get('station')} entry {anchor.get('seq')}, hash {anchor.get('hash')}"
            if anchor
            else "",
        ),
        ("simulated", record.get("simulated")),
        ("development_key", record.get("development_key")),
    ]
    return [(k, fact_text(v)) for k, v in facts]


def _record_facts(record: dict[str, Any]) -> list[tuple[str, str]]:
    if record.get("schema") == DEVICE_SCHEMA:
        return device_facts(record)
    if record.get("schema") == MANIFEST_SCHEMA:
        return _manifest_facts(record)

    def part(name: str) -> dict[str, Any]:
        return record_part(record, name)

    dev, san, out = part("device"), part("sanitisation"), part("outcome")
    ver, dest, op = part("verification"), part("destination"), part("operator")
    facts = [
        ("certificate_id", record.get("certificate_id")),
        ("outcome", out.get("status")),
        ("nist_category", san.get("nist_category")),
        ("method", san.get("method")),
        ("technique", san.get("technique")),
        ("downgrade", san.get("downgrade")),
        ("captured", san.get("captured")),
        ("verification", ver.get("result")),
        ("manufacturer", dev.get("manufacturer")),
        ("model", dev.get("model")),
        ("serial", dev.get("serial")),
        ("capacity_bytes", dev.get("capacity_bytes")),
        ("finished_at", san.get("finished_at")),
        ("organisation", record.get("organisation")),
        ("station", record.get("station")),
        ("operator", op.get("name")),
        ("destination", dest.get("route")),
        ("simulated", record.get("simulated")),
        ("development_key", record.get("development_key")),
        ("supersedes", record.get("supersedes")),
    ]
    facts += [(f"caveat {label}", text) for label, text in record_caveats(record)]
    return [(k, fact_text(v)) for k, v in facts]


def _signer_facts(cert: x509.Certificate, issuer: x509.Certificate) -> list[tuple[str, str]]:
    return [
        ("signer", common_name(cert)),
        ("signer_organisation", organisation_of(cert)),
        ("signer_fingerprint", fingerprint(cert)),
        ("organisation_ca", common_name(issuer)),
    ]


def _need_trust(trust: Trust) -> None:
    if not trust.org_cas and trust.trust_file is not None:
        raise UnusableInputError(
            f"{trust.trust_file} holds no CA certificate (a station's certificate is not a "
            f"trust anchor): pass the organisation CA ({ORG_CA_FILE}) with --trust"
        )
    if not trust.org_cas:
        raise UnusableInputError(
            f"no organisation CA to verify against: put {ORG_CA_FILE} in the certs directory "
            "or pass --trust FILE"
        )


RECORD_SCHEMAS = (RECORD_SCHEMA, DEVICE_SCHEMA, MANIFEST_SCHEMA)
"""The signed records this verifier knows: a drive's certificate, a device's, and a signed
consignment manifest."""

_SCHEMA_NAMES = {
    RECORD_SCHEMA: "a drive's certificate",
    DEVICE_SCHEMA: "a device certificate",
    MANIFEST_SCHEMA: "a consignment manifest",
}


def _check_manifest_counts(record: dict[str, Any]) -> str:
    """A manifest's own totals agree with the devices it lists; returns what it says."""
    items = record.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise CertificateError("the manifest's list of devices is malformed")
    if record.get("count") != len(items):
        raise CertificateError(
            f"the manifest says it lists {record.get('count')} device(s) but lists {len(items)}"
        )
    return f"{len(items)} device(s) for {record_part(record, 'destination').get('name')}"


def _check_signed_record(
    run: _Run,
    signed: SignedRecord,
    trust: Trust,
    now: datetime,
    schemas: tuple[str, ...] = RECORD_SCHEMAS,
) -> None:
    """Every check on a signed record; raises CertificateError at the first failure."""
    record = signed.record
    run.facts = _record_facts(record)
    if record.get("schema") not in schemas:
        if record.get("schema") in _SCHEMA_NAMES:
            raise UnusableInputError(
                f"not supported here: {_SCHEMA_NAMES[str(record.get('schema'))]}"
            )
        raise CertificateError(f"unknown record schema {record.get('schema')!r}")
    check_signature(signed)
    run.ok("record signature", "the signature matches the canonical record")
    issued = parse_utc(record.get("issued_at", ""))
    if issued > now + _FUTURE_SKEW:
        raise CertificateError(f"the record claims to be issued in the future ({issued:%F})")
    issuer = check_chain(signed.signer, list(trust.org_cas), issued, list(trust.crls))
    run.ok("trust chain", f"{common_name(signed.signer)} <- {common_name(issuer)}")
    run.ok("revocation", "not revoked" if trust.crls else "no revocation list present")
    run.facts += _signer_facts(signed.signer, issuer)
    if bool(record.get("development_key")) != is_development(signed.signer):
        raise CertificateError("the record's DEVELOPMENT KEY marker does not match its signer")
    if signed.signer.not_valid_after_utc < now:
        run.warnings.append("the station certificate has expired since the record was signed")
    if record.get("development_key"):
        run.warnings.append("signed with a DEVELOPMENT KEY: not proof for an organisation")
    if record.get("schema") == MANIFEST_SCHEMA:
        run.ok("manifest counts", _check_manifest_counts(record))
        if record.get("simulated"):
            run.warnings.append("SIMULATED: it lists lab drives, not real sanitisations")
        run.warnings.append(
            "a consignment manifest: it lists what was consigned when it was issued; whether it "
            "was handed over (closed) or cancelled is in the custody chain ('sanitiser audit "
            "show'); each device it lists is proven by its own certificate (verify those too)"
        )
    elif record.get("simulated"):
        run.warnings.append("SIMULATED: a lab drive, not a real sanitisation")
    if record.get("schema") == DEVICE_SCHEMA:
        run.warnings.append(
            "a device certificate: each drive it names is proven by its own certificate "
            "(verify those too, e.g. with --drives DIR)"
        )


def require_verified(
    signed: SignedRecord,
    trust: Trust,
    *,
    certificate_id: str | None = None,
    now: datetime | None = None,
    schema: str = RECORD_SCHEMA,
) -> VerifiedRecord:
    """The one gate before anything is signed from a record: refuse a record that does not
    verify exactly as `verify` would check it (signature, chain to a trusted organisation CA,
    revocation, markers). A QR token, a re-rendered PDF, a label or a manifest is only ever
    signed from what this returns: whoever can write the store or a file must not be able to
    turn it into a signed claim.

    Args:
        signed: the record as read (from the store, a file or a PDF).
        trust: what it must chain to.
        certificate_id: the id it was looked up by, when read from the store by id: a row
            holding another certificate's record (swapped in) is refused.
        now: the time to check at (default now).
        schema: the kind of record expected (a drive's by default): a device record is never
            taken for a drive's, nor the other way round.

    Raises:
        CertificateError: the record does not verify; the message says why.
    """
    run = _Run("record")
    cid = signed.record.get("certificate_id") or "(no id)"
    given = signed.record.get("schema")
    if given != schema and given in _SCHEMA_NAMES:
        raise CertificateError(
            f"the record given is {_SCHEMA_NAMES[str(given)]}, not {_SCHEMA_NAMES[schema]}, "
            "and nothing was signed from it"
        )
    try:
        _need_trust(trust)
        _check_signed_record(run, signed, trust, now or datetime.now(UTC), (schema,))
    except (UnusableInputError, CertificateError) as e:
        raise CertificateError(
            f"certificate {cid} does not verify ({e.msg}): it was altered or is not ours, "
            "and nothing was signed from it"
        ) from e
    if certificate_id is not None and cid != certificate_id:
        raise CertificateError(
            f"the stored record of certificate {certificate_id} is the record of certificate "
            f"{cid} (the store was altered), and nothing was signed from it"
        )
    return VerifiedRecord(signed)


def verify_record_bytes(data: bytes, trust: Trust, now: datetime | None = None) -> Verdict:
    """Verify a signed JSON record (envelope) file's bytes."""
    run = _Run("record")
    try:
        _need_trust(trust)
        signed = parse_envelope(data)
        run.ok("format", "canonical signed record")
        _check_signed_record(run, signed, trust, now or datetime.now(UTC))
    except UnusableInputError as e:
        return run.verdict(Validity.UNUSABLE, e.msg)
    except CertificateError as e:
        return run.verdict(Validity.INVALID, e.msg)
    except Exception as e:  # noqa: BLE001 - hostile input must give a verdict, not a crash
        return run.verdict(Validity.INVALID, f"the input is damaged or altered ({e})")
    return run.verdict(Validity.VALID)


def _token_facts(token: Token) -> list[tuple[str, str]]:
    def cut(text: str, truncated: bool) -> str:
        return text + ("\u2026" if truncated else "")

    facts = [
        ("certificate_id", token.certificate_id),
        ("outcome", str(token.status)),
        ("nist_category", str(token.category)),
        ("verified", fact_text(token.verified)),
        ("serial", cut(token.serial, token.serial_truncated)),
        ("finished_at", token.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("token_signed_at", token.signed_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ("record_digest_prefix", token.digest_prefix.hex()),
        ("simulated", fact_text(token.simulated)),
        ("development_key", fact_text(token.development)),
        ("token_version", str(token.version)),
    ]
    if token.version >= 2:
        facts += [
            ("method", cut(token.method, token.method_truncated)),
            ("method_label", token.method_label),
            ("make_model", cut(token.make_model, token.make_model_truncated)),
            ("capacity_bytes", str(token.capacity_bytes or "")),
            ("capacity", capacity_text(token.capacity_bytes)),
            ("destination", token.destination),
        ]
    return facts


def _token_signer(trust: Trust, kid: bytes) -> x509.Certificate:
    signer = next((c for c in (*trust.stations, *trust.org_cas) if key_id(c) == kid), None)
    if signer is None:
        raise CertificateError(
            f"the token's signer (key id {kid.hex()}) is not among the known station certificates"
        )
    return signer


def verify_token_text(
    text: str, trust: Trust, now: datetime | None = None, kind: str = "token"
) -> Verdict:
    """Verify a QR token or token URL: a drive's (versions 1, 2) or a device's (version 3)."""
    run = _Run(kind)
    now = now or datetime.now(UTC)
    try:
        _need_trust(trust)
        raw = token_bytes(text)
        device = raw[:1] == bytes((DEVICE_TOKEN_VERSION,))
        token: Token | DeviceToken
        if device:
            token = decode_device_token(raw)
            run.facts = device_token_facts(token)
            dated = max(token.issued_at, token.signed_at)
        else:
            token = decode_token(text)
            run.facts = _token_facts(token)
            dated = max(token.finished_at, token.signed_at)
        run.ok("format", "token decodes")
        signer = _token_signer(trust, token.signer_key_id)
        check_raw_signature(
            token.body, token.signature, token.signer_key_id, token.signed_at, signer
        )
        run.ok("token signature", "the signature matches the token")
        if dated > now + _FUTURE_SKEW:
            raise CertificateError("the token claims a date in the future")
        issuer = check_chain(signer, list(trust.org_cas), token.signed_at, list(trust.crls))
        run.ok("trust chain", f"{common_name(signer)} <- {common_name(issuer)}")
        run.ok("revocation", "not revoked" if trust.crls else "no revocation list present")
        run.facts += _signer_facts(signer, issuer)
        if token.development != is_development(signer):
            raise CertificateError("the token's DEVELOPMENT KEY marker does not match its signer")
        if token.development:
            run.warnings.append("signed with a DEVELOPMENT KEY: not proof for an organisation")
        if token.simulated:
            run.warnings.append("SIMULATED: a lab drive, not a real sanitisation")
    except UnusableInputError as e:
        return run.verdict(Validity.UNUSABLE, e.msg)
    except CertificateError as e:
        return run.verdict(Validity.INVALID, e.msg)
    except Exception as e:  # noqa: BLE001 - hostile input must give a verdict, not a crash
        return run.verdict(Validity.INVALID, f"the input is damaged or altered ({e})")
    return run.verdict(Validity.VALID)


def _asn1(cert: x509.Certificate) -> Any:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


@dataclass(frozen=True, slots=True)
class _PdfSignature:
    """The PDF's one signature, validated by pyHanko at the time it claims to be made."""

    status: Any
    """pyHanko's status."""
    signer: x509.Certificate
    signed_at: datetime
    """The signing time in the signature dictionary (/M, covered by the signature)."""


def _pdf_signature(
    data: bytes, trust: Trust, issued: datetime, now: datetime, field_name: str = SIGNATURE_FIELD
) -> _PdfSignature:
    """Check the single signature of a certificate (or manifest) PDF, at its own signing time.

    A PDF is signed when its record is issued, or later when a station re-exports it, so the
    signer's certificate and revocation are judged at the PDF's signing time, not the record's.
    """
    reader = _pdf_reader(data)
    sigs = reader.embedded_signatures
    if len(sigs) != 1:
        raise CertificateError(f"expected exactly one PDF signature, found {len(sigs)}")
    sig = sigs[0]
    if sig.field_name != field_name:
        raise CertificateError(f"unexpected signature field {sig.field_name!r}")
    reported = sig.self_reported_timestamp
    if reported is None:
        raise CertificateError("the PDF signature carries no signing time (altered?)")
    signed_at = reported.astimezone(UTC)
    if signed_at > now + _FUTURE_SKEW:
        raise CertificateError(f"the PDF claims to be signed in the future ({signed_at:%F})")
    if signed_at < issued - _FUTURE_SKEW:
        raise CertificateError(
            f"the PDF claims to be signed ({signed_at:%F}) before its record was issued "
            f"({issued:%F})"
        )
    signature = _check_contents(data, [int(x) for x in sig.byte_range], trust.org_cas)
    check_der_signature(signature, "the PDF signature", signed_at)
    context = ValidationContext(
        trust_roots=[_asn1(c) for c in trust.org_cas],
        allow_fetching=False,
        revocation_mode="soft-fail",
        moment=signed_at,
    )
    status = validate_pdf_signature(sig, context)
    signer = x509.load_der_x509_certificate(sig.signer_cert.dump())
    return _PdfSignature(status, signer, signed_at)


PDF_DECODE_LIMITS = DecodeLimits(
    per_stream=StreamDecodeLimits(max_output_size=16 << 20),
    document_budget=DocumentDecodeBudget(base_allowance=64 << 20, max_ratio=4),
)
"""What a PDF may expand to when read: a certificate's streams (fonts, page, the record) hold
a few hundred KB, and a compressed stream can claim a thousand times its size."""


def _pdf_reader(data: bytes) -> PdfFileReader:
    return PdfFileReader(io.BytesIO(data), strict=True, decode_limits=PDF_DECODE_LIMITS)


def _der_length(data: bytes) -> int:
    """Total length of the DER element at the start of `data`."""
    if len(data) < 2 or data[0] != 0x30:
        raise CertificateError("the PDF signature is not a DER SEQUENCE")
    first = data[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if not 1 <= n <= 4 or len(data) < 2 + n:
        raise CertificateError("the PDF signature has a bad DER length")
    return 2 + n + int.from_bytes(data[2 : 2 + n], "big")


def _check_contents(
    data: bytes, byte_range: list[int], trust_cas: tuple[x509.Certificate, ...]
) -> bytes:
    """The unsigned gap must be exactly ``<UPPER-HEX>`` of the CMS blob then zero padding.

    PDF readers ignore hex case and the padding after the DER signature, so without this a
    changed byte there would go unnoticed.

    Returns:
        The signer's signature value (DER ECDSA), for `check_der_signature`.
    """
    if len(byte_range) != 4 or byte_range[0] != 0:
        raise CertificateError("the PDF signature's byte range is malformed")
    gap = data[byte_range[1] : byte_range[2]]
    if len(gap) < 2 or gap[:1] != b"<" or gap[-1:] != b">":
        raise CertificateError("the PDF signature contents are malformed")
    hex_text = gap[1:-1]
    if len(hex_text) % 2 or hex_text.translate(None, b"0123456789ABCDEF"):
        raise CertificateError("the PDF signature contents are not canonical hex (altered?)")
    blob = bytes.fromhex(hex_text.decode("ascii"))
    end = _der_length(blob)
    if blob[end:].strip(b"\x00"):
        raise CertificateError("the PDF signature has data after its end (altered?)")
    return _check_cms_frame(blob[:end], trust_cas)


def _check_cms_frame(blob: bytes, trust_cas: tuple[x509.Certificate, ...]) -> bytes:
    """Check the parts of the CMS SignedData that its signature does not cover.

    Validators ignore the digest-algorithm set, the encapsulated content type and the extra
    certificates; we require them to be exactly what a station writes, and every embedded
    certificate to carry a valid signature, so no byte of the signature blob is free.

    Three more unsigned spots are read loosely by the parsers, so each is pinned to the one
    spelling a station writes (found by changing every byte of the blob to every other value):

    - The outer DER length: the blob ends where it says, so a larger length swallows some of
      the zero padding after it, and asn1crypto (which pyHanko reads the blob with too)
      accepts unknown members at the end of a SEQUENCE, reading each ``00 00`` of padding as
      one. The ContentInfo must hold its two fields and nothing after them.
    - The signer identifier: pyHanko finds the signer's certificate by issuer name and serial,
      comparing names after RFC 4518 preparation (case and spaces folded), so an issuer of
      ``example BOROUGH council`` found the same certificate. It must be the issuer and serial
      of an embedded certificate byte for byte.
    - The unused-bits count of an embedded certificate's signature BIT STRING: the signature
      check reads the bytes after it whatever it says. It must be 0.
    """
    info = cms.ContentInfo.load(blob)
    if info.contents != info["content_type"].dump() + info["content"].dump():
        raise CertificateError("the PDF signature's length does not match its contents (altered?)")
    if info["content_type"].native != "signed_data":
        raise CertificateError("the PDF signature is not CMS SignedData")
    data = info["content"]
    infos = data["signer_infos"]
    if data["version"].native != "v1" or len(infos) != 1:
        raise CertificateError("unexpected CMS SignedData version or signer count (altered?)")
    signer_info = infos[0]
    if signer_info["version"].native != "v1" or signer_info["unsigned_attrs"].native:
        raise CertificateError("unexpected CMS signer info (altered?)")
    if data["digest_algorithms"].native != [signer_info["digest_algorithm"].native]:
        raise CertificateError("the CMS digest algorithms do not match the signer's (altered?)")
    encap = data["encap_content_info"]
    if encap["content_type"].native != "data" or encap["content"].native is not None:
        raise CertificateError("unexpected CMS encapsulated content (altered?)")
    if data["crls"].native:
        raise CertificateError("unexpected revocation data in the CMS signature")
    asn1_certs = [c.chosen for c in data["certificates"]]
    if any(c["signature_value"].contents[:1] != b"\x00" for c in asn1_certs):
        raise CertificateError("a certificate in the PDF signature is damaged (altered?)")
    sid = signer_info["sid"]
    if sid.name != "issuer_and_serial_number" or not any(
        sid.chosen.contents == tbs["issuer"].dump() + tbs["serial_number"].dump()
        for tbs in (c["tbs_certificate"] for c in asn1_certs)
    ):
        raise CertificateError(
            "the CMS signer identifier is not its certificate's issuer and serial (altered?)"
        )
    certs = [x509.load_der_x509_certificate(c.dump()) for c in asn1_certs]
    issuers = [*certs, *trust_cas]
    for cert in certs:
        if not any(issued_by(cert, parent) for parent in issuers):
            raise CertificateError("a certificate in the PDF signature is damaged (altered?)")
    if signer_info["signature_algorithm"]["algorithm"].native != "sha256_ecdsa":
        raise CertificateError("the PDF signature is not ECDSA with SHA-256 (altered?)")
    signature: bytes = signer_info["signature"].native
    return signature


_EMBEDDED_PREFIXES = ("sanitisation-record-", "device-", MANIFEST_FILE_PREFIX)
"""How an embedded signed record's name begins: a drive's record, a device's, a manifest."""


def _embedded(data: bytes) -> tuple[str, bytes]:
    reader = _pdf_reader(data)
    files = [(n, d) for n, d in embedded_files(reader) if n.startswith(_EMBEDDED_PREFIXES)]
    if len(files) != 1:
        raise CertificateError(f"expected one embedded signed record, found {len(files)}")
    return files[0]


def embedded_record(data: bytes) -> bytes:
    """The signed record embedded in a certificate or manifest PDF (read within
    `PDF_DECODE_LIMITS`).

    Raises:
        CertificateError: not exactly one embedded record.
        PdfDecodeLimitError: the PDF expands to more than a certificate ever holds.
    """
    return _embedded(data)[1]


def _guard(step: Callable[[], Any], what: str) -> Any:
    """Run a parser over hostile input: any failure means the file is damaged or altered."""
    try:
        return step()
    except (UnusableInputError, CertificateError):
        raise
    except PdfDecodeLimitError as e:
        raise UnusableInputError(
            f"{what}: the PDF expands to more data than a certificate holds ({e}), so it was "
            "not read further"
        ) from e
    except Exception as e:  # hostile input: any parser error means "damaged"
        raise CertificateError(f"{what}: the file is damaged or altered ({e})") from e


def verify_pdf_bytes(data: bytes, trust: Trust, now: datetime | None = None) -> Verdict:
    """Verify a PDF certificate or consignment manifest: its PAdES signature, its embedded
    record, and that they agree."""
    run = _Run("pdf")
    now = now or datetime.now(UTC)
    try:
        _need_trust(trust)
        if not data.startswith(b"%PDF-"):
            raise UnusableInputError("not a PDF file")
        name, envelope = _guard(lambda: _embedded(data), "reading the embedded record")
        signed = parse_envelope(envelope)
        run.ok("embedded record", "one canonical signed record")
        _check_signed_record(run, signed, trust, now)
        manifest = signed.record.get("schema") == MANIFEST_SCHEMA
        if manifest != name.startswith(MANIFEST_FILE_PREFIX):
            raise CertificateError(
                f"the embedded record {visible(name, 80)} is not of the kind its name says "
                "(altered?)"
            )
        field_name = MANIFEST_FIELD if manifest else SIGNATURE_FIELD
        issued = parse_utc(signed.record["issued_at"])
        pdf: _PdfSignature = _guard(
            lambda: _pdf_signature(data, trust, issued, now, field_name),
            "validating the PDF signature",
        )
        status, pdf_signer = pdf.status, pdf.signer
        if not status.intact:
            raise CertificateError("the PDF was changed after it was signed (digest mismatch)")
        if not status.valid:
            raise CertificateError("the PDF signature is not valid")
        run.ok("pdf signature", "intact and valid")
        if not status.trusted:
            raise CertificateError("the PDF signer does not chain to a trusted organisation CA")
        if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
            raise CertificateError("the PDF has content added after it was signed")
        if status.docmdp_ok is False:
            raise CertificateError("the PDF was modified in a way its signature forbids")
        run.ok("pdf coverage", "the signature covers the whole file")
        check_chain(pdf_signer, list(trust.org_cas), pdf.signed_at, list(trust.crls))
        if organisation_of(pdf_signer) != organisation_of(signed.signer):
            raise CertificateError(
                "the PDF and the embedded record were signed by different organisations"
            )
        run.ok("pdf signer", f"{common_name(pdf_signer)} ({organisation_of(pdf_signer)})")
        if pdf_signer != signed.signer:
            run.warnings.append(
                f"the PDF was signed by station {common_name(pdf_signer)}, the record by "
                f"{common_name(signed.signer)}"
            )
    except UnusableInputError as e:
        return run.verdict(Validity.UNUSABLE, e.msg)
    except CertificateError as e:
        return run.verdict(Validity.INVALID, e.msg)
    except Exception as e:  # noqa: BLE001 - hostile input must give a verdict, not a crash
        return run.verdict(Validity.INVALID, f"the input is damaged or altered ({e})")
    return run.verdict(Validity.VALID)


def decode_qr_image(path: Path, runner: CommandRunner) -> list[str]:
    """The QR payloads in an image, via ``zbarimg -q --raw`` (one per line).

    Raises:
        UnusableInputError: zbarimg is missing or finds no code.
    """
    result = runner.run(["zbarimg", "-q", "--raw", "--", str(path)], timeout=60)
    if result.returncode == 127:
        raise UnusableInputError("zbarimg is not installed (Debian package zbar-tools)")
    payloads = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode not in (0,) or not payloads:
        raise UnusableInputError(f"no QR code found in {path}")
    return payloads


def _check_image_size(path: Path) -> None:
    """Refuse an image too large to decode safely (a few bytes of PNG can claim gigapixels).

    Raises:
        UnusableInputError: not a readable image, or more than `MAX_IMAGE_PIXELS` pixels.
    """
    from PIL import Image  # noqa: PLC0415 - only images need it

    too_big = f"{path} has more than {MAX_IMAGE_PIXELS:,} pixels: a photo of a label has fewer"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PIL warns about large images: refused below
            with Image.open(path) as image:
                width, height = image.size
    except Image.DecompressionBombError as e:
        raise UnusableInputError(too_big) from e
    except (OSError, ValueError, SyntaxError) as e:  # PIL's errors for a damaged header
        raise UnusableInputError(f"{path} is not an image that can be read") from e
    if width * height > MAX_IMAGE_PIXELS:
        raise UnusableInputError(too_big)


def verify_image(
    path: Path, trust: Trust, runner: CommandRunner, now: datetime | None = None
) -> Verdict:
    """Verify the token in a photo or scan of a QR code."""
    try:
        _check_image_size(path)
        payloads = decode_qr_image(path, runner)
    except UnusableInputError as e:
        return Verdict(Validity.UNUSABLE, "image", e.msg)
    tokens = [p for p in payloads if looks_like_token(p)]
    if not tokens:
        return Verdict(Validity.UNUSABLE, "image", "the QR code holds no sanitisation token")
    return verify_token_text(tokens[0], trust, now, kind="image")


MAX_INPUT_BYTES = 64 << 20
"""The largest file `verify` reads (certificates are ~100 KB, label photos a few MB)."""
MAX_IMAGE_PIXELS = 64_000_000
"""The largest image handed to the QR decoder (a 48-megapixel phone photo fits)."""


def read_input(path: Path, limit: int | None = None) -> bytes:
    """The bytes of an input file, never more than `limit` (default `MAX_INPUT_BYTES`) of them
    in memory.

    The size is checked on the open file, and the read stops one byte past `limit`, so a file
    that grows meanwhile, or one that reports no size (``/proc``, ``/sys``), is refused too.

    Raises:
        UnusableInputError: not a regular file, unreadable, or larger than `limit`.
    """
    limit = MAX_INPUT_BYTES if limit is None else limit
    too_big = (
        f"{path} is larger than {limit >> 20} MiB: a certificate, record or photo of a label "
        "is smaller, so it was not read"
    )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise UnusableInputError(f"cannot read {path}: {e.strerror}") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnusableInputError(f"{path} is not a regular file")
        if info.st_size > limit:
            raise UnusableInputError(too_big)
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise UnusableInputError(f"cannot read {path}: {e.strerror}") from e
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnusableInputError(too_big)
    return data


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def verify_input(
    arg: str,
    trust: Trust,
    runner: CommandRunner,
    now: datetime | None = None,
) -> Verdict:
    """Verify whatever `arg` is: a PDF, JSON record, image file, a token file, or a token/URL.

    `runner` runs ``zbarimg`` for an image (the caller's command seam: this module runs nothing
    of its own).
    """
    path = Path(arg)
    if _exists(path):
        try:
            data = read_input(path)
        except UnusableInputError as e:
            return Verdict(Validity.UNUSABLE, "unknown", e.msg)
        if data.startswith(b"%PDF-"):
            return verify_pdf_bytes(data, trust, now)
        if data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{":
            return verify_record_bytes(data, trust, now)
        if data.startswith(_IMAGE_MAGIC):
            return verify_image(path, trust, runner, now)
        text = data.decode("utf-8", "replace").strip()
        if looks_like_token(text):
            return verify_token_text(text, trust, now)
        return Verdict(Validity.UNUSABLE, "unknown", f"{arg} is not a certificate, record or QR")
    if looks_like_token(arg):
        return verify_token_text(arg, trust, now)
    return Verdict(Validity.UNUSABLE, "unknown", f"{arg}: no such file, and not a token or URL")


def _record_in(path: Path) -> dict[str, Any]:
    """The signed record a certificate file holds (its PDF's embedded one, or the JSON)."""
    data = read_input(path)
    if data.startswith(b"%PDF-"):
        data = _guard(lambda: embedded_record(data), "reading the embedded record")
    return dict(parse_envelope(data).record)


def _certificate_files(paths: Sequence[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix.lower() in (".pdf", ".json"))
        else:
            found.append(path)
    return found


def verify_device_drives(
    verdict: Verdict,
    device_input: str,
    drive_inputs: Sequence[Path],
    trust: Trust,
    runner: CommandRunner,
    *,
    now: datetime | None = None,
) -> Verdict:
    """Check a verified device certificate against its drives' certificates: each drive it
    names must be among `drive_inputs` (files, or directories of .pdf/.json), verify on its
    own, and be byte for byte the record it names (its SHA-256). Any miss makes the verdict
    INVALID, naming the drive.
    """
    if not verdict.valid or dict(verdict.facts).get("record_kind") != "device":
        return verdict
    run = _Run(verdict.kind)
    run.checks, run.facts, run.warnings = list(verdict.checks), list(verdict.facts), []
    run.warnings = [w for w in verdict.warnings if "verify those too" not in w]
    try:
        if not Path(device_input).is_file():
            raise UnusableInputError(
                "--drives needs the device certificate's PDF or JSON (a token names no drives)"
            )
        named = _record_in(Path(device_input)).get("drives") or []
        given: dict[str, tuple[str, Verdict]] = {}
        for path in _certificate_files(drive_inputs):
            drive_verdict = verify_input(str(path), trust, runner, now)
            if drive_verdict.valid and dict(drive_verdict.facts).get("record_kind") != "device":
                record = _record_in(path)
                given[str(record.get("certificate_id"))] = (
                    record_digest(record).hex(),
                    drive_verdict,
                )
        for d in named:
            cid, digest = str(d.get("certificate_id")), str(d.get("record_sha256"))
            if cid not in given:
                raise CertificateError(f"drive {d.get('serial')}: no valid certificate {cid} given")
            if given[cid][0] != digest:
                raise CertificateError(
                    f"drive {d.get('serial')}: certificate {cid} given is not the record the "
                    "device names (its SHA-256 differs)"
                )
            run.ok(f"drive {d.get('serial')}", f"certificate {cid} verifies and is the one named")
    except UnusableInputError as e:
        return run.verdict(Validity.UNUSABLE, e.msg)
    except CertificateError as e:
        return run.verdict(Validity.INVALID, e.msg)
    return run.verdict(Validity.VALID)


def token_for_record(token_text: str, record: dict[str, Any]) -> bool:
    """True when a token (or URL) belongs to `record` (its digest matches)."""
    try:
        return token_matches_record(decode_token(token_text), record)
    except CertificateError:
        return False


_LABELS = (
    ("certificate_id", "Certificate"),
    ("outcome", "Outcome"),
    ("nist_category", "NIST category"),
    ("method", "Method"),
    ("method_label", "Method name"),
    ("downgrade", "Downgraded"),
    ("captured", "Captured"),
    ("verification", "Verification"),
    ("verified", "Verified"),
    ("manufacturer", "Manufacturer"),
    ("model", "Model"),
    ("make_model", "Make and model"),
    ("serial", "Serial"),
    ("capacity_bytes", "Capacity (bytes)"),
    ("finished_at", "Finished (UTC)"),
    ("organisation", "Organisation"),
    ("station", "Station"),
    ("operator", "Operator"),
    ("destination", "Destination"),
    ("supersedes", "Supersedes"),
    ("signer", "Signed by"),
    ("signer_organisation", "Signer organisation"),
    ("signer_fingerprint", "Signer SHA-256"),
)


_MANIFEST_LABELS = (
    ("consignment_id", "Consignment"),
    ("destination", "Destination"),
    ("destination_contact", "Contact"),
    ("destination_scheme", "Scheme"),
    ("count", "Devices"),
    ("outcomes", "Outcomes"),
    ("media", "Media"),
    ("opened_at", "Opened (UTC)"),
    ("opened_by", "Opened by"),
    ("issued_at", "Issued (UTC)"),
    ("organisation", "Organisation"),
    ("station", "Station"),
    ("operator", "Operator"),
    ("csv_sha256", "CSV SHA-256"),
    ("audit_anchor", "Audit chain"),
    ("signer", "Signed by"),
    ("signer_organisation", "Signer organisation"),
    ("signer_fingerprint", "Signer SHA-256"),
)
"""What a consignment manifest shows, in order (then each device it lists)."""


def format_verdict(verdict: Verdict) -> str:
    """The verdict as plain text for a terminal (control characters made visible)."""
    head = {
        Validity.VALID: "VALID",
        Validity.INVALID: "INVALID",
        Validity.UNUSABLE: "CANNOT VERIFY",
    }[verdict.validity]
    lines = [
        f"{head}: {verdict.kind}" + (f": {visible(verdict.reason, 400)}" if verdict.reason else "")
    ]
    facts = dict(verdict.facts)
    if facts and not verdict.valid:
        lines.append("  (what the input claims; NOT verified)")
    labels = {"device": DEVICE_LABELS, "manifest": _MANIFEST_LABELS}.get(
        facts.get("record_kind", ""), _LABELS
    )
    for key, label in labels:
        if facts.get(key):
            lines.append(f"  {label + ':':<21}{visible(facts[key], 200)}")
    if facts.get("record_kind") == "device":  # its specification and drives, as many as it has
        for key, value in verdict.facts:
            if key.startswith(("spec ", "drive ")) and value:
                name = key.removeprefix("spec ") if key.startswith("spec ") else key.capitalize()
                lines.append(f"  {name + ':':<21}{visible(value, 300)}")
    for key, value in verdict.facts:  # what qualifies the claim, in full
        if key.startswith("caveat ") and value:
            lines.append(f"  Caveat ({key.removeprefix('caveat ')}): {visible(value, 4000)}")
    if facts.get("record_kind") == "manifest":  # every device it lists
        for key, value in verdict.facts:
            if key.startswith("item ") and value:
                lines.append(f"  {key.capitalize() + ':':<21}{visible(value, 300)}")
    for flag, text in (("simulated", "SIMULATED"), ("development_key", "DEVELOPMENT KEY")):
        if facts.get(flag) == "yes":
            lines.append(f"  *** {text} ***")
    for check in verdict.checks:
        mark = "ok " if check.ok else "FAIL"
        lines.append(f"  [{mark}] {check.name}: {visible(check.detail, 300)}")
    lines += [f"  warning: {w}" for w in verdict.warnings]
    return "\n".join(lines)
