"""Devices in the store: intake, the drives linked to them, grades, the computer's facts,
their lifecycle state and their signed certificates.

Persistence only: what a device step means for custody (the events it appends) is decided in
`sanitiser.custody.devices`, handed in as ``also`` and run in the same transaction, so a step
and its custody entry are kept together or not at all. A drive is linked to one device only
(the primary key of ``device_drive``; a second device is refused with the reason, before the
insert, so the retrying transaction never sees a clash it would take for a race).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select, update

from sanitiser.assets.model import (
    LEFT,
    Check,
    Departure,
    Device,
    DeviceError,
    DeviceKind,
    DeviceState,
    Intake,
    LinkedDrive,
    device_subject,
    refuse_if_left,
    tag_key,
)
from sanitiser.certificate.record import record_digest
from sanitiser.certificate.sign import parse_envelope
from sanitiser.errors import SanitiserError
from sanitiser.inventory.model import HostInventory, inventory_from_json, inventory_to_json
from sanitiser.store.audit import run_in_transaction
from sanitiser.store.identity import is_identity
from sanitiser.store.repository import Store
from sanitiser.store.tables import (
    AuditEntry,
    CertificateRow,
    ConsignmentItemRow,
    ConsignmentRow,
    DeviceCertificateRow,
    DeviceDriveRow,
    DeviceRow,
    Job,
)
from sanitiser.store.transaction import ChainMovedError

Also = Callable[[Session, Device], None]
"""What runs in a step's transaction once the device is written (its custody entries)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DriveCertificate:
    """A drive's latest certificate as the device sees it."""

    certificate_id: str
    record_sha256: str
    record: Mapping[str, Any]


_CHUNK = 500
"""Keys per ``IN (...)`` query (well under SQLite's and PostgreSQL's parameter limits)."""


def _chunks(keys: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(keys), _CHUNK):
        yield keys[start : start + _CHUNK]


def latest_certificates(s: Session, drive_keys: Sequence[str]) -> dict[str, DriveCertificate]:
    """The latest certificate issued for each drive (by its jobs), for the drives that have one;
    one query per 500 drives, however many devices are listed (the records only: never the
    PDFs)."""
    latest: dict[str, DriveCertificate] = {}
    for chunk in _chunks(sorted(set(drive_keys))):
        rows = s.exec(
            select(Job.drive_key, CertificateRow.id, CertificateRow.record_json)
            .join(CertificateRow, col(CertificateRow.job_id) == col(Job.id))
            .where(col(Job.drive_key).in_(chunk))
            .order_by(col(CertificateRow.issued_at).desc(), col(CertificateRow.id).desc())
        ).all()
        for key, cert_id, record_json in rows:
            if key not in latest:
                latest[key] = _drive_certificate(cert_id, bytes(record_json))
    return latest


def latest_certificate(s: Session, drive_key: str) -> DriveCertificate | None:
    """The latest certificate issued for a drive (by its jobs), or None."""
    return latest_certificates(s, [drive_key]).get(drive_key)


def _drive_certificate(cert_id: str, raw: bytes) -> DriveCertificate:
    try:
        record = parse_envelope(raw).record
    except SanitiserError as exc:
        raise DeviceError(f"certificate {cert_id} in the store is unreadable: {exc.msg}") from exc
    return DriveCertificate(cert_id, record_digest(dict(record)).hex(), record)


def _linked(link: DeviceDriveRow, cert: DriveCertificate | None) -> LinkedDrive:
    record = cert.record if cert is not None else {}
    outcome = record.get("outcome") or {}
    sanitisation = record.get("sanitisation") or {}
    verification = record.get("verification") or {}
    return LinkedDrive(
        drive_key=link.drive_key,
        serial=link.serial,
        model=link.model,
        linked_at=_aware(link.linked_at),
        linked_by=link.linked_by,
        certificate_id=cert.certificate_id if cert is not None else "",
        record_sha256=cert.record_sha256 if cert is not None else "",
        outcome=str(outcome.get("status") or ""),
        method=str(sanitisation.get("technique") or sanitisation.get("method") or ""),
        verification=str(verification.get("result") or ""),
        capacity_bytes=int((record.get("device") or {}).get("capacity_bytes") or 0),
        simulated=link.simulated or bool(record.get("simulated")),
    )


