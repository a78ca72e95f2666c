"""Offline operation: a bench keeps working on its local journal and syncs it to the fleet.

The design
----------
A fleet bench's store (`open_store`) has two databases: the **central** PostgreSQL shared by
every bench, and a **local journal**, an SQLite file in the bench's data directory with the
same tables (same migrations). While the central database answers, every record goes there
and the journal is not touched. When it cannot be reached (network down, server stopped; not
a refused password), `Store` switches to the journal and the bench carries on: jobs,
job events, method journals, certificates, drives seen, audit entries, destinations and
consignments are written locally. Every `retry_after` seconds the store tries the central
database again; when it answers, new store work waits while `push_journal` runs, then the
store goes back to the central database (a second push catches audit entries written
straight on the engine meanwhile). A bench that starts with a journal left over pushes it
first, and ``sanitiser sync`` pushes it by hand.

`push_journal` pushes every journal record not yet central, and may be run any number of
times, concurrently, or be cut off half-way: nothing is pushed twice and nothing is lost.

- **Certificates** by id (ids are UUIDv7, unique across the fleet): inserted when missing; a
  central certificate with the same id and other bytes is a conflict, reported, never
  overwritten (signed records are never edited).
- **Jobs** by id (UUIDv4), **method journals** by job id: inserted when missing, or replaced
  when the journal's copy is newer (``updated_at``): a job that was running when the central
  database went away was carried on in the journal from its last central state (`Store`
  remembers the jobs it touched for that).
- **Drives seen** by key: merged (first sighting the earliest, facts from the latest).
- **Destinations** by name (newer wins), **consignments** by id (the journal's copy wins when
  it is further on: closed, or a newer manifest), **consignment items** by certificate (one
  consignment per certificate ever: a clash is a conflict).
- **Job events** get new central ids: each is inserted together with a ``sync_ledger`` row
  ``(journal id, "job_event", local id)`` in one transaction; the ledger's primary key makes
  the push exactly-once even when two pushes race or a push dies between the central commit
  and noting progress in the journal.
- **Custody checkpoints** (signed heads) by the SHA-256 of their envelope: inserted when
  missing. One signed while offline names a position in the journal's chain; the ledger rows
  below lead ``audit verify`` to where that entry went centrally.
- **Audit entries**: each station's chain in the journal is first recomputed (`check_chain`);
  a broken local chain is a conflict and none of that station's entries are pushed. The
  entries are then appended, in seq order, to the same station's central chain with their
  original time, kind, subject, ref, actor and data (the central chain computes their central
  seq and hash, so the central chain stays one unbroken chain per station however the bench
  came and went), each with a ledger row ``(journal id, "audit", local id)`` holding the
  local (seq, hash) and the central (seq, hash): the proof that links the journal's chain to
  the central one.

Progress marks (``store_meta`` in the journal: per station the last local seq pushed, the last
job event pushed) only save work; the central ledger is what makes pushes exactly-once. The
journal is never emptied: it stays the bench's own evidence, and its chains continue across
offline periods.

Known limits: work in flight at the instant the connection drops fails once with a
`RecordStoreError` (nothing is committed, the caller sees it); a commit whose reply is lost
may be retried in the journal and then reach the central database twice as job events
(certificates, jobs and audit custody are keyed and are not duplicated). While offline, the
bench sees only its journal: a custody ``received`` may be chained again for a drive whose
earlier custody is central, and a job certified centrally just before the drop may get a
second certificate (both are kept and reported by ``sanitiser report``).

Why one module of ~600 lines: the sync is one protocol (journal to central, custody chains
re-based, the ledger that lets an anchor made offline be found), read end to end by whoever
changes any step of it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from sanitiser.config import Settings, ensure_data_dir
from sanitiser.errors import RecordStoreError
from sanitiser.store.audit import StoredEntry, append_event, check_chain
from sanitiser.store.engine import is_unreachable
from sanitiser.store.repository import Store
from sanitiser.store.tables import (
    AuditCheckpoint,
    AuditEntry,
    AuditHead,
    CertificateRow,
    ConsignmentItemRow,
    ConsignmentRow,
    DestinationRow,
    DriveSeen,
    Job,
    JobEvent,
    JobJournal,
    StoreMeta,
    SyncLedger,
)
from sanitiser.store.transaction import retryable, transact

T = TypeVar("T")

JOURNAL_FILE = "journal.db"
"""The local journal's file name in the data directory."""

