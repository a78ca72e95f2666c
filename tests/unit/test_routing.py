"""Routing: reuse / recycle / destroy tables under the shipped policies, properties over many
outcomes, and clear errors for bad ``[routing]`` tables."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sanitiser.domain import (
    ByteRange,
    DestinationKind,
    Drive,
    Health,
    HealthGrade,
    MediaKind,
    NistCategory,
    Outcome,
    OutcomeStatus,
    Transport,
    Verification,
)
from sanitiser.errors import ConfigError
from sanitiser.policy.loader import BUILTIN_PACKAGE, Policy, load_policy, parse_policy
from sanitiser.policy.plan import Plan, PlannedMethod
from sanitiser.policy.routes import (
    PROVEN_CLEAN,
    DestructionLevel,
    OutcomeClass,
    RoutingRule,
    RoutingTable,
    RuleError,
    parse_capacity,
)
from sanitiser.routing.age import DeviceAge
from sanitiser.routing.rules import FALLBACK_RULE_ID, FLOOR_RULE, RoutingDecision, classify, route

GB = 10**9
T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
NIST = load_policy("nist-800-88")
STRICT = load_policy("strict")
BARE = dataclasses.replace(NIST, routing=None)
"""The default policy as a site file without a [routing] table would load."""

REUSE, RECYCLE, DESTROY = DestinationKind.REUSE, DestinationKind.RECYCLE, DestinationKind.DESTROY
PV, CV = OutcomeClass.PURGED_VERIFIED, OutcomeClass.CLEARED_VERIFIED
UV, FA, RF, DP = (
    OutcomeClass.UNVERIFIED,
    OutcomeClass.FAILED,
    OutcomeClass.REFUSED,
    OutcomeClass.DESTROY_PLANNED,
)


# --- building inputs --------------------------------------------------------------------------

_TRANSPORT: dict[MediaKind, tuple[Transport, bool, bool]] = {
    MediaKind.HDD: (Transport.SATA, True, False),
    MediaKind.SSD: (Transport.SATA, False, False),
    MediaKind.NVME: (Transport.NVME, False, False),
    MediaKind.USB_FLASH: (Transport.USB, False, True),
    MediaKind.USB_DRIVE: (Transport.USB, False, False),
    MediaKind.MMC: (Transport.MMC, False, False),
    MediaKind.VIRTUAL: (Transport.LOOP, False, False),
    MediaKind.UNKNOWN: (Transport.UNKNOWN, False, False),
}


def drive(kind: MediaKind, size: int = 500 * GB) -> Drive:
    """A drive whose transport and flags make it `kind`."""
    transport, rotational, removable = _TRANSPORT[kind]
    d = Drive(
        path="/dev/sdx",
        name="sdx",
        model="Model",
        serial="S123",
        size_bytes=size,
        transport=transport,
        rotational=rotational,
        removable=removable,
    )
    assert d.media_kind is kind
    return d


def plan(*, destroy: bool = False) -> Plan:
    """A plan that ran a method, or one that sent the drive to destruction."""
    if destroy:
        chosen = PlannedMethod("destroy", NistCategory.DESTROY, True, "health FAIL")
    else:
        chosen = PlannedMethod("nvme-sanitize-crypto", NistCategory.PURGE, True, "first usable")
    return Plan("nist-800-88", "1", "nvme", chosen)


def outcome(
    status: OutcomeStatus = OutcomeStatus.SANITISED,
    category: NistCategory = NistCategory.PURGE,
    *,
    verified: bool = True,
    verification: Verification | None = None,
    failed_ranges: tuple[ByteRange, ...] = (),
) -> Outcome:
    """An outcome with the given facts."""
    return Outcome(
        status=status,
        method="nvme-sanitize-crypto" if category is NistCategory.PURGE else "host-overwrite",
        nist_category=category,
        verified=verified,
        reason="" if status is OutcomeStatus.SANITISED else "it went wrong",
        started_at=T0,
        finished_at=T1,
        verification=verification,
        failed_ranges=failed_ranges,
    )


PASSED = Verification(mode="canary", passed=True, canaries_written=8, canaries_surviving=0)


def case(cls: OutcomeClass) -> tuple[Outcome, Plan]:
    """A typical outcome and plan of class `cls`."""
    if cls is PV:
        return outcome(verification=PASSED), plan()
    if cls is CV:
        sampled = Verification(mode="sampled", passed=True, samples=1000, coverage_ppm=50_000)
        return outcome(category=NistCategory.CLEAR, verification=sampled), plan()
    if cls is UV:
        return outcome(verified=False), plan()
    if cls is FA:
        return outcome(OutcomeStatus.FAILED, verified=False), plan()
    if cls is RF:
        return outcome(OutcomeStatus.REFUSED, verified=False), plan()
    return outcome(OutcomeStatus.REFUSED, NistCategory.DESTROY, verified=False), plan(destroy=True)


def decide(
    policy: Policy,
    cls: OutcomeClass,
    grade: HealthGrade = HealthGrade.A,
    kind: MediaKind = MediaKind.SSD,
    size: int = 500 * GB,
    *,
    age: float | DeviceAge | None = None,
) -> RoutingDecision:
    """Route a typical drive of the given class, grade, kind, size and age (years: exact)."""
    out, p = case(cls)
    known = DeviceAge(age, "given") if isinstance(age, int | float) else age
    return route(out, p, Health(grade=grade), drive(kind, size), policy, age=known)


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("made", "expected", "words"),
    [
        (case(PV), PV, "purged by nvme-sanitize-crypto (purge); canary verification passed"),
        (case(CV), CV, "cleared by host-overwrite (clear); sampled verification passed"),
        ((outcome(verification=None), plan()), PV, "nvme-sanitize-crypto (purge); verified"),
        (case(UV), UV, "but not verified"),
        ((outcome(verification=dataclasses.replace(PASSED, passed=False)), plan()), UV,
         "canary verification did not pass"),
        ((outcome(verification=Verification(mode="none", passed=True)), plan()), UV,
         "nothing was read back"),
        ((outcome(verification=PASSED, failed_ranges=(ByteRange(0, 512),)), plan()), UV,
         "1 range(s) could not be sanitised"),
        (case(FA), FA, "failed (it went wrong)"),
        ((outcome(OutcomeStatus.ABORTED, verified=False), plan()), FA, "aborted (it went wrong)"),
        (case(RF), RF, "refused, nothing destructive was sent (it went wrong)"),
        (case(DP), DP, "the plan sent the drive to destruction (health FAIL)"),
        ((outcome(verification=PASSED), plan(destroy=True)), DP, "sent the drive to destruction"),
    ],
)  # fmt: skip
def test_classify(made: tuple[Outcome, Plan], expected: OutcomeClass, words: str) -> None:
    """Each outcome is classed by what it proved, and the note says why in words."""
    cls, note = classify(*made)
    assert cls is expected
    assert words in note


# --- tables under the shipped policies --------------------------------------------------------

A, B, C, F, U = (HealthGrade.A, HealthGrade.B, HealthGrade.C, HealthGrade.FAIL,
                 HealthGrade.UNKNOWN)  # fmt: skip
M = MediaKind

NIST_TABLE = [
    # outcome, health, media, size, age -> destination, rule, level
    (PV, A, M.SSD, 500 * GB, None, REUSE, "reuse", ""),
    (PV, B, M.NVME, 120 * GB, None, REUSE, "reuse", ""),
    (PV, A, M.HDD, 2000 * GB, 7.9, REUSE, "reuse", ""),
    (PV, A, M.USB_DRIVE, 1000 * GB, None, REUSE, "reuse", ""),
    (PV, A, M.SSD, 119 * GB, None, RECYCLE, "default", ""),
    (PV, C, M.SSD, 500 * GB, None, RECYCLE, "default", ""),
    (PV, U, M.NVME, 500 * GB, None, RECYCLE, "default", ""),
    (PV, A, M.SSD, 500 * GB, 8, RECYCLE, "too-old", ""),
    (PV, A, M.MMC, 500 * GB, None, RECYCLE, "default", ""),
    (PV, A, M.USB_FLASH, 500 * GB, None, RECYCLE, "default", ""),
    (PV, F, M.HDD, 500 * GB, None, RECYCLE, "failing-health", ""),
    (CV, A, M.SSD, 500 * GB, None, RECYCLE, "cleared-only", ""),
    (CV, F, M.SSD, 500 * GB, None, RECYCLE, "failing-health", ""),
    (CV, U, M.VIRTUAL, 1 * GB, None, RECYCLE, "cleared-only", ""),
    (CV, U, M.USB_FLASH, 32 * GB, None, RECYCLE, "cleared-only", ""),
    (UV, A, M.HDD, 500 * GB, None, DESTROY, "not-proven-clean", "ISO/IEC 21964 H-4"),
    (UV, A, M.SSD, 500 * GB, None, DESTROY, "not-proven-clean", "ISO/IEC 21964 E-4"),
    (FA, A, M.NVME, 500 * GB, 1, DESTROY, "not-proven-clean", "ISO/IEC 21964 E-4"),
    (FA, F, M.HDD, 500 * GB, None, DESTROY, "not-proven-clean", "ISO/IEC 21964 H-4"),
    (RF, A, M.USB_DRIVE, 500 * GB, None, DESTROY, "not-proven-clean", "ISO/IEC 21964 E-4"),
    (RF, U, M.UNKNOWN, 500 * GB, None, DESTROY, "not-proven-clean", "ISO/IEC 21964 E-4"),
    (DP, F, M.MMC, 8 * GB, None, DESTROY, "not-proven-clean", "ISO/IEC 21964 E-4"),
    (DP, A, M.USB_FLASH, 8 * GB, None, DESTROY, "not-proven-clean", "ISO/IEC 21964 E-4"),
    (FA, U, M.VIRTUAL, 1 * GB, None, DESTROY, "not-proven-clean", "ISO/IEC 21964 E-4"),
]

STRICT_TABLE = [
    (PV, A, M.SSD, 500 * GB, None, REUSE, "reuse", ""),
    (PV, B, M.HDD, 120 * GB, 5.9, REUSE, "reuse", ""),
    (PV, A, M.NVME, 500 * GB, 6, RECYCLE, "too-old", ""),
    (PV, C, M.NVME, 500 * GB, None, RECYCLE, "default", ""),
    (PV, U, M.SSD, 500 * GB, None, RECYCLE, "default", ""),
    (PV, A, M.SSD, 64 * GB, None, RECYCLE, "default", ""),
    (PV, F, M.HDD, 500 * GB, None, DESTROY, "failing-health", "ISO/IEC 21964 H-5"),
    (PV, F, M.NVME, 500 * GB, None, DESTROY, "failing-health", "ISO/IEC 21964 E-5"),
    (CV, A, M.SSD, 500 * GB, None, DESTROY, "not-purged", "ISO/IEC 21964 E-5"),
    (CV, U, M.VIRTUAL, 1 * GB, None, DESTROY, "not-purged", "ISO/IEC 21964 E-5"),
    (UV, A, M.HDD, 500 * GB, None, DESTROY, "not-purged", "ISO/IEC 21964 H-5"),
    (FA, B, M.NVME, 500 * GB, None, DESTROY, "not-purged", "ISO/IEC 21964 E-5"),
    (RF, A, M.USB_DRIVE, 500 * GB, None, DESTROY, "not-purged", "ISO/IEC 21964 E-5"),
    (DP, A, M.USB_FLASH, 16 * GB, None, DESTROY, "not-purged", "ISO/IEC 21964 E-5"),
    (DP, F, M.HDD, 500 * GB, None, DESTROY, "not-purged", "ISO/IEC 21964 H-5"),
]

BARE_TABLE = [
    (PV, A, M.SSD, 500 * GB, None, RECYCLE, FALLBACK_RULE_ID, ""),
    (CV, A, M.HDD, 500 * GB, None, RECYCLE, FALLBACK_RULE_ID, ""),
    (FA, A, M.HDD, 500 * GB, None, DESTROY, FLOOR_RULE.id, "ISO/IEC 21964 H-4"),
    (DP, U, M.NVME, 500 * GB, None, DESTROY, FLOOR_RULE.id, "ISO/IEC 21964 E-4"),
]

ROWS = (
    [pytest.param(NIST, *row, id=f"nist-{i}") for i, row in enumerate(NIST_TABLE)]
    + [pytest.param(STRICT, *row, id=f"strict-{i}") for i, row in enumerate(STRICT_TABLE)]
    + [pytest.param(BARE, *row, id=f"bare-{i}") for i, row in enumerate(BARE_TABLE)]
)


@pytest.mark.parametrize(
    ("policy", "cls", "grade", "kind", "size", "age", "dest", "rule", "level"), ROWS
)
def test_routing_table(  # noqa: PLR0917 - one parameter per column
    policy: Policy,
    cls: OutcomeClass,
    grade: HealthGrade,
    kind: MediaKind,
    size: int,
    age: float | None,
    dest: DestinationKind,
    rule: str,
    level: str,
) -> None:
    """Each policy routes each kind of outcome, drive and health where its table says."""
    d = decide(policy, cls, grade, kind, size, age=age)
    assert (d.destination_kind, d.rule_id, d.destruction_level) == (dest, rule, level)
    assert d.outcome_class is cls
    assert d.media_kind is kind
    assert d.policy_name == policy.name


def test_nist_reuse_exactly_where_the_rule_allows() -> None:
    """Under the default policy, over every class x health x media x size, reuse is given to
    purged-and-verified, health A/B, disk-like drives of 120 GB or more, and nothing else."""
    disk_like = {M.HDD, M.SSD, M.NVME, M.USB_DRIVE}
    for cls, grade, kind, size in itertools.product(
        OutcomeClass, HealthGrade, MediaKind, (8 * GB, 119_999_999_999, 120 * GB, 4000 * GB)
    ):
        d = decide(NIST, cls, grade, kind, size)
        expected = cls is PV and grade in (A, B) and kind in disk_like and size >= 120 * GB
        assert (d.destination_kind is REUSE) == expected, d.explain()
        if cls not in PROVEN_CLEAN:
            assert d.destination_kind is DESTROY


def test_decision_explains_itself() -> None:
    """A decision names the rules passed over with the condition that failed, the rule that
    matched with each condition that held, and carries that onto the certificate."""
    d = decide(NIST, PV, HealthGrade.C, M.NVME, 500 * GB)
    assert d.rule_id == "default"
    assert d.passed_over == (
        "not-proven-clean: outcome purged-verified is not one of "
        "failed/refused/unverified/destroy-planned",
        "failing-health: health C is not one of FAIL",
        "cleared-only: outcome purged-verified is not one of cleared-verified",
        "too-old: age unknown (the rule needs at least 8 years)",
        "reuse: health C is not one of A/B",
    )
    r = decide(NIST, PV, A, M.NVME, 500 * GB, age=3)
    assert r.matched == (
        "outcome purged-verified is one of purged-verified",
        "health A is one of A/B",
        "media nvme is one of hdd/ssd/nvme/usb-drive",
        "capacity 500.0 GB is at least 120.0 GB",
    )
    assert r.passed_over[-1] == "too-old: age 3.0 years (given) is less than 8"
    text = r.explain()
    assert "reuse by rule reuse of policy nist-800-88 v1" in text
    assert "London Device Bank" in text
    dest = r.destination()
    assert (dest.route, dest.scheme) == ("external-reuse", r.scheme)
    assert "rule reuse, policy nist-800-88 v1" in dest.details
    small = decide(NIST, PV, A, M.SSD, 64 * GB)
    assert small.passed_over[-1] == "reuse: capacity 64.0 GB is less than 120.0 GB"
    assert small.scheme == ""
    assert "WEEE" in small.scheme_hint


def test_destroy_decision_on_the_certificate() -> None:
    """A destroy decision gives the certificate route ``destruction`` and the level."""
    d = decide(STRICT, FA, A, M.SSD)
    dest = d.destination()
    assert dest.route == "destruction"
    assert dest.details.startswith("destroy to ISO/IEC 21964 E-5; strict policy")
    assert "destruction provider" in d.scheme_hint


def test_certificate_routes_are_known_to_the_record() -> None:
    """Every route a decision can print is one the certificate record accepts."""
    from sanitiser.certificate.record import DESTINATION_ROUTES

    for kind in DestinationKind:
        rule = RoutingRule("x", kind, "why", outcome=(PV,), health=(A,))
        table = RoutingTable((rule,), NIST_DEFAULT, LEVELS)
        d = decide(dataclasses.replace(NIST, routing=table), PV)
        assert d.destination_kind is kind
        assert d.destination().route in DESTINATION_ROUTES


def test_age_must_be_a_real_age() -> None:
    """A negative or infinite age is a caller's mistake, not an unknown age."""
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="finite number of years"):
            DeviceAge(bad, "given")


