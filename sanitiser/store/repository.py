"""`Store`: the one place that talks to the database and converts rows to plain values.

Why one module of ~800 lines: `Store` is the store's whole API (drives, jobs and their
write-ahead journal, certificates) over one connection policy (the central database, or the
local journal while it is away); its engines are made in `engine`, custody in `audit`,
`custody_events` and `checkpoints`, the fleet sync in `sync`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, ExceptionContext
from sqlalchemy.exc import (
    SQLAlchemyError,
)
from sqlmodel import Session, col, select, update

from sanitiser.domain import Drive, Health, Protection
from sanitiser.errors import RecordStoreError
from sanitiser.store import migrations
from sanitiser.store.engine import (
    is_read_only,
    is_unreachable,
    make_engine,
    reason,
    safe_url,
    store_error,
)
from sanitiser.store.identity import drive_key
from sanitiser.store.tables import CertificateRow, DriveSeen, Job, JobEvent, JobJournal
from sanitiser.store.transaction import retryable, transact

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DriveView:
    """A drive as recorded."""

    key: str
    path: str
    model: str
    serial: str
    transport: str
    size_bytes: int
    health_grade: str
    protected: bool
    protected_reason: str
    simulated: bool
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class JobView:
    """A job as recorded."""

    id: str
    drive_key: str
    serial: str
    state: str
    method: str
    station: str
    operator: str
    simulated: bool
    created_at: datetime
    updated_at: datetime
    detail: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class JobEventView:
    """One entry of a job's append-only journal."""

    seq: int
    """Position in the whole journal (increasing)."""
    job_id: str
    at: datetime
    kind: str
    state: str
    data: Mapping[str, Any]


