"""`Store`: the one place that talks to the database and converts rows to plain values."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine, select, update

from sanitiser.domain import Drive, Health, Protection
from sanitiser.errors import RecordStoreError
from sanitiser.store.tables import CertificateRow, DriveSeen, Job, JobEvent, JobJournal


def drive_key(drive: Drive) -> str:
    """Identity key of a drive: serial and WWN when it has them, else its path."""
    if drive.serial or drive.wwn:
        return f"{drive.transport.value}:{drive.serial}:{drive.wwn}"
    return f"path:{drive.path}"


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


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and cross-thread use (workers write)."""
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            return create_engine(
                "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
            )
        path = url.removeprefix("sqlite:///")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # records must survive power loss
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


class Store:
    """Records of drives seen and jobs. Every error becomes a RecordStoreError."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            SQLModel.metadata.create_all(self.engine)
        except SQLAlchemyError as e:
            raise RecordStoreError(f"cannot open the store at {_safe_url(url)}: {e}") from e

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as session:
                yield session
                session.commit()
        except SQLAlchemyError as e:
            raise RecordStoreError(f"store error ({_safe_url(self.url)}): {e}") from e

    def record_drive_seen(
        self, drive: Drive, health: Health, protection: Protection, *, station: str = ""
    ) -> None:
        """Insert or refresh the record of a drive the bench has seen.

        With `station`, a drive the bench may work on (not protected) enters that station's
        custody: a ``received`` event is chained in the audit log, once per custody.
        """
        from sanitiser.store.audit import record_received  # noqa: PLC0415 - import cycle

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
            if station and not protection.protected:
                record_received(s, drive, station=station)

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
        with self._session() as s:
            s.add(
                Job(
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
            )
        return job_id

    def set_job_state(self, job_id: str, state: str, **detail: Any) -> None:
        """Move a job to `state`, merging `detail` into its recorded facts."""
        with self._session() as s:
            row = s.get(Job, job_id)
            if row is None:
                raise RecordStoreError(f"no job {job_id}")
            facts = json.loads(row.detail)
            facts.update(detail)
            row.detail = json.dumps(facts, sort_keys=True)
            row.state = state
            row.updated_at = _now()
            s.add(row)

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
            if s.get(CertificateRow, cert_id) is not None:
                raise RecordStoreError(
                    f"certificate {cert_id} exists already; records are never edited"
                )
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
    ) -> str:
        """Record a new queued job and its first journal entry in one transaction; its id."""
        job_id = str(uuid.uuid4())
        now = _now()
        facts = dict(detail or {})
        with self._session() as s:
            s.add(
                Job(
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
            )
            s.add(
                JobEvent(
                    job_id=job_id,
                    at=now,
                    kind="transition",
                    state="queued",
                    data=json.dumps({"from": "", "to": "queued"}, sort_keys=True),
                )
            )
        return job_id

    def job(self, job_id: str) -> JobView | None:
        """One job, or None when unknown."""
        with self._session() as s:
            row = s.get(Job, job_id)
            return None if row is None else _job_view(row)

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
        with self._session() as s:
            row = s.get(JobJournal, job_id)
            if row is None:
                row = JobJournal(job_id=job_id, journal=text, updated_at=_now())
            row.journal = text
            row.updated_at = _now()
            s.add(row)

    def job_journal(self, job_id: str) -> dict[str, Any]:
        """A job's private method journal ({} when none was kept)."""
        with self._session() as s:
            row = s.get(JobJournal, job_id)
            return {} if row is None else dict(json.loads(row.journal))

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
            if s.get(CertificateRow, cert_id) is not None:
                raise RecordStoreError(
                    f"certificate {cert_id} exists already; records are never edited"
                )
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


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
