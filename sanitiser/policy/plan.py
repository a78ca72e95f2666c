"""The plan for one drive: which method the policy chose, the alternatives, and why."""

from __future__ import annotations

from dataclasses import dataclass

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
