"""The compact signed token carried by the QR code, and the QR image itself.

A token is small enough to scan from a 29 mm label, and verifies offline with the organisation
CA and the station certificate it names. Binary layout (version 1, big-endian)::

    0      version = 1
    1      flags: bit 0 simulated, bit 1 development key, bit 2 verified
    2      status index (high nibble) | NIST category index (low nibble)
    3-18   certificate id (UUID, 16 bytes)
    19-22  sanitisation finished at (seconds since the epoch, UTC, uint32)
    23-26  token signed at (seconds since the epoch, UTC, uint32)
    27-34  signer key id (first 8 bytes of SHA-256 of the station certificate DER)
    35-50  record digest (first 16 bytes of SHA-256 of the canonical record)
    51     n = length of the serial (UTF-8, at most 40 bytes)
    52..   serial
    last 64 bytes: ECDSA P-256 signature r||s over SHA-256 of everything before it

The token text is RFC 4648 base32 without padding (upper case): QR codes store ``0-9A-Z`` in
alphanumeric mode at 5.5 bits a character, which makes base32 about 18 % smaller in the symbol
than base64url in byte mode. The URL is ``<base_url>#<token>``: the token sits in the fragment,
so a static verification page can read it without sending it anywhere.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import qrcode
import qrcode.constants
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sanitiser.certificate.keys import StationSigner, key_id
from sanitiser.certificate.record import Record, UnusableInputError, parse_utc, record_digest
from sanitiser.domain import NistCategory, OutcomeStatus
from sanitiser.errors import CertificateError

TOKEN_VERSION = 1
DEFAULT_BASE_URL = "https://verify.example.invalid/v"
STATUSES = tuple(OutcomeStatus)
CATEGORIES = tuple(NistCategory)
_HEAD = struct.Struct(">BBB16sII8s16sB")
_SIG_LEN = 64
_MAX_SERIAL = 40


@dataclass(frozen=True, slots=True)
class Token:
    """The decoded fields of a token."""

    simulated: bool
    development: bool
    verified: bool
    status: OutcomeStatus
    category: NistCategory
    certificate_id: str
    finished_at: datetime
    signed_at: datetime
    """When the station signed the token (its certificate must be valid then)."""
    signer_key_id: bytes
    digest_prefix: bytes
    serial: str
    body: bytes
    """The signed bytes."""
    signature: bytes
    """Raw r||s."""


def _truncate_utf8(text: str, limit: int) -> bytes:
    data = text.encode("utf-8")
    while len(data) > limit:
        text = text[:-1]
        data = text.encode("utf-8")
    return data


def token_body(record: Record, signer_cert: x509.Certificate, signed_at: datetime) -> bytes:
    """The signed part of a token for `record` signed by `signer_cert` at `signed_at`."""
    outcome, sanitisation = record["outcome"], record["sanitisation"]
    flags = (
        (1 if record.get("simulated") else 0)
        | (2 if record.get("development_key") else 0)
        | (4 if outcome.get("verified") else 0)
    )
    status = STATUSES.index(OutcomeStatus(outcome["status"]))
    category = CATEGORIES.index(NistCategory(sanitisation["nist_category"]))
    cid = uuid.UUID(record["certificate_id"]).bytes
    finished = int(parse_utc(sanitisation["finished_at"]).timestamp())
    serial = _truncate_utf8(str(record["device"]["serial"]), _MAX_SERIAL)
    head = _HEAD.pack(
        TOKEN_VERSION,
        flags,
        (status << 4) | category,
        cid,
        finished,
        int(signed_at.timestamp()),
        key_id(signer_cert),
        record_digest(record)[:16],
        len(serial),
    )
    return head + serial


def make_token(record: Record, signer: StationSigner, now: datetime | None = None) -> str:
    """Sign a token for a record with the station key; returns its base32 text."""
    body = token_body(record, signer.cert, now or datetime.now(UTC))
    der = signer.key.sign(body, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return encode_token(body + r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def encode_token(raw: bytes) -> str:
    """Base32 without padding."""
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def token_url(token: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """The URL a phone opens: the token in the fragment."""
    return f"{base_url}#{token}"


def extract_token(text: str) -> str:
    """The token from a URL (after ``#``) or a bare token, whitespace trimmed."""
    text = text.strip()
    return text.rsplit("#", 1)[1] if "#" in text else text


def looks_like_token(text: str) -> bool:
    """True when `text` could be a token or a token URL (not a file path)."""
    tok = extract_token(text)
    return len(tok) >= 160 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in tok)


