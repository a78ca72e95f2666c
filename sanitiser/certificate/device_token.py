"""The device token: what a QR label on a laptop carries, signed, so a charity's phone can see
what was done to the device without a network (token version 3; versions 1 and 2 are drive
tokens, `sanitiser.certificate.qr`).

Layout (big-endian; text UTF-8; ends with a 64-byte ECDSA P-256 r||s over SHA-256 of the rest)::

    0      version = 3
    1      flags: bit 0 simulated, bit 1 development key, bit 2 ready for reuse,
           bit 3 every drive sanitised, bit 4 tag truncated, bit 5 make/model truncated,
           bit 6 CPU truncated, bit 7 more drives than listed
    2      cosmetic grade (0 none, 1-4 = A-D) << 4 | destination (`DEVICE_ROUTES` index)
    3-18   certificate id (UUID, 16 bytes)
    19-22  issued at (seconds since the epoch, UTC, uint32)
    23-26  token signed at (uint32)
    27-34  signer key id (first 8 bytes of SHA-256 of the station certificate DER)
    35-50  record digest (first 16 bytes of SHA-256 of the canonical device record)
    51-52  memory in MiB / 1024 rounded, i.e. GiB (uint16; 0 = not recorded)
    53-56  sanitised storage in whole GB (uint32; 0 = none)
    57     battery health in % (255 = not recorded)
    58     n = drives listed (at most 8)
    59     t = length of the tag (at most 24 bytes)
    60     d = length of the make and model (at most 40 bytes)
    61     c = length of the CPU (at most 40 bytes)
    62..   tag, make and model, CPU, then per drive 2 bytes: status index << 4 | NIST category
           index (`qr.STATUSES`, `qr.CATEGORIES`), method code (`qr.METHODS` index + 1; 0 other)
    last 64 bytes: signature

A typical laptop (tag 8, make and model 24, CPU 40, two drives) is 200 bytes: 320 base32
characters, QR version 12 with error correction M, which a phone reads from a 29 mm label at
the label printer's 300 dpi.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509

from sanitiser.certificate.keys import StationSigner, ecdsa_sign, key_id
from sanitiser.certificate.qr import (
    CATEGORIES,
    METHODS,
    STATUSES,
    encode_token,
    make_model,
    token_text,
    truncate_utf8,
)
from sanitiser.certificate.record import DEVICE_SCHEMA, Record, parse_utc, record_digest
from sanitiser.certificate.sign import VerifiedRecord
from sanitiser.domain import NistCategory, OutcomeStatus
from sanitiser.errors import CertificateError

DEVICE_TOKEN_VERSION = 3
DEVICE_ROUTES = ("undecided", "reuse", "recycle", "destroy")
"""A device's destination in token order: code = index. Append only."""
GRADES = ("", "A", "B", "C", "D")
_HEAD = struct.Struct(">BBB16sII8s16sHIBBBBB")
_SIG_LEN = 64
_MAX_TAG, _MAX_NAMES, _MAX_CPU, _MAX_DRIVES = 24, 40, 40, 8
_METHOD_CODES = {name: i + 1 for i, (name, _) in enumerate(METHODS)}


@dataclass(frozen=True, slots=True)
class DriveLine:
    """One drive as the device token lists it."""

    status: OutcomeStatus
    category: NistCategory
    method: str
    """A `METHODS` id, or "" when the method is not in the table."""


@dataclass(frozen=True, slots=True)
class DeviceToken:
    """The decoded fields of a device token."""

    simulated: bool
    development: bool
    ready: bool
    all_sanitised: bool
    grade: str
    destination: str
    certificate_id: str
    issued_at: datetime
    signed_at: datetime
    signer_key_id: bytes
    digest_prefix: bytes
    ram_gib: int
    storage_gb: int
    battery_pct: int | None
    tag: str
    make_model: str
    cpu: str
    drives: tuple[DriveLine, ...]
    more_drives: bool
    truncated: tuple[str, ...]
    """Which texts were cut to fit (``tag``, ``make/model``, ``cpu``)."""
    body: bytes
    signature: bytes


