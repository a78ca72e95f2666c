"""NVMe methods through nvme-cli 2.x: Sanitize and Format NVM (docs/DEVICE-COMMANDS.md §2).

NIST SP 800-88 categories (docs/STANDARDS.md §2.3, §3): Format NVM with SES=1 (user data erase) or
SES=2 (cryptographic erase) is **Purge** in r1 Table A-8; Sanitize (block, crypto, overwrite)
purges "as defined in IEEE Std 2883" (NVMe Annex A) and IEEE 2883 maps NVMe Sanitize to
**Purge** (Dell's published table) — r1 predates the command. A crypto erase is Purge only under
r1 §2.6's encryption conditions, which the Outcome records as an unchecked condition.

Sanitize (§2.6-§2.8) acts on the whole NVM subsystem, is sent to the *controller*
(``/dev/nvmeX``), returns at once and runs in the background; ``sanitize-log`` is polled every
`MethodContext.poll_interval`. A sanitize found already running when the method starts (after a
restart or power cycle: it survives both) is polled to the end, never restarted. Success is
status 1 or 4 with ``sprog`` back at 65535; status 3 is FAILED (the controller is then in its
failure state, which only a new sanitize clears). A stall (no ``sprog`` change for
`stall_seconds`, the Intel 660p case §9 #10) is not a failure: the job stops ABORTED with the
instruction to power-cycle and resume.

Format (§2.5) is sent to the namespace with the *current* ``--lbaf`` (so the block size cannot
change) and ``--force``; when ``fna`` bit 0 (or bit 1 for a crypto erase) says a format applies to
all namespaces, nvme-cli formats every namespace and the Outcome says so. SES=2 is attempted only
when ``fna`` bit 2 advertises it: QEMU's controller returns success for SES=2 without a crypto
erase (§9 #12). After SES=1 the content is "indeterminate", so zeros prove only the logical view
(§9 #6): the canaries planted before are what proves old data is gone.
"""

from __future__ import annotations

import re

from sanitiser.blockio import CanarySet, Pattern
from sanitiser.domain import Drive, NistCategory, Outcome, OutcomeStatus, Transport
from sanitiser.errors import ToolOutputError
from sanitiser.methods.base import MethodContext
from sanitiser.methods.session import Poll, Session, open_run, poll_until_done
from sanitiser.methods.verify_after import (
    Check,
    journal_canaries,
    judge,
    plant_canaries,
    read_back,
)
from sanitiser.probe.capabilities import Capabilities, Technique
from sanitiser.probe.nvme import (
    SanitizeLog,
    SanitizeStatus,
    parse_id_ns,
    parse_nvme_status,
    parse_sanitize_log,
)

JOURNAL_SANITIZE = "nvme_sanitize_started"
"""Journal key set when an NVMe sanitize was started (its technique value)."""
CRYPTO_NOTE = (
    "a crypto erase is Purge only if all data was encrypted from the start (NIST r1 §2.6); "
    "the host cannot check that"
)
_SANACT = {"block": 2, "overwrite": 3, "crypto": 4}
_SANACT_NAME = {2: "block", 3: "overwrite", 4: "crypto"}
_SANITIZE_TECHNIQUES = {
    "crypto": Technique.NVME_SANITIZE_CRYPTO,
    "block": Technique.NVME_SANITIZE_BLOCK,
    "overwrite": Technique.NVME_SANITIZE_OVERWRITE,
}
_FALLBACK_SECONDS = {"crypto": 60, "block": 300}
"""Guesses when the sanitize log reports no estimate (overwrite: size at 500 MB/s)."""
_LOG_ESTIMATE_KEY = {"crypto": "time_crypto_erase", "block": "time_block_erase",
                     "overwrite": "time_over_write"}  # fmt: skip
FORMAT_TIMEOUT_FLOOR_S = 3600
"""The least time a Format NVM is given (nvme-cli's own default is 10 min, §2.5)."""
FORMAT_SLOWEST_BYTES_PER_S = 50_000_000
"""The slowest user-data erase planned for: a large QLC drive whose controller overwrites
rather than deallocates, at 50 MB/s."""