BATCH = 200
"""Records pushed per central transaction."""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one push did."""

    journal: str
    """The journal's id."""
    destinations: int = 0
    drives: int = 0
    jobs: int = 0
    job_journals: int = 0
    job_events: int = 0
    certificates: int = 0
    consignments: int = 0
    consignment_items: int = 0
    audit_entries: int = 0
    checkpoints: int = 0
    conflicts: tuple[str, ...] = ()
    """Records that were not pushed, and why (they stay in the journal)."""

    @property
    def total(self) -> int:
        """Records pushed (inserted or updated centrally)."""
        return (
            self.destinations
            + self.drives
            + self.jobs
            + self.job_journals
            + self.job_events
            + self.certificates
            + self.consignments
            + self.consignment_items
            + self.audit_entries
            + self.checkpoints
        )

    def as_json(self) -> dict[str, Any]:
        """JSON-ready counts and conflicts."""
        return {
            "journal": self.journal,
            "pushed": {
                "destinations": self.destinations,
                "drives": self.drives,
                "jobs": self.jobs,
                "job_journals": self.job_journals,
                "job_events": self.job_events,
                "certificates": self.certificates,
                "consignments": self.consignments,
                "consignment_items": self.consignment_items,
                "audit_entries": self.audit_entries,
                "checkpoints": self.checkpoints,
            },
            "total": self.total,
            "conflicts": list(self.conflicts),
        }


# --- wiring --------------------------------------------------------------------------------


def journal_url(settings: Settings) -> str | None:
    """The local journal of a fleet bench (its central database is not SQLite), else None."""
    if settings.effective_database_url.startswith("sqlite"):
        return None
    return f"sqlite:///{settings.data_dir / JOURNAL_FILE}"


def journal_exists(url: str) -> bool:
    """Whether the journal file of an SQLite URL exists (it is made on first going offline)."""
    path = url.removeprefix("sqlite:///")
    return url.startswith("sqlite:///") and Path(path).is_file()


def settings_store(settings: Settings, **options: Any) -> Store:
    """The store the settings name (`Store` `options`). The default one, SQLite in the data
    directory, gets that directory made on first use; a configured ``database_url`` is opened
    as it is (an SQLite file's folder must exist already)."""
    if not settings.database_url:
        ensure_data_dir(settings)
    return Store(settings.effective_database_url, **options)


def open_store(settings: Settings, *, retry_after: float = 30.0) -> Store:
    """The bench's store: the configured database, with the local journal for a fleet (in the
    data directory, made here when missing)."""
    ensure_data_dir(settings)
    return settings_store(settings, journal=journal_url(settings), retry_after=retry_after)


# --- the functional core -------------------------------------------------------------------


def parse_stamp(text: str) -> datetime:
    """An audit entry's time text (`utc_stamp`) as a UTC datetime."""
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as e:
        raise RecordStoreError(f"audit time {text!r} is not a UTC stamp") from e


def chunks(items: Sequence[T], size: int = BATCH) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def merge_drive(central: dict[str, Any], local: dict[str, Any]) -> dict[str, Any] | None:
    """The merged record of a drive seen on both sides, or None when central already has it
    all (earliest first sighting; facts from the latest sighting)."""
    newest = local if local["last_seen"] > central["last_seen"] else central
    merged = {**newest, "first_seen": min(central["first_seen"], local["first_seen"])}
    return None if merged == central else merged


