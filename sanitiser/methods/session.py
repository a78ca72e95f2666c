"""The imperative shell every method shares: run commands, redact, record, poll, report.

A `Session` wraps one `MethodContext` for one run. Every command goes through the context's
runner and is recorded as a redacted `CommandRecord` (secrets such as the throwaway ATA password
are replaced before anything is kept or logged: hdparm echoes passwords on stdout,
docs/DEVICE-COMMANDS.md §0). Destructive commands are never given the cancel callback: killing
hdparm or nvme-cli does not stop the drive and may make the kernel reset the link (§1.6).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from sanitiser.blockio.progress import ProgressEvent
from sanitiser.domain import (
    ByteRange,
    CommandRecord,
    Drive,
    NistCategory,
    Outcome,
    OutcomeStatus,
    Verification,
)
from sanitiser.errors import DriveBusyError
from sanitiser.methods.base import MethodContext
from sanitiser.methods.verify_after import ReadBack, Verdict
from sanitiser.probe.capabilities import Capabilities, Technique
from sanitiser.runner import CommandResult

T = TypeVar("T")

REDACTED = "<redacted>"
TAIL = 2000
"""Characters of stdout/stderr kept per command record."""
IDENTIFY_TIMEOUT = 60.0
"""Seconds for a read-only identify or status command."""

FROZEN_INSTRUCTION = (
    "The drive is frozen by the BIOS: suspend the bench to RAM (rtcwake -m mem -s 10) or "
    "re-plug the drive's power, then rescan"
)
"""What the technician must do about a frozen ATA drive (docs/DEVICE-COMMANDS.md §1.7)."""


@dataclass(frozen=True, slots=True)
class Poll:
    """One status poll of a background operation."""

    running: bool
    fraction: float = 0.0
    """Share of the operation done, 0.0 to 1.0, for the progress report."""
    progress_raw: int | None = None
    """The drive's own progress counter, for stall detection."""


class Session:
    """One method run: records redacted commands, reports progress and builds the Outcome."""

    def __init__(self, ctx: MethodContext, method: str) -> None:
        self.ctx = ctx
        self.method = method
        self.started = datetime.now(UTC)
        self.commands: list[CommandRecord] = []
        self._secrets: list[str] = []

    # -- secrets ----------------------------------------------------------------------------
    def secret(self, value: str) -> None:
        """Never record or log `value` (a password)."""
        if value and value not in self._secrets:
            self._secrets.append(value)

    def redact(self, text: str) -> str:
        """`text` with every secret replaced by ``<redacted>``."""
        for value in self._secrets:
            text = text.replace(value, REDACTED)
        return text

    # -- commands ---------------------------------------------------------------------------
    def run(self, *argv: str, timeout: float | None = IDENTIFY_TIMEOUT) -> CommandResult:
        """Run `argv` through the context's runner and record it, redacted.

        Args:
            argv: the command.
            timeout: seconds; None for erase commands (the tool sets the drive's own timeout,
                and killing it would not stop the drive, §1.6).
        """
        shown = self.redact(" ".join(argv))
        self.log(f"$ {shown}")
        res = self.ctx.runner.run(argv, timeout=timeout)
        self.commands.append(
            CommandRecord(
                argv=tuple(self.redact(a) for a in res.argv),
                returncode=res.returncode,
                stdout_tail=self.redact(res.stdout[-TAIL:]),
                stderr_tail=self.redact(res.stderr[-TAIL:]),
            )
        )
        if res.returncode != 0:
            tail = self.redact(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "")
            self.log(f"  exit {res.returncode}{': ' + tail if tail else ''}")
        return res

    def log(self, text: str) -> None:
        """A log line for the technician (redacted)."""
        self.ctx.on_log(self.redact(text))

    # -- identity ---------------------------------------------------------------------------
    def recheck(self) -> str:
        """Re-check the claim's identity before a destructive command: "" or why not."""
        try:
            self.ctx.claim.recheck()
        except DriveBusyError as exc:
            return str(exc)
        return ""

    # -- progress ---------------------------------------------------------------------------
    def progress(self, fraction: float, phase: str, eta_s: float | None = None) -> None:
        """Report a firmware operation's progress as a share of the drive."""
        total = self.ctx.drive.size_bytes
        done = int(total * min(1.0, max(0.0, fraction)))
        self.ctx.on_progress(ProgressEvent(done, total, 0.0, eta_s, phase))

    def wait(self) -> None:
        """Sleep one poll interval."""
        if self.ctx.poll_interval > 0:
            time.sleep(self.ctx.poll_interval)

    # -- the result -------------------------------------------------------------------------
    def outcome(
        self,
        status: OutcomeStatus,
        category: NistCategory,
        *,
        reason: str = "",
        verified: bool = False,
        verification: Verification | None = None,
        hpa_dco: str = "",
        failed_ranges: tuple[ByteRange, ...] = (),
        details: Mapping[str, str] | None = None,
    ) -> Outcome:
        """The Outcome of this run (reason and details redacted)."""
        facts = {k: self.redact(v) for k, v in (details or {}).items()}
        return Outcome(
            status=status,
            method=self.method,
            nist_category=category,
            verified=verified and status is OutcomeStatus.SANITISED,
            reason=self.redact(reason),
            started_at=self.started,
            finished_at=datetime.now(UTC),
            commands=tuple(self.commands),
            verification=verification,
            hpa_dco=hpa_dco,
            failed_ranges=failed_ranges,
            details=tuple(sorted(facts.items())),
        )

    def refused(self, category: NistCategory, reason: str, hpa_dco: str = "") -> Outcome:
        """Nothing destructive was sent: why."""
        self.log(f"refused: {reason}")
        return self.outcome(OutcomeStatus.REFUSED, category, reason=reason, hpa_dco=hpa_dco)

    def not_cleared(self, category: NistCategory) -> Outcome | None:
        """The Outcome that stops a run just before its first destructive command, or None.

        ABORTED if a cancel was requested, REFUSED if the claim's identity re-check fails.
        """
        if self.ctx.cancelled():
            return self.outcome(
                OutcomeStatus.ABORTED, category, reason="cancelled before anything ran"
            )
        why = self.recheck()
        if why:
            return self.refused(category, why)
        return None

    def concluded(
        self,
        verdict: Verdict,
        category: NistCategory,
        readback: ReadBack,
        details: Mapping[str, str],
        hpa_dco: str = "",
    ) -> Outcome:
        """Log the General-rule verdict and build the Outcome from it and the read-back."""
        self.log(f"{verdict.status.value}: {verdict.reason or 'verified'}")
        return self.outcome(
            verdict.status,
            category,
            reason=verdict.reason,
            verified=verdict.verified,
            verification=readback.verification,
            hpa_dco=hpa_dco,
            details=details,
        )