def test_a_lower_bound_proves_old_but_never_young() -> None:
    """Power-on hours give only a lower bound: enough for "at least 8 years", never for
    "at most 6"; the certificate says how the deciding age was known."""
    old = DeviceAge(8.2, "71,900 power-on hours, from SMART", at_least=True)
    d = decide(NIST, PV, A, M.HDD, 500 * GB, age=old)
    assert (d.destination_kind, d.rule_id) == (RECYCLE, "too-old")
    assert "age at least 8.2 years (71,900 power-on hours, from SMART) is at least 8" in d.matched
    assert "71,900 power-on hours" in d.destination().details
    assert "age at least 8.2 years" in d.explain()
    young_rule = RoutingRule(
        "young", REUSE, "young enough", outcome=(PV,), health=(A,), max_age_years=6
    )
    table = RoutingTable((young_rule,), NIST_DEFAULT, LEVELS)
    young = dataclasses.replace(NIST, routing=table)
    bound = decide(young, PV, A, M.HDD, 500 * GB, age=DeviceAge(1.0, "hours", at_least=True))
    assert bound.rule_id == "default"
    assert bound.passed_over == (
        "young: age at least 1.0 years (hours) cannot show at most 6 years",
    )
    exact = decide(young, PV, A, M.HDD, 500 * GB, age=DeviceAge(1.0, "manufactured"))
    assert exact.rule_id == "young"
    assert "manufactured" in exact.destination().details


