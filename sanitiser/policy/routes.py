"""Routing tables: the ``[routing]`` section of a policy, as plain values, and its file format.

A sanitised drive goes somewhere: to **reuse** (a digital-inclusion scheme such as Get Online
London's London Device Bank, a device bank or a charity), to **recycle** (WEEE, through a
registered carrier or an AATF), or to **destroy** (a destruction provider, to an ISO/IEC 21964
level). A routing table decides which, from what was done to the drive and what the drive is.

File format (inside a policy file; every key is checked, unknown keys are refused)::

    [routing.default]             # when no rule matches a drive that was proven clean
    destination = "recycle"       # recycle or destroy (never reuse: it would catch FAIL drives)
    reason = "..."
    scheme = "..."                # optional hint: which scheme, recycler or provider

    [routing.destruction]         # ISO/IEC 21964 (DIN 66399) level per media kind
    hdd = "H-4"                   # magnetic: H-<1..7>
    ssd = "E-4"                   # every other kind: E-<1..7> (flash needs E-class particles)
    nvme = "E-4"                  # ... one key per media kind; virtual is optional
                                  # (it takes the level of unknown)

    [[routing.rules]]             # tried in order; the first whose conditions all hold wins
    id = "reuse"                  # unique; printed with every decision
    outcome = ["purged-verified"] # conditions, each optional (absent: any); lists match any
    health = ["A", "B"]           #   member; A, B, C, FAIL, unknown
    media = ["hdd", "ssd", "nvme"]
    min_capacity = "120 GB"       #   bytes, or text with a unit (kB MB GB TB, KiB ... TiB)
    max_capacity = "16 TB"        #   inclusive
    min_age_years = 8             #   an age condition holds only when the age is known
    max_age_years = 6             #   (`sanitiser.routing.age`: SCSI date of manufacture, or
                                  #   power-on hours, a lower bound that proves only min_age)
    destination = "reuse"         # reuse, recycle or destroy
    reason = "..."                # why, in words, for the record
    scheme = "..."                # optional hint
    destruction = { ssd = "E-5" } # optional, destroy rules only: overrides the table's levels

Outcome classes (`OutcomeClass`): ``purged-verified`` and ``cleared-verified`` (sanitised, and
verification passed) are *proven clean*; ``unverified`` (sanitised but not verified, or ranges
left unwritten), ``failed`` (failed or aborted), ``refused`` (nothing destructive was sent) and
``destroy-planned`` (the plan sent the drive to destruction) are not.

Rules that cannot be relied on are refused when the policy is loaded, not when a drive is routed:

* a rule whose destination is not ``destroy`` must limit ``outcome`` to proven-clean classes (a
  drive that cannot be proven clean goes to destruction: docs/STANDARDS.md §5.3, issue 7);
* a ``reuse`` rule must list ``health`` grades and may not include ``FAIL``;
* destruction levels must suit the medium: H for hard disks, E for everything else (H-class
  particles are not small enough for flash chips, docs/STANDARDS.md §5.1); a USB bridge, an
  unidentified medium or a virtual device may hide flash, so they take E levels too.

The H and E particle limits themselves are not confirmed (docs/STANDARDS.md §5.1, §8): the level is
recorded as a name (``ISO/IEC 21964 E-4``) for the destruction provider to meet, never as a size.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sanitiser.domain import DestinationKind, HealthGrade, MediaKind
from sanitiser.errors import ConfigError
from sanitiser.text import text_problem
from sanitiser.units import human_size

__all__ = [
    "DEFAULT_RULE_ID",
    "FLOOR_RULE_ID",
    "PROVEN_CLEAN",
    "DestructionLevel",
    "OutcomeClass",
    "RoutingFile",
    "RoutingRule",
    "RoutingTable",
    "RuleError",
    "describe_rule",
    "level_material",
    "parse_capacity",
    "rule_problems",
]

STANDARD = "ISO/IEC 21964"
"""The destruction standard levels are named in (formerly DIN 66399)."""

DEFAULT_RULE_ID = "default"
"""The id of a table's default rule."""
FLOOR_RULE_ID = "builtin:not-proven-clean"
"""The id of the built-in rule that destroys a drive not proven clean that no rule matched."""


