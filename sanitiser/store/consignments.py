"""Consignments: devices (by their signed records) grouped for one destination, handed over.

The life of a consignment::

    open (for one active destination)
      -> add certificates (each a signed record in the store; each appends ``consigned``)
      -> manifest (signed by the station; adding a device afterwards makes it stale)
      -> close (the collector signed the manifest off: every device is handed over, each
         appends ``handed-over``; nothing can be added or changed afterwards)
      or, while open: cancel (called off, with a reason: ``consignment-cancelled``, and each
         item taken out, ``unconsigned``; nothing left, its trail stays)

Any signed record can be consigned, whatever its outcome: a record saying the drive was NOT
sanitised (a failed, refused or aborted job, or a planned destruction; the job's custody reads
``not-sanitised`` then ``routed`` to destroy) is taken by a destruction provider only, so the
chain of custody of exactly the drives that matter most reaches the provider
(`refusal_reason`). ``consigned`` is the custody event of this step; ``routed`` is the job's
routing decision before it (chains written earlier hold ``routed`` here, with a
``consignment_id`` in its data).

A certificate can be in one consignment only, ever (a unique key, so two benches adding the
same device at once cannot both succeed). Every step is one transaction together with its audit
entries, retried as a whole when another writer wins a race.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from sanitiser.assets.model import (
    DEVICE_SUBJECT_PREFIX,
    LEFT,
    DeviceState,
    device_subject,
    refuse_if_left,
    tag_key,
)
from sanitiser.certificate.record import DEVICE_SCHEMA, RECORD_SCHEMA, new_certificate_id
from sanitiser.domain import DestinationKind
from sanitiser.errors import CertificateError, RecordStoreError, SanitiserError
from sanitiser.routing.destinations import (
    DestinationError,
    DestinationView,
    device_refusal_reason,
    refusal_reason,
)
from sanitiser.routing.items import consignment_line
from sanitiser.store.audit import AuditKind, append_event, chain_head, run_in_transaction
from sanitiser.store.destinations import destination_view, get_row
from sanitiser.store.devices import device_departure, drive_departure
from sanitiser.store.identity import is_identity, record_drive_key
from sanitiser.store.repository import Store
from sanitiser.store.tables import (
    CertificateRow,
    ConsignmentItemRow,
    ConsignmentRow,
    DeviceCertificateRow,
    DeviceDriveRow,
    DeviceRow,
    Job,
)
from sanitiser.text import clean_text

OPEN = "open"
CLOSED = "closed"
CANCELLED = "cancelled"
"""Called off while open: nothing left; its items were taken out, its trail stays."""


class ConsignmentError(SanitiserError):
    """A consignment step was refused (wrong state, device not admissible, ...)."""


@dataclass(frozen=True, slots=True)
class ConsignmentView:
    """A consignment as plain values."""

    id: str
    destination: str
    station: str
    state: str
    opened_at: datetime
    opened_by: str
    manifest_sha256: str
    manifest_at: datetime | None
    closed_at: datetime | None
    collector: str
    closed_by: str
    items: int

    @property
    def is_open(self) -> bool:
        """True until the consignment is closed."""
        return self.state == OPEN

    def as_json(self) -> dict[str, Any]:
        """JSON-ready facts (times as ISO text)."""

        def iso(t: datetime | None) -> str | None:
            return None if t is None else t.isoformat()

        return {
            "id": self.id,
            "destination": self.destination,
            "station": self.station,
            "state": self.state,
            "opened_at": iso(self.opened_at),
            "opened_by": self.opened_by,
            "manifest_sha256": self.manifest_sha256,
            "manifest_at": iso(self.manifest_at),
            "closed_at": iso(self.closed_at),
            "collector": self.collector,
            "closed_by": self.closed_by,
            "items": self.items,
        }


@dataclass(frozen=True, slots=True)
class ConsignmentItemView:
    """A device in a consignment."""

    consignment_id: str
    certificate_id: str
    drive_key: str
    serial: str
    model: str
    media_kind: str
    method: str
    nist_category: str
    outcome: str
    verification: str
    health_grade: str
    simulated: bool
    added_at: datetime
    added_by: str
    handed_over_at: datetime | None

    @property
    def handed_over(self) -> bool:
        """True once the consignment holding it was closed."""
        return self.handed_over_at is not None


@dataclass(frozen=True, slots=True)
class ManifestMaterial:
    """Everything a manifest is built from, read in one transaction."""

    consignment: ConsignmentView
    destination: DestinationView
    envelopes: tuple[bytes, ...]
    """The signed certificate records, in the order the devices were added."""
    audit_anchor: tuple[str, int, str] | None
    """(station, seq, hash) of the station's audit chain head when read."""


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime | None) -> datetime | None:
    """SQLite hands times back naive; they were written in UTC."""
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)