def format_timeout_ms(size_bytes: int) -> int:
    """The ``--timeout`` a Format NVM is sent with: an hour, plus the time to write the whole
    namespace at `FORMAT_SLOWEST_BYTES_PER_S`.

    Format NVM has no progress to poll: nvme-cli waits for the command, and its default
    timeout (600 000 ms) would make the kernel abort and reset a large, slow drive's user-data
    erase after 10 minutes, leaving a failed job and a drive in an unknown state. A drive that
    hangs holds the bench's job this long, no longer.
    """
    seconds = FORMAT_TIMEOUT_FLOOR_S + max(0, size_bytes) // FORMAT_SLOWEST_BYTES_PER_S
    return min(seconds * 1000, 0xFFFFFFFF)  # nvme-cli reads it as a 32-bit count (49.7 days)


def namespace_id(drive: Drive) -> int:
    """The namespace id from the kernel name (``nvme0n2`` -> 2); 1 when it cannot be read."""
    match = re.search(r"nvme\d+n(\d+)$", drive.name)
    return int(match.group(1)) if match else 1


def _nvme_blocker(drive: Drive, caps: Capabilities) -> str | None:
    if drive.transport is not Transport.NVME:
        return "not an NVMe drive (behind a USB bridge nvme-cli cannot reach it, §4)"
    if caps.nvme is None:
        return "the controller did not answer identify (nvme id-ctrl)"
    return None


def read_log(s: Session, ctrl: str) -> tuple[SanitizeLog | None, str]:
    """``nvme sanitize-log CTRL -o json``: the log, or None and why it could not be read."""
    res = s.run("nvme", "sanitize-log", ctrl, "-o", "json")
    try:
        return parse_sanitize_log(res.stdout), ""
    except ToolOutputError as exc:
        status = parse_nvme_status(res.stderr)
        return None, status.name if status else str(exc)


def _status_error(stderr: str, returncode: int) -> str:
    status = parse_nvme_status(stderr)
    if status is not None:
        return f"{status.name} (0x{status.code:x})"
    return stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {returncode}"


def _namespace_check(s: Session, dev: str) -> tuple[Check, int | None]:
    """Re-read id-ns: the namespace must answer; returns its block size for the geometry check."""
    res = s.run("nvme", "id-ns", dev, "-o", "json")
    try:
        ns = parse_id_ns(res.stdout)
    except ToolOutputError:
        why = _status_error(res.stderr, res.returncode)
        return Check("ready", False, f"the namespace does not answer identify ({why})"), None
    return Check("ready", True), ns.size_bytes


def _geometry(s: Session, size_after: int | None) -> Check:
    caps = s.ctx.capabilities
    before = caps.namespace.size_bytes if caps.namespace is not None else None
    if size_after is None or before is None:
        return Check("capacity", None)
    ok = before == size_after
    return Check("capacity", ok, "" if ok else f"capacity changed: {before} -> {size_after}")