class OutcomeClass(StrEnum):
    """What a sanitisation attempt proved, as routing sees it."""

    PURGED_VERIFIED = "purged-verified"
    CLEARED_VERIFIED = "cleared-verified"
    UNVERIFIED = "unverified"
    FAILED = "failed"
    REFUSED = "refused"
    DESTROY_PLANNED = "destroy-planned"


PROVEN_CLEAN: tuple[OutcomeClass, ...] = (
    OutcomeClass.PURGED_VERIFIED,
    OutcomeClass.CLEARED_VERIFIED,
)
"""The outcome classes that prove the drive clean; only these may leave by reuse or recycling."""

Material = Literal["H", "E"]


def level_material(kind: MediaKind) -> Material:
    """The ISO/IEC 21964 material class a media kind is destroyed to: H for HDDs, else E."""
    return "H" if kind is MediaKind.HDD else "E"


_LEVEL = re.compile(r"^(?P<material>[HE])-(?P<level>[1-7])$")


@dataclass(frozen=True, slots=True)
class DestructionLevel:
    """An ISO/IEC 21964 security level: material class (H or E) and level 1-7."""

    material: Material
    level: int

    @classmethod
    def parse(cls, text: str) -> DestructionLevel:
        """``"H-4"`` or ``"E-5"`` as a level.

        Raises:
            ValueError: anything else (the message says what is expected).
        """
        m = _LEVEL.match(text.strip())
        if m is None:
            raise ValueError(
                f"{text!r} is not a destruction level: use H-1 ... H-7 (magnetic hard disks) or "
                f"E-1 ... E-7 (SSD, NVMe and other flash), as in {STANDARD}"
            )
        material: Material = "H" if m["material"] == "H" else "E"
        return cls(material, int(m["level"]))

    @property
    def code(self) -> str:
        """The short form, e.g. ``H-4``."""
        return f"{self.material}-{self.level}"

    def __str__(self) -> str:
        """The form printed on records, e.g. ``ISO/IEC 21964 H-4``."""
        return f"{STANDARD} {self.code}"


_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}
_CAPACITY = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[a-zA-Z]*)$")


def parse_capacity(value: object) -> int:
    """A capacity in bytes from an integer or text such as ``"120 GB"`` or ``"1.5 TiB"``.

    Decimal units (kB, MB, GB, TB, PB) are powers of 1000, as drive vendors label capacity;
    binary units (KiB ... PiB) are powers of 1024.

    Raises:
        ValueError: not a non-negative integer or a number with a known unit.
    """
    if isinstance(value, bool):
        raise ValueError(f"capacity must be bytes or text like '120 GB' (got {value!r})")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"capacity must not be negative (got {value})")
        return value
    if isinstance(value, str):
        m = _CAPACITY.match(value.strip())
        unit = m["unit"].lower() if m else ""
        if m is not None and unit in _UNITS:
            return math.floor(float(m["number"]) * _UNITS[unit])
    raise ValueError(
        f"capacity must be bytes or text like '120 GB' (units: kB MB GB TB PB, KiB MiB GiB "
        f"TiB PiB) (got {value!r})"
    )


# --- plain values ----------------------------------------------------------------------------


class RuleError(ConfigError):
    """A routing rule breaks the routing invariants; `problems` lists each, naming the key."""

    def __init__(self, rule_id: str, problems: list[str]) -> None:
        super().__init__(f"routing rule {rule_id!r}: " + "; ".join(problems), "Policy")
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """One routing rule: conditions (each empty or None: any) and where a matching drive goes."""

    id: str
    destination: DestinationKind
    reason: str
    """Why a drive that matches goes there, in words (printed on the record)."""
    outcome: tuple[OutcomeClass, ...] = ()
    health: tuple[HealthGrade, ...] = ()
    media: tuple[MediaKind, ...] = ()
    min_capacity: int | None = None
    """Bytes; the drive's size must be at least this."""
    max_capacity: int | None = None
    """Bytes; the drive's size must be at most this."""
    min_age_years: float | None = None
    """The drive must be known to be at least this old."""
    max_age_years: float | None = None
    """The drive must be known to be at most this old."""
    scheme: str = ""
    """A hint: which reuse scheme, recycler or destruction provider."""
    destruction: Mapping[MediaKind, DestructionLevel] = field(default_factory=dict)
    """Destroy rules only: levels that override the table's for these media kinds."""

    def __post_init__(self) -> None:
        """Refuse a rule that breaks the routing invariants (see `rule_problems`)."""
        problems = rule_problems(self)
        if problems:
            raise RuleError(self.id, problems)

    @property
    def unconditional(self) -> bool:
        """True when the rule states no condition at all."""
        return not (
            self.outcome
            or self.health
            or self.media
            or self.min_capacity is not None
            or self.max_capacity is not None
            or self.min_age_years is not None
            or self.max_age_years is not None
        )