def _items(s: Session, consignment_id: str) -> list[ConsignmentItemRow]:
    return list(
        s.exec(
            select(ConsignmentItemRow)
            .where(ConsignmentItemRow.consignment_id == consignment_id)
            .order_by(col(ConsignmentItemRow.id))
        ).all()
    )


def _view(s: Session, row: ConsignmentRow) -> ConsignmentView:
    return ConsignmentView(
        row.id,
        row.destination,
        row.station,
        row.state,
        _aware(row.opened_at) or row.opened_at,
        row.opened_by,
        row.manifest_sha256,
        _aware(row.manifest_at),
        _aware(row.closed_at),
        row.collector,
        row.closed_by,
        len(_items(s, row.id)),
    )


def _item_view(r: ConsignmentItemRow) -> ConsignmentItemView:
    return ConsignmentItemView(
        r.consignment_id,
        r.certificate_id,
        r.drive_key,
        r.serial,
        r.model,
        r.media_kind,
        r.method,
        r.nist_category,
        r.outcome,
        r.verification,
        r.health_grade,
        r.simulated,
        _aware(r.added_at) or r.added_at,
        r.added_by,
        _aware(r.handed_over_at),
    )


def _row(s: Session, consignment_id: str) -> ConsignmentRow:
    row = s.get(ConsignmentRow, consignment_id)
    if row is None:
        raise ConsignmentError(f"no consignment {consignment_id}")
    return row


def _open_row(s: Session, consignment_id: str) -> ConsignmentRow:
    row = _row(s, consignment_id)
    if row.state == CANCELLED:
        when = _aware(row.closed_at)
        raise ConsignmentError(
            f"consignment {consignment_id} was cancelled"
            f"{f' on {when:%Y-%m-%d}' if when else ''} by {row.closed_by or '?'}; "
            "nothing can be changed (open a new one)"
        )
    if row.state != OPEN:
        when = _aware(row.closed_at)
        raise ConsignmentError(
            f"consignment {consignment_id} is closed (handed over to {row.destination}"
            f"{f' on {when:%Y-%m-%d}' if when else ''}); nothing can be changed"
        )
    return row


def _destination(s: Session, name: str) -> DestinationView:
    row = get_row(s, name)
    if row is None:
        raise DestinationError(f"no destination {name!r}; add it with 'sanitiser destinations add'")
    return destination_view(row)


def open_consignment(
    store: Store, destination: str, *, station: str, operator: str = ""
) -> ConsignmentView:
    """Open a consignment for an active destination.

    Raises:
        DestinationError: the destination is unknown or was removed.
    """

    def work(s: Session) -> ConsignmentView:
        dest = _destination(s, destination)
        if not dest.active:
            raise DestinationError(f"destination {dest.name!r} has been removed")
        now = _now()
        row = ConsignmentRow(
            id=new_certificate_id(),
            destination=dest.name,
            station=station,
            state=OPEN,
            opened_at=now,
            opened_by=operator,
        )
        s.add(row)
        s.flush()
        append_event(
            s,
            station=station,
            kind=AuditKind.CONSIGNMENT_OPENED,
            subject=row.id,
            ref=row.id,
            actor=operator,
            data={"consignment_id": row.id, "destination": dest.name, "kind": str(dest.kind)},
            at=now,
        )
        return _view(s, row)

    return run_in_transaction(store, work)


@dataclass(frozen=True, slots=True)
class _Wanted:
    """What one name given to `add_certificates` stands for, as read in the transaction."""

    certificate_id: str
    record: dict[str, Any]
    device: DeviceRow | None
    """The device, when the certificate is a device certificate; None for a drive's."""


