"""Signed checkpoints of the custody chain's head, as persisted (the custody layer signs them:
`sanitiser.custody.anchors`), and the lookup an anchor is checked against: an entry in the
chain, or one the fleet sync moved to the central database."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from sanitiser.errors import RecordStoreError
from sanitiser.store.audit import GENESIS, canonical_entry, entry_hash, run_in_transaction
from sanitiser.store.tables import AuditCheckpoint, AuditEntry, SyncLedger

if TYPE_CHECKING:
    from sanitiser.store.repository import Store


def save_checkpoint(
    store: Store, *, station: str, seq: int, head: str, issued_at: str, envelope: bytes
) -> bool:
    """Keep a signed checkpoint of `station`'s head (entry `seq` with hash `head`), once.

    Returns:
        False when this very envelope was kept already.
    """
    digest = hashlib.sha256(envelope).hexdigest()

    def work(s: Session) -> bool:
        found = s.exec(select(AuditCheckpoint.id).where(AuditCheckpoint.sha256 == digest)).first()
        if found is not None:
            return False
        s.add(
            AuditCheckpoint(
                station=station,
                seq=seq,
                hash=head,
                issued_at=issued_at,
                envelope=envelope,
                sha256=digest,
            )
        )
        return True

    return run_in_transaction(store, work)


def _as_bytes(value: object) -> bytes:
    """A blob as read back: SQLite returns whatever type was written (an envelope edited as
    text reads as str)."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise RecordStoreError(f"a kept checkpoint is not bytes but {type(value).__name__}")


def checkpoint_envelopes(store: Store) -> list[bytes]:
    """Every kept checkpoint's signed envelope, oldest first."""
    try:
        with store.reading() as s:
            rows = s.exec(select(AuditCheckpoint.envelope).order_by(col(AuditCheckpoint.id)))
            return [_as_bytes(r) for r in rows.all()]
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read the custody checkpoints: {e}") from e


def last_checkpoint_seq(store: Store, station: str) -> int:
    """The highest head seq `station` has a kept checkpoint of (0 when none)."""
    try:
        with store.reading() as s:
            rows = s.exec(
                select(AuditCheckpoint.seq)
                .where(AuditCheckpoint.station == station)
                .order_by(col(AuditCheckpoint.seq).desc())
                .limit(1)
            ).all()
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read the custody checkpoints: {e}") from e
    return int(rows[0]) if rows else 0


class Anchored(StrEnum):
    """What the chain holds at a position a signed anchor recorded."""

    FOUND = "found"
    """The entry is there with the anchored hash (directly, or where a sync put it)."""
    DIFFERENT = "different"
    """An entry is there with another hash: the chain was rewritten."""
    MISSING = "missing"
    """No entry is there: the chain was cut short."""


def _synced_from(s: Session, station: str, seq: int, digest: str) -> bool:
    """Whether a journal entry `seq`/`digest` of `station` (an anchor made while its bench was
    offline) was pushed by a sync and is in the central chain unchanged.

    The sync ledger names the central entry; its contents, at the journal's seq and after the
    journal's previous entry (the ledger's row before it), must hash to `digest`: a ledger row
    pointing anywhere else does not pass for it.
    """
    rows = s.exec(
        select(SyncLedger).where(
            SyncLedger.kind == "audit",
            SyncLedger.station == station,
            SyncLedger.local_seq == seq,
            SyncLedger.local_hash == digest,
        )
    ).all()
    for row in rows:
        central = s.exec(
            select(AuditEntry).where(
                AuditEntry.station == station, AuditEntry.seq == row.central_id
            )
        ).first()
        if central is None or central.hash != row.central_hash:
            continue
        prev = GENESIS
        if seq > 1:
            before = s.exec(
                select(SyncLedger.local_hash).where(
                    SyncLedger.journal == row.journal,
                    SyncLedger.kind == "audit",
                    SyncLedger.station == station,
                    SyncLedger.local_seq == seq - 1,
                )
            ).first()
            if before is None:
                continue
            prev = before
        try:
            body = canonical_entry(
                station=station,
                seq=seq,
                at=central.at,
                kind=central.kind,
                subject=central.subject,
                ref=central.ref,
                actor=central.actor,
                data=json.loads(central.data),
            )
            if entry_hash(prev, body) == digest:
                return True
        except (ValueError, RecordStoreError):
            continue
    return False


def anchor_found(store: Store, station: str, seq: int, digest: str) -> Anchored:
    """Whether `station`'s chain still holds entry `seq` with hash `digest`.

    An anchor made while a fleet bench was offline names a position in its local journal's
    chain; once synced, that entry sits elsewhere in the central chain (the sync ledger says
    where), and is found there.
    """
    try:
        with store.reading() as s:
            row = s.exec(
                select(AuditEntry).where(AuditEntry.station == station, AuditEntry.seq == seq)
            ).first()
            if row is not None and row.hash == digest:
                return Anchored.FOUND
            if _synced_from(s, station, seq, digest):
                return Anchored.FOUND
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read the audit log: {e}") from e
    return Anchored.MISSING if row is None else Anchored.DIFFERENT
