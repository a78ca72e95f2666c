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
- **Devices** (laptops, monitors ... `sanitiser.store.devices`) by tag. A device is one
  record when both sides have it from the same intake (the station and time it was taken in):
  then each field is merged (the state is the one further on the lifecycle,
  `sanitiser.assets.model.later_state`: a device never moves back; checks by the time each
  was made; locks, grade, facts, destination and certificate from the newer copy, never
  blanked by an older one). A device that left by two different ends (handed over on one
  side, destroyed on the other) is a conflict and central stays as it is. A device taken in
  on two benches with one tag (or a tag that is another device's service tag) is a conflict,
  never merged: the journal's device, its drive links and its certificates stay in the
  journal.
- **Device drive links** by drive: inserted when missing and their device is that same
  device centrally; a drive linked to another device centrally is a conflict (a drive
  belongs to one device). **Device certificates** by id, as certificates are.
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
earlier custody is central, a job certified centrally just before the drop may get a
second certificate (both are kept and reported by ``sanitiser report``), and a device taken
in centrally cannot be linked, graded or moved on until the link is back (its tag is
unknown to the journal; the step is refused with that reason, nothing is half-kept).

Why one module of ~800 lines: the sync is one protocol (journal to central, custody chains
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
from sqlmodel import Session, col, or_, select

from sanitiser.assets.model import DeviceError, DeviceState, later_state
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
    DeviceCertificateRow,
    DeviceDriveRow,
    DeviceRow,
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
    devices: int = 0
    device_drives: int = 0
    device_certificates: int = 0
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
            + self.devices
            + self.device_drives
            + self.device_certificates
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
                "devices": self.devices,
                "device_drives": self.device_drives,
                "device_certificates": self.device_certificates,
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


def utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC time (SQLite gives its times back without a zone)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def device_origin(values: dict[str, Any]) -> tuple[str, datetime]:
    """What tells one intake from another: the station that took the device in, and when."""
    return str(values["station"]), utc(values["received_at"])


def describe_intake(values: dict[str, Any]) -> str:
    """An intake as a conflict line names it."""
    station, at = device_origin(values)
    return f"taken in at {station} on {at:%Y-%m-%d %H:%M:%S}Z"


def _later_checks(central: str, local: str) -> str:
    """Functional checks of both copies, each check the one made last."""
    merged: dict[str, Any] = json.loads(central)
    for name, check in json.loads(local).items():
        kept = merged.get(name)
        if kept is None or str(check.get("at", "")) > str(kept.get("at", "")):
            merged[name] = check
    return json.dumps(merged, sort_keys=True)


def merge_device(central: dict[str, Any], local: dict[str, Any]) -> dict[str, Any] | None:
    """The merged record of one device (the same intake: `device_origin`) kept on both sides,
    or None when central already has it all.

    The state is the one further on (`later_state`: never back); checks are merged, each the
    one made last; locks are merged, the newer copy's (``updated_at``) winning per lock; the
    cosmetic grade, the facts, the destination and the certificate are the newer copy's unless
    it has none (an older copy's value is never blanked).

    Raises:
        DeviceError: the two copies left by different ends (no state follows from both).
    """
    newer, older = (
        (local, central)
        if utc(local["updated_at"]) > utc(central["updated_at"])
        else (central, local)
    )
    merged = dict(central)
    for name in ("cosmetic", "destination", "certificate_id"):
        merged[name] = newer[name] or older[name]
    merged["inventory"] = (
        newer["inventory"] if json.loads(newer["inventory"]) else older["inventory"]
    )
    locks = {**json.loads(older["locks"]), **json.loads(newer["locks"])}
    merged["locks"] = json.dumps(locks, sort_keys=True)
    merged["checks"] = _later_checks(central["checks"], local["checks"])
    state = later_state(DeviceState(central["state"]), DeviceState(local["state"]))
    merged["state"] = state.value
    merged["updated_at"] = newer["updated_at"]
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
    closed_here = values["state"] in {"closed", "cancelled"} and row.state == "open"
    newer_manifest = values["manifest_at"] is not None and (
        row.manifest_at is None or values["manifest_at"] > row.manifest_at
    )
    return values if closed_here or newer_manifest else None


Checked = tuple[int, list[str]]
"""What a unit of push work did: records written centrally, and the conflicts it met."""

P = TypeVar("P")


def _push_checked(
    central: Engine,
    parts: Iterable[P],
    work: Callable[[Session, P], Checked],
    conflicts: list[str],
) -> int:
    """Push each of `parts` in one central transaction (`work`); the records written."""
    pushed = 0
    for part in parts:

        def unit(s: Session, part: P = part) -> Checked:
            return work(s, part)

        n, clashes = _transaction(central, unit)
        pushed += n
        conflicts.extend(clashes)
    return pushed


def _utc_values(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with every time as an aware UTC time (as the journal meant it)."""
    return {k: utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


Refuse = Callable[[Session, Sequence[dict[str, Any]]], dict[str, str]]
"""Which of a batch of journal records may not go centrally: id -> why."""


def _push_signed(
    local: Engine,
    central: Engine,
    model: Any,
    what: str,
    conflicts: list[str],
    *,
    refuse: Refuse | None = None,
) -> int:
    """Signed records (drive or device certificates) by id: inserted when missing; a central
    record with the same id and other bytes is a conflict, never overwritten."""
    ids = [str(i) for i in _read(local, select(model.id))]
    parts = (_dumps(_read(local, select(model).where(col(model.id).in_(p)))) for p in chunks(ids))

    def work(s: Session, mine: Sequence[dict[str, Any]]) -> Checked:
        found = dict(
            s.exec(
                select(model.id, model.record_json).where(
                    col(model.id).in_([v["id"] for v in mine])
                )
            ).all()
        )
        refused = refuse(s, mine) if refuse is not None else {}
        n, clashes = 0, []
        for v in mine:
            if v["id"] in found:
                if bytes(found[v["id"]]) != bytes(v["record_json"]):
                    clashes.append(
                        f"{what} {v['id']}: the central record differs from the journal's "
                        "(kept both; records are never overwritten)"
                    )
            elif v["id"] in refused:
                clashes.append(f"{what} {v['id']}: {refused[v['id']]}")
            else:
                s.add(model(**_utc_values(v)))
                n += 1
        return n, clashes

    return _push_checked(central, parts, work, conflicts)


def _push_items(local: Engine, central: Engine, conflicts: list[str]) -> int:
    def work(s: Session, part: Sequence[dict[str, Any]]) -> Checked:
        certs = [v["certificate_id"] for v in part]
        found = {
            r.certificate_id: r
            for r in s.exec(
                select(ConsignmentItemRow).where(col(ConsignmentItemRow.certificate_id).in_(certs))
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

    values = _dumps(_read(local, select(ConsignmentItemRow)))
    return _push_checked(central, chunks(values), work, conflicts)


def _device_clash(
    v: dict[str, Any], by_tag: dict[str, DeviceRow], by_service: dict[str, DeviceRow]
) -> DeviceRow | None:
    """A central device other than this one holding its tag or service tag (one namespace)."""
    names = [n for n in (v["tag_key"], v["service_key"]) if n]
    for name in names:
        for other in (by_tag.get(name), by_service.get(name)):
            if other is not None and other.tag_key != v["tag_key"]:
                return other
    return None


def _push_devices(local: Engine, central: Engine, conflicts: list[str]) -> int:
    def work(s: Session, part: Sequence[dict[str, Any]]) -> Checked:
        names = {v["tag_key"] for v in part} | {v["service_key"] for v in part} - {""}
        found = s.exec(
            select(DeviceRow).where(
                or_(col(DeviceRow.tag_key).in_(names), col(DeviceRow.service_key).in_(names))
            )
        ).all()
        by_tag = {r.tag_key: r for r in found}
        by_service = {r.service_key: r for r in found if r.service_key}
        n, clashes = 0, []
        for v in part:
            mine = _utc_values(v)
            row = by_tag.get(v["tag_key"])
            if row is not None and device_origin(row.model_dump()) != device_origin(v):
                clashes.append(
                    f"device {v['tag']}: {describe_intake(row.model_dump())} centrally and "
                    f"{describe_intake(v)} in the journal (one tag on two intakes); kept "
                    "apart: the journal's device, its drive links and certificates stay in "
                    "the journal"
                )
                continue
            if row is None:
                other = _device_clash(v, by_tag, by_service)
                if other is not None:
                    clashes.append(
                        f"device {v['tag']} (service tag {v['service_tag'] or '-'}): its "
                        f"tag or service tag is central device {other.tag}'s "
                        f"({describe_intake(other.model_dump())}); kept apart in the journal"
                    )
                    continue
                s.add(DeviceRow(**mine))
                n += 1
                continue
            try:
                merged = merge_device(row.model_dump(), mine)
            except DeviceError as e:
                clashes.append(f"device {v['tag']}: {e.msg}; central kept as it is")
                continue
            if merged is not None:
                for name, value in merged.items():
                    setattr(row, name, value)
                s.add(row)
                n += 1
        return n, clashes

    values = _dumps(_read(local, select(DeviceRow)))
    return _push_checked(central, chunks(values), work, conflicts)


def _other_devices(local: Engine) -> Callable[[Session, Iterable[str]], set[str]]:
    """Which journal device keys are another device centrally (or none): their links and
    certificates stay in the journal."""
    origins = {r.tag_key: device_origin(r.model_dump()) for r in _read(local, select(DeviceRow))}

    def others(s: Session, keys: Iterable[str]) -> set[str]:
        wanted = set(keys)
        rows = s.exec(select(DeviceRow).where(col(DeviceRow.tag_key).in_(wanted))).all()
        same = {r.tag_key for r in rows if device_origin(r.model_dump()) == origins.get(r.tag_key)}
        return wanted - same

    return others


def _push_device_drives(local: Engine, central: Engine, conflicts: list[str]) -> int:
    others = _other_devices(local)

    def work(s: Session, part: Sequence[dict[str, Any]]) -> Checked:
        elsewhere = others(s, (v["device_key"] for v in part))
        keys = [v["drive_key"] for v in part]
        found = {
            r.drive_key: r
            for r in s.exec(select(DeviceDriveRow).where(col(DeviceDriveRow.drive_key).in_(keys)))
        }
        n, clashes = 0, []
        for v in part:
            row, name = found.get(v["drive_key"]), v["serial"] or v["drive_key"]
            if row is not None and row.device_key == v["device_key"]:
                continue
            if row is not None:
                clashes.append(
                    f"drive {name} is linked to device {row.device_key} centrally and to "
                    f"{v['device_key']} in the journal (a drive belongs to one device); the "
                    "journal's link stays in the journal"
                )
            elif v["device_key"] in elsewhere:
                clashes.append(
                    f"drive {name}: linked in the journal to device {v['device_key']}, which is "
                    "not that device centrally; the link stays in the journal"
                )
            else:
                s.add(DeviceDriveRow(**_utc_values(v)))
                n += 1
        return n, clashes

    values = _dumps(_read(local, select(DeviceDriveRow)))
    return _push_checked(central, chunks(values), work, conflicts)


def _push_device_certificates(local: Engine, central: Engine, conflicts: list[str]) -> int:
    others = _other_devices(local)

    def refuse(s: Session, mine: Sequence[dict[str, Any]]) -> dict[str, str]:
        elsewhere = others(s, (v["device_key"] for v in mine))
        return {
            v["id"]: f"its device {v['device_key']} is another device centrally; the "
            "certificate stays in the journal"
            for v in mine
            if v["device_key"] in elsewhere
        }

    return _push_signed(
        local, central, DeviceCertificateRow, "device certificate", conflicts, refuse=refuse
    )


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
    certificates = _push_signed(local, central, CertificateRow, "certificate", conflicts)
    consignments = _push_keyed(local, central, ConsignmentRow, "id", _consignment_decision)
    items = _push_items(local, central, conflicts)
    devices = _push_devices(local, central, conflicts)
    device_drives = _push_device_drives(local, central, conflicts)
    device_certificates = _push_device_certificates(local, central, conflicts)
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
        devices=devices,
        device_drives=device_drives,
        device_certificates=device_certificates,
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