def _verified(envelope: bytes, certificate_id: str, schema: str) -> dict[str, Any]:
    # cryptography is imported only when a record is read: `import sanitiser.store` stays light
    from sanitiser.certificate.sign import check_signature, parse_envelope  # noqa: PLC0415

    try:
        signed = parse_envelope(envelope)
        check_signature(signed)
    except CertificateError as e:
        raise ConsignmentError(f"certificate {certificate_id} does not verify: {e.msg}") from e
    if signed.certificate_id != certificate_id:
        raise ConsignmentError(f"certificate {certificate_id} holds another record")
    if signed.record.get("schema") != schema:
        raise ConsignmentError(f"certificate {certificate_id} is not a {schema} record")
    return dict(signed.record)


def _device_certificate(s: Session, device: DeviceRow, certificate_id: str) -> _Wanted:
    refuse_if_left(f"device {device.tag}", device_departure(s, device), "consigned again")
    if not device.certificate_id:
        raise ConsignmentError(
            f"device {device.tag} has no device certificate yet; issue it first "
            f"('sanitiser device certificate {device.tag}')"
        )
    if device.certificate_id != certificate_id:
        raise ConsignmentError(
            f"certificate {certificate_id} is an older certificate of device {device.tag}; "
            f"its current one is {device.certificate_id}"
        )
    cert = s.get(DeviceCertificateRow, certificate_id)
    if cert is None:  # the device names it, the table lost it: the store was edited
        raise RecordStoreError(f"device certificate {certificate_id} vanished")
    return _Wanted(
        certificate_id, _verified(cert.record_json, certificate_id, DEVICE_SCHEMA), device
    )


def _wanted(s: Session, name: str) -> _Wanted:
    """A drive certificate id, a device certificate id, or a device tag (its current
    certificate), read and verified.

    Raises:
        ConsignmentError: unknown, does not verify, or a device that cannot leave.
    """
    cert = s.get(CertificateRow, name)
    if cert is not None:
        record = _verified(cert.record_json, name, RECORD_SCHEMA)
        serial = str((record.get("device") or {}).get("serial") or "")
        refuse_if_left(
            f"drive {serial or record_drive_key(record)} (certificate {name})",
            drive_departure(s, record_drive_key(record)),
            "consigned again",
        )
        return _Wanted(name, record, None)
    issued = s.get(DeviceCertificateRow, name)
    device = s.get(DeviceRow, issued.device_key if issued is not None else tag_key(name))
    if device is None:
        raise ConsignmentError(f"no certificate or device {name!r} in the store")
    return _device_certificate(
        s, device, issued.id if issued is not None else device.certificate_id
    )


def _holder(s: Session, certificate_id: str) -> ConsignmentItemRow | None:
    return s.exec(
        select(ConsignmentItemRow).where(ConsignmentItemRow.certificate_id == certificate_id)
    ).first()


def _drive_reason(s: Session, dest: DestinationView, record: dict[str, Any]) -> str | None:
    """Why the drive of `record` may not go to `dest`: the drive rule, or it is inside a
    device that left (or is leaving) in a consignment."""
    link = s.get(DeviceDriveRow, record_drive_key(record))
    device = None if link is None else s.get(DeviceRow, link.device_key)
    if device is not None and device.certificate_id:
        holder = _holder(s, device.certificate_id)
        if holder is not None:
            return (
                f"certificate {record.get('certificate_id', '?')}: the drive is inside device "
                f"{device.tag}, which is in consignment {holder.consignment_id}"
            )
    return refusal_reason(dest, record, route_override=_route_override(s, record))


def _route_override(s: Session, record: dict[str, Any]) -> str:
    """The technician's later route for the drive of `record` (``sanitiser jobs route``; the
    custody chain holds it), or "" when its job's routing decision stands."""
    cert = s.get(CertificateRow, str(record.get("certificate_id") or ""))
    job = s.get(Job, cert.job_id) if cert is not None and cert.job_id else None
    if job is None:
        return ""
    override = json.loads(job.detail or "{}").get("route_override") or {}
    return str(override.get("destination") or "") if isinstance(override, dict) else ""