class StallWatch:
    """Decides when a background operation has stopped progressing (docs/DEVICE-COMMANDS.md §9 #10).

    Stalled means the drive's progress counter has not changed for `seconds` of wall time *and*
    at least `min_polls` polls (so tests polling with no interval still see several polls).
    """

    def __init__(self, seconds: float, min_polls: int = 10) -> None:
        self.seconds = seconds
        self.min_polls = min_polls
        self._last: int | None = None
        self._since = time.monotonic()
        self._same = 0

    def stalled(self, value: int | None) -> bool:
        """Record one poll's progress counter; True once it has been stuck long enough."""
        now = time.monotonic()
        if value is None or value != self._last:
            self._last, self._since, self._same = value, now, 0
            return False
        self._same += 1
        return self._same >= self.min_polls and now - self._since >= self.seconds


def poll_until_done(
    s: Session,
    read: Callable[[], tuple[T | None, str]],
    view: Callable[[T], Poll],
    *,
    operation: str,
    phase: str,
    stall_seconds: float,
    retries: int,
    stalled: Callable[[T], str],
) -> tuple[T | None, str]:
    """Poll a background operation that cannot be stopped until it is no longer running.

    Args:
        s: the session (progress, log, poll interval, cancel flag).
        read: one status read: the status, or None and why it could not be read.
        view: what a status says: running, share done, the drive's progress counter.
        operation: what runs, for the log ("sanitize").
        phase: the progress phase label.
        stall_seconds: no counter change for this long (see `StallWatch`) is a stall.
        retries: unreadable reads in a row before giving up.
        stalled: the reason to report for a stalled status.

    Returns:
        The last status and "" when it stopped running; a still-running status and
        `stalled`'s reason on a stall; None and the read's error after `retries` misses.
        A cancel request is logged once and otherwise ignored: a started operation cannot be
        stopped.
    """
    stall = StallWatch(stall_seconds)
    misses = 0
    warned = False
    while True:
        status, err = read()
        if status is None:
            misses += 1
            if misses >= retries:
                return None, err
            s.wait()
            continue
        misses = 0
        poll = view(status)
        if not poll.running:
            s.progress(1.0, phase)
            return status, ""
        s.progress(poll.fraction, phase)
        if s.ctx.cancelled() and not warned:
            s.log(f"cancel requested, but a started {operation} cannot be stopped: waiting")
            warned = True
        if stall.stalled(poll.progress_raw):
            return status, stalled(status)
        s.wait()


class Opening(Protocol):
    """What `open_run` needs of a method: its technique, its category per drive, and why it
    cannot run on a drive."""

    technique: Technique

    def category_for(self, drive: Drive) -> NistCategory: ...

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None: ...


def open_run(method: Opening, ctx: MethodContext) -> tuple[Session, NistCategory, Outcome | None]:
    """A firmware method's opening: the run's `Session`, the method's category on this drive,
    and the REFUSED outcome when it cannot run here (`unavailable`), else None. Nothing is sent
    to the drive."""
    s = Session(ctx, method.technique.value)
    category = method.category_for(ctx.drive)
    why = method.unavailable(ctx.drive, ctx.capabilities)
    return s, category, (s.refused(category, why) if why else None)
