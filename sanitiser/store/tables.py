"""Every SQLModel table, in one place. Only `sanitiser.store` sees them; everything else gets
domain values. The schema itself comes from the migrations (`sanitiser/store/migrations`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, LargeBinary, UniqueConstraint
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


class AuditEntry(SQLModel, table=True):
    """One audit-log entry. Rows are only ever inserted."""

    __tablename__ = "audit_entry"
    __table_args__ = (UniqueConstraint("station", "seq", name="uq_audit_station_seq"),)

    id: int | None = Field(default=None, primary_key=True)
    station: str = Field(max_length=256, index=True)
    seq: int
    at: str = Field(max_length=32)
    """UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (text, so it hashes identically everywhere)."""
    kind: str = Field(max_length=32, index=True)
    subject: str = Field(default="", max_length=512, index=True)
    """Whom the entry is about: a drive key for custody events, else a destination or
    consignment."""
    ref: str = Field(default="", max_length=256, index=True)
    """The certificate or consignment id the entry refers to."""
    actor: str = Field(default="", max_length=256)
    """Who did it (operator, collector)."""
    data: str = Field(default="{}")
    """Canonical JSON of the entry's facts."""
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The last entry of each station's chain."""

    __tablename__ = "audit_head"

    station: str = Field(primary_key=True, max_length=256)
    seq: int
    hash: str = Field(max_length=64)
    at: str = Field(default="", max_length=32)
    """The last entry's time: a new entry is never stamped earlier (times never run back)."""


