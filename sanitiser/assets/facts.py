"""The computer's facts as a technician brings them to the bench: a ``dmidecode`` dump captured
on the device (by our USB agent, or by hand), battery ``uevent`` files, the TPM version and the
Secure Boot state read off its firmware screens, or, with nothing captured, typed values.

Pure: the texts are handed in; `sanitiser.inventory` parses them (and fails loudly on a dump
it recognises but cannot read). A typed fact is a fact like any other, and the record says
where each inventory came from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from sanitiser.assets.model import Device, DeviceError, Intake
from sanitiser.inventory.cpu import cpu_family, cpu_vendor
from sanitiser.inventory.dmi import parse_dmidecode
from sanitiser.inventory.model import (
    Battery,
    Bios,
    Cpu,
    HostInventory,
    Memory,
    SecureBootState,
    SystemInfo,
    Tpm,
    inventory_from_dmi,
)
from sanitiser.inventory.power import battery_from_uevent

SECURE_BOOT_STATES = ("enabled", "disabled", "unsupported", "unknown")

TPM_NOT_RECORDED = Tpm(version=None, manufacturer=None, firmware=None, source="not recorded")
"""Neither typed nor in the dump: a DMI dump without a TPM record does not prove there is no
TPM (many firmwares list none), so nothing is claimed (`readiness.windows11` says unknown)."""


@dataclass(frozen=True, slots=True)
class Typed:
    """What the technician typed (None: not given)."""

    ram_gb: float | None = None
    cpu: str | None = None
    bios_date: str | None = None
    battery_health_pct: float | None = None
    tpm: str | None = None
    """``2.0``, ``1.2`` or ``none``."""
    secure_boot: str | None = None


def _tpm(value: str | None) -> Tpm | None:
    if value is None:
        return TPM_NOT_RECORDED
    if value.strip().lower() == "none":
        return None
    version = value.strip()
    if version not in ("2.0", "1.2"):
        raise DeviceError(f"TPM {value!r}: give 2.0, 1.2 or none")
    return Tpm(version=version, manufacturer=None, firmware=None, source="typed")


def _secure_boot(value: str | None) -> SecureBootState:
    text = (value or "unknown").strip().lower()
    if text == "enabled":
        return "enabled"
    if text == "disabled":
        return "disabled"
    if text == "unsupported":
        return "unsupported"
    if text == "unknown":
        return "unknown"
    raise DeviceError(f"Secure Boot {value!r}: one of {', '.join(SECURE_BOOT_STATES)}")


def typed_battery(pct: float | None = None) -> Battery:
    """A battery as typed: its health in percent (None: not given), nothing else known.

    Raises:
        DeviceError: a health outside 0-150%.
    """
    if pct is not None and not 0 <= pct <= 150:
        raise DeviceError(f"battery health {pct:g}%: give the full/design charge in percent")
    return Battery(
        name="typed",
        manufacturer=None,
        model=None,
        serial=None,
        technology=None,
        status=None,
        energy_full_design_wh=None,
        energy_full_wh=None,
        charge_full_design_ah=None,
        charge_full_ah=None,
        health_pct=pct,
        cycle_count=None,
    )


def date_problem(text: str) -> str:
    """Why `text` is not a date as ``YYYY-MM-DD`` ("" when it is one): not written so, or
    written so but no such day (``2019-02-30``)."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return "give it as YYYY-MM-DD"
    try:
        date.fromisoformat(text)
    except ValueError:
        return "there is no such day"
    return ""


def _bios(text: str) -> Bios:
    if problem := date_problem(text):
        raise DeviceError(f"BIOS date {text!r}: {problem}")
    return Bios(vendor=None, version=None, release_date=text, release_date_text=text)


def typed_cpu(model: str | None) -> Cpu:
    """A processor as typed: its model string (family and generation read from it)."""
    family, generation = cpu_family(model)
    return Cpu(
        vendor=cpu_vendor(None, model),
        model=model,
        family=family,
        generation=generation,
        sockets=1,
        cores=None,
        threads=None,
        max_mhz=None,
    )


def from_captures(
    dmidecode: str,
    *,
    uevents: Sequence[tuple[str, str]] = (),
    typed: Typed = Typed(),
) -> HostInventory:
    """The inventory from a captured dump and battery files (name, text), with the TPM and
    Secure Boot as typed (the dump's own TPM record when no TPM is typed).

    Raises:
        ToolOutputError: a capture is recognised but unreadable (never blanks).
        DeviceError: a typed value is not one the record can take.
    """
    dmi = parse_dmidecode(dmidecode)
    batteries = tuple(
        b for name, text in uevents if (b := battery_from_uevent(text, name)) is not None
    )
    tpm = _tpm(typed.tpm) if typed.tpm is not None else (dmi.tpm or TPM_NOT_RECORDED)
    inventory = inventory_from_dmi(
        dmi, batteries=batteries, secure_boot=_secure_boot(typed.secure_boot)
    )
    return _overlay(replace(inventory, tpm=tpm), typed)