def device_token_body(record: Record, signer_cert: x509.Certificate, signed_at: datetime) -> bytes:
    """The signed part of a device token for a device record.

    Raises:
        CertificateError: not a device record, or a value the token cannot carry.
    """
    if record.get("schema") != DEVICE_SCHEMA:
        raise CertificateError("a device token is made from a device record only")
    device, facts = record["device"], record.get("facts") or {}
    readiness, grade = record.get("readiness") or {}, record.get("grade") or {}
    route = str((record.get("destination") or {}).get("route") or "undecided")
    if route not in DEVICE_ROUTES:
        raise CertificateError(f"the device token cannot carry destination {route!r}")
    cosmetic = str(grade.get("cosmetic") or "")
    if cosmetic not in GRADES:
        raise CertificateError(f"the device token cannot carry grade {cosmetic!r}")
    tag, tag_cut = truncate_utf8(str(device.get("tag") or ""), _MAX_TAG)
    names, names_cut = truncate_utf8(
        make_model({"manufacturer": device.get("make"), "model": device.get("model")}),
        _MAX_NAMES,
    )
    cpu, cpu_cut = truncate_utf8(str(facts.get("cpu") or ""), _MAX_CPU)
    drives = list(record.get("drives") or [])
    lines = b""
    for d in drives[:_MAX_DRIVES]:
        status = STATUSES.index(OutcomeStatus(d["outcome"]))
        category = CATEGORIES.index(NistCategory(d["nist_category"]))
        method = str(d.get("method") or "")
        lines += bytes(((status << 4) | category, _METHOD_CODES.get(method, 0)))
    ram = facts.get("ram_bytes")
    ram_gib = min(round(ram / 2**30), 0xFFFF) if isinstance(ram, int) else 0
    storage = sum(
        int(d.get("capacity_bytes") or 0) for d in drives if d.get("outcome") == "sanitised"
    )
    battery = facts.get("battery_health_pct")
    flags = (
        (1 if record.get("simulated") else 0)
        | (2 if record.get("development_key") else 0)
        | (4 if readiness.get("ready") else 0)
        | (8 if record.get("all_sanitised") else 0)
        | (16 if tag_cut else 0)
        | (32 if names_cut else 0)
        | (64 if cpu_cut else 0)
        | (128 if len(drives) > _MAX_DRIVES else 0)
    )
    head = _HEAD.pack(
        DEVICE_TOKEN_VERSION,
        flags,
        (GRADES.index(cosmetic) << 4) | DEVICE_ROUTES.index(route),
        uuid.UUID(record["certificate_id"]).bytes,
        int(parse_utc(record["issued_at"]).timestamp()),
        int(signed_at.timestamp()),
        key_id(signer_cert),
        record_digest(record)[:16],
        ram_gib,
        min(storage // 10**9, 0xFFFFFFFF),
        min(int(battery), 254) if isinstance(battery, int) else 255,
        min(len(drives), _MAX_DRIVES),
        len(tag),
        len(names),
        len(cpu),
    )
    return head + tag + names + cpu + lines


def make_device_token(
    verified: VerifiedRecord, signer: StationSigner, now: datetime | None = None
) -> str:
    """Sign a device token for a verified device record; returns its base32 text."""
    body = device_token_body(verified.record, signer.cert, now or datetime.now(UTC))
    r, s = ecdsa_sign(signer, body)
    return encode_token(body + r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def decode_device_token(raw: bytes) -> DeviceToken:
    """Decode a version 3 token's bytes strictly (no verification yet).

    Raises:
        CertificateError: the bytes do not parse as a device token (altered or cut short).
    """
    if len(raw) < _HEAD.size + _SIG_LEN or raw[0] != DEVICE_TOKEN_VERSION:
        raise CertificateError("the device token is too short (truncated or altered)")
    (_, flags, codes, cid, issued, signed, kid, digest, ram, storage, battery, n, t, d, c) = (
        _HEAD.unpack_from(raw)
    )
    if len(raw) != _HEAD.size + t + d + c + 2 * n + _SIG_LEN:
        raise CertificateError("the token length does not match its contents (altered?)")
    if t > _MAX_TAG or d > _MAX_NAMES or c > _MAX_CPU or n > _MAX_DRIVES:
        raise CertificateError("the token's text is longer than a token allows (altered?)")
    grade_i, route_i = codes >> 4, codes & 0xF
    if grade_i >= len(GRADES) or route_i >= len(DEVICE_ROUTES) or battery in range(201, 255):
        raise CertificateError("the token's grade, destination or battery code is unknown")
    body = raw[: len(raw) - _SIG_LEN]
    at = _HEAD.size
    tag, names, cpu = (
        token_text(body[at : at + t], "tag"),
        token_text(body[at + t : at + t + d], "make and model"),
        token_text(body[at + t + d : at + t + d + c], "CPU"),
    )
    drives: list[DriveLine] = []
    for i in range(n):
        code, method = body[at + t + d + c + 2 * i], body[at + t + d + c + 2 * i + 1]
        if code >> 4 >= len(STATUSES) or code & 0xF >= len(CATEGORIES) or method > len(METHODS):
            raise CertificateError("a drive's code in the token is unknown (altered?)")
        drives.append(
            DriveLine(
                STATUSES[code >> 4],
                CATEGORIES[code & 0xF],
                METHODS[method - 1][0] if method else "",
            )
        )
    cut = tuple(name for bit, name in ((16, "tag"), (32, "make/model"), (64, "cpu")) if flags & bit)
    return DeviceToken(
        simulated=bool(flags & 1),
        development=bool(flags & 2),
        ready=bool(flags & 4),
        all_sanitised=bool(flags & 8),
        grade=GRADES[grade_i],
        destination=DEVICE_ROUTES[route_i],
        certificate_id=str(uuid.UUID(bytes=cid)),
        issued_at=datetime.fromtimestamp(issued, UTC),
        signed_at=datetime.fromtimestamp(signed, UTC),
        signer_key_id=kid,
        digest_prefix=digest,
        ram_gib=ram,
        storage_gb=storage,
        battery_pct=None if battery == 255 else battery,
        tag=tag,
        make_model=names,
        cpu=cpu,
        drives=tuple(drives),
        more_drives=bool(flags & 128),
        truncated=cut,
        body=body,
        signature=raw[-_SIG_LEN:],
    )