# --- properties -------------------------------------------------------------------------------

LEVELS = {k: DestructionLevel("H" if k is M.HDD else "E", 3) for k in MediaKind}
NIST_DEFAULT = NIST.routing.default if NIST.routing else FLOOR_RULE
POLICIES = [NIST, STRICT, BARE]

verifications = st.one_of(
    st.none(),
    st.builds(
        Verification,
        mode=st.sampled_from(["full", "sampled", "canary", "none"]),
        passed=st.booleans(),
    ),
)
outcomes = st.builds(
    outcome,
    status=st.sampled_from(OutcomeStatus),
    category=st.sampled_from(NistCategory),
    verified=st.booleans(),
    verification=verifications,
    failed_ranges=st.lists(
        st.builds(ByteRange, st.integers(0, 2**40), st.integers(1, 2**20)), max_size=2
    ).map(tuple),
)
plans = st.builds(plan, destroy=st.booleans())
healths = st.builds(Health, grade=st.sampled_from(HealthGrade))
drives = st.builds(drive, st.sampled_from(MediaKind), st.integers(0, 30 * 10**12))
ages = st.one_of(
    st.none(),
    st.builds(DeviceAge, st.floats(0, 40, allow_nan=False), st.just("drawn"), st.booleans()),
)


@dataclasses.dataclass(frozen=True)
class Situation:
    """Everything `route` is given besides the policy."""

    out: Outcome
    p: Plan
    h: Health
    d: Drive
    age: DeviceAge | None

    def route(self, policy: Policy) -> RoutingDecision:
        """Route this situation under `policy`."""
        return route(self.out, self.p, self.h, self.d, policy, age=self.age)

    @property
    def clean(self) -> bool:
        """The oracle's verdict (`proven_clean`)."""
        return proven_clean(self.out, self.p)