class NvmeSanitize:
    """NVMe Sanitize: ``crypto`` (sanact 4), ``block`` (2) or ``overwrite`` (3, one pass of 0)."""

    stall_seconds: float = 1800.0
    """No ``sprog`` change for this long (and 10 polls): power-cycle, then resume."""
    status_retries: int = 3

    def __init__(self, action: str) -> None:
        if action not in _SANACT:
            raise ValueError(f"unknown NVMe sanitize action {action!r}")
        self.action = action
        self.technique = _SANITIZE_TECHNIQUES[action]
        self.nist_category = NistCategory.PURGE

    def category_for(self, drive: Drive) -> NistCategory:
        """Purge for every action (IEEE 2883 via docs/STANDARDS.md §3)."""
        return NistCategory.PURGE

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why it cannot run now (action not in ``sanicap``), or None.

        A sanitize already in progress is not a reason: `run` polls it to the end.
        """
        blocker = _nvme_blocker(drive, caps)
        if blocker or caps.nvme is None:
            return blocker
        nvme = caps.nvme
        if not nvme.sanitize_any:
            return "the controller does not advertise Sanitize (sanicap bits 2:0 are 0)"
        advertised = {
            "crypto": nvme.sanitize_crypto,
            "block": nvme.sanitize_block,
            "overwrite": nvme.sanitize_overwrite,
        }[self.action]
        if not advertised:
            return f"sanitize {self.action} is not advertised (sanicap)"
        return None

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """The controller's own estimate from the sanitize log, else a guess."""
        log = caps.sanitize_log
        if log is not None:
            value = dict(log.estimates).get(_LOG_ESTIMATE_KEY[self.action])
            if value:
                return value
        return _FALLBACK_SECONDS.get(self.action, max(60, drive.size_bytes // 500_000_000))

    def run(self, ctx: MethodContext) -> Outcome:
        """Start (or resume) the sanitize, poll the log to the end, and check the result."""
        s, cat, refused = open_run(self, ctx)
        if refused is not None:
            return refused
        ctrl = ctx.claim.backend.nvme_controller(ctx.drive)
        log, err = read_log(s, ctrl)
        if log is None:
            return s.refused(cat, f"the sanitize log cannot be read: {err}")
        resume = log.in_progress
        action = self.action
        canaries: CanarySet | None
        if resume:
            action = _SANACT_NAME.get(log.cdw10 & 0x7, self.action)
            s.log(f"a sanitize ({action}) is already in progress: polling it, not restarting it")
            canaries = journal_canaries(ctx)
        else:
            stop = s.not_cleared(cat)
            if stop is not None:
                return stop
            canaries = plant_canaries(ctx)
            ctx.journal[JOURNAL_SANITIZE] = self.technique.value
            argv = ["nvme", "sanitize", ctrl, f"--sanact={_SANACT[self.action]}"]
            if self.action == "overwrite":
                argv += ["--owpass=1", "--ovrpat=0x00000000"]
            start = s.run(*argv)
            if not start.ok:
                ctx.journal.pop(JOURNAL_SANITIZE, None)
                return s.outcome(
                    OutcomeStatus.FAILED,
                    cat,
                    reason="the sanitize did not start: "
                    + _status_error(start.stderr, start.returncode),
                )
        log, err = self._poll(s, ctrl, action)
        if log is not None and log.in_progress:
            return s.outcome(OutcomeStatus.ABORTED, cat, reason=err)
        if log is None:
            final = Check("sanitize log", False, f"the sanitize log cannot be read: {err}")
        elif log.failed:
            final = Check(
                "sanitize log",
                False,
                "the sanitize failed (sanitize-log status 3): the controller is in its failure "
                "state and only a new sanitize recovers it",
            )
        elif not log.succeeded:
            final = Check("sanitize log", False, f"the sanitize log says {log.status_text!r}")
        else:
            final = Check("sanitize log", True)
        ready, size_after = _namespace_check(s, ctx.drive.path)
        expected = Pattern.zeros() if action == "overwrite" else None
        readback = read_back(ctx, canaries, expected)
        verdict = judge(final, (ready, _geometry(s, size_after)), readback)
        ctx.journal.pop(JOURNAL_SANITIZE, None)
        details = {
            "sanitize_action": action,
            "scope": "the whole NVM subsystem (every namespace)",
            "final_status": log.status_text if log is not None else err,
            "resumed": "yes" if resume else "no",
            **readback.details,
        }
        if log is not None:
            details["global_erased"] = "yes" if log.global_erased else "no"
        if action == "crypto":
            details["category_note"] = CRYPTO_NOTE
        return s.concluded(verdict, cat, readback, details)

    def _poll(self, s: Session, ctrl: str, action: str) -> tuple[SanitizeLog | None, str]:
        """Poll the log until no sanitize is in progress; a stall comes back in progress."""
        return poll_until_done(
            s,
            lambda: read_log(s, ctrl),
            lambda log: Poll(
                log.status is SanitizeStatus.IN_PROGRESS, log.sprog / 65536, log.sprog
            ),
            operation="sanitize",
            phase=f"sanitize {action}",
            stall_seconds=self.stall_seconds,
            retries=self.status_retries,
            stalled=lambda log: (
                f"the sanitize has made no progress for {int(self.stall_seconds)} s (sprog "
                f"{log.sprog}): power-cycle the drive, then resume the job (it re-polls, "
                "never restarts)"
            ),
        )


class NvmeFormat:
    """NVMe Format NVM with SES=1 (user data erase) or SES=2 (cryptographic erase)."""

    def __init__(self, *, crypto: bool) -> None:
        self.crypto = crypto
        self.ses = 2 if crypto else 1
        self.technique = Technique.NVME_FORMAT_CRYPTO if crypto else Technique.NVME_FORMAT_USER_DATA
        self.nist_category = NistCategory.PURGE

    def category_for(self, drive: Drive) -> NistCategory:
        """Purge (r1 Table A-8, NVMe)."""
        return NistCategory.PURGE

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why it cannot run now, or None."""
        blocker = _nvme_blocker(drive, caps)
        if blocker or caps.nvme is None:
            return blocker
        if not caps.nvme.format_supported:
            return "the controller does not advertise Format NVM (oacs bit 1)"
        if self.crypto and not caps.nvme.format_crypto_erase:
            return (
                "cryptographic erase is not advertised as a Format SES (fna bit 2); some "
                "controllers (QEMU) accept SES=2 and do a plain erase instead (§9 #12)"
            )
        if caps.namespace is None:
            return "the namespace did not answer identify, so its LBA format is unknown"
        if caps.sanitize_log is not None and caps.sanitize_log.in_progress:
            return "a sanitize is in progress: wait for it to finish"
        return None

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """A guess: crypto ~1 minute; user data erase at ~1 GB/s (NVMe gives no estimate)."""
        if self.crypto:
            return 60
        return max(60, drive.size_bytes // 1_000_000_000)

    def _scope(self, caps: Capabilities, nsid: int) -> str:
        nvme = caps.nvme
        if nvme is not None and (
            nvme.format_applies_to_all or (self.crypto and nvme.crypto_erase_applies_to_all)
        ):
            return "all namespaces (fna says a format applies to every namespace)"
        return f"namespace {nsid} only (other namespaces on the controller are not touched)"

    def run(self, ctx: MethodContext) -> Outcome:
        """Format with the current LBA format, then check the namespace and the canaries."""
        s, cat, refused = open_run(self, ctx)
        if refused is not None:
            return refused
        namespace = ctx.capabilities.namespace
        if namespace is None:  # unavailable() refuses this; kept for the type checker
            return s.refused(cat, "namespace unknown")
        stop = s.not_cleared(cat)
        if stop is not None:
            return stop
        dev = ctx.drive.path
        nsid = namespace_id(ctx.drive)
        lbaf = namespace.current_lbaf
        canaries = plant_canaries(ctx)
        s.progress(0.0, f"format ses={self.ses}")
        res = s.run(
            "nvme", "format", dev, f"--namespace-id={nsid}", f"--ses={self.ses}",
            f"--lbaf={lbaf}", "--force", f"--timeout={format_timeout_ms(ctx.drive.size_bytes)}",
            timeout=None,
        )  # fmt: skip
        if res.ok and "Success formatting namespace" in res.stdout:
            final = Check("format status", True)
        else:
            final = Check(
                "format status",
                False,
                "the format failed: " + _status_error(res.stderr, res.returncode)
                if not res.ok
                else "nvme format exited 0 without 'Success formatting namespace'",
            )
        s.progress(1.0, f"format ses={self.ses}")
        ready, size_after = _namespace_check(s, dev)
        readback = read_back(ctx, canaries)
        verdict = judge(final, (ready, _geometry(s, size_after)), readback)
        details = {
            "ses": str(self.ses),
            "lbaf": str(lbaf),
            "scope": self._scope(ctx.capabilities, nsid),
            "final_status": "Success formatting namespace" if final.ok else final.detail,
            **readback.details,
        }
        if self.crypto:
            details["category_note"] = CRYPTO_NOTE
        else:
            details["readback_note"] = (
                "after SES=1 the content is indeterminate: zeros prove only the logical view; "
                "the canaries prove the old data is gone from it (§9 #6)"
            )
        return s.concluded(verdict, cat, readback, details)


__all__ = ["NvmeFormat", "NvmeSanitize", "namespace_id"]