def _overlay(inventory: HostInventory, typed: Typed) -> HostInventory:
    """Typed values over captured ones (the technician corrects or completes)."""
    if typed.ram_gb is not None:
        total = int(typed.ram_gb * 2**30)
        inventory = replace(inventory, memory=replace(inventory.memory, total_bytes=total))
    if typed.cpu:
        inventory = replace(inventory, cpu=typed_cpu(typed.cpu))
    if typed.bios_date:
        inventory = replace(inventory, bios=_bios(typed.bios_date))
    if typed.battery_health_pct is not None:
        inventory = replace(inventory, batteries=(typed_battery(typed.battery_health_pct),))
    return inventory


def typed_inventory(intake: Intake, typed: Typed) -> HostInventory:
    """An inventory from typed values only (the system named as taken in)."""
    base = HostInventory(
        system=SystemInfo(
            vendor=intake.make or None,
            product=intake.model or None,
            version=None,
            serial=intake.serial or None,
            sku=None,
            family=None,
            uuid=None,
        ),
        baseboard=None,
        chassis=None,
        bios=None,
        cpu=None,
        memory=Memory(total_bytes=None, type=None, slots_total=None, slots_used=None, modules=()),
        batteries=(),
        tpm=_tpm(typed.tpm),
        secure_boot=_secure_boot(typed.secure_boot),
        displays=(),
        notes=("typed at the bench",),
    )
    return _overlay(base, typed)


def drives_summary(device: Device) -> str:
    """Its drives in a few words, as device lists show them: ``1/2 drives sanitised``,
    ``no drive linked`` yet, or ``no drives`` for a monitor or dock."""
    if not device.holds_data:
        return "no drives"
    if not device.drives:
        return "no drive linked"
    sanitised = sum(1 for d in device.drives if d.sanitised)
    return f"{sanitised}/{len(device.drives)} drives sanitised"


def spec_lines(inventory: HostInventory) -> list[tuple[str, str]]:
    """The inventory as (label, value) lines for people: the CLI, the TUI, the certificate and
    the verify page say it the same way. Unrecorded facts are left out, never shown blank."""
    inv = inventory
    out: list[tuple[str, str]] = []
    system = " ".join(v for v in (inv.system.vendor, inv.system.product, inv.system.version) if v)
    if system:
        out.append(("System", system))
    if inv.system.serial:
        out.append(("System serial", inv.system.serial))
    if inv.chassis is not None and inv.chassis.type:
        out.append(("Chassis", f"{inv.chassis.type} ({inv.chassis.kind})"))
    if inv.cpu is not None and inv.cpu.model:
        extra = [
            inv.cpu.family or "",
            f"generation {inv.cpu.generation}" if inv.cpu.generation else "",
        ]
        cores = f"{inv.cpu.cores} cores" if inv.cpu.cores else ""
        detail = ", ".join(x for x in (*extra, cores) if x)
        out.append(("CPU", f"{inv.cpu.model}" + (f" ({detail})" if detail else "")))
    if inv.memory.total_bytes:
        gib = inv.memory.total_bytes / 2**30
        slots = (
            f", {inv.memory.slots_used}/{inv.memory.slots_total} slots"
            if inv.memory.slots_total
            else ""
        )
        out.append(("Memory", f"{gib:g} GB {inv.memory.type or ''}".rstrip() + slots))
    for b in inv.batteries:
        if b.health_pct is not None:
            cycles = f", {b.cycle_count} cycles" if b.cycle_count else ""
            out.append(("Battery", f"{b.health_pct:.0f}% of design capacity{cycles}"))
    if inv.tpm is not None and inv.tpm.version:
        out.append(("TPM", inv.tpm.version))
    elif inv.tpm is None:
        out.append(("TPM", "none found"))
    if inv.secure_boot != "unknown":
        out.append(("Secure Boot", inv.secure_boot))
    if inv.bios is not None and (inv.bios.version or inv.bios.release_date):
        out.append(
            (
                "BIOS",
                " ".join(
                    v for v in (inv.bios.vendor, inv.bios.version, inv.bios.release_date) if v
                ),
            )
        )
    for d in inv.displays:
        if d.diagonal_in and d.resolution:
            out.append(("Screen", f'{d.diagonal_in:.1f}" {d.resolution[0]}x{d.resolution[1]}'))
    return out