def _device_reason(s: Session, dest: DestinationView, wanted: _Wanted) -> str | None:
    """Why the device may not go to `dest` (`device_refusal_reason`); its drives that left in
    consignments of their own travel no more with it."""
    named = [str(d.get("certificate_id") or "") for d in wanted.record.get("drives") or []]
    gone = {c for c in named if _holder(s, c) is not None}
    return device_refusal_reason(dest, wanted.record, drives_gone=gone)


def _item_facts(record: dict[str, Any], device: DeviceRow | None) -> dict[str, Any]:
    """What the store keeps of a drive or device line (`consignment_line`)."""
    line = consignment_line(record)
    model = line["model"]
    if device is not None:  # a device's line names its make apart; the item row has no column
        model = f"{line['manufacturer']} {model}".strip()
    return {
        "drive_key": record_drive_key(record) if device is None else device_subject(device.tag),
        "serial": line["serial"],
        "model": model,
        "media_kind": line["media_kind"],
        "method": line["method"][:128],
        "nist_category": line["nist_category"][:16],
        "outcome": line["outcome"],
        "verification": line["verification"],
        "health_grade": line["health_grade"],
    }


def add_certificates(
    store: Store,
    consignment_id: str,
    certificate_ids: Sequence[str],
    *,
    station: str,
    operator: str = "",
) -> list[ConsignmentItemView]:
    """Route drives and devices into an open consignment: all of them, or none.

    Each name is a drive certificate id, a device certificate id (the device's current one),
    or a device tag (its current certificate). Each appends ``consigned`` to the station's
    chain under its subject (the drive's, or ``device:TAG``), and any manifest made so far
    becomes stale (a new one must be made before closing). A record that says the drive was
    not sanitised, or a device with such a drive still in it, is taken by a destruction
    provider only; a drive inside a device that is consigned cannot leave on its own.

    Raises:
        ConsignmentError: the consignment is closed or unknown; a name is unknown, does not
            verify, is given twice, or is already in a consignment; a device that has no
            certificate, or is named by an older certificate.
        LeftCustodyError: the device or drive has left our custody already (a closed
            consignment, or released): it cannot leave twice.
        DestinationError: the destination may not take one of them (`refusal_reason`,
            `device_refusal_reason`).
    """
    if not certificate_ids:
        raise ConsignmentError("name at least one certificate or device to add")

    def work(s: Session) -> list[ConsignmentItemView]:
        row = _open_row(s, consignment_id)
        dest = _destination(s, row.destination)
        wanted = [_wanted(s, name) for name in certificate_ids]
        ids = [w.certificate_id for w in wanted]
        duplicates = sorted({c for c in ids if ids.count(c) > 1})
        if duplicates:
            raise ConsignmentError(f"certificate {', '.join(duplicates)} is named twice")
        added: list[ConsignmentItemView] = []
        for item_of in wanted:
            cert_id = item_of.certificate_id
            holder = _holder(s, cert_id)
            if holder is not None:
                where = (
                    "this consignment"
                    if holder.consignment_id == consignment_id
                    else f"consignment {holder.consignment_id}"
                )
                raise ConsignmentError(f"certificate {cert_id} is already in {where}")
            record = item_of.record
            subject = (
                record_drive_key(record)
                if item_of.device is None
                else device_subject(item_of.device.tag)
            )
            same = (
                s.exec(
                    select(ConsignmentItemRow).where(ConsignmentItemRow.drive_key == subject)
                ).first()
                if item_of.device is not None or is_identity(subject)
                else None  # a drive with no serial or WWN is known only by its certificate
            )
            if same is not None:  # one drive (or device), another of its certificates
                where = (
                    "this consignment"
                    if same.consignment_id == consignment_id
                    else f"consignment {same.consignment_id}"
                )
                raise ConsignmentError(
                    f"certificate {cert_id}: {where} already holds certificate "
                    f"{same.certificate_id} of the same "
                    f"{'drive' if item_of.device is None else 'device'} "
                    f"{same.serial or subject}; it leaves once, by one certificate"
                )
            if item_of.device is None:
                reason = _drive_reason(s, dest, record)
            else:
                reason = _device_reason(s, dest, item_of)
            if reason is not None:
                raise DestinationError(reason)
            now = _now()
            item = ConsignmentItemRow(
                consignment_id=row.id,
                certificate_id=cert_id,
                simulated=bool(record.get("simulated")),
                added_at=now,
                added_by=operator,
                **_item_facts(record, item_of.device),
            )
            s.add(item)
            s.flush()
            append_event(
                s,
                station=station,
                kind=AuditKind.CONSIGNED,
                subject=item.drive_key,
                ref=cert_id,
                actor=operator,
                data={
                    "certificate_id": cert_id,
                    "consignment_id": row.id,
                    "destination": dest.name,
                    "destination_kind": str(dest.kind),
                    "serial": item.serial,
                },
                at=now,
            )
            added.append(_item_view(item))
        row.manifest_sha256 = ""
        row.manifest_at = None
        row.manifest_envelope = b""
        row.manifest_pdf = b""
        s.add(row)
        return added

    return run_in_transaction(store, work)


