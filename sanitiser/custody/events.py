"""The custody rules: the events a drive's trail is made of, appended to the station's
chain: ``received`` (once per custody), ``sanitised`` or ``not-sanitised`` (once per
certificate), with the drive named as its signed record names it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from sanitiser.certificate.record import canonical_json
from sanitiser.domain import Drive, Health, Protection
from sanitiser.errors import RecordStoreError
from sanitiser.store.audit import (
    CUSTODY_KINDS,
    AuditEntryView,
    AuditKind,
    append_in,
    run_in_transaction,
)
from sanitiser.store.identity import drive_key, record_drive_key
from sanitiser.store.tables import AuditEntry

if TYPE_CHECKING:
    from sanitiser.store.repository import Store


def _last_custody_kind(session: Session, station: str, subject: str) -> str | None:
    row = session.exec(
        select(AuditEntry)
        .where(
            AuditEntry.station == station,
            AuditEntry.subject == subject,
            col(AuditEntry.kind).in_([str(k) for k in CUSTODY_KINDS]),
        )
        .order_by(col(AuditEntry.seq).desc())
        .limit(1)
    ).first()
    return None if row is None else row.kind


def _received(session: Session, drive: Drive, station: str, actor: str) -> AuditEntryView | None:
    key = drive_key(drive)
    last = _last_custody_kind(session, station, key)
    if last is not None and last != AuditKind.HANDED_OVER:
        return None
    return append_in(
        session,
        station=station,
        kind=AuditKind.RECEIVED,
        subject=key,
        ref="",
        actor=actor,
        data={
            "path": drive.path,
            "model": drive.model,
            "serial": drive.serial,
            "wwn": drive.wwn,
            "transport": str(drive.transport),
            "media_kind": str(drive.media_kind),
            "size_bytes": drive.size_bytes,
            "simulated": drive.simulated,
        },
        at=None,
    )


def record_received(
    target: Session | Store, drive: Drive, *, station: str, actor: str = ""
) -> AuditEntryView | None:
    """Custody begins: append ``received`` for a drive this station does not hold yet.

    Safe to call on every sighting: nothing is appended while the drive is in this station's
    custody (its last custody event is not ``handed-over``). Call it from
    `Store.record_drive_seen` with that method's session, or with the Store.

    Returns:
        The entry appended, or None when the drive was already in custody.
    """
    if isinstance(target, Session):
        return _received(target, drive, station, actor)
    return run_in_transaction(target, lambda s: _received(s, drive, station, actor))


OUTCOME_KINDS = (AuditKind.SANITISED, AuditKind.NOT_SANITISED)
"""The custody kinds of an issued record: one of them, once per certificate id."""


def outcome_kind(record: Mapping[str, Any]) -> AuditKind:
    """The custody kind of a certificate record: ``sanitised`` exactly when its outcome is."""
    status = str((record.get("outcome") or {}).get("status") or "")
    return AuditKind.SANITISED if status == "sanitised" else AuditKind.NOT_SANITISED


def _sanitised(
    session: Session, record: Mapping[str, Any], station: str, actor: str
) -> AuditEntryView | None:
    cert_id = str(record.get("certificate_id", ""))
    if not cert_id:
        raise RecordStoreError("the record has no certificate id")
    exists = session.exec(
        select(AuditEntry).where(
            AuditEntry.ref == cert_id, col(AuditEntry.kind).in_([str(k) for k in OUTCOME_KINDS])
        )
    ).first()
    if exists is not None:
        return None
    outcome = record.get("outcome") or {}
    san = record.get("sanitisation") or {}
    ver = record.get("verification") or {}
    operator = record.get("operator") or {}
    destination = record.get("destination") or {}
    return append_in(
        session,
        station=station,
        kind=outcome_kind(record),
        subject=record_drive_key(record),
        ref=cert_id,
        actor=actor or str(operator.get("name") or ""),
        data={
            "certificate_id": cert_id,
            "record_sha256": hashlib.sha256(canonical_json(dict(record))).hexdigest(),
            "status": str(outcome.get("status", "")),
            "reason": str(outcome.get("reason") or ""),
            "method": str(san.get("method", "")),
            "nist_category": str(san.get("nist_category", "")),
            "verification": str(ver.get("result", "")),
            "destination_route": str(destination.get("route") or ""),
            "simulated": bool(record.get("simulated")),
        },
        at=None,
    )


def record_sanitised(
    target: Session | Store,
    record: Mapping[str, Any],
    *,
    station: str | None = None,
    actor: str = "",
) -> AuditEntryView | None:
    """Chain the issue of a certificate record, whatever its outcome (once per certificate id).

    The kind says the outcome (`outcome_kind`): ``sanitised`` for a sanitised drive,
    ``not-sanitised`` for a record of a failed, refused or aborted attempt or of a planned
    destruction; the data names the status, the reason, the method and the record's route.

    Args:
        target: a Store or an open Session (see `append_event`).
        record: the certificate record (``SignedRecord.record``), whatever its outcome.
        station: whose chain (default: the record's station).
        actor: who (default: the record's operator).

    Returns:
        The entry appended, or None when this certificate was already recorded.
    """
    name = station or str(record.get("station") or "")
    if isinstance(target, Session):
        return _sanitised(target, record, name, actor)
    return run_in_transaction(target, lambda s: _sanitised(s, record, name, actor))


record_outcome = record_sanitised
"""`record_sanitised` under the name that says what it does for every outcome."""


def drive_seen(
    store: Store,
    drive: Drive,
    health: Health,
    protection: Protection,
    *,
    station: str = "",
) -> None:
    """Record a drive the bench has seen; with `station`, a drive the bench may work on (not
    protected) enters that station's custody: ``received`` is chained, once per custody, in
    the same transaction as the sighting."""
    if not station or protection.protected:
        store.record_drive_seen(drive, health, protection)
        return
    store.record_drive_seen(
        drive, health, protection, also=lambda s: record_received(s, drive, station=station)
    )
