"""ATA methods through hdparm: Security Erase (normal, enhanced) and Sanitize.

See docs/DEVICE-COMMANDS.md §1 for the commands, their output and their traps.

NIST SP 800-88 categories (docs/STANDARDS.md §2.3, r1 Tables A-5/A-8, and §3 IEEE 2883 as mapped by
Dell's published table, the r2 reference):

- SECURITY ERASE UNIT, enhanced, on an HDD: **Purge** (r1 A-5 option 2; IEEE 2883 "ATA HDD
  Enhanced Security Erase -> Purge"). On flash it is only **Clear** (r1 A-8: spare cells may keep
  data). Normal mode is not listed as Purge anywhere: **Clear** on every medium.
- SANITIZE CRYPTO SCRAMBLE / BLOCK ERASE: **Purge** (r1 A-8 option 1; IEEE 2883 "ATA SSD
  Sanitize -> Purge"). Crypto scramble is Purge only under r1 §2.6's encryption conditions,
  which no host can check; the Outcome says so in its details.
- SANITIZE OVERWRITE: **Purge** on an HDD (r1 A-5 option 1); r1 does not list it for SSDs, so on
  flash it is recorded as **Clear**.

Security erase sequence (§1.4): a throwaway per-job password (kept in the job journal before it
is sent, so an interrupted erase can be recovered, never in a record: every CommandRecord is
redacted), SET PASS, re-read IDENTIFY (must show enabled, not locked, not frozen), ERASE, re-read
(must show security disabled again). A drive left locked (reset or power loss mid-erase, §1.5) is
recovered by re-issuing the erase with the journal's password, in the same run or after a
restart. Never through a USB bridge (§1.5, §9 #11).

Sanitize (§1.8): ``--sanitize-status`` first (SD1 frozen -> refused with the instruction; SD2 ->
a sanitize already running, e.g. after a restart, is polled to the end instead of restarted),
then the start command, then polling every `MethodContext.poll_interval` until SD0 with
"Completed Without Error". SD3 or a status with bad sense data is FAILED.

Then the General rule (`verify_after`): canaries planted before must all be gone. The QEMU
AHCI disk that prints success for a security erase it never performs (§9 #12) ends FAILED.
"""

from __future__ import annotations

import secrets

from sanitiser.blockio import CanarySet, Pattern
from sanitiser.domain import Drive, MediaKind, NistCategory, Outcome, OutcomeStatus, Transport
from sanitiser.errors import ToolOutputError
from sanitiser.methods.base import MethodContext
from sanitiser.methods.hidden_areas import YES, HiddenAreas, remove_hidden_areas
from sanitiser.methods.session import FROZEN_INSTRUCTION, Poll, Session, open_run, poll_until_done
from sanitiser.methods.verify_after import (
    Check,
    journal_canaries,
    judge,
    plant_canaries,
    read_back,
)
from sanitiser.probe.ata import (
    AtaCapabilities,
    AtaSanitizeState,
    AtaSanitizeStatus,
    parse_hdparm_identify,
    parse_hdparm_identify_words,
    parse_hdparm_N,
    parse_sanitize_status,
    sense_warnings,
)
from sanitiser.probe.capabilities import Capabilities, Technique

JOURNAL_PASSWORD = "ata_password"  # noqa: S105 - the journal key, not a password
"""Journal key of the throwaway security password (private journal, never in a record)."""
JOURNAL_SANITIZE = "ata_sanitize_started"
"""Journal key set when an ATA sanitize was started (its technique value)."""

USB_REASON = (
    "behind a USB bridge: ATA security and sanitize commands may be lost or leave the drive "
    "locked; move it to a direct SATA port"
)
LOCKED_REASON = (
    "the drive is locked by a password this job did not set: unlock it with the owner's or "
    "the master password (hdparm --security-unlock), or resume the job that locked it (its "
    "journal holds the password), then rescan"
)
_FALLBACK_MBPS = {"security": 100, "crypto": 0, "block": 500, "overwrite": 150}
"""Rough rates (MB/s) for an estimate when the drive gives none; crypto is ~1 minute."""


def new_password() -> str:
    """A throwaway ATA user password: 19 printable ASCII characters (hdparm takes up to 32)."""
    return "san" + secrets.token_hex(8)


def identify(s: Session, dev: str) -> AtaCapabilities | None:
    """Re-read IDENTIFY now (``--Istdout``, else ``-I``); None when the drive does not answer."""
    words = s.run("hdparm", "--Istdout", dev)
    if words.ok:
        try:
            return parse_hdparm_identify_words(words.stdout, words.stderr)
        except ToolOutputError:
            pass
    text = s.run("hdparm", "-I", dev)
    try:
        return parse_hdparm_identify(text.stdout, text.stderr)
    except ToolOutputError:
        return None