situations = st.builds(Situation, outcomes, plans, healths, drives, ages)

PROPERTY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def proven_clean(out: Outcome, p: Plan) -> bool:
    """The oracle: sanitised, verified, verification (if any) read something and passed, no
    range left, and the plan did not send the drive to destruction."""
    ver = out.verification
    return (
        not p.destroy
        and out.status is OutcomeStatus.SANITISED
        and out.nist_category is not NistCategory.DESTROY
        and out.verified
        and (ver is None or (ver.passed and ver.mode != "none"))
        and not out.failed_ranges
    )


@PROPERTY
@given(situations, st.sampled_from(POLICIES))
def test_unproven_never_reused(s: Situation, policy: Policy) -> None:
    """A failed, refused, unverified or destroy-planned sanitisation never routes to reuse (nor
    to recycling): it goes to destruction, under every shipped policy and without one; and a
    failing drive is never reused."""
    decision = s.route(policy)
    assert (decision.outcome_class in PROVEN_CLEAN) == s.clean
    if not s.clean:
        assert decision.destination_kind is DESTROY
    if s.h.grade is HealthGrade.FAIL:
        assert decision.destination_kind is not REUSE


@PROPERTY
@given(situations)
def test_strict_destroys_all_but_purged_and_verified(s: Situation) -> None:
    """Strict: anything not purged-and-verified goes to destruction."""
    decision = s.route(STRICT)
    if not (s.clean and s.out.nist_category is NistCategory.PURGE):
        assert decision.destination_kind is DESTROY


