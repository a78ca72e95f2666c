"""Choosing the method for one drive: policy + capabilities + health -> `Plan` (pure).

The rule, per media kind (`sanitiser.policy.loader.MediaRule`):

1. A drive whose health is FAIL goes to destruction when the policy says ``on_health_fail =
   "destroy"`` (an operator who asked for destruction as well is recorded as choosing it, with
   the health reason kept); a media kind whose rule requires ``destroy`` always does.
2. Otherwise the policy's techniques are tried in order; the first one the drive offers and can
   use now, of at least the required category, is chosen.
3. When none is usable: if the policy allows a downgrade, the first usable technique of a lower
   category (in policy order; host overwrite is always usable) is chosen and the downgrade is
   recorded with its reason; if not, the drive goes to destruction, and the reason names what
   blocked each Purge technique, so a technician can fix the blocker (unfreeze the drive, move
   it off the USB bridge) instead.

Virtual devices (loop, virtio) have no medium of their own: only host overwrite (Clear) applies,
and the plan says so. Operator overrides (``--method``, ``--category``) are honoured only when the
technique is usable and the policy accepts it, and are recorded as the operator's choice; anything
else raises `OverrideRefusedError`. Every technique the drive advertises that was not chosen is
listed in `Plan.alternatives` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sanitiser.domain import Drive, Health, HealthGrade, MediaKind, NistCategory
from sanitiser.errors import OverrideRefusedError
from sanitiser.policy.loader import DEFAULT_POLICY, MediaRule, Policy, TechniqueRule
from sanitiser.policy.plan import Plan, PlannedMethod
from sanitiser.probe.capabilities import Capabilities, Technique, TechniqueOption

__all__ = [
    "DEFAULT_POLICY",
    "DESTROY",
    "OVERWRITE_BYTES_PER_SECOND",
    "estimate_seconds",
    "rank",
    "select_method",
]

DESTROY = "destroy"
"""The technique name of a plan that sends the drive to physical destruction."""

_RANK = {NistCategory.CLEAR: 0, NistCategory.PURGE: 1, NistCategory.DESTROY: 2}

OVERWRITE_BYTES_PER_SECOND: dict[MediaKind, int] = {
    MediaKind.HDD: 150_000_000,
    MediaKind.SSD: 400_000_000,
    MediaKind.NVME: 1_500_000_000,
    MediaKind.USB_FLASH: 20_000_000,
    MediaKind.USB_DRIVE: 100_000_000,
    MediaKind.MMC: 20_000_000,
    MediaKind.VIRTUAL: 1_000_000_000,
    MediaKind.UNKNOWN: 100_000_000,
}
"""Assumed sustained write rate per media kind, for overwrite estimates only (not a promise)."""

_DRIVE_OVERWRITES = frozenset(
    {
        Technique.ATA_SANITIZE_OVERWRITE,
        Technique.NVME_SANITIZE_OVERWRITE,
        Technique.SCSI_SANITIZE_OVERWRITE,
    }
)
_CRYPTO = frozenset(
    {
        Technique.ATA_SANITIZE_CRYPTO,
        Technique.NVME_SANITIZE_CRYPTO,
        Technique.NVME_FORMAT_CRYPTO,
        Technique.SCSI_SANITIZE_CRYPTO,
    }
)
_NVME_LOG_KEYS = {
    Technique.NVME_SANITIZE_CRYPTO: "time_crypto_erase",
    Technique.NVME_SANITIZE_BLOCK: "time_block_erase",
    Technique.NVME_SANITIZE_OVERWRITE: "time_over_write",
}

Estimator = Callable[[Technique], int | None]
"""The chosen method's own estimate (e.g. `Method.estimate_seconds` bound to drive and caps)."""


def rank(category: NistCategory) -> int:
    """Strength order: clear < purge < destroy."""
    return _RANK[category]


def estimate_seconds(
    technique: Technique, drive: Drive, caps: Capabilities, *, passes: int = 1
) -> int | None:
    """How long `technique` may take on `drive`: the drive's own estimate where it gives one.

    ATA security erase: IDENTIFY words 89/90. NVMe sanitize: the sanitize log's ``time_*``.
    Overwrites (host, or the drive's own): size x passes at the media kind's assumed rate.
    Otherwise None (unknown; crypto and block erase are usually seconds to minutes).
    """
    ata = caps.ata
    if ata is not None:
        if technique is Technique.ATA_SECURITY_ERASE_ENHANCED and ata.erase_minutes_enhanced:
            return ata.erase_minutes_enhanced * 60
        if technique is Technique.ATA_SECURITY_ERASE and ata.erase_minutes_normal:
            return ata.erase_minutes_normal * 60
    key = _NVME_LOG_KEYS.get(technique)
    if key is not None and caps.sanitize_log is not None:
        value = dict(caps.sanitize_log.estimates).get(key)
        if value is not None:
            return value
    if technique is Technique.HOST_OVERWRITE or technique in _DRIVE_OVERWRITES:
        kind = MediaKind.VIRTUAL if caps.virtual else drive.media_kind
        total = drive.size_bytes * max(passes, 1)
        return math.ceil(total / OVERWRITE_BYTES_PER_SECOND[kind]) if total > 0 else None
    return None