def _station_key(station: str) -> str:
    return "sync.audit." + hashlib.sha256(station.encode("utf-8")).hexdigest()[:40]


# --- the imperative shell ------------------------------------------------------------------


def _sync_failure(error: SQLAlchemyError) -> RecordStoreError | None:
    if is_unreachable(error):
        return RecordStoreError(f"the database went away during the sync: {error}")
    return None if retryable(error) else RecordStoreError(f"sync failed: {error}")


def _transaction(engine: Engine, work: Callable[[Session], T], *, attempts: int = 60) -> T:
    """Run `work` in one transaction on `engine`, again when another writer won a race."""
    return transact(
        engine,
        work,
        attempts=attempts,
        failure=_sync_failure,
        busy="the central database stayed busy during the sync",
    )


def _read(engine: Engine, query: Any) -> list[Any]:
    try:
        with Session(engine) as s:
            return list(s.exec(query).all())
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read the journal: {e}") from e


def _meta(engine: Engine, key: str) -> str | None:
    rows = _read(engine, select(StoreMeta).where(StoreMeta.key == key))
    return rows[0].value if rows else None


def _set_meta(engine: Engine, key: str, value: str) -> None:
    def work(s: Session) -> None:
        row = s.get(StoreMeta, key)
        if row is None:
            row = StoreMeta(key=key, value=value)
        row.value = value
        s.add(row)

    _transaction(engine, work)


def journal_id(local: Engine) -> str:
    """The journal's id (made on first use), naming its records in the central ledger."""
    found = _meta(local, "journal.id")
    if found:
        return found

    def work(s: Session) -> str:
        row = s.get(StoreMeta, "journal.id")
        if row is None:
            row = StoreMeta(key="journal.id", value=uuid.uuid4().hex)
            s.add(row)
        return row.value

    return _transaction(local, work)


def _dumps(rows: Iterable[Any]) -> list[dict[str, Any]]:
    return [r.model_dump() for r in rows]


def _push_keyed(
    local: Engine,
    central: Engine,
    model: Any,
    key: str,
    decide: Callable[[Any, dict[str, Any]], dict[str, Any] | None],
) -> int:
    """Push rows of `model` keyed by `key`: `decide(central row or None, local values)` gives
    the values to write (None: leave central as it is)."""
    values = _dumps(_read(local, select(model)))
    pushed = 0
    for part in chunks(values):

        def work(s: Session, part: Sequence[dict[str, Any]] = part) -> int:
            keys = [v[key] for v in part]
            found = {
                getattr(r, key): r
                for r in s.exec(select(model).where(col(getattr(model, key)).in_(keys))).all()
            }
            n = 0
            for v in part:
                row = found.get(v[key])
                new = decide(row, v)
                if new is None:
                    continue
                if row is None:
                    s.add(model(**new))
                else:
                    for name, value in new.items():
                        setattr(row, name, value)
                    s.add(row)
                n += 1
            return n

        pushed += _transaction(central, work)
    return pushed


def _newer(field_name: str) -> Callable[[Any, dict[str, Any]], dict[str, Any] | None]:
    def decide(row: Any, values: dict[str, Any]) -> dict[str, Any] | None:
        if row is None or values[field_name] > getattr(row, field_name):
            return values
        return None

    return decide


def _new_row(row: Any, values: dict[str, Any]) -> dict[str, Any] | None:
    """Insert when missing (with a new central id); a kept row is never changed."""
    return {**values, "id": None} if row is None else None


def _drive_decision(row: Any, values: dict[str, Any]) -> dict[str, Any] | None:
    return values if row is None else merge_drive(row.model_dump(), values)


def _consignment_decision(row: Any, values: dict[str, Any]) -> dict[str, Any] | None:
    if row is None:
        return values
    closed_here = values["state"] == "closed" and row.state != "closed"
    newer_manifest = values["manifest_at"] is not None and (
        row.manifest_at is None or values["manifest_at"] > row.manifest_at
    )
    return values if closed_here or newer_manifest else None