@PROPERTY
@given(situations, st.sampled_from(POLICIES))
def test_destroy_names_a_level_for_the_medium(s: Situation, policy: Policy) -> None:
    """Every destroy decision names an ISO/IEC 21964 level for the medium: H for magnetic, E for
    flash, SSD, NVMe and anything that may hide flash; other decisions name none."""
    decision = s.route(policy)
    if decision.destination_kind is DESTROY:
        letter = "H" if s.d.media_kind is MediaKind.HDD else "E"
        assert decision.destruction_level.startswith(f"ISO/IEC 21964 {letter}-")
        assert decision.destruction_level[-1] in "1234567"
        assert decision.destruction_level in decision.destination().details
    else:
        assert decision.destruction_level == ""


def _holds(rule: RoutingRule, cls: OutcomeClass, s: Situation) -> bool:
    """An independent reading of a rule's conditions."""
    size, age = s.d.size_bytes, s.age
    checks = [
        not rule.outcome or cls in rule.outcome,
        not rule.health or s.h.grade in rule.health,
        not rule.media or s.d.media_kind in rule.media,
        rule.min_capacity is None or size >= rule.min_capacity,
        rule.max_capacity is None or size <= rule.max_capacity,
        rule.min_age_years is None or (age is not None and age.years >= rule.min_age_years),
        rule.max_age_years is None
        or (age is not None and not age.at_least and age.years <= rule.max_age_years),
    ]
    return all(checks)


def check_first_match(decision: RoutingDecision, s: Situation, policy: Policy) -> None:
    """The decision has a reason and a rule id: the first rule whose conditions hold, with every
    earlier rule listed as passed over; a built-in rule or the default only when none holds."""
    assert decision.reason.strip()
    assert decision.rule_id.strip()
    assert decision.outcome_note.strip()
    rules = policy.routing.rules if policy.routing else ()
    cls = decision.outcome_class
    first = next((i for i, r in enumerate(rules) if _holds(r, cls, s)), None)
    if first is None:
        assert decision.rule_id in ("default", FALLBACK_RULE_ID, FLOOR_RULE.id)
        assert len(decision.passed_over) == len(rules)
        assert (decision.rule_id == FLOOR_RULE.id) == (cls not in PROVEN_CLEAN)
    else:
        assert decision.rule_id == rules[first].id
        assert decision.reason == rules[first].reason
        assert [p.split(":")[0] for p in decision.passed_over] == [r.id for r in rules[:first]]
        assert len(decision.matched) == len(
            [c for c in (rules[first].outcome, rules[first].health, rules[first].media) if c]
        ) + sum(
            v is not None
            for v in (
                rules[first].min_capacity,
                rules[first].max_capacity,
                rules[first].min_age_years,
                rules[first].max_age_years,
            )
        )
    assert decision.rule_id in decision.explain()