def manifest_material(store: Store, consignment_id: str) -> ManifestMaterial:
    """What the manifest of an open consignment is built from.

    Raises:
        ConsignmentError: unknown, closed, or empty.
    """
    try:
        with store.reading() as s:
            row = _open_row(s, consignment_id)
            items = _items(s, consignment_id)
            if not items:
                raise ConsignmentError(f"consignment {consignment_id} is empty")
            envelopes = []
            for item in items:
                cert: CertificateRow | DeviceCertificateRow | None = (
                    s.get(DeviceCertificateRow, item.certificate_id)
                    if is_device_item(item.drive_key)
                    else s.get(CertificateRow, item.certificate_id)
                )
                if cert is None:  # the item was checked when added: the store was edited
                    raise RecordStoreError(f"certificate {item.certificate_id} vanished")
                envelopes.append(cert.record_json)
            view = _view(s, row)
            dest = _destination(s, row.destination)
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read consignment {consignment_id}: {e}") from e
    head = chain_head(store, view.station)
    anchor = None if head is None else (view.station, head[0], head[1])
    return ManifestMaterial(view, dest, tuple(envelopes), anchor)


def save_manifest(
    store: Store,
    consignment_id: str,
    *,
    manifest_sha256: str,
    certificate_ids: Sequence[str],
    envelope: bytes,
    pdf: bytes,
    station: str,
    operator: str = "",
) -> ConsignmentView:
    """Keep the signed manifest of an open consignment (replacing an earlier one).

    Raises:
        ConsignmentError: the consignment is closed, or its devices changed since the
            manifest was built (build it again).
    """

    def work(s: Session) -> ConsignmentView:
        row = _open_row(s, consignment_id)
        current = [i.certificate_id for i in _items(s, consignment_id)]
        if current != list(certificate_ids):
            raise ConsignmentError(
                f"consignment {consignment_id} changed while its manifest was made; make it again"
            )
        now = _now()
        row.manifest_sha256 = manifest_sha256
        row.manifest_at = now
        row.manifest_envelope = envelope
        row.manifest_pdf = pdf
        s.add(row)
        s.flush()
        append_event(
            s,
            station=station,
            kind=AuditKind.MANIFEST_ISSUED,
            subject=row.id,
            ref=row.id,
            actor=operator,
            data={
                "consignment_id": row.id,
                "manifest_sha256": manifest_sha256,
                "pdf_sha256": hashlib.sha256(pdf).hexdigest(),
                "items": len(current),
            },
            at=now,
        )
        return _view(s, row)

    return run_in_transaction(store, work)


def is_device_item(subject: str) -> bool:
    """True when a consignment item (by its subject) is a device, not a drive."""
    return subject.startswith(DEVICE_SUBJECT_PREFIX)


LEAVES_AS: dict[DestinationKind, DeviceState] = {
    DestinationKind.REUSE: DeviceState.HANDED_OVER,
    DestinationKind.RECYCLE: DeviceState.RECYCLED,
    DestinationKind.DESTROY: DeviceState.DESTROYED,
}
"""The state a device reaches when its consignment is handed to each kind of destination."""


