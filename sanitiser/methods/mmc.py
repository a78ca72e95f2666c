"""eMMC methods through mmc-utils: erase + sanitize, secure erase, secure trim.

The commands and their traps: docs/DEVICE-COMMANDS.md §10.

NIST SP 800-88 category: **Clear** for all three. Dell's published mapping of the eMMC "Erase and
Sanitize" commands gives Clear under both SP 800-88 r1 and IEEE 2883-2022 (docs/STANDARDS.md §3,
[DELL-KB]); r1 has no eMMC row and 2883 was not read for this project, so no eMMC command is
claimed as Purge here. Where Purge is required, policy routes the device to destruction.

What each does, and what none of them reaches:

- ``mmc-sanitize``: ``mmc erase legacy 0 LAST DEV`` (every erase group of the user area is
  erased and unmapped), then ``mmc sanitize DEV TIMEOUT`` (the part physically removes the data
  of every unmapped block, the ones just erased included). Sanitize alone would leave all mapped
  data in place: it only acts on unmapped blocks (JEDEC JESD84-B51 §6.6.13 in eMMC 4.5+).
- ``mmc-secure-erase``: ``mmc erase secure-erase 0 LAST DEV`` (CMD38 arg 0x80000000; the part
  purges the erase groups, old copies included). Obsolete from eMMC 4.51 but still offered.
- ``mmc-secure-trim``: ``secure-trim1`` (marks) then ``secure-trim2`` (purges the marked blocks).
- **Not reached**: the two boot partitions (``mmcblkNboot0/1``, separate devices, read-only by
  ``force_ro`` and possibly write-protected by BOOT_WP), the RPMB (``mmcblkNrpmb``: written
  only with its authentication key; no erase or sanitize reaches it), and general-purpose
  partitions. Every Outcome says so in ``not_covered``.

mmc-utils' exit status is checked together with its own "Succeed!" line; a sanitize is given a
long timeout, because with the kernel's 240 s default a large part's sanitize is aborted by HPI
("Connection timed out"). Afterwards ``mmc extcsd read`` must answer with the same SEC_COUNT, and
the canaries planted before must be gone; where the medium's content is defined (an erase leaves
ERASED_MEM_CONT), it is read back too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sanitiser.blockio import Pattern
from sanitiser.domain import Drive, NistCategory, Outcome, OutcomeStatus
from sanitiser.errors import ToolOutputError
from sanitiser.methods.base import MethodContext
from sanitiser.methods.session import open_run
from sanitiser.methods.verify_after import (
    Check,
    ReadBack,
    journal_canaries,
    judge,
    plant_canaries,
    read_back,
)
from sanitiser.probe.capabilities import Capabilities, Technique
from sanitiser.probe.mmc import MmcExtCsd, parse_extcsd

JOURNAL_MMC = "mmc_operation_started"
"""Journal key set while an eMMC erase or sanitize runs (its technique value)."""
SANITIZE_TIMEOUT_MS = 4 * 3600 * 1000
"""The timeout handed to ``mmc sanitize`` (the kernel's own is 240 s: too short for big parts)."""


def not_covered(ext: MmcExtCsd) -> str:
    """What an eMMC method leaves alone, with the sizes this part reports."""
    boot = ext.boot_partition_bytes // 1024
    parts = [
        f"the two boot partitions (mmcblkNboot0/1, {boot} KiB each)" if boot else "",
        f"the RPMB ({ext.rpmb_bytes // 1024} KiB)" if ext.rpmb_bytes else "the RPMB",
        "any general-purpose partitions",
    ]
    return (
        "only the user area was erased: "
        + ", ".join(p for p in parts if p)
        + " are separate areas these commands do not reach"
    )


def _no_timeout_argument(stderr: str) -> bool:
    """mmc-utils before 2023 (Debian 12's 0+git20220624) refuses ``mmc sanitize DEV TIMEOUT``
    with its usage line, sending nothing."""
    return stderr.strip() == "Usage: mmc sanitize </path/to/mmcblkX>"


@dataclass(frozen=True, slots=True)
class _Step:
    argv: tuple[str, ...]
    what: str


class _MmcMethod:
    """Shared run logic: plant canaries, run the steps, re-read EXT_CSD, read back."""

    technique: Technique
    nist_category = NistCategory.CLEAR
    feature = ""
    """The feature this method needs, for the refusal."""

    def _supported(self, ext: MmcExtCsd) -> bool:
        raise NotImplementedError

    def _steps(self, dev: str, last: int) -> list[_Step]:
        raise NotImplementedError

    def _expected(self, ext: MmcExtCsd) -> Pattern | None:
        return Pattern.fixed(ext.erased_pattern[0])

    def category_for(self, drive: Drive) -> NistCategory:
        """Clear on every eMMC (see the module doc)."""
        return self.nist_category

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why it cannot run now (no EXT_CSD, SD card, feature not advertised, size), or None."""
        if caps.mmc is None:
            return "not an eMMC, or its EXT_CSD could not be read (mmc extcsd read)"
        ident = caps.mmc.identity
        if ident is not None and not ident.is_emmc:
            return f"an {ident.card_type} card, not an eMMC: no secure erase or sanitize"
        ext = caps.mmc.extcsd
        if not self._supported(ext):
            return f"{self.feature} is not advertised (SEC_FEATURE_SUPPORT 0x" + (
                f"{ext.sec_feature_support:02x}, EXT_CSD rev 1.{ext.revision})"
                if ext.sec_feature_support is not None
                else f"not printed for EXT_CSD rev 1.{ext.revision})"
            )
        if ext.capacity_bytes != drive.size_bytes:
            return (
                f"EXT_CSD SEC_COUNT gives {ext.capacity_bytes} bytes but the device has "
                f"{drive.size_bytes}: not the user area of this part"
            )
        return None

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """A guess: eMMC erases take seconds to minutes; sanitize up to tens of minutes."""
        return max(60, drive.size_bytes // 1_000_000_000 * 30)

    def run(self, ctx: MethodContext) -> Outcome:
        """Run the steps, then check EXT_CSD, the canaries and the erased content."""
        s, cat, refused = open_run(self, ctx)
        if refused is not None:
            return refused
        mmc = ctx.capabilities.mmc
        if mmc is None:  # unavailable() refuses this; kept for the type checker
            return s.refused(cat, "no EXT_CSD")
        ext = mmc.extcsd
        dev = ctx.drive.path
        if ctx.journal.get(JOURNAL_MMC):
            s.log("an earlier run was interrupted: running every step again (they are idempotent)")
            canaries = journal_canaries(ctx)
        else:
            stop = s.not_cleared(cat)
            if stop is not None:
                return stop
            canaries = plant_canaries(ctx)
        ctx.journal[JOURNAL_MMC] = self.technique.value
        for step in self._steps(dev, ext.sec_count - 1):
            why = s.recheck()
            if why:
                ctx.journal.pop(JOURNAL_MMC, None)
                return s.refused(cat, why)
            res = s.run(*step.argv, timeout=None)
            if step.argv[1] == "sanitize" and _no_timeout_argument(res.stderr):
                s.log(
                    "this mmc-utils takes no sanitize timeout: the kernel's 240 s applies, and "
                    "a slower part's sanitize is aborted (reported as failed)"
                )
                res = s.run(*step.argv[:3], timeout=None)
            done = res.ok and (step.argv[1] != "erase" or "Succeed!" in res.stdout)
            if not done:
                ctx.journal.pop(JOURNAL_MMC, None)
                tail = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else ""
                return s.outcome(
                    OutcomeStatus.FAILED, cat,
                    reason=f"{step.what} failed (exit {res.returncode}"
                    + (f": {tail})" if tail else ")")
                    + "; the part may be partly erased",
                    details={"not_covered": not_covered(ext)},
                )  # fmt: skip
        final = Check("mmc", True)
        after = s.run("mmc", "extcsd", "read", dev)
        try:
            now = parse_extcsd(after.stdout)
            same = now.sec_count == ext.sec_count
            size = Check("capacity", same, "" if same else "SEC_COUNT changed after the erase")
        except ToolOutputError:
            size = Check("capacity", False, "EXT_CSD could not be read after the erase")
        readback: ReadBack = read_back(ctx, canaries, self._expected(ext))
        verdict = judge(final, (size,), readback)
        ctx.journal.pop(JOURNAL_MMC, None)
        details = {
            "final_status": "mmc-utils reported success for every step",
            "not_covered": not_covered(ext),
            "extcsd_revision": f"1.{ext.revision} (eMMC {ext.version})",
            **readback.details,
        }
        return s.concluded(verdict, cat, readback, details)


class MmcSanitize(_MmcMethod):
    """Erase every erase group of the user area, then SANITIZE (removes unmapped data)."""

    technique = Technique.MMC_SANITIZE
    feature = "Sanitize (SEC_SANITIZE, eMMC 4.5+)"

    def _supported(self, ext: MmcExtCsd) -> bool:
        return ext.sanitize

    def _steps(self, dev: str, last: int) -> list[_Step]:
        return [
            _Step(("mmc", "erase", "legacy", "0", str(last), dev), "the erase before sanitize"),
            _Step(("mmc", "sanitize", dev, str(SANITIZE_TIMEOUT_MS)), "the sanitize"),
        ]


class MmcSecureErase(_MmcMethod):
    """CMD38 secure erase over the whole user area."""

    technique = Technique.MMC_SECURE_ERASE
    feature = "Secure erase (SECURE_ER_EN)"

    def _supported(self, ext: MmcExtCsd) -> bool:
        return ext.secure_erase

    def _steps(self, dev: str, last: int) -> list[_Step]:
        return [_Step(("mmc", "erase", "secure-erase", "0", str(last), dev), "the secure erase")]


class MmcSecureTrim(_MmcMethod):
    """Secure trim, both steps, over the whole user area."""

    technique = Technique.MMC_SECURE_TRIM
    feature = "Secure trim (SECURE_ER_EN and SEC_GB_CL_EN)"

    def _supported(self, ext: MmcExtCsd) -> bool:
        return ext.secure_trim

    def _steps(self, dev: str, last: int) -> list[_Step]:
        return [
            _Step(("mmc", "erase", "secure-trim1", "0", str(last), dev), "secure trim step 1"),
            _Step(("mmc", "erase", "secure-trim2", "0", str(last), dev), "secure trim step 2"),
        ]

    def _expected(self, ext: MmcExtCsd) -> Pattern | None:
        # what a trimmed block reads as is not something every part defines: canaries only
        return None


__all__ = ["JOURNAL_MMC", "MmcSanitize", "MmcSecureErase", "MmcSecureTrim", "not_covered"]
