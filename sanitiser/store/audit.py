"""The append-only, hash-chained audit log: one chain per station.

Every custody event (``received`` -> ``sanitised`` or ``not-sanitised`` -> ``routed`` ->
``consigned`` -> ``handed-over``) and every change to the destinations registry or a consignment
is one entry. ``routed`` is the routing decision for the drive (the job's policy rule, or a
technician's override); ``consigned`` is the drive being put in a consignment for a destination.
Chains written before ``consigned`` and ``not-sanitised`` existed hold ``routed`` with a
``consignment_id`` for the former and ``sanitised`` with a non-``sanitised`` status for the
latter; both are still read as what they were. Each station keeps its own
chain, so benches sharing one PostgreSQL never contend for one global sequence:

- an entry is ``(station, seq, at, kind, subject, ref, actor, data)``; ``seq`` is 1, 2, 3, ...
  per station, unique together with the station;
- its canonical bytes are `canonical_json` of those fields (``data`` as a JSON object);
- ``hash = SHA-256(prev_hash || canonical entry)`` in lower-case hex, where ``prev_hash`` is the
  raw 32 bytes of the previous entry's hash (64 zero hex digits for the first entry);
- ``audit_head`` holds each station's last ``(seq, hash)``, moved by compare-and-swap in the same
  transaction as the insert, so deleting the newest entries is noticed too.

Appends are optimistic: read the head, insert ``seq + 1``, move the head only if it is still
where it was. A concurrent writer makes the unique ``(station, seq)`` or the head swap fail and
the whole transaction is retried (`run_in_transaction`). No SQLite-only SQL is used: the same
code runs on PostgreSQL, where the head row is also locked ``FOR UPDATE``.

What the chain proves: any edit, deletion or reordering of rows by someone who does not also
recompute every later hash and the head. Anyone with write access can rewrite a whole chain,
or cut its newest entries off and move the head back; signed statements of the head made
outside the store catch that (`sanitiser.custody.anchors`): certificates and consignment
manifests carry the head at the time, and signed checkpoints of it are kept both here
(``audit_checkpoint``: the store persists them, it does not sign) and in a file beside the
store. `anchor_found` says whether an anchored position is still in the chain, following a
position in a bench's offline journal to where the sync put it centrally.

Appends are announced after their commit to the watchers registered with `watch_appends`
(the custody layer signs a checkpoint every so many entries); the store itself never signs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar
from weakref import WeakSet

from sqlalchemy import event, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from sanitiser.certificate.record import canonical_json
from sanitiser.errors import CertificateError, RecordStoreError
from sanitiser.store.tables import AuditEntry, AuditHead
from sanitiser.store.transaction import ChainMovedError
from sanitiser.text import TextInputError, text_problem

GENESIS = "0" * 64
"""The ``prev_hash`` of a station's first entry."""

T = TypeVar("T")

if TYPE_CHECKING:
    from sanitiser.store.repository import Store


