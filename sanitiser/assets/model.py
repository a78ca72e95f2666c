"""Devices as organisations retire them (a laptop, a monitor, a dock), not drives: what the
technician records at intake and at the grading bench, as plain values.

A *device* here is the whole computer or peripheral; the drives inside it are linked to it by
their drive key (`sanitiser.store.identity.drive_key`). The package is called ``assets`` so it
does not read as `sanitiser.devices` (block devices: discovery and the guard).

Pure: every function here checks or derives values; nothing runs a command or touches a store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from sanitiser.errors import SanitiserError
from sanitiser.inventory.model import HostInventory, inventory_to_json
from sanitiser.policy.devices import CHECK_NAMES, GRADES
from sanitiser.text import clean_text


class DeviceError(SanitiserError):
    """A device step was refused: an unknown tag, a bad kind or grade, a drive linked twice."""


class DeviceKind(StrEnum):
    """What kind of device arrived."""

    LAPTOP = "laptop"
    DESKTOP = "desktop"
    TABLET = "tablet"
    PHONE = "phone"
    MONITOR = "monitor"
    DOCK = "docking-station"
    OTHER = "other"


NO_DATA_MEDIA: Final = frozenset({DeviceKind.MONITOR, DeviceKind.DOCK})
"""Kinds that hold no data-bearing media: routed without an erase, and recorded as such."""


class DeviceState(StrEnum):
    """Where a device is in its life at the bench (each step is a custody event)."""

    RECEIVED = "received"
    SANITISED = "sanitised"
    """Every linked drive has a certificate saying it was sanitised and verified."""
    GRADED = "graded"
    READY = "ready"
    HANDED_OVER = "handed-over"
    RECYCLED = "recycled"
    DESTROYED = "destroyed"


LIFECYCLE: Final = (
    DeviceState.RECEIVED,
    DeviceState.SANITISED,
    DeviceState.GRADED,
    DeviceState.READY,
)
"""The states a device moves through at the bench, in order; it never moves back."""

LEFT: Final = frozenset({DeviceState.HANDED_OVER, DeviceState.RECYCLED, DeviceState.DESTROYED})
"""The end states: the device has left our custody (one of them, for good)."""


def later_state(a: DeviceState, b: DeviceState) -> DeviceState:
    """The state further on of two records of one device (two benches, or a bench and its
    offline journal): the lifecycle only moves forward, so the further one holds.

    Raises:
        DeviceError: the two have left by different ends (handed over on one, destroyed on
            the other): no state follows from both.
    """
    if a == b:
        return a
    if a in LEFT and b in LEFT:
        raise DeviceError(f"it left as {a.value} on one side and as {b.value} on the other")
    if a in LEFT or b in LEFT:
        return a if a in LEFT else b
    return a if LIFECYCLE.index(a) > LIFECYCLE.index(b) else b


@dataclass(frozen=True, slots=True)
class Departure:
    """How a device or drive left our custody: how, when, in which consignment, to whom.

    Read from the store (the consignment it was closed in, else its custody entry); the one
    rule that uses it is `refuse_if_left`."""

    state: str
    """``handed-over``, ``recycled`` or ``destroyed``."""
    at: datetime | None = None
    consignment_id: str = ""
    destination: str = ""
    """To whom (the destination and its collector, or what ``--to`` named)."""
    inside: str = ""
    """The device a drive left inside ("" for a drive that left on its own, or a device)."""

    def describe(self) -> str:
        """One line: ``handed-over on 2026-01-02 10:11 UTC in consignment C to R (Jo)``."""
        parts = [f"inside device {self.inside}, " if self.inside else "", self.state]
        if self.at is not None:
            parts.append(f" on {self.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
        if self.consignment_id:
            parts.append(f" in consignment {self.consignment_id}")
        if self.destination:
            parts.append(f" to {self.destination}")
        return "".join(parts)


class LeftCustodyError(DeviceError):
    """A step on a device or drive that has left our custody: nothing changes after it left."""


def refuse_if_left(what: str, departure: Departure | None, step: str) -> None:
    """The custody rule every step on a device or drive obeys: once it has left (handed over,
    recycled, destroyed), nothing about it is changed, linked, certified or consigned again;
    a signed record made now would claim what we can no longer see.

    Args:
        what: ``device LBC-1`` or ``drive SERIAL``.
        departure: how it left, None while it is still in our custody.
        step: what was asked, as a past participle (``graded``, ``linked`` ...).

    Raises:
        LeftCustodyError: it has left, saying how, when and where.
    """
    if departure is not None:
        raise LeftCustodyError(
            f"{what} has left our custody ({departure.describe()}): it cannot be {step} now"
        )


COSMETIC_GRADES: Final = GRADES
"""A: as new; B: light wear; C: visible wear or marks; D: damaged (parts or recycling)."""

CHECKS: Final = CHECK_NAMES
"""The functional checks a technician records (``pass``, ``fail`` or ``n/a`` each)."""

CHECK_RESULTS: Final = ("pass", "fail", "n/a")

LOCKS: Final = ("bios-password", "mdm-enrolment", "activation-lock")
"""Locks the technician notes (each ``present``, ``cleared`` or ``none``)."""

LOCK_STATES: Final = ("present", "cleared", "none")

_TAG: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:#-]{0,63}")
"""What an asset or service tag may be: what a barcode carries, no blanks (matched whole)."""


def check_tag(value: str, what: str = "tag") -> str:
    """`value` as a device tag (stripped), or why not.

    Raises:
        DeviceError: empty, too long, or holding characters a barcode tag does not.
    """
    text = clean_text(value, what, kind="tag", required=True)
    if not _TAG.fullmatch(text):
        raise DeviceError(
            f"{what} {text!r} is not a tag: 1-64 letters, digits or . _ / : # -, "
            "starting with a letter or digit"
        )
    return text


def tag_key(tag: str) -> str:
    """The form two tags are compared in (``lbc-0199`` and ``LBC-0199`` are one device)."""
    return tag.upper()


DEVICE_SUBJECT_PREFIX: Final = "device:"


def device_subject(tag: str) -> str:
    """A device's subject in the custody chain and in consignments (drives have theirs)."""
    return f"{DEVICE_SUBJECT_PREFIX}{tag_key(tag)}"


