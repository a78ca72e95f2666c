"""The compact signed token carried by the QR code, and the QR image itself.

A token is small enough to scan from a 29 mm label, and verifies offline with the organisation
CA and the station certificate it names. The station issues version 2; verifiers accept versions
1 and 2 (labels printed before version 2 must keep verifying). All integers are big-endian, all
text is UTF-8, and every token ends with a 64-byte ECDSA P-256 signature r||s over SHA-256 of
everything before it.

Version 2 (issued)::

    0      version = 2
    1      flags: bit 0 simulated, bit 1 development key, bit 2 verified,
           bit 3 serial truncated, bit 4 make/model truncated, bit 5 method name truncated
    2      status index (high nibble) | NIST category index (low nibble)
    3      method code: 1.. = `METHODS` entry (code - 1); 0 = not in the table: its name follows
    4      destination route index (`DESTINATIONS`)
    5-20   certificate id (UUID, 16 bytes)
    21-24  sanitisation finished at (seconds since the epoch, UTC, uint32)
    25-28  token signed at (seconds since the epoch, UTC, uint32)
    29-36  signer key id (first 8 bytes of SHA-256 of the station certificate DER)
    37-52  record digest (first 16 bytes of SHA-256 of the canonical record)
    53-60  capacity in bytes (uint64; 0 = unknown)
    61     s = length of the serial (at most 40 bytes)
    62     d = length of the make and model (at most 40 bytes)
    63     m = length of the method name (at most 24 bytes; 0 unless the method code is 0)
    64..   serial (s bytes), make and model (d bytes), method name (m bytes)
    last 64 bytes: signature

Text longer than its limit is cut at a character boundary and its "truncated" flag set. The make
and model is the model, prefixed with the manufacturer unless the model already starts with it.

Version 1 (verified only)::

    0      version = 1
    1      flags: bit 0 simulated, bit 1 development key, bit 2 verified
    2      status index (high nibble) | NIST category index (low nibble)
    3-18   certificate id (UUID, 16 bytes)
    19-22  sanitisation finished at (uint32)
    23-26  token signed at (uint32)
    27-34  signer key id
    35-50  record digest
    51     n = length of the serial (at most 40 bytes)
    52..   serial
    last 64 bytes: signature

Sizes, with the default base URL and error correction M: a typical version 2 token (15-byte
serial, 25-byte make and model, a method from the table) is 168 bytes, 269 base32 characters,
QR version 11 (61 modules); with a 40-byte serial and a 40-byte make and model, 208 bytes, 333
characters, version 12; the largest possible (adding a 24-byte method name not in the table) 232
bytes, 372 characters, version 13. A version 1 token was 131 bytes, 210 characters, version 10.

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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import qrcode
import qrcode.constants
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    encode_dss_signature,
)

from sanitiser.certificate.keys import StationSigner, check_low_s, ecdsa_sign, key_id
from sanitiser.certificate.record import Record, UnusableInputError, parse_utc, record_digest
from sanitiser.certificate.sign import VerifiedRecord
from sanitiser.domain import NistCategory, OutcomeStatus
from sanitiser.errors import CertificateError

TOKEN_VERSION = 2
"""The version the station issues."""
TOKEN_VERSIONS = (1, 2)
"""The versions verifiers accept."""
DEFAULT_BASE_URL = "https://verify.example.invalid/v"
STATUSES = tuple(OutcomeStatus)
CATEGORIES = tuple(NistCategory)
DESTINATIONS = (
    "internal-reuse",
    "external-reuse",
    "recycling",
    "manufacturer",
    "destruction",
    "other",
    "undecided",
)
"""Destination routes (`DESTINATION_ROUTES`) in token order: code = index. Append only."""
METHODS: tuple[tuple[str, str], ...] = (
    ("ata-sanitize-crypto", "ATA Sanitize (crypto scramble)"),
    ("ata-sanitize-block", "ATA Sanitize (block erase)"),
    ("ata-sanitize-overwrite", "ATA Sanitize (overwrite)"),
    ("ata-security-erase-enhanced", "ATA Enhanced Security Erase"),
    ("ata-security-erase", "ATA Security Erase"),
    ("nvme-sanitize-crypto", "NVMe Sanitize (crypto erase)"),
    ("nvme-sanitize-block", "NVMe Sanitize (block erase)"),
    ("nvme-sanitize-overwrite", "NVMe Sanitize (overwrite)"),
    ("nvme-format-crypto", "NVMe Format (crypto erase)"),
    ("nvme-format-user-data", "NVMe Format (user data erase)"),
    ("scsi-sanitize-crypto", "SCSI Sanitize (crypto erase)"),
    ("scsi-sanitize-block", "SCSI Sanitize (block erase)"),
    ("scsi-sanitize-overwrite", "SCSI Sanitize (overwrite)"),
    ("scsi-format-unit", "SCSI Format Unit"),
    ("host-overwrite", "Overwrite by the station (every block written)"),
    ("destroy", "Physical destruction"),
    ("mmc-sanitize", "eMMC Sanitize (after an erase of every block)"),
    ("mmc-secure-erase", "eMMC Secure Erase"),
    ("mmc-secure-trim", "eMMC Secure Trim"),
)
"""Method ids and their human labels in token order: code = index + 1. Append only: a code,
once issued on a label, must keep its meaning."""
DESTINATION_LABELS = {
    "internal-reuse": "Reuse within the organisation",
    "external-reuse": "Reuse (passed on)",
    "recycling": "Recycling",
    "manufacturer": "Returned to the manufacturer",
    "destruction": "Destruction",
    "other": "Other",
    "undecided": "Not decided yet",
}
"""Human labels of the destination routes (the page shows these)."""


def placeholder_url_warning(base_url: str) -> str:
    """A warning when QR codes would point at the built-in placeholder `DEFAULT_BASE_URL`
    (``verify_base_url`` unset): a phone scanning a printed label reaches nothing ("" when a
    real base is set)."""
    if base_url and base_url != DEFAULT_BASE_URL:
        return ""
    return (
        f"QR codes point at the placeholder {DEFAULT_BASE_URL}: a phone scanning a printed "
        "label reaches nothing. Host the verify page ('sanitiser verify-page') and set "
        "verify_base_url (or SANITISER_VERIFY_BASE_URL) to its address."
    )


_HEAD1 = struct.Struct(">BBB16sII8s16sB")
_HEAD2 = struct.Struct(">BBBBB16sII8s16sQBBB")
_SIG_LEN = 64
_MAX_SERIAL = 40
_MAX_MAKE_MODEL = 40
_MAX_METHOD = 24
_FLAGS = {1: 0x07, 2: 0x3F}
_METHOD_CODES = {name: i + 1 for i, (name, _) in enumerate(METHODS)}
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True, slots=True)
class Token:
    """The decoded fields of a token (version 1 tokens leave the version 2 fields empty)."""

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
    version: int = 1
    serial_truncated: bool = False
    method: str = ""
    """The method id (a `METHODS` id, or the name the token spells out); "" in version 1."""
    method_truncated: bool = False
    make_model: str = ""
    make_model_truncated: bool = False
    capacity_bytes: int | None = None
    """None in version 1; 0 when the station did not know it."""
    destination: str = ""
    """A `DESTINATIONS` route; "" in version 1."""

    @property
    def method_label(self) -> str:
        """The method for people, e.g. ``NVMe Sanitize (crypto erase)`` ("" in version 1)."""
        return method_label(self.method) + ("\u2026" if self.method_truncated else "")


def method_label(method: str) -> str:
    """The human label of a method id (the id itself when it is not in `METHODS`)."""
    return dict(METHODS).get(method, method)


def destination_label(route: str) -> str:
    """The human label of a destination route (the route itself when unknown)."""
    return DESTINATION_LABELS.get(route, route)


_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB")


def human_bytes(n: int) -> str:
    """A byte count in decimal units, e.g. ``500 GB``, ``1.9 TB``, ``32.0 GB`` (exact rounding).

    Three significant figures at most: one decimal below 100 units, whole units above; halves
    round up. The page's script does the same in integer arithmetic, so both agree.
    """
    if n < 1000:
        return f"{n} B"
    k = 1
    while k + 1 < len(_UNITS) and n >= 1000 ** (k + 1):
        k += 1
    while True:
        unit = 1000**k
        tenths = (n * 10 + unit // 2) // unit
        if tenths < 1000:
            return f"{tenths // 10}.{tenths % 10} {_UNITS[k]}"
        whole = (n + unit // 2) // unit
        if whole < 1000 or k + 1 == len(_UNITS):
            return f"{whole} {_UNITS[k]}"
        k += 1


def capacity_text(n: int | None) -> str:
    """Capacity for people: ``500 GB (500,107,862,016 bytes)``; "unknown" for 0 or None."""
    if not n:
        return "unknown"
    return f"{human_bytes(n)} ({n:,} bytes)"


def make_model(device: Mapping[str, object]) -> str:
    """Manufacturer and model as one line: the model, prefixed with the manufacturer unless the
    model already starts with it (``Samsung SSD 860 EVO 500GB``)."""
    make = str(device.get("manufacturer") or "").strip()
    model = str(device.get("model") or "").strip()
    if make and not model.lower().startswith(make.lower()):
        return f"{make} {model}".strip()
    return model


def truncate_utf8(text: str, limit: int) -> tuple[bytes, bool]:
    """`text` as UTF-8 of at most `limit` bytes, cut at a character boundary; and whether cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return data, False
    while len(data) > limit:
        text = text[:-1]
        data = text.encode("utf-8")
    return data, True


