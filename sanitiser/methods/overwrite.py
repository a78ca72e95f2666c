"""Clear by host overwrite: the blockio engine over the claimed descriptor, then read-back.

NIST SP 800-88: an overwrite through the standard read/write interface is **Clear** on every
medium (r1 Tables A-5/A-8 "Clear"; r2 §3.1.1). On flash it never reaches spare or remapped
blocks, so it is never Purge (docs/STANDARDS.md §1). It is always possible: it is the method of last
resort for USB sticks, virtual disks and drives whose firmware methods are frozen or missing.

On an ATA drive the HPA and DCO are removed first (`hidden_areas`), so the whole native capacity
is written; if they cannot be removed the method is refused, because the hidden sectors would be
left untouched. The scheme (`MethodContext.overwrite_scheme`) and the read-back
(`MethodContext.verification`: full, sampled; ``none`` leaves the Outcome unverified) come from
the policy. The job seed for random passes is kept in the job journal (never in a record).
"""

from __future__ import annotations

from sanitiser.blockio import DeviceTarget, VerifyMode, run_scheme, scheme
from sanitiser.blockio.target import current_size
from sanitiser.domain import Drive, NistCategory, Outcome, OutcomeStatus
from sanitiser.errors import ConfigError
from sanitiser.methods.base import MethodContext
from sanitiser.methods.hidden_areas import remove_hidden_areas
from sanitiser.methods.session import Session
from sanitiser.probe.capabilities import Capabilities, Technique

JOURNAL_SEED = "overwrite_seed"
"""Journal key of the job seed (hex) for random passes."""
ASSUMED_MBPS = 150
"""Write rate assumed for an estimate before the engine has measured the drive."""
_VERIFY = {
    "full": VerifyMode.FULL,
    "sampled": VerifyMode.SAMPLED,
    "canary": VerifyMode.SAMPLED,  # an overwrite has a known content: sample it instead
    "none": VerifyMode.NONE,
}


class HostOverwrite:
    """Overwrite every native sector with the policy's scheme, flush, and read back."""

    def __init__(self) -> None:
        self.technique = Technique.HOST_OVERWRITE
        self.nist_category = NistCategory.CLEAR

    def category_for(self, drive: Drive) -> NistCategory:
        """Clear on every medium."""
        return NistCategory.CLEAR

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Only a read-only drive cannot be overwritten."""
        if drive.read_only:
            return "the drive is read-only"
        return None

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """One pass plus a sampled read at an assumed rate (the engine reports the real ETA)."""
        return max(1, drive.size_bytes // (ASSUMED_MBPS * 1_000_000))

    def run(self, ctx: MethodContext) -> Outcome:
        """Remove HPA/DCO, overwrite with the scheme, verify, and report."""
        s = Session(ctx, self.technique.value)
        cat = NistCategory.CLEAR
        why = self.unavailable(ctx.drive, ctx.capabilities)
        if why:
            return s.refused(cat, why)
        try:
            chosen = scheme(ctx.overwrite_scheme, ctx.overwrite_passes or None)
        except ConfigError as exc:
            return s.refused(cat, str(exc))
        verify = _VERIFY.get(ctx.verification)
        if verify is None:
            return s.refused(cat, f"unknown verification mode {ctx.verification!r}")
        if ctx.cancelled():
            return s.outcome(OutcomeStatus.ABORTED, cat, reason="cancelled before anything ran")
        hidden = remove_hidden_areas(s, ctx.drive.path)
        if not hidden.ok:
            return s.refused(cat, hidden.reason, hidden.text)
        size = None
        if hidden.native_sectors is not None:
            size = ctx.claim.backend.native_bytes(hidden.native_sectors)
        if size is not None:
            now = current_size(ctx.claim.fd)
            if now is not None and now < size:
                return s.refused(
                    cat,
                    f"the kernel still sees {now} bytes after the HPA/DCO removal, not the "
                    f"native {size}: re-plug the drive and rescan, then retry",
                    hidden.text,
                )
        target = DeviceTarget.from_claim(ctx.claim, size_bytes=size)
        seed_hex = ctx.journal.get(JOURNAL_SEED)
        seed = bytes.fromhex(seed_hex) if isinstance(seed_hex, str) else None
        s.log(f"overwriting {target.size_bytes} bytes with scheme {chosen.name}")
        report = run_scheme(
            target,
            chosen,
            seed=seed,
            verify=verify,
            on_progress=ctx.on_progress,
            cancel=ctx.cancelled,
        )
        ctx.journal[JOURNAL_SEED] = report.seed.hex()
        reason = report.reason
        if report.status is OutcomeStatus.SANITISED and verify is VerifyMode.NONE:
            reason = "written and flushed, but not read back (the policy asked for no verification)"
        details = dict(report.details)
        details["note"] = "host overwrite reaches only user-addressable sectors: Clear, not Purge"
        s.log(f"{report.status.value}: {reason or 'verified'}")
        return s.outcome(
            report.status,
            cat,
            reason=reason,
            verified=report.verified,
            verification=report.verification,
            hpa_dco=hidden.text,
            failed_ranges=report.failed_ranges,
            details=details,
        )


__all__ = ["HostOverwrite"]
