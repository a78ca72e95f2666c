"""Batteries from ``/sys/class/power_supply/*/uevent`` text (pure).

A uevent file is ``POWER_SUPPLY_<KEY>=<value>`` lines. Drivers report either energy
(``ENERGY_FULL_DESIGN``/``ENERGY_FULL``, µWh) or charge (``CHARGE_FULL_DESIGN``/``CHARGE_FULL``,
µAh); `Battery` keeps whichever was given, in Wh or Ah, and the health (full / design) in the
same flavour. ``CYCLE_COUNT=0`` is "not reported": the kernel's ABI document
(Documentation/ABI/testing/sysfs-class-power) defines 0 as "cycle_count info is not available",
and the ACPI battery driver reports 0 for batteries without _BIX.
"""

from __future__ import annotations

from collections.abc import Mapping

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.dmi import clean
from sanitiser.inventory.model import Battery

TOOL = "power_supply"
_PREFIX = "POWER_SUPPLY_"


def parse_uevent(text: str) -> dict[str, str]:
    """The ``POWER_SUPPLY_*`` keys of a uevent file, without the prefix; ToolOutputError when
    there are none."""
    keys: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith(_PREFIX):
            keys[key.removeprefix(_PREFIX)] = value
    if not keys:
        raise ToolOutputError(TOOL, "no POWER_SUPPLY_* lines: not a power_supply uevent", text)
    return keys


def _micro(keys: Mapping[str, str], key: str, text: str) -> float | None:
    value = keys.get(key)
    if value is None or not value.strip():
        return None
    try:
        number = int(value.strip())
    except ValueError:
        raise ToolOutputError(TOOL, f"{_PREFIX}{key}={value!r} is not a number", text) from None
    return number / 1_000_000 if number > 0 else None


def _health(full: float | None, design: float | None) -> float | None:
    if full is None or design is None:
        return None
    return round(full / design * 100, 1)


def is_battery(keys: Mapping[str, str], supply_type: str | None = None) -> bool:
    """Whether a supply is a battery: its type says so (``type`` file or ``POWER_SUPPLY_TYPE``);
    older kernels print no type, then a ``BAT*`` name or a capacity key decides."""
    kind = supply_type or keys.get("TYPE")
    if kind is not None:
        return kind.strip() == "Battery"
    name = keys.get("NAME", "")
    return name.startswith("BAT") or any(
        k in keys for k in ("ENERGY_FULL_DESIGN", "CHARGE_FULL_DESIGN", "CAPACITY")
    )


def battery_from_uevent(
    text: str, name: str | None = None, supply_type: str | None = None
) -> Battery | None:
    """The battery a uevent file describes, or None when the supply is not a battery (mains,
    USB) or the bay is empty (``PRESENT=0``). `name` is the sysfs directory's name, used when
    the file has no ``POWER_SUPPLY_NAME``."""
    keys = parse_uevent(text)
    if not is_battery(keys, supply_type):
        return None
    if keys.get("PRESENT", "1").strip() == "0":
        return None
    supply = clean(keys.get("NAME")) or name
    if supply is None:
        raise ToolOutputError(TOOL, "a battery with no POWER_SUPPLY_NAME and no name given", text)
    energy_design = _micro(keys, "ENERGY_FULL_DESIGN", text)
    energy_full = _micro(keys, "ENERGY_FULL", text)
    charge_design = _micro(keys, "CHARGE_FULL_DESIGN", text)
    charge_full = _micro(keys, "CHARGE_FULL", text)
    health = _health(energy_full, energy_design)
    if health is None:
        health = _health(charge_full, charge_design)
    cycles = keys.get("CYCLE_COUNT", "").strip()
    return Battery(
        name=supply,
        manufacturer=clean(keys.get("MANUFACTURER")),
        model=clean(keys.get("MODEL_NAME")),
        serial=clean(keys.get("SERIAL_NUMBER")),
        technology=clean(keys.get("TECHNOLOGY")),
        status=clean(keys.get("STATUS")),
        energy_full_design_wh=energy_design,
        energy_full_wh=energy_full,
        charge_full_design_ah=charge_design,
        charge_full_ah=charge_full,
        health_pct=health,
        cycle_count=int(cycles) if cycles.isdigit() and int(cycles) > 0 else None,
    )