def _destroy(reason: str) -> PlannedMethod:
    return PlannedMethod(DESTROY, NistCategory.DESTROY, usable=True, reason=reason)


def _destroy_flag(override: Technique | str | None, category: NistCategory | None) -> str:
    """The operator's flag that asks for destruction ("" when none does)."""
    if override == DESTROY:
        return "--method destroy"
    if category is NistCategory.DESTROY:
        return "--category destroy"
    return ""


def _parse_override(value: Technique | str) -> Technique | str:
    if isinstance(value, Technique) or value == DESTROY:
        return value
    try:
        return Technique(value)
    except ValueError:
        names = ", ".join([t.value for t in Technique] + [DESTROY])
        raise OverrideRefusedError(
            f"--method {value}: no such technique (one of: {names})", "Method refused"
        ) from None


def _blocked_summary(
    options: dict[Technique, TechniqueOption], rule: MediaRule, threshold: NistCategory
) -> str:
    wanted = [r for r in rule.techniques if rank(r.category) >= rank(threshold)]
    blocked = [
        f"{r.technique.value}: {options[r.technique].reason}"
        for r in wanted
        if r.technique in options and not options[r.technique].usable
    ]
    if blocked:
        return "blocked: " + "; ".join(blocked)
    return f"the drive offers none of the {threshold.value} techniques the policy accepts"


class _Planner:
    """One selection: the inputs, and helpers that build the plan (private)."""

    def __init__(
        self,
        drive: Drive,
        caps: Capabilities,
        health: Health,
        policy: Policy,
        estimator: Estimator | None,
    ) -> None:
        self.drive, self.caps, self.health, self.policy = drive, caps, health, policy
        self.kind = MediaKind.VIRTUAL if caps.virtual else drive.media_kind
        self.rule = policy.rule(self.kind)
        self.options = {o.technique: o for o in caps.options}
        self.estimator = estimator
        self.notes: list[str] = []
        self.operator_chose = False

    # -- alternatives ---------------------------------------------------------------------
    def alternatives(
        self, chosen: PlannedMethod, threshold: NistCategory
    ) -> tuple[PlannedMethod, ...]:
        out: list[PlannedMethod] = []
        listed = [r for r in self.rule.techniques if r.technique in self.options]
        for r in listed:
            if r.technique.value == chosen.technique:
                continue
            option = self.options[r.technique]
            out.append(
                PlannedMethod(
                    r.technique.value,
                    r.category,
                    option.usable,
                    self._why_not(r, option, chosen, threshold),
                )
            )
        accepted = {r.technique for r in self.rule.techniques}
        for option in self.options.values():
            if option.technique in accepted or option.technique.value == chosen.technique:
                continue
            why = f"not accepted by policy {self.policy.name} for {self.kind.value} drives"
            if not option.usable:
                why += f"; blocked: {option.reason}"
            # The policy vouches for nothing it does not list: recorded at the floor, Clear.
            out.append(
                PlannedMethod(option.technique.value, NistCategory.CLEAR, option.usable, why)
            )
        return tuple(out)

    def _why_not(
        self,
        r: TechniqueRule,
        option: TechniqueOption,
        chosen: PlannedMethod,
        threshold: NistCategory,
    ) -> str:
        if not option.usable:
            return f"blocked: {option.reason}"
        if chosen.technique == DESTROY:
            if rank(r.category) < rank(threshold):
                return (
                    f"{r.category.value} only; {threshold.value} is required and the policy "
                    "forbids a downgrade"
                )
            return "usable, but the drive goes to destruction"
        if rank(r.category) < rank(threshold) <= rank(chosen.nist_category):
            return f"{r.category.value} only; {chosen.technique} gives {chosen.nist_category.value}"
        if self.operator_chose:
            return f"usable, but the operator chose {chosen.technique}"
        return f"usable, but the policy prefers {chosen.technique}"

    # -- plan -----------------------------------------------------------------------------
    def plan(
        self,
        chosen: PlannedMethod,
        threshold: NistCategory,
        required: NistCategory,
        downgrade: str = "",
    ) -> Plan:
        technique = None if chosen.technique == DESTROY else Technique(chosen.technique)
        scheme = ""
        passes: tuple[str, ...] = ()
        verification = "none"
        seconds: int | None = None
        if technique is not None:
            if technique is Technique.HOST_OVERWRITE:
                scheme = self.rule.overwrite_scheme
                passes = self.policy.scheme(scheme).passes
                verification = self.rule.verify_overwrite
            else:
                verification = self.rule.verify_firmware
            if self.estimator is not None:
                seconds = self.estimator(technique)
            if seconds is None:
                seconds = estimate_seconds(technique, self.drive, self.caps, passes=len(passes))
            self._technique_notes(technique)
        if self.rule.note:
            self.notes.append(f"policy note ({self.kind.value}): {self.rule.note}")
        self.notes.extend(f"probe: {n}" for n in self.caps.notes)
        return Plan(
            policy_name=self.policy.name,
            policy_version=self.policy.version,
            media_kind=self.kind.value,
            chosen=chosen,
            alternatives=self.alternatives(chosen, threshold),
            required_category=required,
            downgrade=downgrade,
            verification=verification,
            overwrite_scheme=scheme,
            estimated_seconds=seconds,
            standard=self.policy.standard,
            overwrite_passes=passes,
            notes=tuple(self.notes),
        )

    def _technique_notes(self, technique: Technique) -> None:
        hidden = self.caps.hidden_sectors
        if hidden:
            self.notes.append(
                f"HPA/DCO hide {hidden} sectors beyond the visible end: restore them before "
                "erasing, or the record must say they were not covered"
            )
        if technique in _CRYPTO:
            self.notes.append(
                "crypto erase trusts the drive's own encryption (NIST SP 800-88 r1 §2.6, r2 "
                "§3.2): record the firmware revision; verified by canaries, not by a pattern"
            )