def _duplicates(values: tuple[StrEnum, ...]) -> list[str]:
    seen: set[StrEnum] = set()
    out: list[str] = []
    for v in values:
        if v in seen and v.value not in out:
            out.append(v.value)
        seen.add(v)
    return out


def rule_problems(rule: RoutingRule) -> list[str]:
    """Everything wrong with `rule`, one message each, naming the key ([] when it is sound).

    The invariants: ids are plain; a rule says why; only proven-clean outcomes may leave by
    reuse or recycling; a reuse rule names health grades and never FAIL; bounds are ordered;
    per-rule destruction levels belong to destroy rules and suit their media kind.
    """
    out: list[str] = []
    if not re.fullmatch(r"[a-z0-9][a-z0-9:._-]*", rule.id):
        out.append(f"id: {rule.id!r} is not a rule id (lower-case letters, digits, '-', '.', ':')")
    if not rule.reason.strip():
        out.append("reason: say why a matching drive goes there (it is printed on the record)")
    for key, value in (("reason", rule.reason), ("scheme", rule.scheme)):
        problem = text_problem(value, key)  # printed on the signed record
        if problem:
            out.append(f"{key}: {problem}")
    for key, values in (("outcome", rule.outcome), ("health", rule.health), ("media", rule.media)):
        dups = _duplicates(values)
        if dups:
            out.append(f"{key}: {', '.join(dups)} listed twice")
    if rule.destination is not DestinationKind.DESTROY:
        unproven = [o.value for o in rule.outcome if o not in PROVEN_CLEAN]
        if not rule.outcome or unproven:
            got = ", ".join(unproven) if rule.outcome else "any, as no outcome is given"
            out.append(
                f'destination: "{rule.destination.value}" needs outcome limited to '
                f"{' / '.join(o.value for o in PROVEN_CLEAN)}: a drive that cannot be proven "
                f'clean may only go to "destroy" (outcome here: {got})'
            )
    if rule.destination is DestinationKind.REUSE:
        if not rule.health:
            out.append(
                'health: a "reuse" rule must list the health grades it accepts (a failing '
                "drive is never passed on)"
            )
        elif HealthGrade.FAIL in rule.health:
            out.append('health: a "reuse" rule may not accept FAIL: a failing drive is never '
                       "passed on")  # fmt: skip
    for low, high, what in (
        (rule.min_capacity, rule.max_capacity, "capacity"),
        (rule.min_age_years, rule.max_age_years, "age_years"),
    ):
        if low is not None and high is not None and low > high:
            out.append(f"min_{what} is more than max_{what}: no drive could match")
    for key, years in (
        ("min_age_years", rule.min_age_years),
        ("max_age_years", rule.max_age_years),
    ):
        if years is not None and (years < 0 or not math.isfinite(years)):
            out.append(f"{key}: must be a number of years, 0 or more (got {years!r})")
    for key, size in (("min_capacity", rule.min_capacity), ("max_capacity", rule.max_capacity)):
        if size is not None and size < 0:
            out.append(f"{key}: must not be negative (got {size})")
    if rule.destruction and rule.destination is not DestinationKind.DESTROY:
        out.append(f'destruction: levels are for "destroy" rules (this one is '
                   f'"{rule.destination.value}")')  # fmt: skip
    out.extend(f"destruction: {p}" for p in _level_problems(rule.destruction))
    return out