def token_body(
    record: Record, signer_cert: x509.Certificate, signed_at: datetime, version: int = TOKEN_VERSION
) -> bytes:
    """The signed part of a token for `record` signed by `signer_cert` at `signed_at`.

    Args:
        record: the record the token stands for.
        signer_cert: the station certificate whose key signs.
        signed_at: when it is signed.
        version: 2 (what stations issue); 1 only to reproduce old labels in tests.

    Raises:
        CertificateError: the record has a value the token cannot carry.
    """
    outcome, sanitisation, device = record["outcome"], record["sanitisation"], record["device"]
    status = STATUSES.index(OutcomeStatus(outcome["status"]))
    category = CATEGORIES.index(NistCategory(sanitisation["nist_category"]))
    cid = uuid.UUID(record["certificate_id"]).bytes
    finished = int(parse_utc(sanitisation["finished_at"]).timestamp())
    serial, serial_cut = truncate_utf8(str(device["serial"]), _MAX_SERIAL)
    flags = (
        (1 if record.get("simulated") else 0)
        | (2 if record.get("development_key") else 0)
        | (4 if outcome.get("verified") else 0)
    )
    common = (
        cid,
        finished,
        int(signed_at.timestamp()),
        key_id(signer_cert),
        record_digest(record)[:16],
    )
    if version == 1:
        return _HEAD1.pack(1, flags, (status << 4) | category, *common, len(serial)) + serial
    if version != 2:
        raise CertificateError(f"cannot write token version {version}")
    method_id = str(sanitisation.get("method") or "")
    code = _METHOD_CODES.get(method_id, 0)
    method, method_cut = (b"", False) if code else truncate_utf8(method_id, _MAX_METHOD)
    names, names_cut = truncate_utf8(make_model(device), _MAX_MAKE_MODEL)
    route = str((record.get("destination") or {}).get("route") or "undecided")
    if route not in DESTINATIONS:
        raise CertificateError(f"the token cannot carry destination route {route!r}")
    capacity = int(device.get("capacity_bytes") or 0)
    if not 0 <= capacity < 1 << 64:
        raise CertificateError(f"the token cannot carry capacity {capacity}")
    flags |= (8 if serial_cut else 0) | (16 if names_cut else 0) | (32 if method_cut else 0)
    head = _HEAD2.pack(
        2,
        flags,
        (status << 4) | category,
        code,
        DESTINATIONS.index(route),
        *common,
        capacity,
        len(serial),
        len(names),
        len(method),
    )
    return head + serial + names + method