def select_method(
    drive: Drive,
    caps: Capabilities,
    health: Health,
    policy: Policy,
    *,
    category_override: NistCategory | None = None,
    technique_override: Technique | str | None = None,
    estimator: Estimator | None = None,
) -> Plan:
    """Choose how to sanitise `drive` under `policy` (pure: no I/O, same inputs, same plan).

    Args:
        drive: the drive; its media kind picks the policy's rule.
        caps: what the probe found; only usable techniques are ever chosen.
        health: the SMART grade; FAIL may send the drive to destruction.
        policy: a loaded policy (`sanitiser.policy.loader.load_policy`).
        category_override: the operator asks for at least this category (``--category``).
            Lower than the policy requires only when the policy lets operators downgrade;
            ``destroy`` sends the drive to destruction.
        technique_override: the operator's ``--method`` (a `Technique` value or ``destroy``).
        estimator: the chosen method's own time estimate; when it returns None (or is not
            given) `estimate_seconds` is used.

    Returns:
        The plan: chosen method (technique ``destroy`` when nothing acceptable can run), every
        other advertised technique with why it was not chosen, the required category, and the
        downgrade reason when the chosen category is weaker than required.

    Raises:
        OverrideRefusedError: an override the policy does not allow, or a technique the drive
            does not offer or cannot use now (the message says why).
    """
    p = _Planner(drive, caps, health, policy, estimator)
    rule = p.rule
    required = rule.required
    threshold = required
    override = _parse_override(technique_override) if technique_override is not None else None

    if category_override is not None:
        lower = rank(category_override) < rank(rule.required)
        if p.kind is MediaKind.VIRTUAL and category_override is NistCategory.PURGE:
            raise OverrideRefusedError(
                f"--category purge: {drive.name} is a virtual device with no medium of its own; "
                "it can only be cleared by host overwrite",
                "Category refused",
            )
        if lower and not rule.operator_may_downgrade:
            raise OverrideRefusedError(
                f"--category {category_override.value}: policy {policy.name} requires "
                f"{rule.required.value} for {p.kind.value} drives and does not let operators "
                "ask for less",
                "Category refused",
            )
        threshold = category_override
        if rank(category_override) > rank(required):
            required = category_override
        p.notes.append(
            f"operator asked for at least {category_override.value} (policy {policy.name} "
            f"requires {rule.required.value} for {p.kind.value} drives)"
        )

    if health.grade is HealthGrade.FAIL and rule.on_health_fail == "destroy":
        if override is not None and override != DESTROY:
            raise OverrideRefusedError(
                f"--method {override}: {drive.name} failed its health check and policy "
                f"{policy.name} sends failing drives to destruction",
                "Method refused",
            )
        why = "; ".join(health.reasons) or "no reason given"
        reason = f"health FAIL ({why}): policy {policy.name} sends failing drives to destruction"
        who = _destroy_flag(override, category_override)
        if who:
            # The operator asked for destruction too: record it as their choice, and keep the
            # health reason, which would have decided the same on its own.
            p.notes.append(f"operator's choice ({who})")
            reason = f"operator's choice ({who}); {reason}"
        return p.plan(_destroy(reason), threshold, required)

    if health.grade is HealthGrade.FAIL:
        p.notes.append(
            f"health FAIL: policy {policy.name} still sanitises failing drives; routing decides "
            "where the drive goes afterwards"
        )

    who = _destroy_flag(override, category_override)
    if who:
        p.notes.append(f"operator's choice ({who})")
        return p.plan(_destroy(f"operator's choice ({who})"), threshold, required)

    if isinstance(override, Technique):
        return _operator_technique(p, override, threshold, required)

    if required is NistCategory.DESTROY:
        reason = f"policy {policy.name} requires destruction for {p.kind.value} media"
        return p.plan(_destroy(reason), threshold, required)

    usable = [
        r for r in rule.techniques if r.technique in p.options and p.options[r.technique].usable
    ]
    virtual = (
        f"virtual device ({drive.transport.value}): no medium or firmware of its own, so host "
        "overwrite is the only technique and it is Clear; the storage behind it is not "
        "sanitised. "
        if p.kind is MediaKind.VIRTUAL
        else ""
    )
    for r in usable:
        if rank(r.category) >= rank(threshold):
            note = f" ({r.note})" if r.note else ""
            chosen = PlannedMethod(
                r.technique.value,
                r.category,
                usable=True,
                reason=f"{virtual}first usable {threshold.value} technique in policy "
                f"{policy.name} for {p.kind.value} drives{note}",
            )
            downgrade = ""
            if rank(r.category) < rank(required):
                downgrade = (
                    f"operator asked for {threshold.value}; policy {policy.name} requires "
                    f"{required.value}"
                )
            return p.plan(chosen, threshold, required, downgrade)

    blockers = _blocked_summary(p.options, rule, threshold)
    if rule.allow_downgrade:
        for r in usable:
            note = f" ({r.note})" if r.note else ""
            downgrade = (
                f"no usable {threshold.value} technique ({blockers}); downgraded to "
                f"{r.technique.value} ({r.category.value}) as policy {policy.name} allows"
            )
            chosen = PlannedMethod(
                r.technique.value,
                r.category,
                usable=True,
                reason=f"{virtual}best usable technique below {threshold.value} in policy "
                f"{policy.name} for {p.kind.value} drives{note}",
            )
            return p.plan(chosen, threshold, required, downgrade)
    fix = ", or fix the blocker and probe again" if blockers.startswith("blocked") else ""
    chosen = _destroy(
        f"no usable {threshold.value} technique ({blockers}) and policy {policy.name} "
        f"forbids a downgrade: send to destruction{fix}"
    )
    return p.plan(chosen, threshold, required)