def _level_problems(levels: Mapping[MediaKind, DestructionLevel]) -> list[str]:
    out = []
    for kind, level in levels.items():
        want = level_material(kind)
        if level.material != want:
            why = (
                "a hard disk is destroyed to an H level"
                if want == "H"
                else "flash (or a medium that may hide flash) needs an E level: H-class "
                "particles are too large for flash chips"
            )
            out.append(
                f"{kind.value} = {level.code} does not suit {kind.value}: {why} "
                f"(use {want}-1 ... {want}-7)"
            )
    return out


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """A validated routing table: ordered rules, the default, and destruction levels."""

    rules: tuple[RoutingRule, ...]
    default: RoutingRule
    """Applies to a proven-clean drive no rule matched (never reuse)."""
    destruction: Mapping[MediaKind, DestructionLevel]
    """A level for every media kind."""

    def __post_init__(self) -> None:
        """Refuse a table that could route a drive without a reason or level."""
        problems: list[str] = []
        ids = [r.id for r in self.rules]
        for rid in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"rules: id {rid!r} is used twice")
        for r in self.rules:
            if r.id in (DEFAULT_RULE_ID, FLOOR_RULE_ID) or r.id.startswith("builtin:"):
                problems.append(f"rules: id {r.id!r} is reserved")
        d = self.default
        if d.id != DEFAULT_RULE_ID or d.outcome != PROVEN_CLEAN or d.destruction:
            problems.append(
                f"default: must have id {DEFAULT_RULE_ID!r}, outcome = proven clean and no "
                "destruction levels of its own"
            )
        if d.destination is DestinationKind.REUSE:
            problems.append(_DEFAULT_REUSE)
        missing = [k.value for k in MediaKind if k not in self.destruction]
        if missing:
            problems.append(f"destruction: no level for {', '.join(missing)}")
        problems.extend(f"destruction: {p}" for p in _level_problems(self.destruction))
        if problems:
            raise ConfigError("routing table: " + "; ".join(problems), "Policy")

    def level(self, rule: RoutingRule, kind: MediaKind) -> DestructionLevel:
        """The destruction level for `kind` when `rule` sends it to destruction."""
        return rule.destruction.get(kind) or self.destruction[kind]


_DEFAULT_REUSE = (
    'default.destination: may not be "reuse": the default catches every proven-clean drive no '
    "rule matched, failing ones included; write a reuse rule with health conditions instead"
)


# --- the file format (pydantic; validated inside the policy loader) ---------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _level_input(value: Any) -> Any:
    if isinstance(value, DestructionLevel):
        return value
    if isinstance(value, str):
        return DestructionLevel.parse(value)
    raise ValueError(f'must be text like "H-4" or "E-4" (got {value!r})')


_Level = Annotated[DestructionLevel, BeforeValidator(_level_input)]