def _push_certificates(local: Engine, central: Engine, conflicts: list[str]) -> int:
    ids = [str(i) for i in _read(local, select(CertificateRow.id))]
    pushed = 0
    for part in chunks(ids):
        query = select(CertificateRow).where(col(CertificateRow.id).in_(part))
        mine_by_id = {r.id: r for r in _read(local, query)}

        def work(
            s: Session, part: Sequence[str] = part, rows: dict[str, Any] = mine_by_id
        ) -> tuple[int, list[str]]:
            found = dict(
                s.exec(
                    select(CertificateRow.id, CertificateRow.record_json).where(
                        col(CertificateRow.id).in_(part)
                    )
                ).all()
            )
            n, clashes = 0, []
            for cert_id in part:
                mine = rows[cert_id]
                if cert_id not in found:
                    s.add(CertificateRow(**mine.model_dump()))
                    n += 1
                elif bytes(found[cert_id]) != bytes(mine.record_json):
                    clashes.append(
                        f"certificate {cert_id}: the central record differs from the journal's "
                        "(kept both; records are never overwritten)"
                    )
            return n, clashes

        n, clashes = _transaction(central, work)
        pushed += n
        conflicts.extend(clashes)
    return pushed


def _push_items(local: Engine, central: Engine, conflicts: list[str]) -> int:
    values = _dumps(_read(local, select(ConsignmentItemRow)))
    pushed = 0
    for part in chunks(values):

        def work(s: Session, part: Sequence[dict[str, Any]] = part) -> tuple[int, list[str]]:
            certs = [v["certificate_id"] for v in part]
            found = {
                r.certificate_id: r
                for r in s.exec(
                    select(ConsignmentItemRow).where(
                        col(ConsignmentItemRow.certificate_id).in_(certs)
                    )
                ).all()
            }
            n, clashes = 0, []
            for v in part:
                row = found.get(v["certificate_id"])
                if row is None:
                    s.add(ConsignmentItemRow(**{**v, "id": None}))
                    n += 1
                elif row.consignment_id != v["consignment_id"]:
                    clashes.append(
                        f"certificate {v['certificate_id']} is in consignment {row.consignment_id} "
                        f"centrally and in {v['consignment_id']} in the journal"
                    )
                elif v["handed_over_at"] is not None and row.handed_over_at is None:
                    row.handed_over_at = v["handed_over_at"]
                    s.add(row)
                    n += 1
            return n, clashes

        n, clashes = _transaction(central, work)
        pushed += n
        conflicts.extend(clashes)
    return pushed


def _ledger_done(s: Session, journal: str, kind: str, ids: Sequence[int]) -> set[int]:
    return set(
        s.exec(
            select(SyncLedger.local_id).where(
                SyncLedger.journal == journal,
                SyncLedger.kind == kind,
                col(SyncLedger.local_id).in_(ids),
            )
        ).all()
    )


def _push_job_events(local: Engine, central: Engine, journal: str) -> int:
    mark = int(_meta(local, "sync.job_event") or 0)
    events = _read(
        local, select(JobEvent).where(col(JobEvent.id) > mark).order_by(col(JobEvent.id))
    )
    pushed = 0
    for part in chunks(events):

        def work(s: Session, part: Sequence[JobEvent] = part) -> int:
            done = _ledger_done(s, journal, "job_event", [e.id or 0 for e in part])
            n = 0
            for e in part:
                if e.id in done:
                    continue
                row = JobEvent(job_id=e.job_id, at=e.at, kind=e.kind, state=e.state, data=e.data)
                s.add(row)
                s.flush()
                s.add(
                    SyncLedger(
                        journal=journal,
                        kind="job_event",
                        local_id=e.id or 0,
                        central_id=row.id or 0,
                        synced_at=datetime.now(UTC),
                    )
                )
                n += 1
            return n

        pushed += _transaction(central, work)
        _set_meta(local, "sync.job_event", str(max(e.id or 0 for e in part)))
    return pushed


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


