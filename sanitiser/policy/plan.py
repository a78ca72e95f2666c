"""The plan for one drive: which method the policy chose, the alternatives, and why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sanitiser.domain import NistCategory


@dataclass(frozen=True, slots=True)
class PlannedMethod:
    """A technique considered for the drive."""

    technique: str
    """A `Technique` value, e.g. ``nvme-sanitize-crypto``; ``destroy`` for physical destruction."""
    nist_category: NistCategory
    usable: bool
    reason: str = ""
    """Why it was chosen, or why it was not."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What the policy decided for one drive. Recorded with the job and on the certificate."""

    policy_name: str
    policy_version: str
    media_kind: str
    chosen: PlannedMethod
    """The method to run; technique ``destroy`` when nothing acceptable can run."""
    alternatives: tuple[PlannedMethod, ...] = ()
    """Every other technique considered, in policy order, with why it was not chosen."""
    required_category: NistCategory = NistCategory.PURGE
    """What the policy asks for this media kind."""
    downgrade: str = ""
    """Set when the chosen category is weaker than required: the recorded reason."""
    verification: str = "sampled"
    """``full``, ``sampled`` or ``canary`` read-back after the method."""
    overwrite_scheme: str = "zeros"
    """For host overwrite: the named scheme (``zeros``, ``random``, ...)."""
    estimated_seconds: int | None = None
    standard: str = ""
    """The standard and revision the policy claims (e.g. ``NIST SP 800-88 Rev. 1 App. A``)."""
    overwrite_passes: tuple[str, ...] = ()
    """For host overwrite: the scheme's passes in order (``zeros``, ``random``, ``byte:0xNN``)."""
    notes: tuple[str, ...] = ()
    """Further plain facts for the record: operator overrides, hidden sectors, policy notes."""

    @property
    def destroy(self) -> bool:
        """True when the policy sends the drive to destruction instead of a method."""
        return self.chosen.technique == "destroy"


def _planned_from_json(d: Mapping[str, Any]) -> PlannedMethod:
    return PlannedMethod(
        technique=str(d["technique"]),
        nist_category=NistCategory(d["nist_category"]),
        usable=bool(d["usable"]),
        reason=str(d.get("reason", "")),
    )


def plan_from_json(d: Mapping[str, Any]) -> Plan:
    """The `Plan` recorded as ``dataclasses.asdict(plan)`` (after a JSON round trip).

    Inverse of ``json.loads(json.dumps(dataclasses.asdict(plan)))``: tuples come back as tuples,
    categories as `NistCategory`. Keys a newer plan added are given their defaults when absent.

    Raises:
        KeyError: a required field is missing.
        ValueError: a category is not a `NistCategory` value.
    """
    seconds = d.get("estimated_seconds")
    return Plan(
        policy_name=str(d["policy_name"]),
        policy_version=str(d["policy_version"]),
        media_kind=str(d["media_kind"]),
        chosen=_planned_from_json(d["chosen"]),
        alternatives=tuple(_planned_from_json(a) for a in d.get("alternatives") or ()),
        required_category=NistCategory(d.get("required_category", NistCategory.PURGE.value)),
        downgrade=str(d.get("downgrade", "")),
        verification=str(d.get("verification", "sampled")),
        overwrite_scheme=str(d.get("overwrite_scheme", "zeros")),
        estimated_seconds=None if seconds is None else int(seconds),
        standard=str(d.get("standard", "")),
        overwrite_passes=tuple(str(p) for p in d.get("overwrite_passes") or ()),
        notes=tuple(str(n) for n in d.get("notes") or ()),
    )