class _RuleEntry(_Strict):
    id: str = Field(min_length=1)
    destination: DestinationKind
    reason: str = Field(min_length=1)
    outcome: tuple[OutcomeClass, ...] = Field(default=(), min_length=1)
    health: tuple[HealthGrade, ...] = Field(default=(), min_length=1)
    media: tuple[MediaKind, ...] = Field(default=(), min_length=1)
    min_capacity: int | None = None
    max_capacity: int | None = None
    min_age_years: float | None = Field(default=None, ge=0)
    max_age_years: float | None = Field(default=None, ge=0)
    scheme: str = ""
    destruction: dict[MediaKind, _Level] = {}

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == DEFAULT_RULE_ID or value.startswith("builtin:"):
            raise ValueError(f"{value!r} is reserved (default, builtin:...); choose another id")
        return value

    @field_validator("health", mode="before")
    @classmethod
    def _grade_case(cls, value: Any) -> Any:
        # "fail" and "a" are what people type; the grades are A, B, C, FAIL and unknown.
        if isinstance(value, list | tuple):
            return [
                (v.lower() if v.lower() == "unknown" else v.upper()) if isinstance(v, str) else v
                for v in value
            ]
        return value

    @field_validator("min_capacity", "max_capacity", mode="before")
    @classmethod
    def _capacity(cls, value: Any) -> Any:
        return None if value is None else parse_capacity(value)

    @field_validator("min_age_years", "max_age_years", mode="before")
    @classmethod
    def _years(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number of years (got {value!r})")
        return value

    @model_validator(mode="after")
    def _sound(self) -> _RuleEntry:
        try:
            self.to_rule()
        except RuleError as exc:
            raise ValueError("; ".join(exc.problems)) from None
        return self

    def to_rule(self) -> RoutingRule:
        """The plain rule.

        Raises:
            RuleError: it breaks a routing invariant.
        """
        return RoutingRule(
            id=self.id,
            destination=self.destination,
            reason=self.reason,
            outcome=self.outcome,
            health=self.health,
            media=self.media,
            min_capacity=self.min_capacity,
            max_capacity=self.max_capacity,
            min_age_years=self.min_age_years,
            max_age_years=self.max_age_years,
            scheme=self.scheme,
            destruction=dict(self.destruction),
        )


class _DefaultEntry(_Strict):
    destination: DestinationKind
    reason: str = Field(min_length=1)
    scheme: str = ""

    @field_validator("destination")
    @classmethod
    def _not_reuse(cls, value: DestinationKind) -> DestinationKind:
        if value is DestinationKind.REUSE:
            raise ValueError(_DEFAULT_REUSE.removeprefix("default.destination: "))
        return value


_ROUTING_KEYS = ("default", "destruction", "rules")
_LEVEL_KINDS = tuple(k for k in MediaKind if k is not MediaKind.VIRTUAL)


class RoutingFile(_Strict):
    """The ``[routing]`` table as written in a policy file (loader-facing)."""

    default: _DefaultEntry
    destruction: dict[MediaKind, _Level]
    rules: tuple[_RuleEntry, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, value: Any) -> Any:
        # One message for the whole table, listing what it takes: a misspelt section name here
        # ("rule", "defaults") would otherwise read as three unrelated errors.
        if isinstance(value, dict):
            unknown = [k for k in value if k not in _ROUTING_KEYS]
            if unknown:
                raise ValueError(
                    f"unknown key {', '.join(repr(k) for k in unknown)} (check the spelling; "
                    f"[routing] takes {', '.join(_ROUTING_KEYS)}; see sanitiser/policy/routes.py)"
                )
        return value

    @field_validator("destruction")
    @classmethod
    def _levels_complete(
        cls, value: dict[MediaKind, DestructionLevel]
    ) -> dict[MediaKind, DestructionLevel]:
        missing = [k.value for k in _LEVEL_KINDS if k not in value]
        problems = _level_problems(value)
        if missing:
            problems.insert(
                0,
                f"no level for media kind(s) {', '.join(missing)}: give one for each of "
                f"{', '.join(k.value for k in _LEVEL_KINDS)} (virtual is optional)",
            )
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("rules")
    @classmethod
    def _ids_unique(cls, value: tuple[_RuleEntry, ...]) -> tuple[_RuleEntry, ...]:
        first: dict[str, int] = {}
        problems: list[str] = []
        for i, rule in enumerate(value):
            if rule.id in first:
                problems.append(
                    f"id {rule.id!r} of rules[{i}] is already used by rules[{first[rule.id]}]"
                )
            first.setdefault(rule.id, i)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def to_table(self) -> RoutingTable:
        """The plain, validated table (virtual takes the level of unknown when not given)."""
        levels = dict(self.destruction)
        levels.setdefault(MediaKind.VIRTUAL, levels[MediaKind.UNKNOWN])
        d = self.default
        default = RoutingRule(
            id=DEFAULT_RULE_ID,
            destination=d.destination,
            reason=d.reason,
            outcome=PROVEN_CLEAN,
            scheme=d.scheme,
        )
        return RoutingTable(
            rules=tuple(r.to_rule() for r in self.rules),
            default=default,
            destruction=levels,
        )


def describe_rule(rule: RoutingRule) -> str:
    """The rule's conditions in one line, e.g. ``outcome purged-verified; health A/B``."""
    parts: list[str] = []
    if rule.outcome:
        parts.append("outcome " + "/".join(o.value for o in rule.outcome))
    if rule.health:
        parts.append("health " + "/".join(g.value for g in rule.health))
    if rule.media:
        parts.append("media " + "/".join(m.value for m in rule.media))
    if rule.min_capacity is not None:
        parts.append(f"at least {human_size(rule.min_capacity)}")
    if rule.max_capacity is not None:
        parts.append(f"at most {human_size(rule.max_capacity)}")
    if rule.min_age_years is not None:
        parts.append(f"at least {rule.min_age_years:g} years old")
    if rule.max_age_years is not None:
        parts.append(f"at most {rule.max_age_years:g} years old")
    return "; ".join(parts) or "any drive"