def _device_leaves(
    s: Session, item: ConsignmentItemRow, dest: DestinationView, collector: str, now: datetime
) -> None:
    """The device of a closing consignment leaves our custody (state and destination)."""
    device = s.get(DeviceRow, item.drive_key.removeprefix(DEVICE_SUBJECT_PREFIX))
    if device is None:  # checked when added: the store was edited
        raise RecordStoreError(f"the device of certificate {item.certificate_id} vanished")
    if DeviceState(device.state) in LEFT or device.certificate_id != item.certificate_id:
        raise ConsignmentError(
            f"device {device.tag} changed since it was consigned ({device.state}, certificate "
            f"{device.certificate_id or 'none'}); take it out of consignment {item.consignment_id}"
        )
    device.state = LEAVES_AS[dest.kind].value
    device.destination = f"{LEAVES_AS[dest.kind].value}: {dest.name} ({collector})"[:200]
    device.updated_at = now
    s.add(device)


def close_consignment(
    store: Store, consignment_id: str, *, collector: str, operator: str, station: str
) -> ConsignmentView:
    """The collector signed the manifest off: close the consignment and hand its devices over.

    Every device is marked handed over and appends ``handed-over`` (to whom: the collector and
    destination; when; by whom: the operator), in one transaction with the close.

    Raises:
        ConsignmentError: unknown, closed already, empty, no current manifest, or no
            collector/operator named.
    """
    who = clean_text(collector, "collector")
    by = clean_text(operator, "operator")
    if not who:
        raise ConsignmentError("name the collector who signed the manifest off (--collector)")
    if not by:
        raise ConsignmentError("name the operator handing the devices over (--operator)")

    def work(s: Session) -> ConsignmentView:
        row = _open_row(s, consignment_id)
        items = _items(s, consignment_id)
        if not items:
            raise ConsignmentError(f"consignment {consignment_id} is empty; nothing to hand over")
        if not row.manifest_sha256:
            raise ConsignmentError(
                f"consignment {consignment_id} has no current manifest; make it "
                f"('sanitiser consignment manifest {consignment_id}') and have the collector "
                "sign it off first"
            )
        dest = _destination(s, row.destination)
        now = _now()
        for item in items:
            item.handed_over_at = now
            s.add(item)
            if is_device_item(item.drive_key):
                _device_leaves(s, item, dest, who, now)
            append_event(
                s,
                station=station,
                kind=AuditKind.HANDED_OVER,
                subject=item.drive_key,
                ref=item.certificate_id,
                actor=by,
                data={
                    "certificate_id": item.certificate_id,
                    "consignment_id": row.id,
                    "destination": dest.name,
                    "destination_kind": str(dest.kind),
                    "collector": who,
                    "operator": by,
                    "manifest_sha256": row.manifest_sha256,
                },
                at=now,
            )
        row.state = CLOSED
        row.closed_at = now
        row.collector = who
        row.closed_by = by
        s.add(row)
        s.flush()
        append_event(
            s,
            station=station,
            kind=AuditKind.CONSIGNMENT_CLOSED,
            subject=row.id,
            ref=row.id,
            actor=by,
            data={
                "consignment_id": row.id,
                "destination": dest.name,
                "collector": who,
                "operator": by,
                "items": len(items),
                "manifest_sha256": row.manifest_sha256,
            },
            at=now,
        )
        return _view(s, row)

    return run_in_transaction(store, work)