def _push_audit(local: Engine, central: Engine, journal: str, conflicts: list[str]) -> int:
    heads = {h.station: (h.seq, h.hash) for h in _read(local, select(AuditHead))}
    stations = sorted(set(_read(local, select(AuditEntry.station).distinct())) | set(heads))
    pushed = 0
    for station in stations:
        rows = _read(
            local,
            select(AuditEntry).where(AuditEntry.station == station).order_by(col(AuditEntry.seq)),
        )
        _, broken = check_chain(station, (_stored(r) for r in rows), heads.get(station))
        if broken is not None:
            conflicts.append(
                f"the journal's audit chain of {station} is broken at seq {broken.seq} "
                f"({broken.reason}); none of its entries were pushed"
            )
            continue
        mark = int(_meta(local, _station_key(station)) or 0)
        todo = [r for r in rows if r.seq > mark]
        for part in chunks(todo):

            def work(s: Session, part: Sequence[AuditEntry] = part) -> int:
                done = _ledger_done(s, journal, "audit", [r.id or 0 for r in part])
                n = 0
                for r in part:
                    if r.id in done:
                        continue
                    view = append_event(
                        s,
                        station=r.station,
                        kind=r.kind,
                        subject=r.subject,
                        ref=r.ref,
                        actor=r.actor,
                        data=json.loads(r.data),
                        at=parse_stamp(r.at),
                    )
                    s.add(
                        SyncLedger(
                            journal=journal,
                            kind="audit",
                            local_id=r.id or 0,
                            station=r.station,
                            local_seq=r.seq,
                            local_hash=r.hash,
                            central_id=view.seq,
                            central_hash=view.hash,
                            synced_at=datetime.now(UTC),
                        )
                    )
                    n += 1
                return n

            pushed += _transaction(central, work)
            _set_meta(local, _station_key(station), str(part[-1].seq))
    return pushed


def push_journal(local: Engine, central: Engine) -> SyncReport:
    """Push every journal record not yet in the central database (see the module docstring).

    Idempotent and safe to repeat or run concurrently; conflicts are reported, not raised.

    Raises:
        RecordStoreError: a database could not be read or written (nothing half-done is
            left: each batch is one central transaction, and the next push carries on).
    """
    journal = journal_id(local)
    conflicts: list[str] = []
    destinations = _push_keyed(local, central, DestinationRow, "name", _newer("updated_at"))
    drives = _push_keyed(local, central, DriveSeen, "key", _drive_decision)
    jobs = _push_keyed(local, central, Job, "id", _newer("updated_at"))
    notes = _push_keyed(local, central, JobJournal, "job_id", _newer("updated_at"))
    events = _push_job_events(local, central, journal)
    certificates = _push_certificates(local, central, conflicts)
    consignments = _push_keyed(local, central, ConsignmentRow, "id", _consignment_decision)
    items = _push_items(local, central, conflicts)
    audit = _push_audit(local, central, journal, conflicts)
    checkpoints = _push_keyed(local, central, AuditCheckpoint, "sha256", _new_row)
    return SyncReport(
        journal=journal,
        destinations=destinations,
        drives=drives,
        jobs=jobs,
        job_journals=notes,
        job_events=events,
        certificates=certificates,
        consignments=consignments,
        consignment_items=items,
        audit_entries=audit,
        checkpoints=checkpoints,
        conflicts=tuple(conflicts),
    )


def sync_settings(settings: Settings) -> SyncReport:
    """``sanitiser sync``: push this bench's journal to its central database.

    Raises:
        RecordStoreError: no fleet database is configured, or it cannot be reached.
    """
    url = journal_url(settings)
    if url is None:
        raise RecordStoreError(
            "this bench keeps its records in SQLite (no central database_url): nothing to sync"
        )
    central = settings_store(settings)
    if not journal_exists(url):
        return SyncReport(journal="")
    local = Store(url)
    return push_journal(local.engine, central.engine)