def parse_kind(value: str) -> DeviceKind:
    """`value` as a `DeviceKind` (``dock`` for short too).

    Raises:
        DeviceError: not a kind, naming the kinds there are.
    """
    text = value.strip().lower()
    if text == "dock":
        return DeviceKind.DOCK
    try:
        return DeviceKind(text)
    except ValueError:
        kinds = ", ".join(k.value for k in DeviceKind)
        raise DeviceError(f"unknown device kind {value!r}: one of {kinds}") from None


def check_grade(value: str) -> str:
    """`value` as a cosmetic grade (A-D).

    Raises:
        DeviceError: not one of `COSMETIC_GRADES`.
    """
    grade = value.strip().upper()
    if grade not in COSMETIC_GRADES:
        raise DeviceError(f"cosmetic grade {value!r}: one of {', '.join(COSMETIC_GRADES)}")
    return grade


def _pair(
    text: str, what: str, names: tuple[str, ...], values: tuple[str, ...], eg: str
) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    name, value = name.strip().lower(), value.strip().lower()
    if not sep:
        raise DeviceError(f"{what} {text!r}: write NAME={'|'.join(values)}, e.g. {eg}")
    if name not in names:
        raise DeviceError(f"unknown {what} {name!r}: one of {', '.join(names)}")
    if value not in values:
        raise DeviceError(f"{what} {name}: {value!r} is not one of {', '.join(values)}")
    return name, value


def parse_check(text: str) -> tuple[str, str]:
    """``NAME=RESULT`` (``screen=pass``) as a checked pair.

    Raises:
        DeviceError: not NAME=RESULT, an unknown check or result.
    """
    return _pair(text, "check", CHECKS, CHECK_RESULTS, "screen=pass")


def parse_lock(text: str) -> tuple[str, str]:
    """``NAME=STATE`` (``bios-password=cleared``) as a checked pair.

    Raises:
        DeviceError: not NAME=STATE, an unknown lock or state.
    """
    return _pair(text, "lock", LOCKS, LOCK_STATES, "bios-password=cleared")


@dataclass(frozen=True, slots=True)
class Check:
    """One functional check, who made it and when."""

    result: str
    operator: str
    at: str
    """UTC ISO time."""

    def as_json(self) -> dict[str, str]:
        """Plain JSON."""
        return {"result": self.result, "operator": self.operator, "at": self.at}


INTAKE_FIELDS: Final = ("tag", "service_tag", "kind", "make", "model", "serial", "lot")
"""What is typed or scanned at intake (besides notes), in the order records list it."""


@dataclass(frozen=True, slots=True)
class Intake:
    """What the technician types or scans when a device arrives."""

    kind: DeviceKind
    tag: str
    """The asset tag (or service tag) the device is known by at the bench."""
    service_tag: str = ""
    make: str = ""
    model: str = ""
    serial: str = ""
    lot: str = ""
    """The collection or lot it came in with (the customer or sending organisation)."""
    notes: str = ""