def make_token(verified: VerifiedRecord, signer: StationSigner, now: datetime | None = None) -> str:
    """Sign a (version 2) token for a verified record with the station key; returns its base32
    text. Only a `VerifiedRecord` is accepted: no token is signed for an unchecked record."""
    body = token_body(verified.record, signer.cert, now or datetime.now(UTC))
    r, s = ecdsa_sign(signer, body)
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
    return len(tok) >= 160 and all(c in _B32 for c in tok)


def token_text(data: bytes, what: str) -> str:
    """A token's text field, strictly UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CertificateError(f"the token's {what} is not UTF-8 (altered?)") from e


def token_bytes(text: str) -> bytes:
    """The raw bytes of a token (any version) or token URL, strictly decoded.

    Raises:
        UnusableInputError: not a token at all.
        CertificateError: not canonical base32 (it was altered).
    """
    tok = extract_token(text)
    if not tok or any(c not in _B32 for c in tok):
        raise UnusableInputError("not a sanitisation token (expected base32 text)")
    try:
        raw = base64.b32decode(tok + "=" * (-len(tok) % 8))
    except (binascii.Error, ValueError) as e:
        raise CertificateError("the token is not valid base32 (altered?)") from e
    if encode_token(raw) != tok:
        raise CertificateError("the token is not canonical base32 (altered?)")
    return raw


def decode_token(text: str) -> Token:
    """Decode a drive token (version 1 or 2) or token URL strictly (no verification yet).

    Raises:
        UnusableInputError: not a token at all.
        CertificateError: a token whose bytes do not parse (it was altered).
    """
    raw = token_bytes(text)
    if len(raw) < _HEAD1.size + _SIG_LEN:
        raise CertificateError("the token is too short (truncated or altered)")
    version, flags = raw[0], raw[1]
    if version not in TOKEN_VERSIONS:
        raise CertificateError(f"unknown token version {version}")
    head = _HEAD1 if version == 1 else _HEAD2
    if len(raw) < head.size + _SIG_LEN:
        raise CertificateError("the token is too short (truncated or altered)")
    if flags & ~_FLAGS[version]:
        raise CertificateError("the token has unknown flags set (altered?)")
    if version == 1:
        _, _, codes, cid, finished, signed, kid, digest, n = _HEAD1.unpack_from(raw)
        lengths = (n, 0, 0)
        method_code, route_code, capacity = 0, 0, 0
    else:
        (
            _,
            _,
            codes,
            method_code,
            route_code,
            cid,
            finished,
            signed,
            kid,
            digest,
            capacity,
            *ls,
        ) = _HEAD2.unpack_from(raw)
        lengths = (ls[0], ls[1], ls[2])
    if len(raw) != head.size + sum(lengths) + _SIG_LEN:
        raise CertificateError("the token length does not match its contents (altered?)")
    status_i, category_i = codes >> 4, codes & 0xF
    if status_i >= len(STATUSES) or category_i >= len(CATEGORIES):
        raise CertificateError("the token's status or category code is unknown (altered?)")
    body = raw[: len(raw) - _SIG_LEN]
    start = head.size
    s_end, d_end = start + lengths[0], start + lengths[0] + lengths[1]
    serial = token_text(body[start:s_end], "serial")
    token = Token(
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
    if version == 1:
        return token
    if method_code > len(METHODS) or route_code >= len(DESTINATIONS):
        raise CertificateError("the token's method or destination code is unknown (altered?)")
    if lengths[0] > _MAX_SERIAL or lengths[1] > _MAX_MAKE_MODEL or lengths[2] > _MAX_METHOD:
        raise CertificateError("the token's text is longer than a token allows (altered?)")
    if (method_code and lengths[2]) or (flags & 32 and not lengths[2]):
        raise CertificateError("the token's method fields disagree (altered?)")
    names = token_text(body[s_end:d_end], "make and model")
    method = METHODS[method_code - 1][0] if method_code else token_text(body[d_end:], "method")
    return replace(
        token,
        version=2,
        serial_truncated=bool(flags & 8),
        method=method,
        method_truncated=bool(flags & 32),
        make_model=names,
        make_model_truncated=bool(flags & 16),
        capacity_bytes=capacity,
        destination=DESTINATIONS[route_code],
    )


def check_token_signature(token: Token, signer_cert: x509.Certificate) -> None:
    """Check the token's signature with the station certificate's key.

    Raises:
        CertificateError: the key id or the signature does not match.
    """
    check_raw_signature(
        token.body, token.signature, token.signer_key_id, token.signed_at, signer_cert
    )


def check_raw_signature(
    body: bytes, signature: bytes, signer_key_id: bytes, signed_at: datetime, cert: x509.Certificate
) -> None:
    """Check a token's r||s signature over its body (any token version).

    Raises:
        CertificateError: the key id or the signature does not match.
    """
    if key_id(cert) != signer_key_id:
        raise CertificateError("the token names a different signer")
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise CertificateError("the signer's key is not an ECDSA key")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    check_low_s(s, "the token's signature", signed_at)
    try:
        public.verify(encode_dss_signature(r, s), body, ec.ECDSA(hashes.SHA256()))
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
