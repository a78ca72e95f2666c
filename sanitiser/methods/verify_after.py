"""Checks shared by every firmware method: canaries before, read-back and the General rule after.

docs/DEVICE-COMMANDS.md §9 "General rule": a job is verified only when all of these hold:

1. the command's own *final* status says success (hdparm SD0 + "Completed Without Error",
   NVMe sanitize-log status 1/4 with sprog 65535, ``sg_requests --status`` 0, ...);
2. the device is unlocked, unfrozen and ready;
3. capacity and block size are unchanged, and HPA native equals visible;
4. sampled read-back shows none of the canaries written before the method.

`plant_canaries` writes the canaries through the claim (blockio `write_canaries`) and keeps the
set in the job journal, so a job resumed after a restart can still check them. `read_back`
checks them (and, where the medium has a known content afterwards, samples that pattern).
`judge` is the pure rule: it turns the facts into a status, a verified flag and a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from sanitiser.blockio import (
    CanarySet,
    DeviceTarget,
    Pattern,
    VerifyResult,
    check_canaries,
    plan_samples,
    verify_sampled,
    write_canaries,
)
from sanitiser.blockio.verify import verify_full
from sanitiser.domain import OutcomeStatus, Verification
from sanitiser.methods.base import MethodContext

JOURNAL_CANARIES = "canaries"
"""Journal key of the canary set (JSON, includes its seed: the journal is private)."""


def plant_canaries(ctx: MethodContext) -> CanarySet:
    """Write canaries at the first, last and sampled blocks and keep the set in the journal."""
    target = DeviceTarget.from_claim(ctx.claim)
    canaries = write_canaries(target)
    ctx.journal[JOURNAL_CANARIES] = canaries.to_json()
    ctx.on_log(f"planted {len(canaries.offsets)} canaries before the erase")
    return canaries


def journal_canaries(ctx: MethodContext) -> CanarySet | None:
    """The canaries an earlier run of this job planted (after a restart), or None."""
    text = ctx.journal.get(JOURNAL_CANARIES)
    if not isinstance(text, str):
        return None
    try:
        return CanarySet.from_json(text)
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What was read back after a method."""

    canaries: VerifyResult | None
    """None when no canary set exists (e.g. resumed without a journal)."""
    pattern: VerifyResult | None = None
    """Sampled (or full) read-back of the content the method should have left, when known."""

    @property
    def verification(self) -> Verification | None:
        """The Verification for the Outcome: the canary check (the proof old data is gone)."""
        if self.canaries is not None:
            return self.canaries.verification
        return self.pattern.verification if self.pattern is not None else None

    @property
    def passed(self) -> bool:
        """Every read-back that ran passed, and at least one ran."""
        ran = [r for r in (self.canaries, self.pattern) if r is not None]
        return bool(ran) and all(r.verification.passed for r in ran)

    @property
    def reason(self) -> str:
        """Why read-back did not pass ("" when it did)."""
        reasons = [r.reason for r in (self.canaries, self.pattern) if r is not None and r.reason]
        return "; ".join(reasons)

    @property
    def details(self) -> dict[str, str]:
        """Facts for the Outcome."""
        facts: dict[str, str] = {}
        if self.canaries is not None:
            facts.update(self.canaries.details)
            v = self.canaries.verification
            facts["canaries_written"] = str(v.canaries_written)
            facts["canaries_surviving"] = str(v.canaries_surviving)
        if self.pattern is not None:
            facts.update(self.pattern.details)
            v = self.pattern.verification
            facts["pattern_verify"] = f"{v.mode} {'passed' if v.passed else 'FAILED'}"
            facts["pattern_expected"] = v.expected
            facts["pattern_bytes_checked"] = str(v.bytes_checked)
        return facts


def read_back(
    ctx: MethodContext, canaries: CanarySet | None, expected: Pattern | None = None
) -> ReadBack:
    """Check the canaries, and read back `expected` as the job's verification mode asks.

    Args:
        ctx: the method context (its claim's fd is read through O_DIRECT, cache dropped).
        canaries: the set planted before the method, or None.
        expected: what the medium must read as now (an overwrite's pattern), when known.
    """
    target = DeviceTarget.from_claim(ctx.claim)
    checked = check_canaries(target, canaries, cancel=ctx.cancelled) if canaries else None
    pattern: VerifyResult | None = None
    mode = ctx.verification
    if expected is not None and mode in ("full", "sampled", "canary"):
        if mode == "full":
            pattern = verify_full(target, expected, on_progress=ctx.on_progress)
        else:
            plan = plan_samples(target.size_bytes, align=max(4096, target.sector_size))
            pattern = verify_sampled(target, expected, plan, on_progress=ctx.on_progress)
    return ReadBack(checked, pattern)


@dataclass(frozen=True, slots=True)
class Check:
    """One clause of the General rule: ok True/False, or None when it does not apply."""

    name: str
    ok: bool | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the facts add up to."""

    status: OutcomeStatus
    verified: bool
    reason: str


def judge(final_status: Check, checks: tuple[Check, ...], readback: ReadBack | None) -> Verdict:
    """Apply the General rule (pure).

    FAILED when the final status is not success, when any applicable check fails, or when the
    read-back found old data (or could not read): an exit code of 0 never outweighs these.
    SANITISED and verified only when every applicable clause holds and a read-back ran and
    passed. SANITISED but not verified when the drive's own status is the only evidence.
    """
    if not final_status.ok:
        return Verdict(OutcomeStatus.FAILED, False, final_status.detail or final_status.name)
    failures = [c.detail or c.name for c in checks if c.ok is False]
    if readback is not None and (readback.canaries or readback.pattern) and not readback.passed:
        failures.append(readback.reason or "read-back did not pass")
    if failures:
        return Verdict(OutcomeStatus.FAILED, False, "; ".join(failures))
    if readback is None or not (readback.canaries or readback.pattern):
        return Verdict(
            OutcomeStatus.SANITISED,
            False,
            "the drive reports success, but nothing could be read back to prove it "
            "(no canaries were planted before this run)",
        )
    return Verdict(OutcomeStatus.SANITISED, True, "")
