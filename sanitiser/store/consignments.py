"""Consignments: devices (by their signed records) grouped for one destination, handed over.

The life of a consignment::

    open (for one active destination)
      -> add certificates (each a signed record in the store; each appends ``consigned``)
      -> manifest (signed by the station; adding a device afterwards makes it stale)
      -> close (the collector signed the manifest off: every device is handed over, each
         appends ``handed-over``; nothing can be added or changed afterwards)

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from sanitiser.certificate.record import new_certificate_id
from sanitiser.errors import CertificateError, RecordStoreError, SanitiserError
from sanitiser.routing.destinations import DestinationError, DestinationView, refusal_reason
from sanitiser.store.audit import AuditKind, append_event, chain_head, run_in_transaction
from sanitiser.store.destinations import destination_view, get_row
from sanitiser.store.identity import record_drive_key
from sanitiser.store.repository import Store
from sanitiser.store.tables import CertificateRow, ConsignmentItemRow, ConsignmentRow
from sanitiser.text import clean_text

OPEN = "open"
CLOSED = "closed"


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


def _record(s: Session, certificate_id: str) -> dict[str, Any]:
    # cryptography is imported only when a record is read: `import sanitiser.store` stays light
    from sanitiser.certificate.sign import check_signature, parse_envelope  # noqa: PLC0415

    cert = s.get(CertificateRow, certificate_id)
    if cert is None:
        raise ConsignmentError(f"no certificate {certificate_id} in the store")
    try:
        signed = parse_envelope(cert.record_json)
        check_signature(signed)
    except CertificateError as e:
        raise ConsignmentError(f"certificate {certificate_id} does not verify: {e.msg}") from e
    if signed.certificate_id != certificate_id:
        raise ConsignmentError(f"certificate {certificate_id} holds another record")
    return dict(signed.record)


def add_certificates(
    store: Store,
    consignment_id: str,
    certificate_ids: Sequence[str],
    *,
    station: str,
    operator: str = "",
) -> list[ConsignmentItemView]:
    """Route devices (by certificate) into an open consignment: all of them, or none.

    Each device appends ``consigned`` to the station's chain, and any manifest made so far
    becomes stale (a new one must be made before closing). A record that says the device was
    not sanitised is taken by a destruction provider only.

    Raises:
        ConsignmentError: the consignment is closed or unknown; a certificate is unknown,
            does not verify, is given twice, or is already in a consignment.
        DestinationError: the destination may not take one of the devices (`refusal_reason`).
    """
    if not certificate_ids:
        raise ConsignmentError("name at least one certificate to add")
    duplicates = sorted({c for c in certificate_ids if list(certificate_ids).count(c) > 1})
    if duplicates:
        raise ConsignmentError(f"certificate {', '.join(duplicates)} is named twice")

    def work(s: Session) -> list[ConsignmentItemView]:
        row = _open_row(s, consignment_id)
        dest = _destination(s, row.destination)
        added: list[ConsignmentItemView] = []
        for cert_id in certificate_ids:
            holder = s.exec(
                select(ConsignmentItemRow).where(ConsignmentItemRow.certificate_id == cert_id)
            ).first()
            if holder is not None:
                where = (
                    "this consignment"
                    if holder.consignment_id == consignment_id
                    else f"consignment {holder.consignment_id}"
                )
                raise ConsignmentError(f"certificate {cert_id} is already in {where}")
            record = _record(s, cert_id)
            reason = refusal_reason(dest, record)
            if reason is not None:
                raise DestinationError(reason)
            device = record.get("device") or {}
            san = record.get("sanitisation") or {}
            health = record.get("health") or {}
            grade = (health.get("after") or health.get("before") or {}).get("grade", "unknown")
            now = _now()
            item = ConsignmentItemRow(
                consignment_id=row.id,
                certificate_id=cert_id,
                drive_key=record_drive_key(record),
                serial=str(device.get("serial") or ""),
                model=str(device.get("model") or ""),
                media_kind=str(device.get("media_kind") or ""),
                method=str(san.get("method") or ""),
                nist_category=str(san.get("nist_category") or ""),
                outcome=str((record.get("outcome") or {}).get("status") or ""),
                verification=str((record.get("verification") or {}).get("result") or ""),
                health_grade=str(grade),
                simulated=bool(record.get("simulated")),
                added_at=now,
                added_by=operator,
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
        with Session(store.engine) as s:
            row = _open_row(s, consignment_id)
            items = _items(s, consignment_id)
            if not items:
                raise ConsignmentError(f"consignment {consignment_id} is empty")
            envelopes = []
            for item in items:
                cert = s.get(CertificateRow, item.certificate_id)
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


def get_consignment(store: Store, consignment_id: str) -> ConsignmentView | None:
    """A consignment, or None when unknown."""
    with Session(store.engine) as s:
        row = s.get(ConsignmentRow, consignment_id)
        return None if row is None else _view(s, row)


def list_consignments(store: Store, *, state: str | None = None) -> list[ConsignmentView]:
    """Consignments, newest first (optionally only ``open`` or ``closed`` ones)."""
    with Session(store.engine) as s:
        query = select(ConsignmentRow).order_by(col(ConsignmentRow.opened_at).desc())
        if state is not None:
            query = query.where(ConsignmentRow.state == state)
        return [_view(s, r) for r in s.exec(query).all()]


def consignment_items(store: Store, consignment_id: str) -> list[ConsignmentItemView]:
    """The devices of a consignment, in the order they were added."""
    with Session(store.engine) as s:
        return [_item_view(r) for r in _items(s, consignment_id)]


def consigned_destinations(store: Store) -> dict[str, str]:
    """The destination each consigned certificate's device left for, by certificate id."""
    with Session(store.engine) as s:
        return dict(
            s.exec(
                select(ConsignmentItemRow.certificate_id, ConsignmentRow.destination).join(
                    ConsignmentRow,
                    col(ConsignmentRow.id) == col(ConsignmentItemRow.consignment_id),
                )
            ).all()
        )


def consignment_of(store: Store, certificate_id: str) -> ConsignmentItemView | None:
    """The consignment entry of a certificate's device, or None when it was never consigned."""
    with Session(store.engine) as s:
        row = s.exec(
            select(ConsignmentItemRow).where(ConsignmentItemRow.certificate_id == certificate_id)
        ).first()
        return None if row is None else _item_view(row)


def manifest_files(store: Store, consignment_id: str) -> tuple[bytes, bytes] | None:
    """(signed manifest envelope, signed PDF) as issued, or None when none is current."""
    with Session(store.engine) as s:
        row = s.get(ConsignmentRow, consignment_id)
        if row is None or not row.manifest_sha256:
            return None
        return row.manifest_envelope, row.manifest_pdf


def manifest_envelopes(store: Store) -> list[bytes]:
    """The current signed manifest envelope of every consignment that has one."""
    with Session(store.engine) as s:
        rows = s.exec(
            select(ConsignmentRow.manifest_envelope).order_by(col(ConsignmentRow.opened_at))
        )
        return [bytes(r) for r in rows.all() if r]