def decode_token(text: str) -> Token:
    """Decode a token or token URL strictly (no verification yet).

    Raises:
        UnusableInputError: not a token at all.
        CertificateError: a token whose bytes do not parse (it was altered).
    """
    tok = extract_token(text)
    if not tok or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in tok):
        raise UnusableInputError("not a sanitisation token (expected base32 text)")
    try:
        raw = base64.b32decode(tok + "=" * (-len(tok) % 8))
    except (binascii.Error, ValueError) as e:
        raise CertificateError("the token is not valid base32 (altered?)") from e
    if encode_token(raw) != tok:
        raise CertificateError("the token is not canonical base32 (altered?)")
    if len(raw) < _HEAD.size + _SIG_LEN:
        raise CertificateError("the token is too short (truncated or altered)")
    version, flags, codes, cid, finished, signed, kid, digest, n = _HEAD.unpack_from(raw)
    if version != TOKEN_VERSION:
        raise CertificateError(f"unknown token version {version}")
    if flags & ~0x7:
        raise CertificateError("the token has unknown flags set (altered?)")
    if len(raw) != _HEAD.size + n + _SIG_LEN:
        raise CertificateError("the token length does not match its contents (altered?)")
    status_i, category_i = codes >> 4, codes & 0xF
    if status_i >= len(STATUSES) or category_i >= len(CATEGORIES):
        raise CertificateError("the token's status or category code is unknown (altered?)")
    body = raw[: _HEAD.size + n]
    try:
        serial = body[_HEAD.size :].decode("utf-8")
    except UnicodeDecodeError as e:
        raise CertificateError("the token's serial is not UTF-8 (altered?)") from e
    return Token(
        simulated=bool(flags & 1),
        development=bool(flags & 2),
        verified=bool(flags & 4),
        status=STATUSES[status_i],
        category=CATEGORIES[category_i],
        certificate_id=str(uuid.UUID(bytes=cid)),
        finished_at=datetime.fromtimestamp(finished, UTC),
        signed_at=datetime.fromtimestamp(signed, UTC),
        signer_key_id=kid,
        digest_prefix=digest,
        serial=serial,
        body=body,
        signature=raw[-_SIG_LEN:],
    )


def check_token_signature(token: Token, signer_cert: x509.Certificate) -> None:
    """Check the token's signature with the station certificate's key.

    Raises:
        CertificateError: the key id or the signature does not match.
    """
    if key_id(signer_cert) != token.signer_key_id:
        raise CertificateError("the token names a different signer")
    public = signer_cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise CertificateError("the signer's key is not an ECDSA key")
    r = int.from_bytes(token.signature[:32], "big")
    s = int.from_bytes(token.signature[32:], "big")
    try:
        public.verify(encode_dss_signature(r, s), token.body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError) as e:
        raise CertificateError("the token's signature does not match its contents") from e


def token_matches_record(token: Token, record: Record) -> bool:
    """True when the token's digest is the record's (the token belongs to this record)."""
    return record_digest(record)[:16] == token.digest_prefix


def qr_png(data: str, box_size: int = 10, border: int = 4) -> bytes:
    """A QR code (error correction M) for `data` as PNG bytes."""
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
    )
    code.add_data(data, optimize=8)
    code.make(fit=True)
    image = code.make_image()
    buf = io.BytesIO()
    image.save(buf)
    return buf.getvalue()


def qr_matrix(data: str) -> list[list[bool]]:
    """The QR modules for `data` (True = dark), without the quiet zone."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(data, optimize=8)
    code.make(fit=True)
    return [list(row) for row in code.get_matrix()]
