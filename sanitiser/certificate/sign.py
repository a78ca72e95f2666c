"""The signed record envelope: a record, the station's signature over its canonical bytes, and
the signer's certificate chain.

The envelope is itself written as canonical JSON (plus one newline), and read back strictly, so
any byte changed in the file is noticed::

    {"format": "sanitiser.signed-record/1",
     "record": {...},
     "signature": {"algorithm": "ecdsa-p256-sha256",
                   "certificates": ["<base64 DER station cert>", "<base64 DER org CA>"],
                   "signer_key_id": "<hex, 8 bytes>",
                   "value": "<base64 DER ECDSA signature over canonical(record)>"}}

The chain in the envelope is informational: trust always comes from the organisation CA the
verifier holds (`sanitiser.certificate.verify`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sanitiser.certificate.keys import (
    StationSigner,
    check_der_signature,
    ecdsa_sign,
    is_development,
    issued_by,
    key_id,
)
from sanitiser.certificate.record import (
    Record,
    UnusableInputError,
    canonical_json,
    parse_canonical,
    parse_lenient,
    parse_utc,
    record_digest,
)
from sanitiser.errors import CertificateError

ENVELOPE_FORMAT = "sanitiser.signed-record/1"
ALGORITHM = "ecdsa-p256-sha256"


def b64encode(data: bytes) -> str:
    """Standard base64 with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: object, what: str) -> bytes:
    """Decode base64 that must be in its one canonical spelling (no stray bits or characters)."""
    if not isinstance(text, str):
        raise CertificateError(f"{what} is not a base64 string")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise CertificateError(f"{what} is not valid base64") from e
    if b64encode(data) != text:
        raise CertificateError(f"{what} is not canonical base64")
    return data


@dataclass(frozen=True, slots=True)
class SignedRecord:
    """A record with its signature and the signer's chain (signer first)."""

    record: Record
    signature: bytes
    """DER-encoded ECDSA signature over the canonical record."""
    certificates: tuple[x509.Certificate, ...]

    @property
    def signer(self) -> x509.Certificate:
        """The station certificate that signed."""
        return self.certificates[0]

    @property
    def certificate_id(self) -> str:
        """The record's certificate id."""
        return str(self.record.get("certificate_id", ""))

    @property
    def digest(self) -> bytes:
        """SHA-256 of the canonical record."""
        return record_digest(self.record)

    def to_envelope(self) -> dict[str, Any]:
        """The envelope as a JSON object."""
        return {
            "format": ENVELOPE_FORMAT,
            "record": self.record,
            "signature": {
                "algorithm": ALGORITHM,
                "certificates": [
                    b64encode(c.public_bytes(serialization.Encoding.DER)) for c in self.certificates
                ],
                "signer_key_id": key_id(self.signer).hex(),
                "value": b64encode(self.signature),
            },
        }

    def to_bytes(self) -> bytes:
        """The envelope file: canonical JSON and one newline."""
        return canonical_json(self.to_envelope()) + b"\n"


@dataclass(frozen=True, slots=True)
class VerifiedRecord:
    """A signed record that verified (signature, chain to our organisation CA, revocation):
    the only thing a station signs a claim about (a QR token, a certificate PDF).

    Made only by `sanitiser.certificate.verify.require_verified`, so whoever can write the store
    or a record file cannot get a token or PDF signed for an edited record: the signing
    functions take this type, not a `SignedRecord` (a test checks nothing else makes one).
    """

    signed: SignedRecord

    @property
    def record(self) -> Record:
        """The verified record."""
        return self.signed.record

    @property
    def certificate_id(self) -> str:
        """The record's certificate id."""
        return self.signed.certificate_id


def sign_record(record: Record, signer: StationSigner) -> SignedRecord:
    """Sign a record with the station key.

    Raises:
        CertificateError: the record is not canonicalisable, or its ``development_key`` flag
            does not match the key (a development key must never sign an unmarked record).
    """
    if bool(record.get("development_key")) != signer.development:
        raise CertificateError(
            "the record's development_key flag does not match the signing key "
            f"({'a development' if signer.development else 'a production'} key)"
        )
    r, s = ecdsa_sign(signer, canonical_json(record))
    signature = encode_dss_signature(r, s)
    return SignedRecord(
        record=record, signature=signature, certificates=(signer.cert, signer.org_ca)
    )