def _inventory(row: DeviceRow) -> dict[str, Any]:
    kept = json.loads(row.inventory)
    if not kept:
        return {}
    try:
        return {
            "inventory": inventory_from_json(kept["facts"]),
            "inventory_source": str(kept["source"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise DeviceError(f"device {row.tag}: its recorded inventory is unreadable: {exc}") from exc


def _devices(s: Session, rows: Sequence[DeviceRow]) -> list[Device]:
    """The devices of `rows` with their drives and each drive's latest certificate, read in a
    few queries for the whole list (a fleet lists tens of thousands of devices)."""
    links: dict[str, list[DeviceDriveRow]] = {r.tag_key: [] for r in rows}
    for chunk in _chunks(list(links)):
        for link in s.exec(
            select(DeviceDriveRow)
            .where(col(DeviceDriveRow.device_key).in_(chunk))
            .order_by(col(DeviceDriveRow.linked_at), col(DeviceDriveRow.drive_key))
        ).all():
            links[link.device_key].append(link)
    certs = latest_certificates(s, [x.drive_key for held in links.values() for x in held])
    return [_build(row, links[row.tag_key], certs) for row in rows]


def _device(s: Session, row: DeviceRow) -> Device:
    return _devices(s, [row])[0]


def _build(
    row: DeviceRow, links: Sequence[DeviceDriveRow], certs: Mapping[str, DriveCertificate]
) -> Device:
    checks = {
        name: Check(str(c["result"]), str(c["operator"]), str(c["at"]))
        for name, c in json.loads(row.checks).items()
    }
    return Device(
        intake=Intake(
            kind=DeviceKind(row.kind),
            tag=row.tag,
            service_tag=row.service_tag,
            make=row.make,
            model=row.model,
            serial=row.serial,
            lot=row.lot,
            notes=row.notes,
        ),
        state=DeviceState(row.state),
        received_at=_aware(row.received_at),
        received_by=row.received_by,
        station=row.station,
        cosmetic=row.cosmetic,
        checks=checks,
        locks=json.loads(row.locks),
        **_inventory(row),
        drives=tuple(_linked(link, certs.get(link.drive_key)) for link in links),
        destination=row.destination,
        certificate_id=row.certificate_id,
    )


def _written(s: Session, row: DeviceRow, also: Also) -> Device:
    """Keep the row's changes, run the step's custody `also` in the same transaction."""
    row.updated_at = _now()
    s.add(row)
    s.flush()
    device = _device(s, row)
    also(s, device)
    return device


def _find(s: Session, tag: str) -> DeviceRow | None:
    key = tag_key(tag.strip())
    row = s.get(DeviceRow, key)
    if row is None:
        row = s.exec(select(DeviceRow).where(DeviceRow.service_key == key)).first()
    return row


def _row(s: Session, tag: str) -> DeviceRow:
    row = _find(s, tag)
    if row is None:
        raise DeviceError(f"no device has the tag {tag.strip()!r}: take it in first (device add)")
    return row


_LEAVING_KINDS = ("handed-over", "recycled", "destroyed")
"""The custody entries that end a device's custody (`AuditKind` values)."""


def _handed_in(s: Session, subject: str) -> Departure | None:
    """How `subject` (a drive key or ``device:TAG``) left in a closed consignment, if it did."""
    found = s.exec(
        select(ConsignmentItemRow, ConsignmentRow)
        .join(ConsignmentRow, col(ConsignmentRow.id) == col(ConsignmentItemRow.consignment_id))
        .where(
            col(ConsignmentItemRow.drive_key) == subject,
            col(ConsignmentItemRow.handed_over_at).is_not(None),
        )
        .order_by(col(ConsignmentItemRow.handed_over_at).desc())
    ).first()
    if found is None:
        return None
    item, consignment = found
    to = f"{consignment.destination} ({consignment.collector})" if consignment.collector else ""
    return Departure(
        "handed-over",
        _aware(item.handed_over_at) if item.handed_over_at else None,
        consignment.id,
        to or consignment.destination,
    )


def device_departure(s: Session, row: DeviceRow) -> Departure | None:
    """How the device of `row` left our custody, or None while we hold it: its closed
    consignment, else its last custody entry (``device release``), else its recorded state."""
    if DeviceState(row.state) not in LEFT:
        return None
    handed = _handed_in(s, device_subject(row.tag))
    if handed is not None:
        return Departure(row.state, handed.at, handed.consignment_id, handed.destination)
    entry = s.exec(
        select(AuditEntry)
        .where(
            col(AuditEntry.subject) == device_subject(row.tag),
            col(AuditEntry.kind).in_(_LEAVING_KINDS),
        )
        .order_by(col(AuditEntry.at).desc())
    ).first()
    if entry is None:
        return Departure(row.state, destination=row.destination)
    data = json.loads(entry.data or "{}")
    try:
        at: datetime | None = datetime.fromisoformat(entry.at.replace("Z", "+00:00"))
    except ValueError:
        at = None
    return Departure(
        row.state, at, str(data.get("consignment_id") or ""), str(data.get("to") or "")
    )


def drive_departure(s: Session, drive_key: str) -> Departure | None:
    """How a drive left our custody, or None while we hold it: one of its certificates was
    handed over in a closed consignment, or the device it is linked to has left.

    None for a key that names no one drive (`is_identity`: a ``path:`` key, a placeholder
    serial): the drives that share it are not one drive, and none inherits another's
    departure. Such a drive is known only by its certificate, which leaves once
    (`add_certificates` refuses a certificate already in a consignment)."""
    if not is_identity(drive_key):
        return None
    handed = _handed_in(s, drive_key)
    if handed is not None:
        return handed
    link = s.get(DeviceDriveRow, drive_key)
    device = None if link is None else s.get(DeviceRow, link.device_key)
    departure = None if device is None else device_departure(s, device)
    if departure is None or device is None:
        return None
    return Departure(
        departure.state,
        departure.at,
        departure.consignment_id,
        departure.destination,
        inside=device.tag,
    )


def _held(s: Session, tag: str, step: str) -> DeviceRow:
    """The device's row, refused when it has left our custody (`refuse_if_left`)."""
    row = _row(s, tag)
    refuse_if_left(f"device {row.tag}", device_departure(s, row), step)
    return row


def require_held(store: Store, tag: str, step: str) -> Device:
    """The device with this tag, still in our custody.

    Raises:
        DeviceError: no device has it; LeftCustodyError: it has left (how, when, where).
    """
    with store.reading() as s:
        return _device(s, _held(s, tag, step))


def require_drive_held(store: Store, drive_key: str, what: str, step: str) -> None:
    """Refuse a step on a drive that has left our custody (on its own or inside its device).

    Raises:
        LeftCustodyError: it has left, saying how, when and where.
    """
    with store.reading() as s:
        refuse_if_left(what, drive_departure(s, drive_key), step)


def nothing(_s: Session, _d: Device) -> None:
    """No custody entry."""
    return


def add_device(
    store: Store, intake: Intake, *, station: str, actor: str, also: Also = nothing
) -> Device:
    """Take a device in.

    Raises:
        DeviceError: its tag or service tag is already another device's (tag or service tag).
    """

    def work(s: Session) -> Device:
        for what, tag in (("tag", intake.tag), ("service tag", intake.service_tag)):
            if not tag:
                continue
            other = _find(s, tag)
            if other is not None:
                raise DeviceError(
                    f"the {what} {tag!r} is already device {other.tag!r} "
                    f"({other.kind}, taken in {_aware(other.received_at):%Y-%m-%d})"
                )
        now = _now()
        row = DeviceRow(
            tag_key=tag_key(intake.tag),
            tag=intake.tag,
            service_key=tag_key(intake.service_tag) if intake.service_tag else "",
            service_tag=intake.service_tag,
            kind=intake.kind.value,
            make=intake.make,
            model=intake.model,
            serial=intake.serial,
            lot=intake.lot,
            notes=intake.notes,
            state=DeviceState.RECEIVED.value,
            station=station,
            received_at=now,
            received_by=actor,
            updated_at=now,
        )
        return _written(s, row, also)

    return run_in_transaction(store, work)


def get_device(store: Store, tag: str) -> Device | None:
    """The device with this tag or service tag, or None."""
    with store.reading() as s:
        row = _find(s, tag)
        return None if row is None else _device(s, row)


def require_device(store: Store, tag: str) -> Device:
    """The device with this tag or service tag.

    Raises:
        DeviceError: no device has it.
    """
    with store.reading() as s:
        return _device(s, _row(s, tag))


def list_devices(
    store: Store, *, kind: str | None = None, state: str | None = None, lot: str | None = None
) -> list[Device]:
    """Devices, oldest intake first, optionally of one kind, state or lot."""
    query = select(DeviceRow)
    if kind:
        query = query.where(DeviceRow.kind == kind)
    if state:
        query = query.where(DeviceRow.state == state)
    if lot:
        query = query.where(DeviceRow.lot == lot)
    with store.reading() as s:
        rows = s.exec(query.order_by(col(DeviceRow.received_at), col(DeviceRow.tag_key))).all()
        return _devices(s, rows)


@dataclass(frozen=True, slots=True)
class DriveRef:
    """A drive as a link names it."""

    key: str
    serial: str = ""
    model: str = ""
    simulated: bool = False


def link_drive(
    store: Store, tag: str, drive: DriveRef, *, actor: str, also: Also = nothing
) -> tuple[Device, bool]:
    """Link a drive to a device.

    Returns:
        The device, and whether the link is new (False: it was linked to it already).

    Raises:
        DeviceError: no such device; a device that holds no data media; the drive is linked to
            another device (unlink it there first).
    """

    def work(s: Session) -> tuple[Device, bool]:
        row = _held(s, tag, "linked to a drive")
        refuse_if_left(
            f"drive {drive.serial or drive.key}", drive_departure(s, drive.key), "linked"
        )
        if row.kind in (DeviceKind.MONITOR.value, DeviceKind.DOCK.value):
            raise DeviceError(
                f"device {row.tag!r} is a {row.kind}: it holds no data-bearing media to link"
            )
        existing = s.get(DeviceDriveRow, drive.key)
        if existing is not None:
            if existing.device_key == row.tag_key:
                return _device(s, row), False
            other = s.get(DeviceRow, existing.device_key)
            owner = other.tag if other is not None else existing.device_key
            raise DeviceError(
                f"drive {drive.key} is already linked to device {owner!r} "
                f"(since {_aware(existing.linked_at):%Y-%m-%d %H:%M}); a drive belongs to one "
                "device"
            )
        s.add(
            DeviceDriveRow(
                drive_key=drive.key,
                device_key=row.tag_key,
                serial=drive.serial,
                model=drive.model,
                simulated=drive.simulated,
                linked_at=_now(),
                linked_by=actor,
            )
        )
        return _written(s, row, also), True

    return run_in_transaction(store, work)


def update_device(
    store: Store,
    tag: str,
    *,
    also: Also = nothing,
    cosmetic: str | None = None,
    checks: Mapping[str, Check] | None = None,
    locks: Mapping[str, str] | None = None,
    inventory: tuple[HostInventory, str] | None = None,
    destination: str | None = None,
    certificate_id: str | None = None,
) -> Device:
    """Change what is given (checks and locks are merged into those recorded).

    Raises:
        DeviceError: no such device; LeftCustodyError: it has left our custody.
    """

    def work(s: Session) -> Device:
        row = _held(s, tag, "changed")
        if cosmetic is not None:
            row.cosmetic = cosmetic
        if checks:
            merged = json.loads(row.checks)
            merged.update({k: c.as_json() for k, c in checks.items()})
            row.checks = json.dumps(merged, sort_keys=True)
        if locks:
            row.locks = json.dumps({**json.loads(row.locks), **locks}, sort_keys=True)
        if inventory is not None:
            facts, source = inventory
            row.inventory = json.dumps(
                {"source": source, "facts": inventory_to_json(facts)}, sort_keys=True
            )
        if destination is not None:
            row.destination = destination
        if certificate_id is not None:
            row.certificate_id = certificate_id
        return _written(s, row, also)

    return run_in_transaction(store, work)


def move_state(
    store: Store,
    tag: str,
    old: DeviceState,
    new: DeviceState,
    *,
    also: Also = nothing,
    destination: str | None = None,
) -> Device | None:
    """Move a device from `old` to `new` with its custody entry, exactly once however many
    processes try at the same moment (two jobs ending together): compare-and-set on the state,
    retried when another writer moved first.

    Args:
        destination: where it goes, kept in the same step (a device that leaves is changed
            no more afterwards).

    Returns:
        The device moved, or None when it was not in `old` (someone else moved it).
    """

    def work(s: Session) -> Device | None:
        row = _row(s, tag)
        if row.state != old.value:
            return None
        moved = s.execute(
            update(DeviceRow)
            .where(col(DeviceRow.tag_key) == row.tag_key, col(DeviceRow.state) == old.value)
            .values(
                state=new.value,
                updated_at=_now(),
                **({} if destination is None else {"destination": destination}),
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 1) != 1:
            raise ChainMovedError(f"device {row.tag} moved on; retry")
        s.expire(row)
        device = _device(s, row)
        also(s, device)
        return device

    return run_in_transaction(store, work)


def devices_by_drive(store: Store) -> dict[str, tuple[str, str]]:
    """Every linked drive's device, as drive key -> (tag, kind)."""
    with store.reading() as s:
        rows = s.exec(
            select(DeviceDriveRow.drive_key, DeviceRow.tag, DeviceRow.kind).join(
                DeviceRow, col(DeviceRow.tag_key) == col(DeviceDriveRow.device_key)
            )
        ).all()
        return {key: (tag, kind) for key, tag, kind in rows}


def device_of_drive(store: Store, drive_key: str) -> Device | None:
    """The device a drive is linked to, or None."""
    with store.reading() as s:
        link = s.get(DeviceDriveRow, drive_key)
        if link is None:
            return None
        row = s.get(DeviceRow, link.device_key)
        return None if row is None else _device(s, row)


def save_device_certificate(
    store: Store, tag: str, cert_id: str, record_json: bytes, pdf: bytes, *, also: Also = nothing
) -> Device:
    """Keep a device certificate and name it on the device (one transaction).

    Raises:
        DeviceError: no such device; LeftCustodyError: it has left our custody.
    """

    def work(s: Session) -> Device:
        row = _held(s, tag, "certified")
        s.add(
            DeviceCertificateRow(
                id=cert_id,
                device_key=row.tag_key,
                issued_at=_now(),
                record_json=record_json,
                pdf=pdf,
            )
        )
        row.certificate_id = cert_id
        return _written(s, row, also)

    return run_in_transaction(store, work)


def device_certificate(store: Store, cert_id: str) -> tuple[bytes, bytes] | None:
    """A device certificate's signed record envelope and PDF, or None when unknown."""
    with store.reading() as s:
        row = s.get(DeviceCertificateRow, cert_id)
        return None if row is None else (bytes(row.record_json), bytes(row.pdf))