@PROPERTY
@given(situations, st.sampled_from(POLICIES))
def test_every_decision_has_a_reason_and_a_rule_id(s: Situation, policy: Policy) -> None:
    """Every decision has a reason and the id of the first rule that matched."""
    check_first_match(s.route(policy), s, policy)


@st.composite
def sound_rules(draw: st.DrawFn) -> RoutingRule:
    """A rule a site could write: any conditions its destination allows."""
    dest = draw(st.sampled_from(DestinationKind))
    allowed = list(OutcomeClass) if dest is DESTROY else list(PROVEN_CLEAN)
    healthy = [g for g in HealthGrade if g is not HealthGrade.FAIL or dest is not REUSE]
    low = draw(st.one_of(st.none(), st.integers(0, 10**13)))
    return RoutingRule(
        id=draw(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)),
        destination=dest,
        reason="because",
        outcome=tuple(
            draw(st.lists(st.sampled_from(allowed), unique=True, min_size=int(dest is not DESTROY)))
        ),
        health=tuple(
            draw(st.lists(st.sampled_from(healthy), unique=True, min_size=int(dest is REUSE)))
        ),
        media=tuple(draw(st.lists(st.sampled_from(MediaKind), unique=True, max_size=3))),
        min_capacity=low,
        max_capacity=draw(st.one_of(st.none(), st.integers(low or 0, 10**14))),
        min_age_years=draw(st.one_of(st.none(), st.floats(0, 20))),
    )


site_rules = st.lists(sound_rules(), max_size=5, unique_by=lambda r: r.id).filter(
    lambda rs: all(r.id != "default" for r in rs)
)


@PROPERTY
@given(site_rules, st.sampled_from([RECYCLE, DESTROY]), situations)
def test_any_valid_table_keeps_the_invariants(
    rules: list[RoutingRule], default: DestinationKind, s: Situation
) -> None:
    """Whatever rules a site writes, if the table is accepted: an unproven drive is destroyed,
    a failing drive is never reused, a destroy decision names a level, and the first matching
    rule decides."""
    table = RoutingTable(
        tuple(rules), dataclasses.replace(NIST_DEFAULT, destination=default), LEVELS
    )
    policy = dataclasses.replace(NIST, routing=table)
    decision = s.route(policy)
    if not s.clean:
        assert decision.destination_kind is DESTROY
    if s.h.grade is HealthGrade.FAIL:
        assert decision.destination_kind is not REUSE
    assert (decision.destination_kind is DESTROY) == bool(decision.destruction_level)
    check_first_match(decision, s, policy)


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda: RoutingRule("r1", REUSE, "why"),
         "needs outcome limited to purged-verified / cleared-verified"),
        (lambda: RoutingRule("r1", RECYCLE, "why", outcome=(PV, FA)), "(outcome here: failed)"),
        (lambda: RoutingRule("r1", REUSE, "why", outcome=(PV,)), "must list the health grades"),
        (lambda: RoutingRule("r1", REUSE, "why", outcome=(PV,), health=(A, F)),
         "may not accept FAIL"),
        (lambda: RoutingRule("r1", DESTROY, "why", destruction={M.SSD: DestructionLevel("H", 6)}),
         "ssd = H-6 does not suit ssd"),
        (lambda: RoutingRule("r1", DESTROY, "why", destruction={M.HDD: DestructionLevel("E", 6)}),
         "hdd = E-6 does not suit hdd: a hard disk is destroyed to an H level"),
        (lambda: RoutingRule("r1", RECYCLE, "why", outcome=(PV,),
                             destruction={M.HDD: LEVELS[M.HDD]}),
         'levels are for "destroy" rules'),
        (lambda: RoutingRule("r1", DESTROY, "why", min_capacity=10, max_capacity=5),
         "min_capacity is more than max_capacity"),
        (lambda: RoutingRule("r1", DESTROY, "why", outcome=(FA, FA)),
         "outcome: failed listed twice"),
        (lambda: RoutingRule("r1", DESTROY, " "), "reason: say why"),
    ],
)  # fmt: skip
def test_hand_built_rules_are_checked(build: Callable[[], RoutingRule], problem: str) -> None:
    """A rule built in code is held to the same invariants as one loaded from a file."""
    with pytest.raises(RuleError) as info:
        build()
    assert problem in str(info.value)
    assert str(info.value).startswith("routing rule 'r1': ")


