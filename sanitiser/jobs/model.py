"""The job engine's values: its seams (`JobDependencies`), the handle of a running job
(`RunningJob`), what abort and recovery report, and the constants the engine runs by."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.record import Destination
from sanitiser.devices.fingerprint import (
    Fingerprint,
    fingerprint_path,
)
from sanitiser.devices.guard import BLOCK_DEVICES, Claim, DriveBackend
from sanitiser.domain import UNKNOWN_HEALTH, Drive, Health
from sanitiser.jobs.events import (
    JobOutcome,
)
from sanitiser.jobs.journal import (
    JobJournal,
)
from sanitiser.methods.ata import JOURNAL_SANITIZE as ATA_SANITIZE_STARTED
from sanitiser.methods.base import Method
from sanitiser.methods.nvme import JOURNAL_SANITIZE as NVME_SANITIZE_STARTED
from sanitiser.methods.scsi import JOURNAL_SCSI as SCSI_OPERATION_STARTED
from sanitiser.policy.loader import Policy
from sanitiser.policy.plan import Plan
from sanitiser.probe.capabilities import Capabilities
from sanitiser.runner import CommandRunner
from sanitiser.store import drive_key

RecordFacts = dict[str, Any]
"""A job's pending signed record (``record_pending`` in its detail): ``state`` (failed or
aborted), ``outcome`` (`outcome_to_json`), ``destination`` (the certificate's block) and
``routed`` (the custody facts of the routing decision, or None when undecided)."""


HOST_OVERWRITE = "host-overwrite"
"""The one technique the bench can stop at any block (`Technique.HOST_OVERWRITE`)."""


UNDECIDED_ROUTE = Destination(
    route="undecided",
    details="routing could not decide (see the job's record): the technician decides",
)
"""The certificate's destination when routing itself failed (e.g. a broken routing table)."""


BACKGROUND_KEYS = (NVME_SANITIZE_STARTED, ATA_SANITIZE_STARTED, SCSI_OPERATION_STARTED)
"""Method-journal keys that say a firmware operation was sent and had not been concluded: the
drive goes on with it on its own (even across a power cycle), so a restarted bench re-polls it."""


PROGRESS_CHECKPOINT_S = 5.0
"""How often a job's last progress is written to its record (what recovery can tell)."""


WRITER_SCAN_SECONDS = 2.0
"""How often a running job looks for other processes writing to its drive."""


class PolicyLike(Protocol):
    """What the orchestrator needs of a policy: its name and version."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


def _fingerprint_now(drive: Drive) -> Fingerprint | None:
    """`fingerprint_path` of the drive, or None when it cannot be read."""
    try:
        return fingerprint_path(drive.path, drive.size_bytes)
    except OSError:
        return None


@dataclass
class JobDependencies:
    """The seams of a job: everything that touches drives, tools, policy and keys."""

    claim: Callable[[Drive, Drive, DriveBackend], Claim]
    """`guard.claim(drive, confirmed, backend)`."""
    runner_for: Callable[[Drive], CommandRunner]
    """The command runner for a drive (real tools, or the lab's emulators)."""
    health_of: Callable[[Drive, CommandRunner], Health]
    probe: Callable[[Drive, CommandRunner], Capabilities]
    load_policy: Callable[[str], Policy]
    select_method: Callable[..., Plan]
    """`select_method(drive, caps, health, policy, *, technique_override=None) -> Plan`."""
    method_for: Callable[[str], Method]
    signer: Callable[[], StationSigner]
    """The station signer (loaded once, on the first certificate)."""
    find_drive: Callable[[Drive], Drive | None] = lambda d: d
    """The drive as attached now (kernel names move across restarts), or None when absent."""
    fingerprint: Callable[[Drive], Fingerprint | None] = _fingerprint_now
    """The content fingerprint of a drive now, read only (None when it cannot be read)."""
    default_policy: str = "nist-800-88"
    after_certificate: Callable[[str, str], None] = lambda _key, _operator: None
    """Called with a drive key and the operator once a certificate for the drive is kept (the
    application layer moves the device the drive is linked to along); its errors are logged,
    never the job's."""
    backend_for: Callable[[Drive], DriveBackend] = lambda d: BLOCK_DEVICES
    """What is behind a drive's path (the kernel's block devices, or the lab bench's files):
    chosen with the runner, where the drive came from."""


@dataclass(frozen=True, slots=True)
class AbortReply:
    """What an abort request did."""

    accepted: bool
    message: str


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What `Orchestrator.recover` found and did."""

    interrupted: tuple[str, ...] = ()
    """Jobs whose process had died, now recorded ``interrupted``."""
    resumed: tuple[str, ...] = ()
    """Interrupted jobs continued: a drive still sanitising on its own, re-polled."""
    certified: tuple[str, ...] = ()
    """Interrupted jobs whose outcome was recorded: certificate issued (or found), routed."""
    restartable: tuple[str, ...] = ()
    """Interrupted jobs that can only be started again (`Orchestrator.restart`)."""
    recorded: tuple[str, ...] = ()
    """Failed or aborted jobs whose signed record was still to be issued (the bench stopped
    between the job's end and its record): issued now (or the one kept found), custody chained."""


@dataclass
class RunningJob:
    """The in-process handle of a running job."""

    job_id: str
    drive: Drive
    operator: str
    journal: JobJournal
    technique: str | None = None
    policy: str = ""
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When the job was recorded (a resumed job: its record's time); its age day for routing."""
    chosen: str = ""
    """The technique being run (once planned)."""
    last_checkpoint: float = 0.0
    outcome: JobOutcome | None = None
    policy_name: str = ""
    """The policy's own name, once planned (`policy` may be a path)."""
    overwrite_scheme: str = "zeros"
    overwrite_passes: tuple[str, ...] = ()
    verification: str = "sampled"
    confirmed: Drive | None = None
    """The drive as recorded when the job was confirmed (for a resumed job)."""
    plan: Plan | None = None
    """The plan, once made (rebuilt from the job's record for a resumed job)."""
    loaded_policy: Any = None
    """The loaded policy the plan was made under (reloaded by name for a resumed job)."""
    health: Health = UNKNOWN_HEALTH
    """The drive's health as read before the method (what routing matches)."""
    claim: Claim | None = None
    """The guard's claim while the method runs (watched for other writers)."""
    last_writer_scan: float = 0.0
    confirmed_method: str = ""
    """The technique (or ``DESTROY``) the technician was shown and confirmed; "" when no plan
    was shown (the job's own plan stands)."""


def key_of(drive: Drive) -> str:
    """The store's identity key of a drive (for matching a recorded drive to an attached one)."""
    return drive_key(drive)
