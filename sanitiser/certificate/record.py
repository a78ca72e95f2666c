"""The sanitisation record: built from an Outcome alone, serialised canonically, never edited.

A record is a plain JSON object (``dict``) of strings, integers, booleans, ``None``, lists and
objects: no floats, so its canonical bytes are the same on every machine. Those bytes are what the
station signs (`sanitiser.certificate.sign`).

Canonical JSON here means: keys sorted by code point, UTF-8, no insignificant whitespace
(separators ``,`` and ``:``), non-ASCII characters written as themselves, control characters
escaped as JSON requires. Parsing is as strict: duplicate keys, floats, NaN and non-canonical
bytes are refused.

The fields cover the NIST SP 800-88 Rev. 1 Appendix G sample Certificate of Sanitization (person,
media, sanitisation details, verification, destination, validation) and docs/STANDARDS.md §7.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sanitiser import __version__
from sanitiser.domain import (
    ByteRange,
    Drive,
    Health,
    MediaKind,
    Outcome,
    Verification,
)
from sanitiser.errors import CertificateError
from sanitiser.text import text_problem

RECORD_SCHEMA = "sanitiser.record/1"
"""Schema tag written into every record; bump it when a field changes meaning."""

DEVICE_SCHEMA = "sanitiser.device/1"
"""Schema tag of a device certificate's record (`sanitiser.assets.record`): a computer, its
grades and readiness, and its drives' certificates by id and SHA-256."""

MANIFEST_SCHEMA = "sanitiser.manifest/1"
"""Schema tag of a signed consignment manifest (`sanitiser.custody.manifest`): the devices
handed over to a destination, each by its certificate id and SHA-256."""

DEFAULT_STANDARD = "NIST SP 800-88 Rev. 1"
"""The standard a record claims when its context names none (the policy's ``standard`` is
what a job's record claims: `sanitiser.jobs.conclusion`)."""

DESTINATION_ROUTES = (
    "internal-reuse",
    "external-reuse",
    "recycling",
    "manufacturer",
    "destruction",
    "other",
    "undecided",
)
"""Where a drive goes next: the NIST App. G choices, plus destruction and "not decided yet"."""

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]
Record = dict[str, Any]
"""A record: a JSON object; see `build_record` for its fields."""


class UnusableInputError(CertificateError):
    """The input is not a record, certificate or token at all (as opposed to an invalid one)."""


def check_typed_text(fields: Iterable[tuple[str, str, str]]) -> None:
    """The last line of defence: a record never carries text a person could not read as it is.

    Every shell checks what is typed before anything happens (`sanitiser.text`); this checks
    again where records are built, so a caller that skipped those checks cannot put a newline
    (or a bidi override, a zero-width character ...) into a signed record.

    Args:
        fields: ``(where in the record, value, kind of field)`` for each typed field.

    Raises:
        CertificateError: naming the first field found and its problem.
    """
    for where, value, kind in fields:
        problem = text_problem(value, kind)
        if problem:
            raise CertificateError(f"the record's {where} {problem}")


@dataclass(frozen=True, slots=True)
class Person:
    """A person block of the NIST sample certificate (performer or validator)."""

    name: str = ""
    title: str = ""
    organisation: str = ""
    location: str = ""
    contact: str = ""
    """Phone or other contact."""

    def __post_init__(self) -> None:
        """The last line of defence: a record never carries text a person could not read as
        it is (see `sanitiser.text`)."""
        check_typed_text(
            (
                ("name", self.name, "operator"),
                ("title", self.title, "name"),
                ("organisation", self.organisation, "organisation"),
                ("location", self.location, "name"),
                ("contact", self.contact, "contact"),
            )
        )