def _ata_blocker(drive: Drive, caps: Capabilities) -> str | None:
    """Why no ATA command may be sent to this drive at all, or None."""
    if drive.transport is Transport.USB or caps.transport is Transport.USB:
        return USB_REASON
    if caps.virtual or drive.media_kind is MediaKind.VIRTUAL:
        return "a virtual disk has no ATA firmware of its own: only a host overwrite applies"
    if caps.ata is None:
        return "the drive did not answer ATA IDENTIFY, so no ATA command can be trusted"
    if not caps.ata.trustworthy:
        return (
            "hdparm reported bad sense data (" + "; ".join(caps.ata.sense_warnings) + "), so "
            "the drive's answers cannot be trusted (an emulated disk or a bad bridge, §9 #3)"
        )
    return None


def _estimate(drive: Drive, minutes: int | None, kind: str) -> int:
    if minutes:
        return minutes * 60
    rate = _FALLBACK_MBPS[kind]
    return 60 if rate == 0 else max(60, drive.size_bytes // (rate * 1_000_000))


def _geometry(before: int, after: AtaCapabilities | None) -> Check:
    if after is None:
        return Check("capacity", False, "IDENTIFY could not be read after the erase")
    ok = after.user_sectors == before
    detail = "" if ok else f"capacity changed: {before} -> {after.user_sectors} sectors"
    return Check("capacity", ok, detail)


def _hpa_clause(s: Session, dev: str, hidden: HiddenAreas) -> Check:
    if hidden.hpa is not None:
        return Check("hpa", hidden.clause, "" if hidden.clause else "HPA: visible != native")
    if s.ctx.capabilities.hpa is None:
        return Check("hpa", None)
    res = s.run("hdparm", "-N", dev)
    try:
        now = parse_hdparm_N(res.stdout)
    except ToolOutputError:
        return Check("hpa", False, "hdparm -N gave no answer after the erase")
    ok = not now.hpa_enabled
    return Check("hpa", ok, "" if ok else f"HPA still hides {now.hidden_sectors} sectors")


class AtaSecurityErase:
    """ATA SECURITY ERASE UNIT, normal or enhanced, with a throwaway password."""

    def __init__(self, *, enhanced: bool = False) -> None:
        self.enhanced = enhanced
        self.technique = (
            Technique.ATA_SECURITY_ERASE_ENHANCED if enhanced else Technique.ATA_SECURITY_ERASE
        )
        self.nist_category = NistCategory.PURGE if enhanced else NistCategory.CLEAR
        """Best case: enhanced on an HDD is Purge; `category_for` gives it per drive."""

    def category_for(self, drive: Drive) -> NistCategory:
        """Purge only for enhanced erase on a rotational drive (r1 A-5); Clear otherwise."""
        if self.enhanced and drive.media_kind is MediaKind.HDD:
            return NistCategory.PURGE
        return NistCategory.CLEAR

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why it cannot run now (frozen, locked, not advertised, USB, ...), or None."""
        blocker = _ata_blocker(drive, caps)
        if blocker or caps.ata is None:
            return blocker
        ata = caps.ata
        if not ata.security_supported:
            return "the ATA Security feature set is not advertised (IDENTIFY word 82/128)"
        if self.enhanced and not ata.enhanced_erase_supported:
            return "enhanced security erase is not advertised (IDENTIFY word 128 bit 5)"
        if ata.security_frozen:
            return FROZEN_INSTRUCTION
        if ata.security_count_expired:
            return "too many wrong passwords were tried: power-cycle the drive, then rescan"
        if ata.security_locked:
            return LOCKED_REASON
        if ata.security_enabled:
            return (
                "a user password is already set on the drive: disable it with the owner's "
                "password (hdparm --security-disable), then rescan"
            )
        return None

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """The drive's own IDENTIFY estimate (words 89/90), else a size-based guess."""
        ata = caps.ata
        minutes = None
        if ata is not None:
            minutes = ata.erase_minutes_enhanced if self.enhanced else ata.erase_minutes_normal
        return _estimate(drive, minutes, "security")

    # -- run --------------------------------------------------------------------------------
    def _erase(self, s: Session, password: str, dev: str) -> tuple[bool, str]:
        flag = "--security-erase-enhanced" if self.enhanced else "--security-erase"
        seconds = self.estimate_seconds(s.ctx.drive, s.ctx.capabilities) or 0
        s.progress(0.0, f"security erase (estimate {seconds // 60} min)", float(seconds))
        res = s.run("hdparm", "--user-master", "u", flag, password, dev, timeout=None)
        warnings = sense_warnings(res.stderr)
        if not res.ok:
            return False, f"hdparm {flag} exited {res.returncode}"
        if warnings:
            return False, f"hdparm {flag} exited 0 but with bad sense data ({warnings[0]})"
        s.progress(1.0, "security erase")
        return True, ""

    def _disable(self, s: Session, password: str, dev: str) -> AtaCapabilities | None:
        """Take the job's password off again (unlock + disable), and re-read IDENTIFY."""
        s.run("hdparm", "--user-master", "u", "--security-disable", password, dev)
        return identify(s, dev)

    def run(self, ctx: MethodContext) -> Outcome:
        """Set a throwaway password, erase, confirm security is disabled, check the canaries."""
        s = Session(ctx, self.technique.value)
        dev = ctx.drive.path
        cat = self.category_for(ctx.drive)
        ata = ctx.capabilities.ata
        saved = ctx.journal.get(JOURNAL_PASSWORD)
        recovering = (
            isinstance(saved, str)
            and ata is not None
            and (ata.security_locked or ata.security_enabled)
        )
        if recovering and ata is not None and ata.security_frozen:
            return s.refused(
                cat,
                f"{FROZEN_INSTRUCTION}. The drive is still locked with this job's password "
                "(kept in the job journal); the erase is re-issued after unfreezing",
            )
        if not recovering:
            why = self.unavailable(ctx.drive, ctx.capabilities)
            if why:
                return s.refused(cat, why)
        stop = s.not_cleared(cat)
        if stop is not None:
            return stop
        if recovering:
            s.log("recovering a drive left locked by an interrupted security erase")
            hidden = HiddenAreas(True, "not changed: the drive was locked by an interrupted erase")
            canaries = journal_canaries(ctx)
            password = str(saved)
            s.secret(password)
        else:
            hidden = remove_hidden_areas(s, dev)
            if not hidden.ok:
                return s.refused(cat, hidden.reason, hidden.text)
            canaries = plant_canaries(ctx)
            password = new_password()
            s.secret(password)
            ctx.journal[JOURNAL_PASSWORD] = password  # before it is sent: recoverable
            failure = self._set_password(s, password, dev)
            if failure:
                left = JOURNAL_PASSWORD in ctx.journal
                note = "the job's password may still be set (kept in the journal)" if left else ""
                return s.outcome(
                    OutcomeStatus.FAILED, cat, reason=failure, hpa_dco=hidden.text,
                    details={"password_left_on_drive": note or "no"},
                )  # fmt: skip
        expected_sectors = hidden.native_sectors or (ata.user_sectors if ata else 0)
        ok, why = self._erase(s, password, dev)
        after = identify(s, dev)
        still_set = after is not None and (after.security_locked or after.security_enabled)
        if still_set and after is not None and not after.security_frozen:
            s.log("the drive still has the password after the erase: re-issuing it (§1.5)")
            ok, why = self._erase(s, password, dev)
            after = identify(s, dev)
        final = Check("erase status", ok, why)
        return self._finish(
            s,
            cat,
            final=final,
            after=after,
            expected_sectors=expected_sectors,
            hidden=hidden,
            canaries=canaries,
        )

    def _set_password(self, s: Session, password: str, dev: str) -> str:
        """SET PASS and check the drive really enabled security; "" or why it failed."""
        res = s.run("hdparm", "--user-master", "u", "--security-set-pass", password, dev)
        state = identify(s, dev)
        enabled = state is not None and state.security_enabled
        warnings = sense_warnings(res.stderr) or (state.sense_warnings if state else ())
        problem = ""
        if not res.ok:
            problem = f"SECURITY SET PASS failed (hdparm exit {res.returncode})"
        elif state is None:
            problem = "IDENTIFY could not be read after SECURITY SET PASS"
        elif not enabled or warnings:
            noise = f" and answered with bad sense data ({warnings[0]})" if warnings else ""
            problem = (
                "hdparm exited 0 for SECURITY SET PASS, but the drive does not show security "
                f"enabled{noise}: it cannot be trusted to erase, so no erase was sent"
            )
        elif state.security_locked or state.security_frozen:
            problem = "after SECURITY SET PASS the drive is locked or frozen"
        if not problem:
            return ""
        if enabled:
            state = self._disable(s, password, dev)
        if state is None or not state.security_enabled:
            s.ctx.journal.pop(JOURNAL_PASSWORD, None)
        return problem

    def _finish(
        self,
        s: Session,
        cat: NistCategory,
        *,
        final: Check,
        after: AtaCapabilities | None,
        expected_sectors: int,
        hidden: HiddenAreas,
        canaries: CanarySet | None,
    ) -> Outcome:
        dev = s.ctx.drive.path
        if after is None:
            state = Check("security", False, "IDENTIFY could not be read after the erase")
        elif after.security_locked or after.security_enabled:
            state = Check(
                "security",
                False,
                "the drive still has security enabled"
                + (" and is locked" if after.security_locked else "")
                + " with this job's password (kept in the job journal; resume the job to re-issue "
                "the erase, or unlock/disable it with hdparm)",
            )
        else:
            state = Check("security", True)
        if after is not None and not after.trustworthy:
            state = Check("security", False, "IDENTIFY after the erase had bad sense data")
        checks = (state, _geometry(expected_sectors, after), _hpa_clause(s, dev, hidden))
        readback = read_back(s.ctx, canaries)
        verdict = judge(final, checks, readback)
        if after is not None and not (after.security_enabled or after.security_locked):
            s.ctx.journal.pop(JOURNAL_PASSWORD, None)
        details = {
            "erase_mode": "enhanced" if self.enhanced else "normal",
            "final_status": "hdparm exit 0 and security disabled" if final.ok else final.detail,
            **readback.details,
        }
        if cat is NistCategory.CLEAR and self.enhanced:
            details["category_note"] = "security erase on flash is Clear only (NIST r1 A-8)"
        return s.concluded(verdict, cat, readback, details, hidden.text)


_SANITIZE_FLAGS = {
    "crypto": ("--sanitize-crypto-scramble",),
    "block": ("--sanitize-block-erase",),
    "overwrite": ("--sanitize-overwrite-passes", "1", "--sanitize-overwrite", "hex:00000000"),
}
_SANITIZE_TECHNIQUES = {
    "crypto": Technique.ATA_SANITIZE_CRYPTO,
    "block": Technique.ATA_SANITIZE_BLOCK,
    "overwrite": Technique.ATA_SANITIZE_OVERWRITE,
}


def sanitize_status(s: Session, dev: str) -> tuple[AtaSanitizeStatus | None, str]:
    """``hdparm --sanitize-status``: the status, or None and why it could not be read."""
    res = s.run("hdparm", "--sanitize-status", dev)
    try:
        return parse_sanitize_status(res.stdout, res.stderr, res.returncode), ""
    except ToolOutputError as exc:
        return None, str(exc)


class AtaSanitize:
    """ATA SANITIZE: ``crypto`` (CRYPTO SCRAMBLE), ``block`` (BLOCK ERASE) or ``overwrite``."""

    stall_seconds: float = 1800.0
    """No progress change for this long (and 10 polls) means: power-cycle, then resume."""
    status_retries: int = 3
    """Unreadable status polls in a row before giving up."""

    def __init__(self, action: str) -> None:
        if action not in _SANITIZE_TECHNIQUES:
            raise ValueError(f"unknown ATA sanitize action {action!r}")
        self.action = action
        self.technique = _SANITIZE_TECHNIQUES[action]
        self.nist_category = NistCategory.PURGE
        """Best case (sanitize overwrite on flash is Clear: see `category_for`)."""

    def category_for(self, drive: Drive) -> NistCategory:
        """Purge, except sanitize overwrite on flash, which r1 A-8 does not list (Clear)."""
        if self.action == "overwrite" and drive.media_kind is not MediaKind.HDD:
            return NistCategory.CLEAR
        return NistCategory.PURGE

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why it cannot run now, or None."""
        blocker = _ata_blocker(drive, caps)
        if blocker or caps.ata is None:
            return blocker
        ata = caps.ata
        if not ata.sanitize_supported:
            return "the SANITIZE feature set is not advertised (IDENTIFY word 59 bit 12)"
        advertised = {
            "crypto": ata.sanitize_crypto_scramble,
            "block": ata.sanitize_block_erase,
            "overwrite": ata.sanitize_overwrite,
        }[self.action]
        if not advertised:
            return f"SANITIZE {self.action} is not advertised (IDENTIFY word 59)"
        if ata.security_locked:
            return LOCKED_REASON
        return None

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """A size-based guess: ATA gives no sanitize time estimate in IDENTIFY."""
        return _estimate(drive, None, self.action)

    def run(self, ctx: MethodContext) -> Outcome:
        """Start (or resume) the sanitize, poll it to the end, and check the result."""
        s, cat, refused = open_run(self, ctx)
        if refused is not None:
            return refused
        dev = ctx.drive.path
        status, err = sanitize_status(s, dev)
        if status is None:
            return s.refused(cat, f"the sanitize status cannot be read: {err}")
        if status.state is AtaSanitizeState.FROZEN:
            return s.refused(cat, f"{FROZEN_INSTRUCTION} (SD1 Sanitize Frozen)")
        resume = status.state is AtaSanitizeState.IN_PROCESS
        if resume:
            s.log("a sanitize is already in progress: polling it to the end, not restarting it")
            hidden = HiddenAreas(True, "not changed: resumed a sanitize already in progress")
            canaries = journal_canaries(ctx)
        else:
            stop = s.not_cleared(cat)
            if stop is not None:
                return stop
            hidden = remove_hidden_areas(s, dev)
            if not hidden.ok:
                return s.refused(cat, hidden.reason, hidden.text)
            canaries = plant_canaries(ctx)
            ctx.journal[JOURNAL_SANITIZE] = self.technique.value
            start = s.run("hdparm", YES, *_SANITIZE_FLAGS[self.action], dev)
            warnings = sense_warnings(start.stderr)
            if not start.ok or warnings:
                detail = warnings[0] if warnings else (start.stderr.strip() or "no message")
                return s.outcome(
                    OutcomeStatus.FAILED, cat, hpa_dco=hidden.text,
                    reason=f"the sanitize did not start (hdparm exit {start.returncode}: {detail})",
                )  # fmt: skip
        status, err = self._poll(s, dev)
        ata = ctx.capabilities.ata
        expected_sectors = hidden.native_sectors or (ata.user_sectors if ata else 0)
        if status is not None and status.state is AtaSanitizeState.IN_PROCESS:
            return s.outcome(OutcomeStatus.ABORTED, cat, reason=err, hpa_dco=hidden.text)
        if status is None:
            final = Check("sanitize status", False, f"the sanitize status cannot be read: {err}")
        elif status.state is AtaSanitizeState.FAILED:
            final = Check(
                "sanitize status",
                False,
                "the sanitize failed (SD3 Sanitize Operation Failed): only a new successful "
                "sanitize clears this state",
            )
        elif not status.succeeded:
            noise = status.sense_warnings[0] if status.sense_warnings else ""
            final = Check(
                "sanitize status",
                False,
                "the drive is idle but does not report 'Last Sanitize Operation Completed "
                "Without Error'" + (f" (bad sense data: {noise})" if noise else ""),
            )
        else:
            final = Check("sanitize status", True)
        after = identify(s, dev)
        locked = Check(
            "ready",
            after is not None and not after.security_locked,
            "the drive is locked or does not answer IDENTIFY after the sanitize",
        )
        checks = (locked, _geometry(expected_sectors, after), _hpa_clause(s, dev, hidden))
        expected = Pattern.zeros() if self.action == "overwrite" else None
        readback = read_back(ctx, canaries, expected)
        verdict = judge(final, checks, readback)
        if verdict.status is not OutcomeStatus.ABORTED:
            ctx.journal.pop(JOURNAL_SANITIZE, None)
        details = {
            "sanitize_action": self.action,
            "final_status": "SD0, Last Sanitize Operation Completed Without Error"
            if final.ok
            else final.detail,
            "resumed": "yes" if resume else "no",
            **readback.details,
        }
        if self.action == "crypto":
            details["category_note"] = (
                "crypto scramble is Purge only if all data was encrypted from the start "
                "(NIST r1 §2.6); the host cannot check that"
            )
        return s.concluded(verdict, cat, readback, details, hidden.text)

    def _poll(self, s: Session, dev: str) -> tuple[AtaSanitizeStatus | None, str]:
        """Poll until the drive leaves SD2; a stall comes back still IN_PROCESS with why."""
        return poll_until_done(
            s,
            lambda: sanitize_status(s, dev),
            lambda st: Poll(
                st.state is AtaSanitizeState.IN_PROCESS,
                (st.progress_percent or 0) / 100,
                st.progress_raw,
            ),
            operation="sanitize",
            phase=f"sanitize {self.action}",
            stall_seconds=self.stall_seconds,
            retries=self.status_retries,
            stalled=lambda st: (
                f"the sanitize has made no progress for {int(self.stall_seconds)} s: "
                "power-cycle the drive, then resume the job (it re-polls, never restarts)"
            ),
        )
