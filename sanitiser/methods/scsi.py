"""SCSI/SAS methods through sg3_utils 1.46: SANITIZE and FORMAT UNIT (docs/DEVICE-COMMANDS.md §3).

NIST SP 800-88 categories (docs/STANDARDS.md §2.3, r1 Tables A-5/A-8): SANITIZE CRYPTOGRAPHIC ERASE
and BLOCK ERASE are **Purge**; SANITIZE OVERWRITE is Purge on an HDD (A-5) but not listed for
SCSI SSDs (A-8), so **Clear** on flash; FORMAT UNIT is not listed as a Purge technique anywhere:
**Clear**.

Neither tool's exit status can be trusted (§9 #1, #2): ``sg_sanitize`` in poll mode exits 0 at
the first poll without progress even after a failure, and ``sg_format`` prints "FORMAT UNIT
Complete" whatever happened. So both are started with IMMED (``--early``), polled here with
``sg_requests`` (sense "in progress" with a progress indication) every poll interval, and then
judged by ``sg_requests --status`` (0 = NO SENSE), ``sg_turs`` (ready), ``sg_readcap -l``
(capacity unchanged), ``sg_format`` without options (not "format corrupt") and the canaries.
``--ffmt`` (fast format, never writes the medium) is never used. A SATA disk behind libata (vendor
``ATA``) answers both with "Invalid opcode" (§3.7): the ATA methods apply to it instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sanitiser.blockio import Pattern
from sanitiser.domain import Drive, MediaKind, NistCategory, Outcome, OutcomeStatus, Transport
from sanitiser.errors import ToolOutputError
from sanitiser.methods.base import MethodContext
from sanitiser.methods.session import Session, StallWatch, open_run
from sanitiser.methods.verify_after import (
    Check,
    ReadBack,
    journal_canaries,
    judge,
    plant_canaries,
    read_back,
)
from sanitiser.probe.capabilities import Capabilities, Technique
from sanitiser.probe.scsi import SG_EXIT_INVALID_OPCODE, parse_sg_readcap

JOURNAL_SCSI = "scsi_operation_started"
"""Journal key set while a SCSI sanitize/format runs (its technique value)."""
_SANITIZE_TECHNIQUES = {
    "crypto": Technique.SCSI_SANITIZE_CRYPTO,
    "block": Technique.SCSI_SANITIZE_BLOCK,
    "overwrite": Technique.SCSI_SANITIZE_OVERWRITE,
}
_PROGRESS = re.compile(r"Progress indication: (\d+(?:\.\d+)?)%")


@dataclass(frozen=True, slots=True)
class SenseState:
    """What one REQUEST SENSE (``sg_requests DEV``) said."""

    in_progress: bool
    operation: str = ""
    """``sanitize`` or ``format`` while one runs."""
    percent: float | None = None
    failed: str = ""
    """The failure's additional sense (``Sanitize command failed``), "" when none."""


def parse_request_sense(text: str) -> SenseState:
    """Decode ``sg_requests`` text: in progress (NOT READY 0x04/0x1B, 0x04/0x04), failed (MEDIUM
    ERROR 0x31/0x03, 0x31/0x01), or neither (pure, §3.4)."""
    running = re.search(r"not ready, (sanitize|format) in progress", text, re.IGNORECASE)
    progress = _PROGRESS.search(text)
    failed = re.search(r"(Sanitize command failed|Format command failed)", text, re.IGNORECASE)
    return SenseState(
        in_progress=running is not None,
        operation=running.group(1).lower() if running else "",
        percent=float(progress.group(1)) if progress else None,
        failed=failed.group(1) if failed else "",
    )


def _scsi_blocker(
    drive: Drive, caps: Capabilities, supported: bool | None, what: str
) -> str | None:
    if drive.transport is Transport.USB or caps.transport is Transport.USB:
        return "behind a USB bridge: no SANITIZE or FORMAT UNIT reaches the medium (§4)"
    if caps.scsi is None:
        return "the drive did not answer SCSI INQUIRY"
    if caps.scsi.is_satl:
        return "a SATA disk behind libata (vendor ATA) refuses SCSI SANITIZE/FORMAT UNIT (§3.7)"
    if supported is None:
        return (
            f"the drive does not report its supported commands, so {what} support is unknown "
            "and it is not attempted"
        )
    if not supported:
        return f"{what} is not advertised (sg_opcodes)"
    return None