@dataclass(frozen=True, slots=True)
class Destination:
    """Where the drive goes after sanitisation (NIST App. G "Media Destination")."""

    route: str = "undecided"
    """One of `DESTINATION_ROUTES`."""
    scheme: str = ""
    """The reuse scheme, recycler or destruction provider, e.g. ``London Device Bank``."""
    details: str = ""
    """Free text: ISO/IEC 21964 level, transfer note reference, recipient, ..."""


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What the technician enters about the medium (NIST App. G fields the drive cannot tell)."""

    property_number: str = ""
    """Organisationally assigned media or property number (asset tag)."""
    source: str = ""
    """Where the medium came from: user, host serial or property number."""
    pre_classification: str = ""
    post_classification: str = ""
    data_backed_up: str = "unknown"
    """``yes``, ``no`` or ``unknown``."""
    backup_location: str = ""
    notes: str = ""


@dataclass(frozen=True, slots=True)
class RecordContext:
    """Everything a record needs beyond the Outcome, Drive and Health."""

    organisation: str
    station: str
    operator: Person
    policy_name: str
    policy_version: str
    tool_name: str = "sanitiser"
    tool_version: str = __version__
    standard: str = DEFAULT_STANDARD
    """The standard and revision the record claims (docs/STANDARDS.md §1: store which one): a
    job's record claims its plan's, i.e. its policy's ``standard``."""
    destination: Destination = field(default_factory=Destination)
    media: MediaInfo = field(default_factory=MediaInfo)
    validator: Person | None = None
    """The NIST "Validation" block, when someone other than the operator validates."""
    captured: str = ""
    """Where the work was done when not on this bench's own drive bays: ``on-device`` (on the
    computer itself, run by the network agent and reported live to this bench) or ``off-bench``
    (on the computer with no bench in reach; its evidence, signed with the session's agent key,
    was checked at import). The record carries it as ``sanitisation.captured``, a key absent for
    the bench's own drives (so their records are as before)."""
    downgrade: str = ""
    """Why the plan chose a weaker category than its policy requires for the medium (the
    plan's ``downgrade``): the record carries it as ``sanitisation.downgrade``, a key absent
    when there was no downgrade (so records without one are as before)."""
    supersedes: str | None = None
    """The certificate id of a record this one corrects."""
    environment: tuple[tuple[str, str], ...] = ()
    """OS, kernel and helper-tool versions, as sorted pairs."""
    custody: tuple[int, str] | None = None
    """The station's custody chain at issuance, ``(seq, hash)`` of its head: signed into the
    record, so a chain later cut short or rewritten below it is caught (``audit verify``)."""


def _custody(context: RecordContext) -> Record:
    """The record's ``custody`` anchor (absent in records made without one)."""
    if context.custody is None:
        return {}
    seq, head = context.custody
    return {"custody": {"station": context.station, "seq": seq, "hash": head}}


def _downgrade(context: RecordContext) -> Record:
    """The record's ``sanitisation.downgrade`` (absent when the plan did not downgrade) and
    ``sanitisation.captured`` (absent for the bench's own drives)."""
    found: Record = {"downgrade": context.downgrade} if context.downgrade else {}
    if context.captured:
        found["captured"] = context.captured
    return found