class AuditKind(StrEnum):
    """What an audit entry records."""

    RECEIVED = "received"
    """A drive was first seen on the bench (it is now in our custody)."""
    SANITISED = "sanitised"
    """A certificate was issued saying the drive was sanitised."""
    NOT_SANITISED = "not-sanitised"
    """A signed record was issued saying the drive was NOT sanitised (the method failed or was
    refused, the job was aborted mid-erase, or the policy planned destruction): its data says
    which. Such a drive may only go to a destruction provider."""
    ROUTED = "routed"
    """The routing decision for the drive: where it goes (reuse, recycle, destroy) and why (the
    policy rule of its job, or a technician's override)."""
    CONSIGNED = "consigned"
    """The drive (by its certificate) was put in a consignment for a destination."""
    HANDED_OVER = "handed-over"
    """The consignment was collected: the drive left our custody."""
    DRIVE_LINKED = "drive-linked"
    """A drive was linked to the device it came out of (subject: the device)."""
    INVENTORIED = "inventoried"
    """The device's own facts (DMI, CPU, RAM, battery, TPM ...) were recorded."""
    GRADED = "graded"
    """The device's cosmetic grade, functional checks or locks were recorded."""
    READY = "ready"
    """The device met its policy's reuse-readiness rules."""
    DEVICE_CERTIFIED = "device-certified"
    """A signed device certificate was issued."""
    RECYCLED = "recycled"
    """The device left for recycling (its custody ends here)."""
    DESTROYED = "destroyed"
    """The device left for (or went through) destruction (its custody ends here)."""
    DESTINATION_ADDED = "destination-added"
    DESTINATION_REMOVED = "destination-removed"
    CONSIGNMENT_OPENED = "consignment-opened"
    MANIFEST_ISSUED = "manifest-issued"
    CONSIGNMENT_CLOSED = "consignment-closed"
    CONSIGNMENT_CANCELLED = "consignment-cancelled"
    """An open consignment was called off before it left (why, by whom); nothing was handed
    over, and each item in it was taken out (``unconsigned``)."""
    UNCONSIGNED = "unconsigned"
    """A drive or device (by its certificate) was taken out of a cancelled consignment: it is
    in our custody as before, free to be consigned again."""


CUSTODY_KINDS = (
    AuditKind.RECEIVED,
    AuditKind.SANITISED,
    AuditKind.NOT_SANITISED,
    AuditKind.ROUTED,
    AuditKind.CONSIGNED,
    AuditKind.HANDED_OVER,
)
"""The chain-of-custody events of one drive, in their natural order."""


@dataclass(frozen=True, slots=True)
class AuditEntryView:
    """An audit entry as plain values."""

    station: str
    seq: int
    at: str
    kind: str
    subject: str
    ref: str
    actor: str
    data: Mapping[str, Any]
    prev_hash: str
    hash: str