class _ScsiOperation:
    """Shared run logic: start with IMMED, poll REQUEST SENSE, then judge by every check."""

    technique: Technique
    nist_category: NistCategory
    stall_seconds: float = 1800.0
    operation = "sanitize"

    def _start_argv(self, dev: str) -> list[str]:
        raise NotImplementedError

    def _expected(self) -> Pattern | None:
        return None

    def category_for(self, drive: Drive) -> NistCategory:
        """The NIST category on this drive."""
        return self.nist_category

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why it cannot run now, or None."""
        raise NotImplementedError

    def run(self, ctx: MethodContext) -> Outcome:
        """Start (or resume), poll to the end, and check status, readiness, capacity, canaries."""
        s, cat, refused = open_run(self, ctx)
        if refused is not None:
            return refused
        dev = ctx.drive.path
        state = parse_request_sense(s.run("sg_requests", dev).stdout)
        resume = state.in_progress
        if resume:
            s.log(f"a {state.operation} is already in progress: polling it, not restarting it")
            canaries = journal_canaries(ctx)
        else:
            stop = s.not_cleared(cat)
            if stop is not None:
                return stop
            canaries = plant_canaries(ctx)
            ctx.journal[JOURNAL_SCSI] = self.technique.value
            start = s.run(*self._start_argv(dev))
            if not start.ok:
                ctx.journal.pop(JOURNAL_SCSI, None)
                tail = start.stderr.strip().splitlines()[-1] if start.stderr.strip() else ""
                unsupported = start.returncode == SG_EXIT_INVALID_OPCODE
                return s.outcome(
                    OutcomeStatus.FAILED,
                    cat,
                    reason=f"the {self.operation} did not start (exit {start.returncode}"
                    + (", command not supported" if unsupported else "")
                    + (f": {tail})" if tail else ")"),
                )
        last, err = self._poll(s, dev)
        if last.in_progress:
            return s.outcome(OutcomeStatus.ABORTED, cat, reason=err)
        status = s.run("sg_requests", "--status", dev)
        sense = parse_request_sense(status.stdout)
        if status.ok and not sense.failed and not last.failed:
            final = Check("sense", True)
        else:
            failed = sense.failed or last.failed or f"sg_requests --status exit {status.returncode}"
            final = Check("sense", False, f"the {self.operation} failed: {failed}")
        checks = [
            Check("ready", s.run("sg_turs", dev).ok, "the drive is not ready (sg_turs)"),
            self._capacity(s, dev),
        ]
        if self.operation == "format":
            report = s.run("sg_format", dev)
            corrupt = "format corrupt" in report.stdout
            checks.append(Check("format", not corrupt, "the drive reports it is format corrupt"))
        readback: ReadBack = read_back(ctx, canaries, self._expected())
        verdict = judge(final, tuple(checks), readback)
        ctx.journal.pop(JOURNAL_SCSI, None)
        details = {
            "final_status": "sg_requests --status: no sense" if final.ok else final.detail,
            "resumed": "yes" if resume else "no",
            **readback.details,
        }
        return s.concluded(verdict, cat, readback, details)

    def _capacity(self, s: Session, dev: str) -> Check:
        before = s.ctx.capabilities.scsi.capacity if s.ctx.capabilities.scsi else None
        res = s.run("sg_readcap", "-l", dev)
        try:
            after = parse_sg_readcap(res.stdout)
        except ToolOutputError:
            return Check("capacity", False, "READ CAPACITY failed after the operation")
        if before is None:
            return Check("capacity", None)
        same = (before.block_count, before.block_length) == (after.block_count, after.block_length)
        detail = (
            f"capacity changed: {before.block_count}x{before.block_length} -> "
            f"{after.block_count}x{after.block_length}"
        )
        return Check("capacity", same, "" if same else detail)

    def _poll(self, s: Session, dev: str) -> tuple[SenseState, str]:
        stall = StallWatch(self.stall_seconds)
        while True:
            state = parse_request_sense(s.run("sg_requests", dev).stdout)
            if not state.in_progress:
                s.progress(1.0, self.operation)
                return state, ""
            s.progress((state.percent or 0.0) / 100, self.operation)
            raw = None if state.percent is None else int(state.percent * 100)
            if stall.stalled(raw):
                return state, (
                    f"the {self.operation} has made no progress for {int(self.stall_seconds)} s: "
                    "power-cycle the drive, then resume the job (it re-polls)"
                )
            s.wait()


class ScsiSanitize(_ScsiOperation):
    """SCSI SANITIZE: ``crypto`` (SA 3), ``block`` (SA 2) or ``overwrite`` (SA 1, zeros)."""

    def __init__(self, action: str) -> None:
        if action not in _SANITIZE_TECHNIQUES:
            raise ValueError(f"unknown SCSI sanitize action {action!r}")
        self.action = action
        self.technique = _SANITIZE_TECHNIQUES[action]
        self.nist_category = NistCategory.PURGE

    def category_for(self, drive: Drive) -> NistCategory:
        """Purge, except overwrite on flash (r1 A-8 lists only block/crypto for SCSI SSDs)."""
        if self.action == "overwrite" and drive.media_kind is not MediaKind.HDD:
            return NistCategory.CLEAR
        return NistCategory.PURGE

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why it cannot run now (service action not in sg_opcodes, SATL, USB), or None."""
        scsi = caps.scsi
        supported: bool | None = None
        if scsi is not None:
            supported = {
                "crypto": scsi.sanitize_crypto_erase,
                "block": scsi.sanitize_block_erase,
                "overwrite": scsi.sanitize_overwrite,
            }[self.action]
        return _scsi_blocker(drive, caps, supported, f"SANITIZE {self.action}")

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """A guess (SCSI reports no estimate): crypto ~1 min, else the size at ~150 MB/s."""
        if self.action == "crypto":
            return 60
        return max(60, drive.size_bytes // 150_000_000)

    def _start_argv(self, dev: str) -> list[str]:
        extra = ["--zero"] if self.action == "overwrite" else []
        return ["sg_sanitize", f"--{self.action}", *extra, "--quick", "--early", dev]

    def _expected(self) -> Pattern | None:
        return Pattern.zeros() if self.action == "overwrite" else None


class ScsiFormatUnit(_ScsiOperation):
    """SCSI FORMAT UNIT (full format, never ``--ffmt``): Clear."""

    operation = "format"

    def __init__(self) -> None:
        self.technique = Technique.SCSI_FORMAT_UNIT
        self.nist_category = NistCategory.CLEAR

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why it cannot run now (FORMAT UNIT not in sg_opcodes, SATL, USB), or None."""
        supported = caps.scsi.format_unit if caps.scsi is not None else None
        return _scsi_blocker(drive, caps, supported, "FORMAT UNIT")

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """A guess: the size at ~150 MB/s."""
        return max(60, drive.size_bytes // 150_000_000)

    def _start_argv(self, dev: str) -> list[str]:
        return ["sg_format", "--format", "--quick", "--early", dev]


__all__ = ["ScsiFormatUnit", "ScsiSanitize", "SenseState", "parse_request_sense"]