def _issued_at(record: Record) -> datetime | None:
    """The record's own issue time, or None when it has none that parses."""
    try:
        return parse_utc(str(record.get("issued_at", "")))
    except CertificateError:
        return None


def check_signature(signed: SignedRecord) -> None:
    """Check the signature against the signer certificate's public key (not its trust).

    Raises:
        CertificateError: the signature does not verify, or the development flag lies.
    """
    public = signed.signer.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise CertificateError("the signer's key is not an ECDSA key")
    check_der_signature(signed.signature, "the record's signature", _issued_at(signed.record))
    try:
        public.verify(signed.signature, canonical_json(signed.record), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as e:
        raise CertificateError("the record's signature does not match its contents") from e
    if is_development(signed.signer) and signed.record.get("development_key") is not True:
        raise CertificateError("signed by a DEVELOPMENT KEY but the record does not say so")


def _check_included_chain(certs: list[x509.Certificate]) -> None:
    """The chain is exactly [station, organisation CA]: the CA signed the station certificate
    and itself. Trust is decided elsewhere; this makes every byte of the envelope count."""
    if len(certs) != 2:
        raise CertificateError(
            f"the record carries {len(certs)} certificate(s); the format requires the station's "
            "and its organisation CA's"
        )
    for child, parent in itertools.pairwise(certs):
        if not issued_by(child, parent):
            raise CertificateError("the certificate chain in the record is broken (altered?)")
    last = certs[-1]
    if not issued_by(last, last):
        raise CertificateError("the CA certificate in the record is damaged (altered?)")


def parse_envelope(data: bytes) -> SignedRecord:
    """Read an envelope file strictly (canonical JSON, known fields, canonical base64).

    Raises:
        UnusableInputError: not an envelope at all.
        CertificateError: an envelope that has been altered or is malformed.
    """
    if not isinstance(cast("object", data), bytes):  # a store column rewritten as text
        raise CertificateError(
            f"the signed record is stored as {type(data).__name__}, not as the bytes that "
            "were signed (the store was altered)"
        )
    try:
        envelope = parse_canonical(data)
    except UnusableInputError as e:
        loose = parse_lenient(data)
        if isinstance(loose, dict) and {"record", "signature"} <= set(loose):
            raise CertificateError(f"a signed record that is not strict JSON ({e.msg})") from e
        raise
    if not isinstance(envelope, dict) or "record" not in envelope:
        raise UnusableInputError("not a signed sanitisation record")
    if envelope.get("format") != ENVELOPE_FORMAT:
        raise CertificateError(f"unknown record format {envelope.get('format')!r}")
    if set(envelope) != {"format", "record", "signature"}:
        raise CertificateError("unexpected fields in the signed record")
    record, sig = envelope["record"], envelope["signature"]
    if not isinstance(record, dict) or not isinstance(sig, dict):
        raise CertificateError("malformed signed record")
    if set(sig) != {"algorithm", "certificates", "signer_key_id", "value"}:
        raise CertificateError("unexpected fields in the signature block")
    if sig["algorithm"] != ALGORITHM:
        raise CertificateError(f"unsupported signature algorithm {sig['algorithm']!r}")
    certs_b64 = sig["certificates"]
    if not isinstance(certs_b64, list) or not certs_b64:
        raise CertificateError("the signed record carries no signer certificate")
    certs: list[x509.Certificate] = []
    for i, text in enumerate(certs_b64):
        der = b64decode_strict(text, f"certificate {i}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                cert = x509.load_der_x509_certificate(der)
                _ = (cert.subject, cert.issuer, cert.extensions, cert.public_key())
        except (ValueError, UnsupportedAlgorithm, Warning) as e:
            raise CertificateError(f"certificate {i} in the record is damaged") from e
        if cert.public_bytes(serialization.Encoding.DER) != der:
            raise CertificateError(f"certificate {i} is not in canonical DER")
        certs.append(cert)
    _check_included_chain(certs)
    if sig["signer_key_id"] != key_id(certs[0]).hex():
        raise CertificateError("the signer key id does not match the signer certificate")
    signature = b64decode_strict(sig["value"], "the signature")
    return SignedRecord(record=record, signature=signature, certificates=tuple(certs))