def cancel_consignment(
    store: Store, consignment_id: str, *, reason: str, operator: str, station: str
) -> ConsignmentView:
    """Call off an open consignment (opened by mistake, or its collection will not happen).

    It is kept, marked ``cancelled`` with who and when, never deleted; the chain records
    ``consignment-cancelled`` (with the reason, and any manifest it had, which is void now) and
    ``unconsigned`` for each item, whose certificate is free to be consigned again. Its
    destination no longer has it open (it can be removed).

    Raises:
        ConsignmentError: unknown, closed (handed over: it cannot be undone) or cancelled
            already; no reason or operator given; a fleet bench whose central database is
            away (the cancel is made on the central database only).
    """
    why = clean_text(reason, "--reason", kind="reason")
    by = clean_text(operator, "operator")
    if not why:
        raise ConsignmentError("say why the consignment is cancelled (--reason)")
    if not by:
        raise ConsignmentError("name the operator cancelling it (--operator)")

    def work(s: Session) -> ConsignmentView:
        if store.offline:  # a push carries rows, not their removal: cancel where it is whole
            raise ConsignmentError(
                f"consignment {consignment_id}: the central database cannot be reached, and a "
                "cancel made in this bench's journal would not reach it (its items would stay "
                "consigned there): cancel once the link is back"
            )
        row = _open_row(s, consignment_id)
        now = _now()
        items = _items(s, consignment_id)
        for item in items:
            append_event(
                s,
                station=station,
                kind=AuditKind.UNCONSIGNED,
                subject=item.drive_key,
                ref=item.certificate_id,
                actor=by,
                data={
                    "certificate_id": item.certificate_id,
                    "consignment_id": row.id,
                    "destination": row.destination,
                    "serial": item.serial,
                    "reason": why,
                },
                at=now,
            )
            s.delete(item)
        row.state = CANCELLED
        row.closed_at = now
        row.closed_by = by
        s.add(row)
        s.flush()
        append_event(
            s,
            station=station,
            kind=AuditKind.CONSIGNMENT_CANCELLED,
            subject=row.id,
            ref=row.id,
            actor=by,
            data={
                "consignment_id": row.id,
                "destination": row.destination,
                "operator": by,
                "reason": why,
                "items": len(items),
                "void_manifest_sha256": row.manifest_sha256,
            },
            at=now,
        )
        return _view(s, row)

    return run_in_transaction(store, work)


def get_consignment(store: Store, consignment_id: str) -> ConsignmentView | None:
    """A consignment, or None when unknown."""
    with store.reading() as s:
        row = s.get(ConsignmentRow, consignment_id)
        return None if row is None else _view(s, row)


def list_consignments(store: Store, *, state: str | None = None) -> list[ConsignmentView]:
    """Consignments, newest first (optionally only ``open``, ``closed`` or ``cancelled`` ones)."""
    with store.reading() as s:
        query = select(ConsignmentRow).order_by(col(ConsignmentRow.opened_at).desc())
        if state is not None:
            query = query.where(ConsignmentRow.state == state)
        return [_view(s, r) for r in s.exec(query).all()]


def consignment_items(store: Store, consignment_id: str) -> list[ConsignmentItemView]:
    """The devices of a consignment, in the order they were added."""
    with store.reading() as s:
        return [_item_view(r) for r in _items(s, consignment_id)]


def consigned_destinations(store: Store) -> dict[str, str]:
    """The destination each consigned certificate's device left for, by certificate id."""
    with store.reading() as s:
        return dict(
            s.exec(
                select(ConsignmentItemRow.certificate_id, ConsignmentRow.destination).join(
                    ConsignmentRow,
                    col(ConsignmentRow.id) == col(ConsignmentItemRow.consignment_id),
                )
            ).all()
        )


def consigned_device_destinations(store: Store) -> dict[str, str]:
    """The destination each consigned device left for, by its subject (``device:TAG``): the
    destination of the drives inside it too."""
    with store.reading() as s:
        rows = s.exec(
            select(ConsignmentItemRow.drive_key, ConsignmentRow.destination)
            .join(ConsignmentRow, col(ConsignmentRow.id) == col(ConsignmentItemRow.consignment_id))
            .where(col(ConsignmentItemRow.drive_key).startswith(DEVICE_SUBJECT_PREFIX))
        ).all()
        return dict(rows)


def consignment_of(store: Store, certificate_id: str) -> ConsignmentItemView | None:
    """The consignment entry of a certificate's device, or None when it was never consigned."""
    with store.reading() as s:
        row = s.exec(
            select(ConsignmentItemRow).where(ConsignmentItemRow.certificate_id == certificate_id)
        ).first()
        return None if row is None else _item_view(row)


def manifest_files(store: Store, consignment_id: str) -> tuple[bytes, bytes] | None:
    """(signed manifest envelope, signed PDF) as issued, or None when none is current."""
    with store.reading() as s:
        row = s.get(ConsignmentRow, consignment_id)
        if row is None or not row.manifest_sha256:
            return None
        return row.manifest_envelope, row.manifest_pdf


def manifest_envelopes(store: Store) -> list[bytes]:
    """The current signed manifest envelope of every consignment that has one."""
    with store.reading() as s:
        rows = s.exec(
            select(ConsignmentRow.manifest_envelope).order_by(col(ConsignmentRow.opened_at))
        )
        return [bytes(r) for r in rows.all() if r]
