"""Routing one drive: outcome + plan + health + drive + policy -> `RoutingDecision` (pure).

The decision, in order:

1. The outcome is classified (`classify`): proven clean (``purged-verified``,
   ``cleared-verified``) or not (``unverified``, ``failed``, ``refused``, ``destroy-planned``).
2. The policy's rules (``[routing]``, `sanitiser.policy.routes`) are tried in order; the first
   whose conditions all hold decides. Every rule passed over is recorded with the first
   condition that did not hold, and the matching rule with every condition that did.
3. No rule matched: a drive not proven clean goes to destruction (the built-in rule
   ``builtin:not-proven-clean``); a proven-clean one takes the table's default.

A policy without a ``[routing]`` table routes by `FALLBACK_TABLE`: nothing is passed on for
reuse, proven-clean drives are recycled, and the rest destroyed.

A destroy decision always names an ISO/IEC 21964 level suited to the medium (H for hard disks,
E for flash and anything that may hide flash); the loader refuses tables that could do otherwise.
Jobs call `route` at the ``routed`` step and put `RoutingDecision.destination` on the
certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sanitiser.certificate.record import Destination
from sanitiser.domain import (
    DestinationKind,
    Drive,
    Health,
    HealthGrade,
    MediaKind,
    NistCategory,
    Outcome,
    OutcomeStatus,
)
from sanitiser.policy.plan import Plan
from sanitiser.policy.routes import (
    DEFAULT_RULE_ID,
    FLOOR_RULE_ID,
    PROVEN_CLEAN,
    DestructionLevel,
    OutcomeClass,
    RoutingRule,
    RoutingTable,
    describe_rule,
)
from sanitiser.routing.age import DeviceAge
from sanitiser.units import human_size

if TYPE_CHECKING:
    from sanitiser.policy.loader import Policy

__all__ = [
    "CERTIFICATE_ROUTES",
    "FALLBACK_RULE_ID",
    "FALLBACK_TABLE",
    "FLOOR_RULE",
    "SCHEME_HINTS",
    "RoutingDecision",
    "classify",
    "route",
]

CERTIFICATE_ROUTES: dict[DestinationKind, str] = {
    DestinationKind.REUSE: "external-reuse",
    DestinationKind.RECYCLE: "recycling",
    DestinationKind.DESTROY: "destruction",
}
"""The certificate's route (`sanitiser.certificate.record.DESTINATION_ROUTES`) for each kind.
Reuse through a digital-inclusion scheme leaves the organisation: ``external-reuse``."""

SCHEME_HINTS: dict[DestinationKind, str] = {
    DestinationKind.REUSE: (
        "a digital-inclusion reuse scheme, e.g. Get Online London's London Device Bank (GLA, "
        "LOTI, Good Things Foundation), a local device bank or charity"
    ),
    DestinationKind.RECYCLE: (
        "a WEEE route: a registered waste carrier or an AATF, with a waste transfer note kept "
        "at least 2 years"
    ),
    DestinationKind.DESTROY: (
        "a destruction provider shredding to the level named, with a certificate of "
        "destruction per serial"
    ),
}
"""What to look for when the rule names no scheme (docs/STANDARDS.md §5.1-§5.3)."""

_NOT_CLEAN = tuple(c for c in OutcomeClass if c not in PROVEN_CLEAN)

FLOOR_RULE = RoutingRule(
    id=FLOOR_RULE_ID,
    destination=DestinationKind.DESTROY,
    reason=(
        "the drive was not proven clean and no rule of the policy matched it: a drive that "
        "cannot be proven clean goes to destruction"
    ),
    outcome=_NOT_CLEAN,
)
"""Applies when no rule matched a drive that was not proven clean."""

FALLBACK_RULE_ID = "builtin:no-routing-table"
"""The rule id of a proven-clean drive routed under a policy without a ``[routing]`` table."""

FALLBACK_TABLE = RoutingTable(
    rules=(),
    default=RoutingRule(
        id=DEFAULT_RULE_ID,
        destination=DestinationKind.RECYCLE,
        reason=(
            "proven clean, but the policy has no [routing] table, so nothing is passed on for "
            "reuse: recycled as WEEE"
        ),
        outcome=PROVEN_CLEAN,
    ),
    destruction={k: DestructionLevel("H" if k is MediaKind.HDD else "E", 4) for k in MediaKind},
)
"""How a policy without a ``[routing]`` table routes: recycle if proven clean, else destroy."""


# --- the outcome ------------------------------------------------------------------------------


def classify(outcome: Outcome, plan: Plan) -> tuple[OutcomeClass, str]:
    """What the attempt proved, and why, in words.

    A plan that sent the drive to destruction is ``destroy-planned`` whatever else the outcome
    says. A sanitised outcome is proven clean only when it is verified, its verification (if
    any) passed and read something, and no range was left unsanitised.
    """
    if plan.destroy or outcome.nist_category is NistCategory.DESTROY:
        why = plan.chosen.reason if plan.destroy else outcome.reason
        return OutcomeClass.DESTROY_PLANNED, (
            f"the plan sent the drive to destruction ({why or 'no reason given'})"
        )
    reason = outcome.reason or "no reason given"
    if outcome.status is OutcomeStatus.REFUSED:
        return OutcomeClass.REFUSED, f"refused, nothing destructive was sent ({reason})"
    if outcome.status is not OutcomeStatus.SANITISED:
        return OutcomeClass.FAILED, f"{outcome.status.value} ({reason})"
    gaps: list[str] = []
    ver = outcome.verification
    if not outcome.verified:
        gaps.append("not verified")
    if ver is not None and not ver.passed:
        gaps.append(f"{ver.mode} verification did not pass")
    if ver is not None and ver.mode == "none":
        gaps.append("nothing was read back")
    if outcome.failed_ranges:
        gaps.append(f"{len(outcome.failed_ranges)} range(s) could not be sanitised")
    done = f"{outcome.method} ({outcome.nist_category.value})"
    if gaps:
        return OutcomeClass.UNVERIFIED, f"sanitised by {done}, but {'; '.join(gaps)}"
    how = f"{ver.mode} verification passed" if ver is not None else "verified"
    if outcome.nist_category is NistCategory.PURGE:
        return OutcomeClass.PURGED_VERIFIED, f"purged by {done}; {how}"
    return OutcomeClass.CLEARED_VERIFIED, f"cleared by {done}; {how}"


# --- matching ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Facts:
    outcome: OutcomeClass
    health: HealthGrade
    media: MediaKind
    size_bytes: int
    age: DeviceAge | None


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> tuple[bool, str]:
    listed = "/".join(allowed)
    if value in allowed:
        return True, f"{name} {value} is one of {listed}"
    return False, f"{name} {value} is not one of {listed}"


def _conditions(rule: RoutingRule, f: _Facts) -> list[tuple[bool, str]]:
    """Each condition the rule states, in a fixed order: held?, and why, in words."""
    out: list[tuple[bool, str]] = []
    if rule.outcome:
        out.append(_one_of("outcome", f.outcome.value, tuple(o.value for o in rule.outcome)))
    if rule.health:
        out.append(_one_of("health", f.health.value, tuple(g.value for g in rule.health)))
    if rule.media:
        out.append(_one_of("media", f.media.value, tuple(m.value for m in rule.media)))
    size = human_size(f.size_bytes)
    if rule.min_capacity is not None:
        low = human_size(rule.min_capacity)
        ok = f.size_bytes >= rule.min_capacity
        out.append((ok, f"capacity {size} is {'at least' if ok else 'less than'} {low}"))
    if rule.max_capacity is not None:
        high = human_size(rule.max_capacity)
        ok = f.size_bytes <= rule.max_capacity
        out.append((ok, f"capacity {size} is {'at most' if ok else 'more than'} {high}"))
    for bound, years in (("at least", rule.min_age_years), ("at most", rule.max_age_years)):
        if years is None:
            continue
        if f.age is None:
            out.append((False, f"age unknown (the rule needs {bound} {years:g} years)"))
            continue
        if bound == "at most" and f.age.at_least:
            # A lower bound can never show a drive is young enough.
            out.append((False, f"{f.age.describe()} cannot show at most {years:g} years"))
            continue
        ok = f.age.years >= years if bound == "at least" else f.age.years <= years
        verdict = bound if ok else ("less than" if bound == "at least" else "more than")
        out.append((ok, f"{f.age.describe()} is {verdict} {years:g}"))
    return out


def _match(rule: RoutingRule, facts: _Facts) -> tuple[tuple[str, ...], str | None]:
    """The conditions that held, and the first that did not (None: the rule matches)."""
    held: list[str] = []
    for ok, text in _conditions(rule, facts):
        if not ok:
            return tuple(held), text
        held.append(text)
    return tuple(held), None


# --- the decision -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Where a drive goes, by which rule, and why. Recorded with the job and the certificate."""

    destination_kind: DestinationKind
    reason: str
    """The matching rule's reason, in words."""
    destruction_level: str
    """``ISO/IEC 21964 H-4`` / ``... E-4`` for a destroy decision, else ""."""
    scheme: str
    """The scheme, recycler or provider the rule names ("" when it names none)."""
    rule_id: str
    """The id of the rule that decided (``default``, ``builtin:...`` for the built-in ones)."""
    outcome_class: OutcomeClass
    outcome_note: str
    """What the outcome proved, in words (from `classify`)."""
    matched: tuple[str, ...]
    """Each condition of the deciding rule that held, in words."""
    passed_over: tuple[str, ...]
    """Each earlier rule that did not match: ``<id>: <the first condition that failed>``."""
    media_kind: MediaKind
    policy_name: str
    policy_version: str
    age: DeviceAge | None = None
    """The drive's age as routing knew it (None: unknown)."""

    @property
    def scheme_hint(self) -> str:
        """The rule's scheme, or what kind of recipient to look for."""
        return self.scheme or SCHEME_HINTS[self.destination_kind]

    @property
    def certificate_route(self) -> str:
        """The certificate's route: ``external-reuse``, ``recycling`` or ``destruction``."""
        return CERTIFICATE_ROUTES[self.destination_kind]

    def summary(self) -> str:
        """One line for logs and the job record."""
        level = f" to {self.destruction_level}" if self.destruction_level else ""
        return (
            f"{self.destination_kind.value}{level} by rule {self.rule_id} of policy "
            f"{self.policy_name} v{self.policy_version}: {self.reason}"
        )

    def explain(self) -> str:
        """Several lines: the outcome, the rules passed over, the rule that decided and why."""
        lines = [self.summary(), f"outcome: {self.outcome_class.value}: {self.outcome_note}"]
        lines += [f"passed over {p}" for p in self.passed_over]
        held = "; ".join(self.matched) or "no conditions"
        lines.append(f"rule {self.rule_id} matched: {held}")
        lines.append(self.age.describe() if self.age else "age unknown")
        lines.append(f"look for: {self.scheme_hint}")
        return "\n".join(lines)

    def destination(self) -> Destination:
        """The certificate's destination block for this decision."""
        details = (
            f"{self.reason} (rule {self.rule_id}, policy {self.policy_name} v{self.policy_version})"
        )
        if self.destruction_level:
            details = f"destroy to {self.destruction_level}; {details}"
        by_age = [c for c in self.matched if c.startswith("age ")]
        if by_age:  # the record says how the age that decided was known
            details = f"{details}; {'; '.join(by_age)}"
        return Destination(route=self.certificate_route, scheme=self.scheme, details=details)