class StaleJobStateError(RecordStoreError):
    """A job was not in the state a transition expected (another worker or process moved it)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _job_view(r: Job) -> JobView:
    return JobView(
        r.id,
        r.drive_key,
        r.serial,
        r.state,
        r.method,
        r.station,
        r.operator,
        r.simulated,
        r.created_at,
        r.updated_at,
        json.loads(r.detail),
    )


_KNOWN_JOBS = 2048
"""Jobs whose last central state a fleet store remembers, to carry on with them offline."""


class Store:
    """Records of drives seen and jobs. Every error becomes a RecordStoreError.

    With `journal` (an SQLite URL, the bench's local journal) a store on a central database
    keeps working when that database cannot be reached: it writes to the journal instead,
    tries the central database again every `retry_after` seconds, and when it answers pushes
    the journal to it (`sanitiser.store.sync`) before going back. See that module for the
    design.
    """

    def __init__(self, url: str, *, journal: str | None = None, retry_after: float = 30.0) -> None:
        self.url = url
        self.journal_url = journal if journal and not url.startswith("sqlite") else None
        self.retry_after = retry_after
        self._local: Engine | None = None
        self._offline_since: float | None = None
        self._offline_reason = ""
        self._last_probe = 0.0
        self._mode_lock = threading.Lock()
        self._journal_lock = threading.Lock()
        self._gate = threading.Condition()
        self._active = 0
        self._switching = False
        self._tls = threading.local()
        self._known_jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._known_notes: OrderedDict[str, tuple[str, datetime]] = OrderedDict()
        try:
            self._central = make_engine(url)
        except SQLAlchemyError as e:
            raise RecordStoreError(f"cannot open the store at {safe_url(url)}: {e}") from e
        self.read_only = is_read_only(self._central)
        """True when the store is only read here (its folder cannot be written): nothing is
        made, migrated or written; a command that writes is refused by the database."""
        if self.journal_url is not None:
            event.listen(self._central, "handle_error", self._on_central_error)
        try:
            migrations.prepare(self._central, migrate=not self.read_only)
        except SQLAlchemyError as e:
            if self.journal_url is None or not is_unreachable(e):
                raise RecordStoreError(f"cannot open the store at {safe_url(url)}: {e}") from e
            self._go_offline(f"the central database cannot be reached: {reason(e)}")
        if self.journal_url is not None and self._offline_since is None:
            self._sync_on_start()

    # --- where records go: the central database, or the local journal while it is away ---

    @property
    def engine(self) -> Engine:
        """The engine records go to now: the central database, or the local journal while
        the central database cannot be reached."""
        if self._offline_since is not None:
            self._maybe_reconnect()
        local = self._local
        return local if self._offline_since is not None and local is not None else self._central

    @property
    def offline(self) -> bool:
        """True while this store writes to its local journal (the central database is away)."""
        return self._offline_since is not None

    @property
    def central_engine(self) -> Engine:
        """The central database's engine (whether or not it can be reached)."""
        return self._central

    def journal_engine(self) -> Engine | None:
        """The local journal's engine (opened and migrated on first use), or None without one."""
        if self.journal_url is None:
            return None
        with self._journal_lock:
            if self._local is None:
                try:
                    engine = make_engine(self.journal_url)
                    migrations.prepare(engine)
                except SQLAlchemyError as e:
                    raise RecordStoreError(
                        f"cannot open the local journal {self.journal_url}: {e}"
                    ) from e
                self._local = engine
            return self._local

    def _go_offline(self, reason: str) -> None:
        if self._offline_since is not None:
            return
        self.journal_engine()
        self._offline_reason = reason
        self._last_probe = time.monotonic()
        self._offline_since = time.monotonic()
        log.warning("store: %s; writing to the local journal %s", reason, self.journal_url)

    def _on_central_error(self, context: ExceptionContext) -> None:
        """A connection to the central database broke mid-work: later work goes offline."""
        if context.is_disconnect and not context.is_pre_ping:
            self._go_offline(f"the central database went away: {context.original_exception}")

    def _sync_on_start(self) -> None:
        """Push what an earlier run left in the journal (nothing when there is no journal)."""
        from sanitiser.store.sync import journal_exists, push_journal  # noqa: PLC0415 - cycle

        if self.journal_url is None or not journal_exists(self.journal_url):
            return
        local = self.journal_engine()
        if local is None:  # pragma: no cover - a journal URL always gives an engine
            return
        try:
            report = push_journal(local, self._central)
        except RecordStoreError as e:
            log.warning("store: the journal could not be pushed at start (%s)", e.msg)
            return
        if report.conflicts:
            log.warning("store: journal sync conflicts: %s", "; ".join(report.conflicts))

    def _maybe_reconnect(self) -> None:
        """While offline: at most every `retry_after` seconds, try the central database; if it
        answers, push the journal (no other store work runs meanwhile) and go back to it."""
        from sanitiser.store.sync import push_journal  # noqa: PLC0415 - sync imports the store

        if self._offline_since is None or self._depth():
            return
        if time.monotonic() - self._last_probe < self.retry_after:
            return
        if not self._mode_lock.acquire(blocking=False):
            return
        try:
            local = self._local
            if local is None or not self.offline:  # another thread got there first
                return
            self._last_probe = time.monotonic()
            try:
                with self._central.connect() as conn:
                    conn.execute(text("SELECT 1"))
                migrations.prepare(self._central)
            except (SQLAlchemyError, RecordStoreError):
                return
            with self._gate:
                self._switching = True
                drained = self._gate.wait_for(lambda: self._active == 0, timeout=60)
            try:
                if not drained:
                    return
                report = push_journal(local, self._central)
                self._offline_since = None
                log.warning(
                    "store: the central database is back; %d journal records pushed",
                    report.total,
                )
            except RecordStoreError as e:
                log.warning("store: the central database is back but the push failed: %s", e.msg)
                return
            finally:
                with self._gate:
                    self._switching = False
                    self._gate.notify_all()
            try:  # audit entries appended on the engine directly while the push ran
                push_journal(local, self._central)
            except RecordStoreError as e:
                log.warning("store: second journal push failed: %s", e.msg)
        finally:
            self._mode_lock.release()

    def _connect(self) -> tuple[Connection, bool]:
        """A connection for one unit of work, and whether it is to the local journal."""
        if self._offline_since is None:
            try:
                return self._central.connect(), False
            except SQLAlchemyError as e:
                if self.journal_url is None or not is_unreachable(e):
                    raise RecordStoreError(f"store error ({safe_url(self.url)}): {e}") from e
                self._go_offline(f"the central database cannot be reached: {reason(e)}")
        local = self.journal_engine()
        if local is None:  # pragma: no cover - offline implies a journal
            raise RecordStoreError("offline without a local journal")
        try:
            return local.connect(), True
        except SQLAlchemyError as e:
            raise RecordStoreError(f"local journal error ({self.journal_url}): {e}") from e

    def transact(self, work: Callable[[Session], T], *, attempts: int = 60) -> T:
        """Run `work` in one transaction (`sanitiser.store.transaction.transact`: retried when
        a concurrent writer wins) where records go now. On a fleet bench whose central database
        cannot be reached, the store goes to its local journal and runs `work` there, as its
        own units of work do (nothing was committed centrally: the connection never came)."""
        engine = self.engine
        away: list[SQLAlchemyError] = []

        def failure(error: SQLAlchemyError) -> RecordStoreError | None:
            if self.journal_url is not None and engine is self._central and is_unreachable(error):
                away.append(error)
                return RecordStoreError(f"the central database cannot be reached: {error}")
            return None if retryable(error) else RecordStoreError(f"store error: {error}")

        try:
            return transact(engine, work, attempts=attempts, failure=failure)
        except RecordStoreError:
            if not away:
                raise
        self._go_offline(f"the central database cannot be reached: {reason(away[0])}")
        return transact(self.engine, work, attempts=attempts)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads, where records are now: the central database, or the local
        journal when the central database is found unreachable on connecting (the first read
        after the network drops is answered from the journal, as a write would be); any other
        database error is a `RecordStoreError`. Nothing is committed."""
        with self._session(commit=False) as session:
            yield session

    @contextmanager
    def _session(self, *, commit: bool = True) -> Iterator[Session]:
        self._maybe_reconnect()
        with self._gate:
            if not self._depth():  # a nested session: this thread holds work the switch
                self._gate.wait_for(lambda: not self._switching)  # waits for; never wait here
            self._active += 1
        self._tls.depth = self._depth() + 1
        try:
            conn, local = self._connect()
            with conn, Session(bind=conn) as session:
                session.info["local"] = local
                yield session
                if commit:
                    session.commit()
        except SQLAlchemyError as e:
            raise store_error(self.url, e) from e
        finally:
            self._tls.depth -= 1
            with self._gate:
                self._active -= 1
                self._gate.notify_all()

    def _depth(self) -> int:
        """How many store sessions this thread has open."""
        return int(getattr(self._tls, "depth", 0))

    # --- jobs carried on offline: the last central state of the jobs this store touched ---

    def _remember_job(self, values: dict[str, Any]) -> None:
        if self.journal_url is None:
            return
        self._known_jobs[str(values["id"])] = values
        self._known_jobs.move_to_end(str(values["id"]))
        while len(self._known_jobs) > _KNOWN_JOBS:
            self._known_jobs.popitem(last=False)

    def _seed_job(self, s: Session, job_id: str) -> None:
        """Offline: copy a job this store last saw centrally into the journal, so work on a
        job that was running when the central database went away carries on."""
        if not s.info.get("local") or s.get(Job, job_id) is not None:
            return
        known = self._known_jobs.get(job_id)
        if known is not None:
            s.add(Job(**known))
            s.flush()

    def _seed_notes(self, s: Session, job_id: str) -> None:
        if not s.info.get("local") or s.get(JobJournal, job_id) is not None:
            return
        known = self._known_notes.get(job_id)
        if known is not None:
            s.add(JobJournal(job_id=job_id, journal=known[0], updated_at=known[1]))
            s.flush()

    def _remember_notes(self, job_id: str, text_: str, at: datetime) -> None:
        if self.journal_url is None:
            return
        self._known_notes[job_id] = (text_, at)
        self._known_notes.move_to_end(job_id)
        while len(self._known_notes) > _KNOWN_JOBS:
            self._known_notes.popitem(last=False)

    def record_drive_seen(
        self,
        drive: Drive,
        health: Health,
        protection: Protection,
        *,
        also: Callable[[Session], object] | None = None,
    ) -> None:
        """Insert or refresh the record of a drive the bench has seen.

        `also` runs in the same transaction (the custody layer chains ``received`` with it:
        `sanitiser.custody.events.drive_seen`).
        """
        key = drive_key(drive)
        now = _now()
        with self._session() as s:
            row = s.get(DriveSeen, key)
            if row is None:
                row = DriveSeen(
                    key=key,
                    path=drive.path,
                    transport=drive.transport.value,
                    media_kind=drive.media_kind.value,
                    size_bytes=drive.size_bytes,
                    first_seen=now,
                    last_seen=now,
                )
            row.path = drive.path
            row.model = drive.model
            row.serial = drive.serial
            row.wwn = drive.wwn
            row.size_bytes = drive.size_bytes
            row.health_grade = health.grade.value
            row.protected = protection.protected
            row.protected_reason = protection.reason
            row.simulated = drive.simulated
            row.last_seen = now
            s.add(row)
            if also is not None:
                also(s)

    def drives(self) -> list[DriveView]:
        """All drives seen, most recent first."""
        with self._session() as s:
            rows = s.exec(select(DriveSeen)).all()
            return sorted(
                (
                    DriveView(
                        r.key,
                        r.path,
                        r.model,
                        r.serial,
                        r.transport,
                        r.size_bytes,
                        r.health_grade,
                        r.protected,
                        r.protected_reason,
                        r.simulated,
                        r.first_seen,
                        r.last_seen,
                    )
                    for r in rows
                ),
                key=lambda v: v.last_seen,
                reverse=True,
            )

    def create_job(
        self, drive: Drive, *, station: str, operator: str = "", method: str = ""
    ) -> str:
        """Record a new queued job for `drive`; returns its id."""
        job_id = str(uuid.uuid4())
        now = _now()
        row = Job(
            id=job_id,
            drive_key=drive_key(drive),
            serial=drive.serial,
            state="queued",
            method=method,
            station=station,
            operator=operator,
            simulated=drive.simulated,
            created_at=now,
            updated_at=now,
        )
        values = row.model_dump()
        with self._session() as s:
            s.add(row)
        self._remember_job(values)
        return job_id

    def set_job_state(self, job_id: str, state: str, **detail: Any) -> None:
        """Move a job to `state`, merging `detail` into its recorded facts."""
        with self._session() as s:
            self._seed_job(s, job_id)
            row = s.get(Job, job_id)
            if row is None:
                raise RecordStoreError(f"no job {job_id}")
            facts = json.loads(row.detail)
            facts.update(detail)
            row.detail = json.dumps(facts, sort_keys=True)
            row.state = state
            row.updated_at = _now()
            s.add(row)
            self._remember_job(row.model_dump())

    def jobs(self) -> list[JobView]:
        """All jobs, newest first."""
        with self._session() as s:
            rows = s.exec(select(Job)).all()
            views = [
                JobView(
                    r.id,
                    r.drive_key,
                    r.serial,
                    r.state,
                    r.method,
                    r.station,
                    r.operator,
                    r.simulated,
                    r.created_at,
                    r.updated_at,
                    json.loads(r.detail),
                )
                for r in rows
            ]
        return sorted(views, key=lambda v: v.created_at, reverse=True)

    def save_certificate(
        self,
        cert_id: str,
        record_json: bytes,
        *,
        job_id: str = "",
        serial: str = "",
        pdf: bytes = b"",
    ) -> None:
        """Keep an issued certificate; an id is written once and never replaced."""
        with self._session() as s:
            _insert_certificate(s, cert_id, record_json, job_id=job_id, serial=serial, pdf=pdf)

    def certificate_records(self) -> list[bytes]:
        """Every stored certificate's signed envelope, oldest first."""
        with self._session() as s:
            rows = s.exec(select(CertificateRow).order_by(CertificateRow.issued_at)).all()  # type: ignore[arg-type]
            return [bytes(r.record_json) for r in rows]

    def certificate_records_issued(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[bytes]:
        """The signed envelopes of the certificates the store says were issued in
        ``[start, end)`` (either bound may be open)."""
        query = select(CertificateRow.record_json)
        if start is not None:
            query = query.where(col(CertificateRow.issued_at) >= start)
        if end is not None:
            query = query.where(col(CertificateRow.issued_at) < end)
        with self._session() as s:
            return [bytes(raw) for raw in s.exec(query).all()]

    def certificate_record(self, cert_id: str) -> bytes | None:
        """The signed record envelope of a certificate, or None when unknown."""
        with self._session() as s:
            row = s.get(CertificateRow, cert_id)
            return None if row is None else row.record_json

    def certificate_pdf(self, cert_id: str) -> bytes | None:
        """The signed PDF as issued, or None when unknown or never rendered."""
        with self._session() as s:
            row = s.get(CertificateRow, cert_id)
            return row.pdf if row is not None and row.pdf else None

    # --- the job journal (write-ahead: callers record a transition before acting on it) -----

    def create_job_record(
        self,
        drive: Drive,
        *,
        station: str,
        operator: str = "",
        method: str = "",
        detail: Mapping[str, Any] | None = None,
        job_id: str | None = None,
    ) -> str:
        """Record a new queued job and its first journal entry in one transaction; its id
        (`job_id` when given, e.g. one a restart claimed beforehand, else a new one)."""
        job_id = job_id or str(uuid.uuid4())
        now = _now()
        facts = dict(detail or {})
        row = Job(
            id=job_id,
            drive_key=drive_key(drive),
            serial=drive.serial,
            state="queued",
            method=method,
            station=station,
            operator=operator,
            simulated=drive.simulated,
            created_at=now,
            updated_at=now,
            detail=json.dumps(facts, sort_keys=True),
        )
        values = row.model_dump()
        with self._session() as s:
            s.add(row)
            s.add(
                JobEvent(
                    job_id=job_id,
                    at=now,
                    kind="transition",
                    state="queued",
                    data=json.dumps({"from": "", "to": "queued"}, sort_keys=True),
                )
            )
        self._remember_job(values)
        return job_id

    def job(self, job_id: str) -> JobView | None:
        """One job, or None when unknown."""
        with self._session() as s:
            self._seed_job(s, job_id)
            row = s.get(Job, job_id)
            if row is None:
                return None
            if not s.info.get("local"):
                self._remember_job(row.model_dump())
            return _job_view(row)

    def _change_job(
        self,
        job_id: str,
        change: Callable[[str, dict[str, Any]], str],
        event: Callable[[str], JobEvent | None] = lambda _old: None,
    ) -> JobView:
        """Apply `change(state, facts) -> new state` (it edits `facts` in place) atomically.

        A compare-and-set: the row is written only if its state and facts are still what was
        read (on SQLite and PostgreSQL alike, whatever the isolation level); otherwise it is
        read again and `change` re-applied, so concurrent updates from other threads or
        processes are never lost. `event(old_state)` may add a journal entry in the same
        transaction.
        """
        for _ in range(_CAS_ATTEMPTS):
            with self._session() as s:
                self._seed_job(s, job_id)
                row = s.get(Job, job_id)
                if row is None:
                    raise StaleJobStateError(f"no job {job_id}")
                old_state, old_detail = row.state, row.detail
                facts = json.loads(old_detail)
                new_state = change(old_state, facts)
                new_detail = json.dumps(facts, sort_keys=True, default=str)
                now = _now()
                done = s.exec(
                    update(Job)
                    .where(
                        Job.id == job_id,  # type: ignore[arg-type]
                        Job.state == old_state,  # type: ignore[arg-type]
                        Job.detail == old_detail,  # type: ignore[arg-type]
                    )
                    .values(state=new_state, detail=new_detail, updated_at=now)
                )
                if done.rowcount != 1:
                    s.rollback()
                    continue
                entry = event(old_state)
                if entry is not None:
                    s.add(entry)
                view = _job_view(row)
                known = {
                    **row.model_dump(),
                    "state": new_state,
                    "detail": new_detail,
                    "updated_at": now,
                }
            self._remember_job(known)
            return JobView(
                view.id,
                view.drive_key,
                view.serial,
                new_state,
                view.method,
                view.station,
                view.operator,
                view.simulated,
                view.created_at,
                now,
                facts,
            )
        raise RecordStoreError(f"job {job_id} kept changing under us; try again")

    def transition_job(
        self,
        job_id: str,
        expected: Collection[str],
        state: str,
        *,
        event: Mapping[str, Any] | None = None,
        **detail: Any,
    ) -> JobView:
        """Move a job from one of `expected` to `state`, journalling it, in one transaction.

        `detail` is merged into the job's facts (a value of None removes the key); `event` is
        written with the journal entry. Nothing is written unless the job is in `expected`;
        the check and the write are one atomic compare-and-set.

        Raises:
            StaleJobStateError: the job is not in an expected state (or does not exist).
        """

        def change(current: str, facts: dict[str, Any]) -> str:
            if current not in expected:
                raise StaleJobStateError(
                    f"job {job_id} is {current}, not {' or '.join(sorted(expected))}"
                )
            _merge(facts, detail)
            return state

        def entry(current: str) -> JobEvent:
            data = {"from": current, "to": state, **(event or {})}
            return JobEvent(
                job_id=job_id,
                at=_now(),
                kind="transition",
                state=state,
                data=json.dumps(data, sort_keys=True, default=str),
            )

        return self._change_job(job_id, change, entry)

    def append_job_event(self, job_id: str, kind: str, data: Mapping[str, Any]) -> None:
        """Append a non-transition entry (log, outcome, progress) to a job's journal."""
        with self._session() as s:
            self._seed_job(s, job_id)
            row = s.get(Job, job_id)
            if row is None:
                raise RecordStoreError(f"no job {job_id}")
            s.add(
                JobEvent(
                    job_id=job_id,
                    at=_now(),
                    kind=kind,
                    state=row.state,
                    data=json.dumps(dict(data), sort_keys=True, default=str),
                )
            )

    def claim_restart(self, job_id: str, new_job_id: str) -> str:
        """Mark job `job_id` ``retried_by`` `new_job_id` unless it already names another job.

        The check and the mark are one compare-and-set in the store, so two restarts of the
        same job, in two threads or two processes (or two benches on one database), make
        exactly one claim: the loser gets the winner's id back.

        Returns:
            "" when this call claimed the restart; otherwise the job it was already restarted
            as.
        """
        winner: list[str] = []

        def change(current: str, facts: dict[str, Any]) -> str:
            winner.clear()
            existing = str(facts.get("retried_by") or "")
            if existing:
                winner.append(existing)
            else:
                facts["retried_by"] = new_job_id
            return current

        try:
            self._change_job(job_id, change)
        except StaleJobStateError as exc:
            raise RecordStoreError(str(exc)) from exc
        return winner[0] if winner else ""

    def update_job_detail(self, job_id: str, **detail: Any) -> None:
        """Merge facts into a job without changing its state (None removes a key); atomic."""

        def change(current: str, facts: dict[str, Any]) -> str:
            _merge(facts, detail)
            return current

        try:
            self._change_job(job_id, change)
        except StaleJobStateError as exc:
            raise RecordStoreError(str(exc)) from exc

    def job_events(self, job_id: str) -> list[JobEventView]:
        """A job's journal, oldest first."""
        with self._session() as s:
            rows = s.exec(
                select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)  # type: ignore[arg-type]
            ).all()
            return [
                JobEventView(r.id or 0, r.job_id, r.at, r.kind, r.state, json.loads(r.data))
                for r in rows
            ]

    def save_job_journal(self, job_id: str, journal: Mapping[str, Any]) -> None:
        """Replace a job's private method journal (JSON-ready values only)."""
        text = json.dumps(dict(journal), sort_keys=True)
        now = _now()
        with self._session() as s:
            row = s.get(JobJournal, job_id)
            if row is None:
                row = JobJournal(job_id=job_id, journal=text, updated_at=now)
            row.journal = text
            row.updated_at = now
            s.add(row)
        self._remember_notes(job_id, text, now)

    def job_journal(self, job_id: str) -> dict[str, Any]:
        """A job's private method journal ({} when none was kept)."""
        with self._session() as s:
            self._seed_notes(s, job_id)
            row = s.get(JobJournal, job_id)
            if row is None:
                return {}
            if not s.info.get("local"):
                self._remember_notes(job_id, row.journal, row.updated_at)
            return dict(json.loads(row.journal))

    def certificate_for_job(self, job_id: str) -> str | None:
        """The id of the certificate issued for a job, or None."""
        with self._session() as s:
            row = s.exec(select(CertificateRow).where(CertificateRow.job_id == job_id)).first()
            return None if row is None else row.id

    def save_job_certificate(
        self, job_id: str, cert_id: str, record_json: bytes, *, serial: str = "", pdf: bytes = b""
    ) -> str:
        """Keep a job's certificate exactly once: returns the id kept (an earlier one wins)."""
        with self._session() as s:
            existing = s.exec(select(CertificateRow).where(CertificateRow.job_id == job_id)).first()
            if existing is not None:
                return existing.id
            _insert_certificate(s, cert_id, record_json, job_id=job_id, serial=serial, pdf=pdf)
        return cert_id


_CAS_ATTEMPTS = 200
"""Compare-and-set retries of a job update before giving up (each is one short transaction)."""


def _merge(facts: dict[str, Any], detail: Mapping[str, Any]) -> None:
    """Merge `detail` into `facts`; a value of None removes the key."""
    for key, value in detail.items():
        if value is None:
            facts.pop(key, None)
        else:
            facts[key] = value


def _insert_certificate(
    s: Session, cert_id: str, record_json: bytes, *, job_id: str, serial: str, pdf: bytes
) -> None:
    """Add a certificate row; an id that exists already is refused (records are never edited)."""
    if s.get(CertificateRow, cert_id) is not None:
        raise RecordStoreError(f"certificate {cert_id} exists already; records are never edited")
    s.add(
        CertificateRow(
            id=cert_id,
            job_id=job_id,
            serial=serial,
            issued_at=_now(),
            record_json=record_json,
            pdf=pdf,
        )
    )
