"""SQLModel tables. Only `sanitiser.store` sees them; everything else gets domain values."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel


class DriveSeen(SQLModel, table=True):
    """Every drive the bench has seen, keyed by identity (serial+WWN, or path if it has none)."""

    __tablename__ = "drive_seen"

    key: str = Field(primary_key=True, max_length=512)
    path: str = Field(max_length=4096)
    model: str = Field(default="", max_length=512)
    serial: str = Field(default="", max_length=512, index=True)
    wwn: str = Field(default="", max_length=128)
    transport: str = Field(max_length=16)
    media_kind: str = Field(max_length=16)
    size_bytes: int = Field(sa_type=BigInteger)
    """64-bit: drives are larger than 2 GiB (PostgreSQL's INTEGER is 32-bit; revision 0003)."""
    health_grade: str = Field(default="unknown", max_length=16)
    protected: bool = False
    protected_reason: str = Field(default="", max_length=4096)
    simulated: bool = False
    first_seen: datetime
    last_seen: datetime


class Job(SQLModel, table=True):
    """One sanitisation job for one drive."""

    __tablename__ = "job"

    id: str = Field(primary_key=True, max_length=64)
    drive_key: str = Field(index=True, max_length=512)
    serial: str = Field(default="", max_length=512, index=True)
    state: str = Field(max_length=32, index=True)
    method: str = Field(default="", max_length=64)
    station: str = Field(max_length=256)
    operator: str = Field(default="", max_length=256)
    simulated: bool = False
    created_at: datetime
    updated_at: datetime
    detail: str = Field(default="{}")
    """JSON text of job facts (plan, outcome summary)."""


class CertificateRow(SQLModel, table=True):
    """An issued certificate: the signed record exactly as signed, and the signed PDF bytes."""

    __tablename__ = "certificate"

    id: str = Field(primary_key=True, max_length=64)
    job_id: str = Field(default="", max_length=64, index=True)
    serial: str = Field(default="", max_length=512, index=True)
    issued_at: datetime
    record_json: bytes
    """The signed record envelope (canonical JSON bytes), never edited."""
    pdf: bytes = b""
    """The signed PDF as issued ("" when none was rendered)."""


class JobEvent(SQLModel, table=True):
    """The append-only journal of a job: every state transition (written before it takes
    effect), log line, outcome and progress checkpoint, in order. Rows are never edited."""

    __tablename__ = "job_event"

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(index=True, max_length=64)
    at: datetime
    kind: str = Field(max_length=32)
    """``transition``, ``log``, ``progress``, ``outcome`` or ``note``."""
    state: str = Field(max_length=32)
    """The job's state after this event."""
    data: str = Field(default="{}")
    """JSON text of the event's facts."""


class JobJournal(SQLModel, table=True):
    """A job's private method journal (seed, throwaway password, started sanitize), for resume.

    Kept apart from `Job.detail` because it may hold secrets: never shown, never certified."""

    __tablename__ = "job_journal"

    job_id: str = Field(primary_key=True, max_length=64)
    journal: str = Field(default="{}")
    updated_at: datetime


class SyncLedger(SQLModel, table=True):
    """Central: each journal record a sync has pushed, written in the same transaction as the
    pushed row, so a record is pushed exactly once however often a sync is repeated or cut."""

    __tablename__ = "sync_ledger"

    journal: str = Field(primary_key=True, max_length=64)
    """The local journal's id (its ``store_meta`` ``journal.id``)."""
    kind: str = Field(primary_key=True, max_length=16)
    """``audit`` or ``job_event``."""
    local_id: int = Field(primary_key=True)
    """The row id in the journal."""
    station: str = Field(default="", max_length=256)
    local_seq: int = 0
    """For an audit entry: its seq in the journal's chain of that station."""
    local_hash: str = Field(default="", max_length=64)
    """For an audit entry: its hash in the journal's chain."""
    central_id: int = 0
    """The central audit seq (in the station's chain) or job event id."""
    central_hash: str = Field(default="", max_length=64)
    synced_at: datetime


class StoreMeta(SQLModel, table=True):
    """Facts about this database (the journal's id, how far a sync has got)."""

    __tablename__ = "store_meta"

    key: str = Field(primary_key=True, max_length=128)
    value: str = Field(default="", max_length=1000)