class AuditCheckpoint(SQLModel, table=True):
    """A signed checkpoint of a station's chain head, kept as signed (the store never signs;
    `sanitiser.custody.anchors` makes them). Rows are only ever inserted."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    station: str = Field(max_length=256, index=True)
    """The station that signed it (its own chain's head, and the heads it saw of others)."""
    seq: int
    hash: str = Field(max_length=64)
    issued_at: str = Field(max_length=40)
    envelope: bytes = Field(sa_type=LargeBinary)
    """The signed envelope, byte for byte as signed (canonical JSON)."""
    sha256: str = Field(max_length=64, unique=True)
    """SHA-256 of the envelope: a checkpoint is kept once however often it is pushed."""


class ConsignmentRow(SQLModel, table=True):
    """A consignment of devices for one destination."""

    __tablename__ = "consignment"

    id: str = Field(primary_key=True, max_length=64)
    destination: str = Field(max_length=200, index=True)
    station: str = Field(max_length=256)
    state: str = Field(max_length=16, index=True)
    opened_at: datetime
    opened_by: str = Field(default="", max_length=256)
    manifest_sha256: str = Field(default="", max_length=64)
    """SHA-256 of the current signed manifest's canonical record ("" when none or stale)."""
    manifest_at: datetime | None = None
    manifest_envelope: bytes = b""
    """The signed manifest envelope (canonical JSON), as issued."""
    manifest_pdf: bytes = b""
    """The signed manifest PDF, as issued."""
    closed_at: datetime | None = None
    collector: str = Field(default="", max_length=256)
    closed_by: str = Field(default="", max_length=256)


class ConsignmentItemRow(SQLModel, table=True):
    """One device (by its certificate) in a consignment."""

    __tablename__ = "consignment_item"

    id: int | None = Field(default=None, primary_key=True)
    consignment_id: str = Field(max_length=64, index=True)
    certificate_id: str = Field(max_length=64, unique=True)
    """Unique: a device leaves in one consignment only."""
    drive_key: str = Field(max_length=512, index=True)
    serial: str = Field(default="", max_length=512)
    model: str = Field(default="", max_length=512)
    media_kind: str = Field(default="", max_length=16)
    method: str = Field(default="", max_length=128)
    nist_category: str = Field(default="", max_length=16)
    outcome: str = Field(default="", max_length=16)
    verification: str = Field(default="", max_length=16)
    health_grade: str = Field(default="", max_length=16)
    simulated: bool = False
    added_at: datetime
    added_by: str = Field(default="", max_length=256)
    handed_over_at: datetime | None = None


class DestinationRow(SQLModel, table=True):
    """A registered destination."""

    __tablename__ = "destination"

    name: str = Field(primary_key=True, max_length=200)
    kind: str = Field(max_length=16)
    contact: str = Field(default="", max_length=1000)
    accepts: str = Field(default="[]")
    """JSON list of accepted `MediaKind` values."""
    scheme: str = Field(default="", max_length=500)
    notes: str = Field(default="")
    active: bool = True
    created_at: datetime
    updated_at: datetime


class DeviceRow(SQLModel, table=True):
    """A device (laptop, desktop, monitor, ...) taken in at the bench (`sanitiser.assets`)."""

    __tablename__ = "device"

    tag_key: str = Field(primary_key=True, max_length=64)
    """The tag as compared (`sanitiser.assets.model.tag_key`)."""
    tag: str = Field(max_length=64)
    service_key: str = Field(default="", max_length=64, index=True)
    service_tag: str = Field(default="", max_length=64)
    kind: str = Field(max_length=32, index=True)
    make: str = Field(default="", max_length=80)
    model: str = Field(default="", max_length=120)
    serial: str = Field(default="", max_length=64, index=True)
    lot: str = Field(default="", max_length=80, index=True)
    notes: str = Field(default="")
    state: str = Field(max_length=32, index=True)
    station: str = Field(max_length=256)
    received_at: datetime
    received_by: str = Field(default="", max_length=256)
    cosmetic: str = Field(default="", max_length=4)
    checks: str = Field(default="{}")
    """JSON: check name -> {result, operator, at}."""
    locks: str = Field(default="{}")
    """JSON: lock name -> present / cleared / none."""
    inventory: str = Field(default="{}")
    """JSON: {"source": where from, "facts": the computer's own facts (`sanitiser.inventory`
    JSON)}, or {} until recorded."""
    destination: str = Field(default="", max_length=200)
    certificate_id: str = Field(default="", max_length=64)
    updated_at: datetime


class DeviceDriveRow(SQLModel, table=True):
    """A drive linked to the device it came out of: one device per drive (the primary key)."""

    __tablename__ = "device_drive"

    drive_key: str = Field(primary_key=True, max_length=512)
    device_key: str = Field(max_length=64, index=True)
    serial: str = Field(default="", max_length=512)
    model: str = Field(default="", max_length=512)
    simulated: bool = False
    linked_at: datetime
    linked_by: str = Field(default="", max_length=256)


class DeviceCertificateRow(SQLModel, table=True):
    """An issued device certificate: the signed record as signed, and the signed PDF."""

    __tablename__ = "device_certificate"

    id: str = Field(primary_key=True, max_length=64)
    device_key: str = Field(max_length=64, index=True)
    issued_at: datetime
    record_json: bytes = Field(sa_type=LargeBinary)
    pdf: bytes = Field(default=b"", sa_type=LargeBinary)


class AgentReportRow(SQLModel, table=True):
    """Every report that reached the bench from a network-boot agent, accepted or refused, with
    why: the log of the agent channel (forged, replayed and out-of-order reports are kept here
    with their reason). Rows are never edited."""

    __tablename__ = "agent_report"

    id: int | None = Field(default=None, primary_key=True)
    station: str = Field(max_length=256)
    session: str = Field(default="", max_length=64, index=True)
    agent: str = Field(default="", max_length=64)
    seq: int = 0
    """The report's sequence number (0 when it could not be read)."""
    kind: str = Field(default="", max_length=16)
    accepted: bool = False
    reason: str = Field(default="", max_length=4096)
    """Why it was refused ("" when accepted)."""
    peer: str = Field(default="", max_length=256)
    """The address it came from, and its TLS client certificate's SHA-256 when one was shown."""
    received_at: datetime
    body: str = Field(default="")
    """The report as received (JSON text; a refused one's first 4 kB)."""


class AgentSequenceRow(SQLModel, table=True):
    """The last report accepted from each agent (one boot of it): the next must be one more."""

    __tablename__ = "agent_sequence"

    session: str = Field(primary_key=True, max_length=64)
    agent: str = Field(primary_key=True, max_length=64)
    last_seq: int = 0
    updated_at: datetime


class PrintJobRow(SQLModel, table=True):
    """A label waiting for, or sent to, a printer (`sanitiser.store.printjobs`): the retry
    queue that survives a restart."""

    __tablename__ = "print_job"

    id: str = Field(primary_key=True, max_length=64)
    subject: str = Field(max_length=128, index=True)
    """The certificate id, device tag or consignment id the label is for."""
    kind: str = Field(max_length=32)
    """`sanitiser.labels.content.LabelKind`."""
    printer: str = Field(max_length=500)
    """The printer's address."""
    printer_name: str = Field(default="", max_length=64)
    label_json: str
    """The label as made when it was asked for (its QR token signed then)."""
    copies: int = 1
    state: str = Field(max_length=16, index=True)
    """queued, printing, printed, failed (retried), unconfirmed (never retried on its own)."""
    attempts: int = 0
    last_error: str = Field(default="")
    reprint: bool = False
    """Asked for as a reprint of a label already printed."""
    station: str = Field(max_length=256)
    requested_by: str = Field(default="", max_length=256)
    created_at: datetime
    updated_at: datetime
    printed_at: datetime | None = None