def check_intake(
    *,
    kind: str,
    tag: str,
    service_tag: str = "",
    make: str = "",
    model: str = "",
    serial: str = "",
    lot: str = "",
    notes: str = "",
) -> Intake:
    """The intake as typed, checked (one check for CLI, TUI and scanner).

    Raises:
        DeviceError, TextInputError: what is wrong, naming the field.
    """
    return Intake(
        kind=parse_kind(kind),
        tag=check_tag(tag),
        service_tag=check_tag(service_tag, "service tag") if service_tag.strip() else "",
        make=clean_text(make, "make", kind="name"),
        model=clean_text(model, "model", kind="model"),
        serial=clean_text(serial, "serial", kind="tag"),
        lot=clean_text(lot, "lot", kind="name"),
        notes=clean_text(notes, "notes"),
    )


@dataclass(frozen=True, slots=True)
class LinkedDrive:
    """A drive linked to a device, with what its latest signed record says (if any)."""

    drive_key: str
    serial: str
    model: str
    linked_at: datetime
    linked_by: str
    certificate_id: str = ""
    """Its latest certificate ("" when none has been issued yet)."""
    record_sha256: str = ""
    """SHA-256 of that certificate's canonical signed record (`record_digest`): the value the
    device certificate, its export and the consignment manifest name it by."""
    outcome: str = ""
    """``sanitised``, ``not-sanitised``, ... as its record says ("" without one)."""
    method: str = ""
    verification: str = ""
    capacity_bytes: int = 0
    """As its record states (0 without one)."""
    simulated: bool = False

    @property
    def sanitised(self) -> bool:
        """True when its record says it was sanitised and verified."""
        return self.outcome == "sanitised"

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "drive_key": self.drive_key,
            "serial": self.serial,
            "model": self.model,
            "linked_at": self.linked_at.isoformat(),
            "linked_by": self.linked_by,
            "certificate_id": self.certificate_id,
            "record_sha256": self.record_sha256,
            "outcome": self.outcome,
            "method": self.method,
            "verification": self.verification,
            "capacity_bytes": self.capacity_bytes,
            "simulated": self.simulated,
        }


@dataclass(frozen=True, slots=True)
class Device:
    """A device as recorded."""

    intake: Intake
    state: DeviceState
    received_at: datetime
    received_by: str
    station: str
    cosmetic: str = ""
    """A-D, "" until graded."""
    checks: Mapping[str, Check] = field(default_factory=dict)
    locks: Mapping[str, str] = field(default_factory=dict)
    inventory: HostInventory | None = None
    """The computer's own facts (DMI, CPU, memory, batteries, TPM ...), None until recorded."""
    inventory_source: str = ""
    """Where they came from: ``dmidecode`` (a file captured on the device), ``agent`` (read by
    our agent on the device itself), ``typed`` (the technician)."""
    drives: tuple[LinkedDrive, ...] = ()
    destination: str = ""
    """Where it went (the last routing or hand-over), "" until decided."""
    certificate_id: str = ""
    """Its device certificate ("" until issued)."""

    @property
    def tag(self) -> str:
        """The tag it is known by."""
        return self.intake.tag

    @property
    def kind(self) -> DeviceKind:
        """Its kind."""
        return self.intake.kind

    @property
    def holds_data(self) -> bool:
        """False for monitors and docks: nothing to erase."""
        return self.intake.kind not in NO_DATA_MEDIA

    @property
    def all_sanitised(self) -> bool:
        """Every linked drive's record says sanitised (and at least one drive is linked)."""
        return bool(self.drives) and all(d.sanitised for d in self.drives)

    @property
    def graded(self) -> bool:
        """A cosmetic grade has been given."""
        return bool(self.cosmetic)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON (what ``device show --json`` prints, without readiness)."""
        i = self.intake
        return {
            "tag": i.tag,
            "service_tag": i.service_tag,
            "kind": i.kind.value,
            "make": i.make,
            "model": i.model,
            "serial": i.serial,
            "lot": i.lot,
            "notes": i.notes,
            "state": self.state.value,
            "station": self.station,
            "received_at": self.received_at.isoformat(),
            "received_by": self.received_by,
            "holds_data": self.holds_data,
            "cosmetic": self.cosmetic,
            "checks": {k: c.as_json() for k, c in sorted(self.checks.items())},
            "locks": dict(sorted(self.locks.items())),
            "inventory": inventory_to_json(self.inventory) if self.inventory else None,
            "inventory_source": self.inventory_source,
            "drives": [d.as_json() for d in self.drives],
            "destination": self.destination,
            "certificate_id": self.certificate_id,
        }