def new_certificate_id(now_ms: int | None = None, rand: bytes | None = None) -> str:
    """A globally unique, time-ordered certificate id (UUIDv7, RFC 9562).

    Args:
        now_ms: milliseconds since the epoch (default: now).
        rand: 10 random bytes (default: from the OS).

    Returns:
        The id as a lower-case UUID string.
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    r = os.urandom(10) if rand is None else rand
    if len(r) != 10 or not 0 <= ms < 1 << 48:
        raise ValueError("UUIDv7 needs 48-bit milliseconds and 10 random bytes")
    value = (ms << 80) | int.from_bytes(r, "big")
    value &= ~(0xF << 76)
    value |= 0x7 << 76  # version 7
    value &= ~(0x3 << 62)
    value |= 0x2 << 62  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def utc_text(moment: datetime) -> str:
    """A timezone-aware datetime as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CertificateError(f"time {moment!r} has no timezone; records are in UTC")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    """Inverse of `utc_text`."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except (TypeError, ValueError) as e:
        raise CertificateError(f"bad UTC time {text!r} in record") from e


def nist_media_type(drive: Drive) -> str:
    """NIST "Media Type": ``magnetic``, ``flash``, ``virtual`` or ``unknown``."""
    kind = drive.media_kind
    if kind is MediaKind.HDD:
        return "magnetic"
    if kind in (MediaKind.SSD, MediaKind.NVME, MediaKind.USB_FLASH, MediaKind.MMC):
        return "flash"
    if kind is MediaKind.USB_DRIVE:
        return "magnetic" if drive.rotational else "flash"
    if kind is MediaKind.VIRTUAL:
        return "virtual"
    return "unknown"


TECHNIQUE_WORDS = ("overwrite", "block-erase", "crypto-erase", "degauss", "other")
"""NIST "Method Used" (r1 App. G: Degauss, Overwrite, Block Erase, Crypto Erase, Other; r2 calls
it the technique): the only words a record's ``sanitisation.technique`` takes."""

METHOD_TECHNIQUES: Mapping[str, str] = {
    # ATA SANITIZE (ACS-3): each sub-command names its technique.
    "ata-sanitize-crypto": "crypto-erase",  # CRYPTO SCRAMBLE EXT
    "ata-sanitize-block": "block-erase",  # BLOCK ERASE EXT
    "ata-sanitize-overwrite": "overwrite",  # OVERWRITE EXT
    # SECURITY ERASE UNIT (ACS-3): normal mode writes zeros or ones to every user data area;
    # enhanced mode writes a vendor pattern to them and to reallocated sectors. The drive does
    # the writing; how a flash drive's firmware realises it cannot be checked from the host
    # (hence only Clear on flash, r1 A-8), but the command is defined as an overwrite.
    "ata-security-erase-enhanced": "overwrite",
    "ata-security-erase": "overwrite",
    # NVMe Sanitize (NVMe Base 2.1, IEEE 2883): the action names the technique.
    "nvme-sanitize-crypto": "crypto-erase",
    "nvme-sanitize-block": "block-erase",
    "nvme-sanitize-overwrite": "overwrite",
    # Format NVM: SES=2 is a cryptographic erase; SES=1 (User Data Erase) leaves the content
    # "indeterminate" and lets the controller erase by any means, a crypto erase included, so no
    # one technique can be claimed for it (r1 A-8 lists it for Purge without naming one).
    "nvme-format-crypto": "crypto-erase",
    "nvme-format-user-data": "other",
    # SCSI SANITIZE (SBC-4): the service action names the technique.
    "scsi-sanitize-crypto": "crypto-erase",
    "scsi-sanitize-block": "block-erase",
    "scsi-sanitize-overwrite": "overwrite",
    # FORMAT UNIT (full format, no initialisation pattern): the drive initialises the medium in
    # a vendor-specific way; neither SBC nor r1 names a technique for it.
    "scsi-format-unit": "other",
    # eMMC (JEDEC JESD84-B51): ERASE then SANITIZE, secure erase and secure trim all erase whole
    # erase groups / write blocks in the part; none writes a pattern. Clear only (DELL-KB).
    "mmc-sanitize": "block-erase",
    "mmc-secure-erase": "block-erase",
    "mmc-secure-trim": "block-erase",
    # The station writes every addressable block itself.
    "host-overwrite": "overwrite",
    # Physical destruction (a plan that sends the drive there): none of the logical techniques.
    "destroy": "other",
}
"""The technique each method performs, by method name (the `Technique` values of
`sanitiser.probe.capabilities`, and ``destroy``), from what the standard defining each command
says it does (docs/STANDARDS.md §2.3, §7). A method outside this table must say its technique
in the Outcome's ``technique`` detail; `technique_of` refuses to guess."""


