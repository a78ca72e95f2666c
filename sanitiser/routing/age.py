"""A drive's age for the routing rules (``min_age_years`` / ``max_age_years``), from what the
drive itself reports (pure).

Two sources, best first:

1. **Date of manufacture.** SCSI/SAS drives report it (Start-Stop Cycle Counter log page,
   smartctl's ``scsi_start_stop_cycle_counter.year_of_manufacture`` / ``week_of_manufacture``;
   parsed into `Health.manufactured` as ``YYYY-Www``). The age is counted from the Monday of that
   week: exact to a week.
2. **Power-on hours** (ATA attribute 9, NVMe SMART/Health log, smartctl ``power_on_time``). A
   drive cannot have been powered longer than it has existed, so hours / 8,766 (a year's hours)
   is a **lower bound** of its age, never the age: a laptop drive powered eight hours a day is
   three times older than its hours say.

A lower bound proves a ``min_age_years`` condition ("at least 8 years old") but can never prove
a ``max_age_years`` one ("at most 6 years old"): `sanitiser.routing.rules` treats that condition
as not holding, and says why. ATA and NVMe drives report no date of manufacture, so for them only
"old enough" can be shown; a drive with neither source has no age and no age condition holds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from sanitiser.domain import Health

HOURS_PER_YEAR = 8766
"""365.25 days of 24 hours."""
DAYS_PER_YEAR = 365.25

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True)
class DeviceAge:
    """How old a drive is, or at least is, and how that is known."""

    years: float
    basis: str
    """Where the figure comes from, in words, e.g. ``manufactured 2014-W48 (SCSI log page)``."""
    at_least: bool = False
    """True when `years` is only a lower bound (from power-on hours)."""

    def __post_init__(self) -> None:
        if not math.isfinite(self.years) or self.years < 0:
            raise ValueError(f"an age must be a finite number of years, 0 or more: {self.years!r}")

    def describe(self) -> str:
        """``age 7.5 years (manufactured ...)`` or ``age at least 8.1 years (71,000 ...)``."""
        bound = "at least " if self.at_least else ""
        return f"age {bound}{self.years:.1f} years ({self.basis})"


def device_age(health: Health, *, on: date) -> DeviceAge | None:
    """The drive's age on the day `on`, from its date of manufacture or else its power-on hours.

    A date of manufacture after `on` (a wrong clock or a bogus field) is not used.
    """
    made = _WEEK.match(health.manufactured or "")
    if made:
        start = date.fromisocalendar(int(made.group(1)), int(made.group(2)), 1)
        if start <= on:
            years = (on - start).days / DAYS_PER_YEAR
            return DeviceAge(years, f"manufactured {health.manufactured}, from the drive")
    hours = health.power_on_hours
    if hours is not None and hours >= 0:
        return DeviceAge(
            hours / HOURS_PER_YEAR, f"{hours:,} power-on hours, from SMART", at_least=True
        )
    return None