class BrokenLink(NamedTuple):
    """Where a chain first stops being trustworthy."""

    station: str
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of recomputing the audit chains."""

    ok: bool
    entries: int
    """How many entries were checked (up to the first broken link of a broken chain)."""
    first_broken: BrokenLink | None
    stations: tuple[tuple[str, int], ...] = ()
    """(station, entries) for every chain checked."""


# --- the functional core -------------------------------------------------------------------


def utc_stamp(moment: datetime) -> str:
    """A timezone-aware time as the text an entry stores and hashes (microseconds, UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordStoreError(f"audit time {moment!r} has no timezone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_entry(
    *,
    station: str,
    seq: int,
    at: str,
    kind: str,
    subject: str,
    ref: str,
    actor: str,
    data: Mapping[str, Any],
) -> bytes:
    """The canonical bytes of an entry: what its hash covers (with the previous hash)."""
    try:
        return canonical_json(
            {
                "actor": actor,
                "at": at,
                "data": dict(data),
                "kind": kind,
                "ref": ref,
                "seq": seq,
                "station": station,
                "subject": subject,
            }
        )
    except CertificateError as e:
        raise RecordStoreError(f"audit data must be plain JSON (no floats): {e.msg}") from e


def entry_hash(prev_hash: str, entry: bytes) -> str:
    """``SHA-256(prev_hash || entry)`` as lower-case hex; `prev_hash` is hex of 32 bytes."""
    try:
        prev = bytes.fromhex(prev_hash)
    except ValueError as e:
        raise RecordStoreError(f"previous hash {prev_hash!r} is not hex") from e
    if len(prev) != 32:
        raise RecordStoreError(f"previous hash {prev_hash!r} is not 32 bytes")
    return hashlib.sha256(prev + entry).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry exactly as read from the database (``data`` still text), for checking."""

    station: str
    seq: int
    at: str
    kind: str
    subject: str
    ref: str
    actor: str
    data: str
    prev_hash: str
    hash: str


def _entry_problem(entry: StoredEntry, expected_seq: int, expected_prev: str) -> str | None:
    """Why `entry` does not continue a chain whose next seq and hash are as expected."""
    if entry.seq < expected_seq:
        return f"seq {entry.seq} appears twice or out of order"
    if entry.seq > expected_seq:
        missing = (
            f"entry {expected_seq} is missing"
            if entry.seq == expected_seq + 1
            else f"entries {expected_seq}-{entry.seq - 1} are missing"
        )
        return f"{missing} (deleted?)"
    if entry.prev_hash != expected_prev:
        return "its previous-hash link does not match the entry before it (edited or reordered?)"
    try:
        data = json.loads(entry.data)
    except ValueError:
        return "its data is not valid JSON (edited?)"
    if not isinstance(data, dict):
        return "its data is not a JSON object (edited?)"
    try:
        if canonical_json(data).decode("utf-8") != entry.data:
            return "its data is not in canonical form (edited?)"
        body = canonical_entry(
            station=entry.station,
            seq=entry.seq,
            at=entry.at,
            kind=entry.kind,
            subject=entry.subject,
            ref=entry.ref,
            actor=entry.actor,
            data=data,
        )
        computed = entry_hash(entry.prev_hash, body)
    except (CertificateError, RecordStoreError):
        return "its contents cannot be hashed (edited?)"
    if computed != entry.hash:
        return "its contents do not match its hash (edited?)"
    return None


def check_chain(
    station: str, entries: Iterable[StoredEntry], head: tuple[int, str] | None
) -> tuple[int, BrokenLink | None]:
    """Recompute one station's chain.

    Args:
        station: the station whose chain this is.
        entries: its entries in seq order.
        head: the recorded (seq, hash) of its last entry, or None when no head is recorded.

    Returns:
        (entries checked, the first broken link or None).
    """
    expected_seq, expected_prev = 1, GENESIS
    checked = 0
    for entry in entries:
        problem = _entry_problem(entry, expected_seq, expected_prev)
        if problem is not None:
            return checked, BrokenLink(station, min(entry.seq, expected_seq), problem)
        checked += 1
        expected_seq, expected_prev = entry.seq + 1, entry.hash
    last_seq = expected_seq - 1
    if head is None:
        if checked:
            return checked, BrokenLink(station, last_seq, "the chain's head record is missing")
        return checked, None
    head_seq, head_hash = head
    if head_seq > last_seq:
        return checked, BrokenLink(
            station,
            last_seq + 1,
            f"the head says the chain ends at {head_seq} but entries after {last_seq} "
            "are missing (deleted?)",
        )
    if head_seq < last_seq:
        return checked, BrokenLink(
            station, head_seq + 1, f"entries after the recorded head {head_seq} (inserted?)"
        )
    if head_hash != expected_prev:
        return checked, BrokenLink(
            station, last_seq, "the last entry's hash does not match the recorded head"
        )
    return checked, None


# --- the imperative shell ------------------------------------------------------------------


def run_in_transaction(store: Store, work: Callable[[Session], T], *, attempts: int = 60) -> T:
    """Run `work` in one transaction on the store and commit it (`Store.transact`),
    retrying when a concurrent writer wins, so its checks see the other writer's rows; on a
    fleet bench cut off from its central database, in its local journal.

    Raises:
        RecordStoreError: the database failed, or the retries ran out.
        SanitiserError: whatever `work` raises on purpose (nothing is committed).
    """
    return store.transact(work, attempts=attempts)


# --- announcing appends (after their commit) -------------------------------------------------


class AppendWatcher(Protocol):
    """Told, after a commit, which chains it moved on (see `watch_appends`)."""

    def appended(self, engine: Engine, heads: Mapping[str, int]) -> None:
        """`heads`: station -> the seq of its last entry the commit wrote, on `engine`."""


_WATCHERS: WeakSet[AppendWatcher] = WeakSet()
_APPENDED = "sanitiser.audit.appended"
"""The ``Session.info`` key of the appends a transaction made: (engine, {station: seq})."""


def watch_appends(watcher: AppendWatcher) -> None:
    """Tell `watcher` about every committed append in this process (held weakly: a watcher
    that is dropped stops being told). A watcher must not raise and must not append."""
    _WATCHERS.add(watcher)


def unwatch_appends(watcher: AppendWatcher) -> None:
    """Stop telling `watcher`."""
    _WATCHERS.discard(watcher)


def _bound_engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def _noteappend_in(session: Session, station: str, seq: int) -> None:
    noted: tuple[Engine, dict[str, int]] | None = session.info.get(_APPENDED)
    if noted is None:
        noted = session.info[_APPENDED] = (_bound_engine(session), {})
    noted[1][station] = seq


@event.listens_for(OrmSession, "after_commit")
def _announce(session: OrmSession) -> None:
    """After a commit that appended: tell the watchers (outside the committed transaction)."""
    noted = session.info.pop(_APPENDED, None)
    if noted is None:
        return
    engine, heads = noted
    for watcher in list(_WATCHERS):
        watcher.appended(engine, dict(heads))


@event.listens_for(OrmSession, "after_rollback")
def _forget(session: OrmSession) -> None:
    """A rolled-back append is not announced (a retry notes it again)."""
    session.info.pop(_APPENDED, None)


def _view(row: AuditEntry) -> AuditEntryView:
    return AuditEntryView(
        row.station,
        row.seq,
        row.at,
        row.kind,
        row.subject,
        row.ref,
        row.actor,
        json.loads(row.data),
        row.prev_hash,
        row.hash,
    )


def append_in(
    session: Session,
    *,
    station: str,
    kind: str,
    subject: str,
    ref: str,
    actor: str,
    data: Mapping[str, Any],
    at: datetime | None,
) -> AuditEntryView:
    if not station:
        raise RecordStoreError("an audit entry needs a station")
    for what, value, text_kind in (("station", station, "station"), ("actor", actor, "operator")):
        problem = text_problem(value, text_kind)  # the last line of defence (sanitiser.text)
        if problem:
            raise TextInputError(f"the audit entry's {what} {problem}", title="Invalid text")
    head = session.exec(
        select(AuditHead)
        .where(AuditHead.station == station)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    seq, prev = (1, GENESIS) if head is None else (head.seq + 1, head.hash)
    stamp = utc_stamp(at or datetime.now(UTC))
    if head is not None and head.at > stamp:
        stamp = head.at  # another writer's clock (or a retry) ran ahead: keep time monotonic
    body = canonical_entry(
        station=station,
        seq=seq,
        at=stamp,
        kind=str(kind),
        subject=subject,
        ref=ref,
        actor=actor,
        data=data,
    )
    digest = entry_hash(prev, body)
    if head is None:
        session.add(AuditHead(station=station, seq=seq, hash=digest, at=stamp))
        session.flush()  # a concurrent first entry clashes here on the primary key
    else:
        moved = session.execute(
            update(AuditHead)
            .where(col(AuditHead.station) == station, col(AuditHead.seq) == head.seq)
            .values(seq=seq, hash=digest, at=stamp)
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 1) != 1:
            raise ChainMovedError(f"the audit chain of {station} moved on; retry")
    row = AuditEntry(
        station=station,
        seq=seq,
        at=stamp,
        kind=str(kind),
        subject=subject,
        ref=ref,
        actor=actor,
        data=canonical_json(dict(data)).decode("utf-8"),
        prev_hash=prev,
        hash=digest,
    )
    session.add(row)
    session.flush()  # a concurrent entry with the same seq clashes here
    _noteappend_in(session, station, seq)
    return _view(row)


def append_event(
    target: Session | Store,
    *,
    station: str,
    kind: str,
    subject: str = "",
    ref: str = "",
    actor: str = "",
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntryView:
    """Append one entry to `station`'s chain.

    Args:
        target: a `Store` (the entry is committed on its own, retried under contention) or an
            open `Session` (the entry joins the caller's transaction; the caller commits and,
            under contention, retries: `ChainMovedError` or an IntegrityError).
        station: whose chain.
        kind: an `AuditKind` value.
        subject: a drive key for custody events, else the destination or consignment.
        ref: the certificate or consignment id the entry refers to.
        actor: who did it.
        data: plain JSON facts (no floats).
        at: when (default: now).

    Returns:
        The entry as written.
    """
    facts = dict(data or {})
    if isinstance(target, Session):
        return append_in(
            target,
            station=station,
            kind=kind,
            subject=subject,
            ref=ref,
            actor=actor,
            data=facts,
            at=at,
        )
    return run_in_transaction(
        target,
        lambda s: append_in(
            s, station=station, kind=kind, subject=subject, ref=ref, actor=actor, data=facts, at=at
        ),
    )


def _stored(row: AuditEntry) -> StoredEntry:
    return StoredEntry(
        row.station,
        row.seq,
        row.at,
        row.kind,
        row.subject,
        row.ref,
        row.actor,
        row.data,
        row.prev_hash,
        row.hash,
    )


def verify_chain(store: Store, station: str | None = None) -> ChainReport:
    """Recompute every station's chain (or one station's) and report the first broken link.

    Chains are checked in station-name order; checking stops at the first broken chain.
    """
    try:
        with store.reading() as s:
            heads = {h.station: (h.seq, h.hash) for h in s.exec(select(AuditHead)).all()}
            names_query = select(AuditEntry.station).distinct()
            stations = set(s.exec(names_query).all()) | set(heads)
            if station is not None:
                stations = {station} & stations if stations else set()
            total, counts = 0, []
            for name in sorted(stations):
                rows = s.exec(
                    select(AuditEntry)
                    .where(AuditEntry.station == name)
                    .order_by(col(AuditEntry.seq), col(AuditEntry.id))
                    .execution_options(yield_per=1000)
                )
                checked, broken = check_chain(name, (_stored(r) for r in rows), heads.get(name))
                total += checked
                counts.append((name, checked))
                if broken is not None:
                    return ChainReport(False, total, broken, tuple(counts))
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read the audit log: {e}") from e
    return ChainReport(True, total, None, tuple(counts))


def entries(
    store: Store,
    *,
    station: str | None = None,
    subject: str | None = None,
    ref: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
) -> list[AuditEntryView]:
    """Audit entries, oldest first; with `limit`, the newest `limit` of them.

    A station's entries are in seq order (their times never run back); entries of different
    stations are interleaved by time.
    """
    query = select(AuditEntry)
    if station is not None:
        query = query.where(AuditEntry.station == station)
    if subject is not None:
        query = query.where(AuditEntry.subject == subject)
    if ref is not None:
        query = query.where(AuditEntry.ref == ref)
    if kind is not None:
        query = query.where(AuditEntry.kind == kind)
    query = query.order_by(
        col(AuditEntry.at).desc(), col(AuditEntry.station).desc(), col(AuditEntry.seq).desc()
    )
    if limit is not None:
        query = query.limit(limit)
    try:
        with store.reading() as s:
            views = [_view(r) for r in s.exec(query).all()]
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read the audit log: {e}") from e
    views.reverse()
    return views


def entry_hash_at(store: Store, station: str, seq: int) -> str | None:
    """The hash of `station`'s entry `seq`, or None when there is no such entry."""
    with store.reading() as s:
        row = s.exec(
            select(AuditEntry).where(AuditEntry.station == station, AuditEntry.seq == seq)
        ).first()
        return None if row is None else row.hash


def chain_head(store: Store, station: str) -> tuple[int, str] | None:
    """The (seq, hash) of `station`'s last entry, or None before its first."""
    with store.reading() as s:
        head = s.get(AuditHead, station)
        return None if head is None else (head.seq, head.hash)


def chain_heads(store: Store) -> dict[str, tuple[int, str]]:
    """Every station's recorded head: station -> (seq, hash)."""
    try:
        with store.reading() as s:
            return {h.station: (h.seq, h.hash) for h in s.exec(select(AuditHead)).all()}
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read the audit log: {e}") from e