def technique_of(outcome: Outcome) -> str:
    """NIST "Method Used" (r2: technique): the ``technique`` detail the method gave, else the
    technique `METHOD_TECHNIQUES` lists for its method.

    Raises:
        CertificateError: the method is not in the table and gave no technique, or gave a word
            outside `TECHNIQUE_WORDS`: the record will not guess what was done.
    """
    explicit = dict(outcome.details).get("technique")
    if explicit:
        if explicit not in TECHNIQUE_WORDS:
            raise CertificateError(
                f"method {outcome.method!r} gave technique {explicit!r}; a record says one of "
                f"{', '.join(TECHNIQUE_WORDS)}"
            )
        return explicit
    technique = METHOD_TECHNIQUES.get(outcome.method)
    if technique is None:
        raise CertificateError(
            f"no known technique for method {outcome.method!r}: add it to METHOD_TECHNIQUES "
            "or have the method give a 'technique' detail; the record will not guess"
        )
    return technique


CAVEAT_KEYS = {
    "category_note": "NIST category",
    "not_covered": "Not reached",
    "note": "Reach",
    "readback_note": "Read-back",
    "password_left_on_drive": "ATA password",
}
"""The method details that qualify what a record claims (its caveats), with their printed
labels, in the order they are printed. Any other detail whose name ends in ``_note`` is a
caveat too."""