def test_hand_built_table_is_checked() -> None:
    """A table built in code must have unique ids, a non-reuse default and every level."""
    rule = RoutingRule("dup", DESTROY, "why")
    with pytest.raises(ConfigError, match="id 'dup' is used twice"):
        RoutingTable((rule, rule), NIST_DEFAULT, LEVELS)
    with pytest.raises(ConfigError, match="no level for virtual"):
        RoutingTable((), NIST_DEFAULT, {k: v for k, v in LEVELS.items() if k is not M.VIRTUAL})
    reuse_default = RoutingRule("default", REUSE, "why", outcome=PROVEN_CLEAN, health=(A,))
    with pytest.raises(ConfigError, match='may not be "reuse"'):
        RoutingTable((), reuse_default, LEVELS)


# --- the file format --------------------------------------------------------------------------


def _builtin_without_routing(name: str) -> str:
    text = (resources.files(BUILTIN_PACKAGE) / f"{name}.toml").read_text(encoding="utf-8")
    head, sep, _ = text.partition("# --- Routing")
    assert sep, "the shipped policy's routing section is introduced by '# --- Routing'"
    return head


LEVELS_TOML = """
[routing.destruction]
hdd = "H-4"
ssd = "E-4"
nvme = "E-4"
usb-flash = "E-4"
usb-drive = "E-4"
mmc = "E-4"
unknown = "E-4"
"""
DEFAULT_TOML = """
[routing.default]
destination = "recycle"
reason = "clean"
"""
GOOD_RULE = """
[[routing.rules]]
id = "give"
outcome = ["purged-verified"]
health = ["a", "b"]
min_capacity = "1.5 TiB"
max_capacity = 4000000000000
destination = "reuse"
reason = "fit"
"""


def parse(routing: str) -> Policy:
    """The default policy with `routing` as its [routing] section."""
    return parse_policy(_builtin_without_routing("nist-800-88") + routing, source="site.toml")


def test_a_site_table_loads() -> None:
    """A hand-written table loads: grades in any case, capacities with units, virtual's level
    taken from unknown, and the rule routes as written."""
    policy = parse(DEFAULT_TOML + LEVELS_TOML + GOOD_RULE)
    assert policy.routing is not None
    (rule,) = policy.routing.rules
    assert rule.health == (A, B)
    assert rule.min_capacity == int(1.5 * 2**40)
    assert rule.max_capacity == 4 * 10**12
    assert policy.routing.destruction[M.VIRTUAL] == DestructionLevel("E", 4)
    assert decide(policy, PV, B, M.HDD, 2 * 10**12).rule_id == "give"
    assert decide(policy, PV, B, M.HDD, 1 * 10**12).rule_id == "default"


def test_policy_without_routing_loads() -> None:
    """A policy file without [routing] stays valid and routes by the fallback."""
    policy = parse("")
    assert policy.routing is None
    assert decide(policy, PV).rule_id == FALLBACK_RULE_ID
    assert decide(policy, FA, kind=M.HDD).destruction_level == "ISO/IEC 21964 H-4"


def test_shipped_routing_survives_reserialisation() -> None:
    """The shipped tables load to the same values from their own text (no hidden state)."""
    for name, policy in (("nist-800-88", NIST), ("strict", STRICT)):
        text = (resources.files(BUILTIN_PACKAGE) / f"{name}.toml").read_text(encoding="utf-8")
        assert parse_policy(text, source=f"builtin:{name}").routing == policy.routing