def route(
    outcome: Outcome,
    plan: Plan,
    health: Health,
    drive: Drive,
    policy: Policy,
    *,
    age: DeviceAge | None = None,
) -> RoutingDecision:
    """Decide where `drive` goes after `outcome`, under `policy` (pure: same inputs, same answer).

    Args:
        outcome: what was done and verified (its status, category and verification).
        plan: the plan it ran under (a plan that chose ``destroy`` makes ``destroy-planned``).
        health: the drive's SMART grade.
        drive: the drive; its media kind and size are matched, and pick the destruction level.
        policy: the loaded policy; its ``[routing]`` table, or `FALLBACK_TABLE` without one.
        age: the drive's age when known (`sanitiser.routing.age.device_age`); an age
            condition holds only when it is given, and ``max_age_years`` only when it is
            not a mere lower bound.

    Returns:
        The decision: destination kind, the deciding rule's id and reason, every condition
        that held, every rule passed over and why, and for destruction the level.
    """
    table = policy.routing if policy.routing is not None else FALLBACK_TABLE
    cls, note = classify(outcome, plan)
    facts = _Facts(cls, health.grade, drive.media_kind, drive.size_bytes, age)
    passed_over: list[str] = []
    for rule in table.rules:
        held, miss = _match(rule, facts)
        if miss is None:
            return _decide(
                rule,
                rule_id=rule.id,
                held=held,
                table=table,
                facts=facts,
                note=note,
                passed_over=passed_over,
                policy=policy,
            )
        passed_over.append(f"{rule.id}: {miss}")
    rule = FLOOR_RULE if cls not in PROVEN_CLEAN else table.default
    held, miss = _match(rule, facts)
    if miss is not None:  # pragma: no cover - both rules match by construction
        raise AssertionError(f"{rule.id} ({describe_rule(rule)}) does not match: {miss}")
    rule_id = rule.id
    if policy.routing is None and rule is table.default:
        rule_id = FALLBACK_RULE_ID
    return _decide(
        rule,
        rule_id=rule_id,
        held=held,
        table=table,
        facts=facts,
        note=note,
        passed_over=passed_over,
        policy=policy,
    )


def _decide(
    rule: RoutingRule,
    *,
    rule_id: str,
    held: tuple[str, ...],
    table: RoutingTable,
    facts: _Facts,
    note: str,
    passed_over: list[str],
    policy: Policy,
) -> RoutingDecision:
    level = ""
    if rule.destination is DestinationKind.DESTROY:
        level = str(table.level(rule, facts.media))
    return RoutingDecision(
        destination_kind=rule.destination,
        reason=rule.reason,
        destruction_level=level,
        scheme=rule.scheme,
        rule_id=rule_id,
        outcome_class=facts.outcome,
        outcome_note=note,
        matched=held,
        passed_over=tuple(passed_over),
        media_kind=facts.media,
        policy_name=policy.name,
        policy_version=policy.version,
        age=facts.age,
    )