def record_caveats(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The caveats a record carries, as (label, text), in full: the method details that
    qualify its claim (`CAVEAT_KEYS`, and any ``*_note``), e.g. that a crypto erase is Purge
    only if all data was encrypted from the start. Pure; every rendering prints these uncut."""
    san = record.get("sanitisation")
    details = san.get("details") if isinstance(san, Mapping) else None
    if not isinstance(details, Mapping):
        return []
    order = list(CAVEAT_KEYS)
    found = []
    for key, value in details.items():
        text = str(value).strip()
        if not is_caveat(str(key)) or not text:
            continue
        if key == "password_left_on_drive" and text == "no":
            continue  # says nothing was left behind: not a caveat
        label = (
            CAVEAT_KEYS.get(key) or str(key).removesuffix("_note").replace("_", " ").capitalize()
        )
        found.append((order.index(key) if key in order else len(order), str(key), label, text))
    return [(label, text) for _, _, label, text in sorted(found)]


def is_caveat(key: str) -> bool:
    """True when a method detail is a caveat (`record_caveats` prints it on its own)."""
    return key in CAVEAT_KEYS or key.endswith("_note")


def _ranges(ranges: tuple[ByteRange, ...]) -> list[JsonValue]:
    return [{"start": r.start, "length": r.length} for r in ranges]


def _health(health: Health | None) -> JsonValue:
    if health is None:
        return None
    return {
        "grade": str(health.grade),
        "reasons": list(health.reasons),
        "smart_available": health.smart_available,
        "smart_passed": health.smart_passed,
        "power_on_hours": health.power_on_hours,
        "reallocated_sectors": health.reallocated_sectors,
        "reported_uncorrectable": health.reported_uncorrectable,
        "pending_sectors": health.pending_sectors,
        "offline_uncorrectable": health.offline_uncorrectable,
        "percentage_used": health.percentage_used,
        "media_errors": health.media_errors,
        "critical_warning": health.critical_warning,
        "grown_defects": health.grown_defects,
        "temperature_c": health.temperature_c,
    }


def verification_result(verification: Verification | None) -> str:
    """``pass``, ``fail`` or ``unverifiable`` (docs/STANDARDS.md §7)."""
    if verification is None or verification.mode == "none":
        return "unverifiable"
    return "pass" if verification.passed else "fail"


def _verification(verification: Verification | None) -> JsonValue:
    result = verification_result(verification)
    if verification is None:
        return {"mode": "none", "result": result}
    return {
        "mode": verification.mode,
        "result": result,
        "passed": verification.passed,
        "bytes_checked": verification.bytes_checked,
        "samples": verification.samples,
        "coverage_ppm": verification.coverage_ppm,
        "canaries_written": verification.canaries_written,
        "canaries_surviving": verification.canaries_surviving,
        "expected": verification.expected,
        "mismatched": _ranges(verification.mismatched),
        "unreadable": _ranges(verification.unreadable),
    }


def _person(person: Person | None) -> JsonValue:
    if person is None:
        return None
    return {
        "name": person.name,
        "title": person.title,
        "organisation": person.organisation,
        "location": person.location,
        "contact": person.contact,
    }


def _check_context_text(context: RecordContext) -> None:
    """Every typed field of the context (the person blocks check themselves when made)."""
    media, destination = context.media, context.destination
    check_typed_text(
        (
            ("organisation", context.organisation, "organisation"),
            ("station", context.station, "station"),
            ("policy name", context.policy_name, "name"),
            ("policy version", context.policy_version, "name"),
            ("standard", context.standard, "details"),
            ("destination scheme", destination.scheme, "scheme"),
            ("destination details", destination.details, "details"),
            ("property number", media.property_number, "tag"),
            ("media source", media.source, "name"),
            ("classification before", media.pre_classification, "name"),
            ("classification after", media.post_classification, "name"),
            ("backup location", media.backup_location, "name"),
            ("notes", media.notes, "notes"),
        )
    )


def build_record(
    outcome: Outcome,
    drive: Drive,
    health_before: Health | None,
    context: RecordContext,
    *,
    certificate_id: str,
    issued_at: datetime,
    health_after: Health | None = None,
    development: bool = False,
) -> Record:
    """The record for one drive: facts only, from the Outcome, Drive, Health and context.

    Args:
        outcome: what was done and verified.
        drive: the drive as identified before acting.
        health_before: SMART health before sanitisation (None when unknown).
        context: organisation, station, operator, policy, destination, supersedes, ...
        certificate_id: a globally unique id (`new_certificate_id`).
        issued_at: when the record is issued (timezone-aware).
        health_after: SMART health afterwards, when read.
        development: True when a development key will sign it (it then says DEVELOPMENT KEY).

    Returns:
        The record, ready for `canonical_json`.

    Raises:
        CertificateError: a time has no timezone, the destination route is unknown, or a
            typed field carries text a record may not (`check_typed_text`).
    """
    if context.destination.route not in DESTINATION_ROUTES:
        raise CertificateError(
            f"unknown destination route {context.destination.route!r}; "
            f"use one of {', '.join(DESTINATION_ROUTES)}"
        )
    if context.media.data_backed_up not in ("yes", "no", "unknown"):
        raise CertificateError("data_backed_up must be yes, no or unknown")
    _check_context_text(context)
    started = utc_text(outcome.started_at)
    finished = utc_text(outcome.finished_at)
    duration = int((outcome.finished_at - outcome.started_at).total_seconds())
    media = context.media
    record: Record = {
        "schema": RECORD_SCHEMA,
        "certificate_id": certificate_id,
        "issued_at": utc_text(issued_at),
        "supersedes": context.supersedes,
        **_custody(context),
        "simulated": drive.simulated,
        "development_key": development,
        "organisation": context.organisation,
        "station": context.station,
        "operator": _person(context.operator),
        "validator": _person(context.validator),
        "device": {
            "manufacturer": drive.vendor,
            "model": drive.model,
            "serial": drive.serial,
            "wwn": drive.wwn,
            "firmware": drive.firmware,
            "capacity_bytes": drive.size_bytes,
            "logical_sector_size": drive.logical_sector_size,
            "physical_sector_size": drive.physical_sector_size,
            "transport": str(drive.transport),
            "media_kind": str(drive.media_kind),
            "media_type": nist_media_type(drive),
            "rotational": drive.rotational,
            "removable": drive.removable,
            "path": drive.path,
            "by_id": drive.by_id,
            "property_number": media.property_number,
            "source": media.source,
        },
        "classification": {"before": media.pre_classification, "after": media.post_classification},
        "backup": {"data_backed_up": media.data_backed_up, "location": media.backup_location},
        "health": {"before": _health(health_before), "after": _health(health_after)},
        "sanitisation": {
            "standard": context.standard,
            "nist_category": str(outcome.nist_category),
            "method": outcome.method,
            "technique": technique_of(outcome),
            **_downgrade(context),
            "details": {k: v for k, v in sorted(outcome.details)},
            "commands": [
                {
                    "argv": list(c.argv),
                    "returncode": c.returncode,
                    "stdout_tail": c.stdout_tail,
                    "stderr_tail": c.stderr_tail,
                }
                for c in outcome.commands
            ],
            "hpa_dco": outcome.hpa_dco,
            "started_at": started,
            "finished_at": finished,
            "duration_seconds": duration,
        },
        "verification": _verification(outcome.verification),
        "outcome": {
            "status": str(outcome.status),
            "verified": outcome.verified,
            "reason": outcome.reason,
            "failed_ranges": _ranges(outcome.failed_ranges),
        },
        "destination": {
            "route": context.destination.route,
            "scheme": context.destination.scheme,
            "details": context.destination.details,
        },
        "tool": {
            "name": context.tool_name,
            "version": context.tool_version,
            "environment": {k: v for k, v in sorted(context.environment)},
        },
        "policy": {"name": context.policy_name, "version": context.policy_version},
        "notes": media.notes,
    }
    canonical_json(record)  # fail here, not at signing, if something is not representable
    return record


# --- canonical JSON -------------------------------------------------------------------------


def _check(value: object, path: str) -> None:
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise CertificateError(f"{path}: string is not valid Unicode") from e
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise CertificateError(f"{path}: floats are not allowed in a record")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CertificateError(f"{path}: object keys must be strings")
            _check(key, f"{path}.<key>")
            _check(item, f"{path}.{key}")
        return
    raise CertificateError(f"{path}: {type(value).__name__} is not allowed in a record")


def canonical_json(value: object) -> bytes:
    """The canonical bytes of a JSON value: sorted keys, UTF-8, no whitespace, no floats.

    Raises:
        CertificateError: the value holds a float, a non-string key, a tuple, a lone
            surrogate or anything else that is not plain JSON.
    """
    _check(value, "$")
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise UnusableInputError(f"duplicate key {key!r} in JSON")
        result[key] = value
    return result


def _no_float(text: str) -> Any:
    raise UnusableInputError(f"number {text} is not an integer; records hold no floats")


def _no_constant(text: str) -> Any:
    raise UnusableInputError(f"{text} is not allowed in a record")


def parse_json(data: bytes) -> Any:
    """Parse JSON strictly: UTF-8, no duplicate keys, no floats, no NaN/Infinity.

    Raises:
        UnusableInputError: the bytes are not such JSON.
    """
    try:
        text = data.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except UnicodeDecodeError as e:
        raise UnusableInputError("not UTF-8 text") from e
    except (json.JSONDecodeError, RecursionError) as e:
        raise UnusableInputError(f"not valid JSON: {e}") from e


def parse_lenient(data: bytes) -> Any:
    """What JSON-ish bytes hold when read leniently (a BOM, duplicate keys and floats allowed),
    or None: to tell a damaged signed record from something that is not a record at all."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def parse_canonical(data: bytes) -> Any:
    """Parse bytes that must be canonical JSON (optionally followed by one newline).

    Raises:
        UnusableInputError: not JSON.
        CertificateError: valid JSON, but not byte-for-byte canonical (it was edited).
    """
    value = parse_json(data)
    body = data[:-1] if data.endswith(b"\n") else data
    if canonical_json(value) != body:
        raise CertificateError("the JSON is not in canonical form: it was edited after signing")
    return value


def record_digest(record: Record) -> bytes:
    """SHA-256 of the record's canonical bytes."""
    return hashlib.sha256(canonical_json(record)).digest()
