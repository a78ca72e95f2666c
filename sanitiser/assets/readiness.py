"""Is a device ready for reuse, and where does it go? The policy's ``[devices]`` rules over the
device's facts, every condition explained the way drive routing explains itself.

`assess` returns each condition with whether it held and why; a fact that was never recorded
(the memory of a laptop nobody inventoried) does not hold: "not recorded" is said, never
guessed. The destination follows from the conditions:

* a monitor or dock (no data-bearing media): ``routes.no_data`` once graded to the policy;
* a drive whose signed record says it was NOT sanitised: ``routes.drive_failed`` (the drive
  itself goes to destruction by its own routing), with the policy's note ("needs storage");
* a drive without a certificate yet, or no grade yet: undecided, saying what is awaited;
* every condition held: reuse, ready;
* otherwise ``routes.not_ready``, naming the conditions that failed.

Pure: no store, no clock (``today`` is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sanitiser.assets.model import Device, DeviceKind
from sanitiser.inventory.model import Cpu, HostInventory
from sanitiser.policy.devices import DeviceRules, Windows11

GB = 10**9

UNDECIDED = "undecided"

_BATTERY_KINDS = frozenset({DeviceKind.LAPTOP, DeviceKind.TABLET, DeviceKind.PHONE})


@dataclass(frozen=True, slots=True)
class Condition:
    """One readiness condition: its name, whether it held, and why."""

    name: str
    held: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"name": self.name, "held": self.held, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Windows11Verdict:
    """Whether the computer meets the organisation's reading of Windows 11's requirements."""

    eligible: bool | None
    """None: not enough is recorded to say."""
    reasons: tuple[str, ...]

    @property
    def text(self) -> str:
        """One line: eligible, not (why: a ChromeOS Flex candidate), or unknown (why)."""
        if self.eligible:
            return "Windows 11 eligible"
        why = "; ".join(self.reasons)
        if self.eligible is None:
            return f"Windows 11 eligibility unknown ({why})"
        return f"not Windows 11 eligible ({why}): a ChromeOS Flex candidate"

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"eligible": self.eligible, "reasons": list(self.reasons), "text": self.text}


CHECK_CONDITION = "check "
"""The name of a functional check's condition is this, then the check's name."""


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    """What the rules made of a device."""

    ready: bool
    destination: str
    """``reuse``, ``recycle``, ``destroy`` or ``undecided``."""
    reason: str
    conditions: tuple[Condition, ...]
    windows11: Windows11Verdict | None
    """None for devices that run no operating system of their own (monitors, docks)."""
    notes: tuple[str, ...] = ()
    """What the next holder must know (``needs storage``)."""
    policy: str = ""

    def checks_asked(self) -> frozenset[str]:
        """The functional checks the policy asked of this device (its kind's list)."""
        return frozenset(
            c.name.removeprefix(CHECK_CONDITION) for c in self.conditions
            if c.name.startswith(CHECK_CONDITION)
        )  # fmt: skip

    def explain(self) -> str:
        """Every condition, one per line, then the decision."""
        lines = [
            f"{'held' if c.held else 'NOT held'}: {c.name}: {c.detail}" for c in self.conditions
        ]
        if self.windows11 is not None:
            lines.append(self.windows11.text)
        lines.append(f"-> {self.destination}: {self.reason}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "ready": self.ready,
            "destination": self.destination,
            "reason": self.reason,
            "conditions": [c.as_json() for c in self.conditions],
            "windows11": self.windows11.as_json() if self.windows11 is not None else None,
            "notes": list(self.notes),
            "policy": self.policy,
        }


# --- facts out of the inventory (`sanitiser.inventory`) -------------------------------------


def ram_bytes(inventory: HostInventory | None) -> int | None:
    """Installed memory in bytes, or None when not recorded."""
    return inventory.memory.total_bytes if inventory is not None else None


def battery_health(inventory: HostInventory | None) -> int | None:
    """The worst battery's health in whole percent, or None when none is recorded."""
    if inventory is None:
        return None
    values = [b.health_pct for b in inventory.batteries if b.health_pct is not None]
    return int(min(values)) if values else None


def bios_date(inventory: HostInventory | None) -> date | None:
    """The BIOS release date, or None when not recorded."""
    if inventory is None or inventory.bios is None or inventory.bios.release_date is None:
        return None
    try:
        return date.fromisoformat(inventory.bios.release_date)
    except ValueError:
        return None


def _cpu_problem(cpu: Cpu, rules: Windows11) -> tuple[bool | None, str]:
    """Whether the processor is one the rules accept (None: not one they know), and why not."""
    family, gen = cpu.family or "", cpu.generation
    if family.startswith(("Core Ultra", "Ryzen AI")) or family in ("Core 3", "Core 5", "Core 7"):
        return True, ""
    if family.startswith(("Core i", "Core M")) and gen is not None:
        if gen >= rules.min_intel_generation:
            return True, ""
        return False, f"Intel generation {gen} (needs {rules.min_intel_generation}+)"
    if family.startswith("Ryzen") and gen is not None:
        if gen * 1000 >= rules.min_amd_ryzen_series:
            return True, ""
        return False, f"Ryzen {gen}000 series (needs {rules.min_amd_ryzen_series}+)"
    return None, f"CPU {cpu.model!r}: not a family the rules know; check the maker's list"


def windows11(inventory: HostInventory | None, rules: Windows11) -> Windows11Verdict:
    """The organisation's reading of Windows 11's requirements over the recorded facts."""
    if inventory is None:
        return Windows11Verdict(None, ("the computer's facts are not recorded",))
    problems: list[str] = []
    unknown: list[str] = []
    tpm = inventory.tpm
    if tpm is not None and tpm.source == "not recorded":
        unknown.append("TPM not recorded")
    elif tpm is None or not tpm.version:
        problems.append("no TPM found")
    elif float(tpm.version) < float(rules.tpm):
        problems.append(f"TPM {tpm.version} (needs {rules.tpm})")
    if inventory.cpu is None or not inventory.cpu.model:
        unknown.append("CPU not recorded")
    else:
        ok, why = _cpu_problem(inventory.cpu, rules)
        if ok is False:
            problems.append(why)
        elif ok is None:
            unknown.append(why)
    if rules.secure_boot_capable:
        if inventory.secure_boot == "unknown":
            unknown.append("Secure Boot not recorded")
        elif inventory.secure_boot == "unsupported":
            problems.append("no UEFI Secure Boot")
    if problems:
        return Windows11Verdict(False, tuple(problems + unknown))
    if unknown:
        return Windows11Verdict(None, tuple(unknown))
    return Windows11Verdict(True, ())


# --- the conditions --------------------------------------------------------------------------


def _at_least(name: str, value: float | None, minimum: int, unit: str, what: str) -> Condition:
    if value is None:
        return Condition(name, False, f"{what} not recorded")
    shown = f"{value:g} {unit}".strip()
    if value >= minimum:
        return Condition(name, True, f"{shown} (at least {minimum} {unit})".replace("  ", " "))
    return Condition(name, False, f"{shown}, below {minimum} {unit}".replace("  ", " "))


def _spec_conditions(device: Device, rules: DeviceRules, today: date) -> list[Condition]:
    r = rules.readiness
    inv = device.inventory
    out: list[Condition] = []
    if r.min_ram_gb is not None:
        ram = ram_bytes(inv)
        out.append(
            _at_least(
                "memory",
                None if ram is None else round(ram / 2**30, 1),
                r.min_ram_gb,
                "GB",
                "memory",
            )
        )
    if r.min_storage_gb is not None:
        sizes = [d.capacity_bytes for d in device.drives if d.sanitised]
        total = round(sum(sizes) / GB) if sizes else None
        out.append(_at_least("storage", total, r.min_storage_gb, "GB", "sanitised storage"))
    if r.min_battery_health_pct is not None and device.kind in _BATTERY_KINDS:
        out.append(
            _at_least(
                "battery", battery_health(inv), r.min_battery_health_pct, "%", "battery health"
            )
        )
    if r.max_age_years is not None:
        made = bios_date(inv)
        if made is None:
            out.append(Condition("age", False, "BIOS date not recorded"))
        else:
            years = (today - made).days / 365.25
            held = years <= r.max_age_years
            out.append(
                Condition(
                    "age",
                    held,
                    f"BIOS of {made.isoformat()}: {years:.1f} years "
                    f"({'within' if held else 'over'} {r.max_age_years})",
                )
            )
    return out


def _bench_conditions(device: Device, rules: DeviceRules) -> list[Condition]:
    r = rules.readiness
    out: list[Condition] = []
    if device.cosmetic:
        held = device.cosmetic in r.grades
        out.append(
            Condition(
                "grade", held, f"cosmetic grade {device.cosmetic} (accepted: {', '.join(r.grades)})"
            )
        )
    else:
        out.append(Condition("grade", False, "not graded yet"))
    for check in r.checks_for(device.kind.value):
        c = device.checks.get(check)
        if c is None:
            out.append(Condition(CHECK_CONDITION + check, False, "not checked yet"))
        else:
            out.append(
                Condition(
                    CHECK_CONDITION + check,
                    c.result in ("pass", "n/a"),
                    f"{c.result} ({c.operator})",
                )
            )
    if r.locks_cleared and device.holds_data:
        present = sorted(k for k, v in device.locks.items() if v == "present")
        out.append(
            Condition(
                "locks",
                not present,
                f"still locked: {', '.join(present)}" if present else "no lock recorded as present",
            )
        )
    return out


def _drive_condition(device: Device) -> Condition:
    if not device.drives:
        return Condition("drives", False, "no drive linked to it")
    waiting = [d.serial or d.drive_key for d in device.drives if not d.certificate_id]
    failed = [
        d.serial or d.drive_key for d in device.drives if d.certificate_id and not d.sanitised
    ]
    if failed:
        return Condition("drives", False, f"not sanitised: {', '.join(failed)}")
    if waiting:
        return Condition("drives", False, f"no certificate yet: {', '.join(waiting)}")
    return Condition("drives", True, f"{len(device.drives)} sanitised and verified")


def assess(device: Device, rules: DeviceRules, *, today: date, policy: str = "") -> ReadinessReport:
    """The readiness of `device` under `rules`, and where it goes."""
    routes = rules.routes
    bench = _bench_conditions(device, rules)
    if not device.holds_data:
        ok = all(c.held for c in bench)
        graded = device.graded
        destination = routes.no_data if ok else (routes.not_ready if graded else UNDECIDED)
        reason = f"a {device.kind.value} holds no data-bearing media: nothing to erase" + (
            "" if ok else f"; not ready: {_failed(bench)}"
        )
        return ReadinessReport(ok, destination, reason, tuple(bench), None, policy=policy)
    drives = _drive_condition(device)
    conditions = (drives, *_spec_conditions(device, rules, today), *bench)
    win = windows11(device.inventory, rules.windows11)
    failed_drive = any(d.certificate_id and not d.sanitised for d in device.drives)
    if failed_drive:
        notes = (routes.drive_failed_note,) if routes.drive_failed_note else ()
        return ReadinessReport(
            False,
            routes.drive_failed,
            f"a drive in it was not sanitised ({drives.detail}): the policy sends the device to "
            f"{routes.drive_failed}",
            conditions,
            win,
            notes,
            policy,
        )
    if all(c.held for c in conditions):
        return ReadinessReport(
            True, "reuse", "every readiness condition held", conditions, win, policy=policy
        )
    if not drives.held or not device.graded:
        return ReadinessReport(
            False, UNDECIDED, f"waiting: {_failed(conditions)}", conditions, win, policy=policy
        )
    return ReadinessReport(
        False,
        routes.not_ready,
        f"not ready for reuse: {_failed(conditions)}",
        conditions,
        win,
        policy=policy,
    )


def _failed(conditions: tuple[Condition, ...] | list[Condition]) -> str:
    return "; ".join(f"{c.name}: {c.detail}" for c in conditions if not c.held)