BAD: list[tuple[str, str, str, str]] = [
    ("typo section", DEFAULT_TOML + LEVELS_TOML + "[[routing.rule]]\nid = 'x'\n",
     "routing", "unknown key 'rule' (check the spelling; [routing] takes default, destruction"),
    ("no default", LEVELS_TOML, "routing.default", "required key is missing"),
    ("no levels", DEFAULT_TOML, "routing.destruction", "required key is missing"),
    ("default reuse", DEFAULT_TOML.replace('"recycle"', '"reuse"') + LEVELS_TOML,
     "routing.default.destination", 'may not be "reuse"'),
    ("default typo", DEFAULT_TOML + "schema = 'x'\n" + LEVELS_TOML, "routing.default.schema",
     "unknown key"),
    ("missing level", DEFAULT_TOML + LEVELS_TOML.replace('mmc = "E-4"\n', ""),
     "routing.destruction", "no level for media kind(s) mmc"),
    ("H for flash", DEFAULT_TOML + LEVELS_TOML.replace('nvme = "E-4"', 'nvme = "H-6"'),
     "routing.destruction", "nvme = H-6 does not suit nvme: flash (or a medium that may hide "
     "flash) needs an E level"),
    ("E for hdd", DEFAULT_TOML + LEVELS_TOML.replace('hdd = "H-4"', 'hdd = "E-4"'),
     "routing.destruction", "hdd = E-4 does not suit hdd"),
    ("bad level", DEFAULT_TOML + LEVELS_TOML.replace('ssd = "E-4"', 'ssd = "E-9"'),
     "routing.destruction.ssd", "'E-9' is not a destruction level: use H-1 ... H-7"),
    ("level number", DEFAULT_TOML + LEVELS_TOML.replace('ssd = "E-4"', "ssd = 4"),
     "routing.destruction.ssd", 'must be text like "H-4" or "E-4" (got 4)'),
    ("level kind", DEFAULT_TOML + LEVELS_TOML + 'floppy = "E-2"\n', "routing.destruction.floppy",
     "'hdd'"),
    ("reuse anything", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace(
        'outcome = ["purged-verified"]\n', ""), "routing.rules[0]",
     'destination: "reuse" needs outcome limited to purged-verified / cleared-verified: a drive '
     'that cannot be proven clean may only go to "destroy" (outcome here: any, as no outcome '
     'is given)'),
    ("recycle failed", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace(
        '"purged-verified"', '"purged-verified", "unverified"').replace('"reuse"', '"recycle"'),
     "routing.rules[0]", "(outcome here: unverified)"),
    ("reuse no health", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace(
        'health = ["a", "b"]\n', ""), "routing.rules[0]", "must list the health grades"),
    ("reuse fail", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('"b"', '"fail"'),
     "routing.rules[0]", "may not accept FAIL"),
    ("bad grade", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('"b"', '"D"'),
     "routing.rules[0].health[1]", "'FAIL' or 'unknown' (got 'D')"),
    ("bad outcome", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace(
        '"purged-verified"', '"wiped"'), "routing.rules[0].outcome[0]",
     "'purged-verified', 'cleared-verified'"),
    ("empty list", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('["a", "b"]', "[]"),
     "routing.rules[0].health", "at least 1 item"),
    ("bad destination", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('"reuse"', '"shred"'),
     "routing.rules[0].destination", "'reuse', 'recycle' or 'destroy' (got 'shred')"),
    ("bad capacity", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('"1.5 TiB"', '"lots"'),
     "routing.rules[0].min_capacity", "capacity must be bytes or text like '120 GB'"),
    ("inverted capacity", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace(
        '"1.5 TiB"', '"5 TB"'), "routing.rules[0]", "min_capacity is more than max_capacity"),
    ("negative age", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE + "min_age_years = -1\n",
     "routing.rules[0].min_age_years", "greater than or equal to 0"),
    ("age as text", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE + 'max_age_years = "old"\n',
     "routing.rules[0].max_age_years", "must be a number of years (got 'old')"),
    ("rule typo", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE + "healths = ['A']\n",
     "routing.rules[0].healths", "unknown key"),
    ("no reason", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('reason = "fit"\n', ""),
     "routing.rules[0].reason", "required key is missing"),
    ("duplicate id", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE + GOOD_RULE, "routing.rules",
     "id 'give' of rules[1] is already used by rules[0]"),
    ("reserved id", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('"give"', '"default"'),
     "routing.rules[0].id", "'default' is reserved"),
    ("bad id", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('"give"', '"Give Away"'),
     "routing.rules[0]", "'Give Away' is not a rule id"),
    ("levels on recycle", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace('"reuse"', '"recycle"')
     + 'destruction = { hdd = "H-5" }\n', "routing.rules[0]", 'levels are for "destroy" rules'),
    ("rule level for medium", DEFAULT_TOML + LEVELS_TOML + GOOD_RULE.replace(
        '"reuse"', '"destroy"') + 'destruction = { ssd = "H-5" }\n', "routing.rules[0]",
     "destruction: ssd = H-5 does not suit ssd"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("routing", "key", "problem"), [pytest.param(r, k, p, id=i) for i, r, k, p in BAD]
)
def test_bad_routing_names_file_key_and_problem(routing: str, key: str, problem: str) -> None:
    """Each mistake in a [routing] table is a ConfigError naming the file, the key and the
    problem."""
    with pytest.raises(ConfigError) as info:
        parse(routing)
    message = str(info.value)
    assert message.startswith("invalid policy site.toml: ")
    assert f"{key}: " in message
    assert problem in message


def test_level_and_capacity_parsing() -> None:
    """Levels and capacities parse as documented, and refuse anything else."""
    assert str(DestructionLevel.parse(" H-7 ")) == "ISO/IEC 21964 H-7"
    assert DestructionLevel.parse("E-1").code == "E-1"
    for bad in ("H4", "P-4", "E-0", "e-4"):
        with pytest.raises(ValueError, match="is not a destruction level"):
            DestructionLevel.parse(bad)
    assert parse_capacity("120 GB") == 120 * GB
    assert parse_capacity("120GB") == 120 * GB
    assert parse_capacity("2 TiB") == 2 * 2**40
    assert parse_capacity("512") == 512
    assert parse_capacity(0) == 0
    for junk in (True, -1, "12 parsecs", "1e9", 1.5, "GB"):
        with pytest.raises(ValueError, match="capacity"):
            parse_capacity(junk)