def _operator_technique(
    p: _Planner, technique: Technique, threshold: NistCategory, required: NistCategory
) -> Plan:
    """The operator's ``--method``: accepted only when the policy lists it and it is usable."""
    flag = f"--method {technique.value}"
    entry = p.rule.rule_for(technique)
    if entry is None:
        accepted = ", ".join(r.technique.value for r in p.rule.techniques) or "none"
        raise OverrideRefusedError(
            f"{flag}: policy {p.policy.name} does not accept it for {p.kind.value} drives "
            f"(it accepts: {accepted})",
            "Method refused",
        )
    option = p.options.get(technique)
    if option is None:
        raise OverrideRefusedError(f"{flag}: {p.drive.name} does not offer it", "Method refused")
    if not option.usable:
        raise OverrideRefusedError(
            f"{flag}: cannot be used on {p.drive.name} now: {option.reason}", "Method refused"
        )
    downgrade = ""
    if rank(entry.category) < rank(required):
        if not p.rule.operator_may_downgrade:
            raise OverrideRefusedError(
                f"{flag}: it is {entry.category.value} only; policy {p.policy.name} requires "
                f"{required.value} for {p.kind.value} drives and does not let operators ask "
                "for less",
                "Method refused",
            )
        downgrade = (
            f"operator chose {technique.value} ({entry.category.value}) where policy "
            f"{p.policy.name} requires {required.value}"
        )
    p.notes.append(f"operator's choice ({flag})")
    p.operator_chose = True
    chosen = PlannedMethod(
        technique.value, entry.category, usable=True, reason=f"operator's choice ({flag})"
    )
    return p.plan(chosen, threshold, required, downgrade)
