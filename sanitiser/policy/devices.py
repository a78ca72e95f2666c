"""Device rules: the ``[devices]`` section of a policy, as plain values, and its file format.

A computer is *ready for reuse* when the technician can hand it to a scheme as it is: enough
memory and storage, a battery that still holds a useful charge, not too old, no lock left on
it, graded and its functional checks passed, and every drive in it sanitised and verified.
The thresholds are the organisation's own: a policy file states them, plainly commented
(the shipped ``digital-inclusion`` policy is an example, not any scheme's official figures).

File format (inside a policy file; every key is checked, unknown keys are refused)::

    [devices.readiness]
    min_ram_gb = 8                  # whole GB of installed memory (as the inventory reports)
    min_storage_gb = 128            # the sanitised drives' capacity, together
    min_battery_health_pct = 60     # laptops and tablets: full charge / design charge
    max_age_years = 8               # from the BIOS date (the firmware's release; a lower bound)
    grades = ["A", "B", "C"]        # cosmetic grades a ready device may have
    checks = ["screen", "keyboard"] # functional checks that must pass (n/a counts for
                                    # a device without the part)
    locks_cleared = true            # no BIOS password, MDM enrolment or activation lock

    [devices.readiness.checks_by_kind]  # kinds whose checks differ from `checks` (optional)
    monitor = ["screen", "ports"]
    docking-station = ["ports"]

    [devices.windows11]             # Windows 11 eligibility (else: a ChromeOS Flex candidate)
    tpm = "2.0"                     # the TPM version at least
    min_intel_generation = 8        # Intel Core: 8th generation and later
    min_amd_ryzen_series = 2000     # AMD Ryzen: 2000 series and later
    secure_boot_capable = true      # UEFI with Secure Boot (enabled or not)

    [devices.routes]                # where a device goes when it is not ready
    drive_failed = "reuse"          # a drive could not be sanitised: reuse (the drive is
    drive_failed_note = "needs storage"  # removed and destroyed; the device needs storage),
                                    # recycle or destroy
    not_ready = "recycle"           # graded and sanitised but below the readiness rules
    no_data = "reuse"               # monitors and docks (no data-bearing media): reuse or recycle
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

DeviceRoute = Literal["reuse", "recycle", "destroy"]


@dataclass(frozen=True, slots=True)
class Readiness:
    """The readiness thresholds (None: no such condition)."""

    min_ram_gb: int | None = None
    min_storage_gb: int | None = None
    min_battery_health_pct: int | None = None
    max_age_years: int | None = None
    grades: tuple[str, ...] = ("A", "B", "C")
    checks: tuple[str, ...] = ()
    locks_cleared: bool = True
    checks_by_kind: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(kind, checks) for the kinds whose checks are not `checks` (a monitor has no keyboard)."""

    def checks_for(self, kind: str) -> tuple[str, ...]:
        """The checks a device of `kind` (a `DeviceKind` value) must pass."""
        return dict(self.checks_by_kind).get(kind, self.checks)


@dataclass(frozen=True, slots=True)
class Windows11:
    """What Windows 11 asks of a computer, as the organisation reads it."""

    tpm: str = "2.0"
    min_intel_generation: int = 8
    min_amd_ryzen_series: int = 2000
    secure_boot_capable: bool = True


@dataclass(frozen=True, slots=True)
class DeviceRoutes:
    """Where a device goes when it is not ready for reuse as it is."""

    drive_failed: DeviceRoute = "recycle"
    drive_failed_note: str = ""
    not_ready: DeviceRoute = "recycle"
    no_data: DeviceRoute = "reuse"


@dataclass(frozen=True, slots=True)
class DeviceRules:
    """The ``[devices]`` section."""

    readiness: Readiness = Readiness()
    windows11: Windows11 = Windows11()
    routes: DeviceRoutes = DeviceRoutes()


DEFAULT_DEVICE_RULES = DeviceRules()
"""For a policy without ``[devices]``: only grades A-C, locks cleared and every drive
sanitised make a device ready; no thresholds on its specification."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_GRADE = Literal["A", "B", "C", "D"]
_CHECK = Literal[
    "screen",
    "keyboard",
    "trackpad",
    "camera",
    "audio",
    "ports",
    "battery-holds-charge",
    "charger-included",
]

_KIND = Literal["laptop", "desktop", "tablet", "phone", "monitor", "docking-station", "other"]

KIND_NAMES: Final[tuple[str, ...]] = get_args(_KIND)
"""The device kinds a policy may name (`sanitiser.assets.model.DeviceKind`'s values; a test
keeps the two the same, as the policy sits below the assets layer)."""
GRADES: Final[tuple[str, ...]] = get_args(_GRADE)
"""The cosmetic grades, best first."""
CHECK_NAMES: Final[tuple[str, ...]] = get_args(_CHECK)
"""The functional checks a technician records and a policy may ask to pass."""


class _ReadinessEntry(_Strict):
    min_ram_gb: int | None = Field(default=None, ge=0, le=4096)
    min_storage_gb: int | None = Field(default=None, ge=0, le=1_000_000)
    min_battery_health_pct: int | None = Field(default=None, ge=0, le=100)
    max_age_years: int | None = Field(default=None, ge=0, le=100)
    grades: tuple[_GRADE, ...] = ("A", "B", "C")
    checks: tuple[_CHECK, ...] = ()
    locks_cleared: bool = True
    checks_by_kind: dict[_KIND, tuple[_CHECK, ...]] = Field(default_factory=dict)


class _Windows11Entry(_Strict):
    tpm: Literal["1.2", "2.0"] = "2.0"
    min_intel_generation: int = Field(default=8, ge=1, le=99)
    min_amd_ryzen_series: int = Field(default=2000, ge=1000, le=99000)
    secure_boot_capable: bool = True


class _RoutesEntry(_Strict):
    drive_failed: DeviceRoute = "recycle"
    drive_failed_note: str = Field(default="", max_length=120)
    not_ready: DeviceRoute = "recycle"
    no_data: Literal["reuse", "recycle"] = "reuse"


class DevicesFile(_Strict):
    """The ``[devices]`` table as written in a policy file (loader-facing)."""

    readiness: _ReadinessEntry = _ReadinessEntry()
    windows11: _Windows11Entry = _Windows11Entry()
    routes: _RoutesEntry = _RoutesEntry()

    def to_rules(self) -> DeviceRules:
        """As plain values."""
        r, w, o = self.readiness, self.windows11, self.routes
        return DeviceRules(
            readiness=Readiness(
                min_ram_gb=r.min_ram_gb,
                min_storage_gb=r.min_storage_gb,
                min_battery_health_pct=r.min_battery_health_pct,
                max_age_years=r.max_age_years,
                grades=tuple(r.grades),
                checks=tuple(r.checks),
                locks_cleared=r.locks_cleared,
                checks_by_kind=tuple(
                    (kind, tuple(checks)) for kind, checks in sorted(r.checks_by_kind.items())
                ),
            ),
            windows11=Windows11(
                tpm=w.tpm,
                min_intel_generation=w.min_intel_generation,
                min_amd_ryzen_series=w.min_amd_ryzen_series,
                secure_boot_capable=w.secure_boot_capable,
            ),
            routes=DeviceRoutes(
                drive_failed=o.drive_failed,
                drive_failed_note=o.drive_failed_note,
                not_ready=o.not_ready,
                no_data=o.no_data,
            ),
        )
