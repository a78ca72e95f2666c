"""The computer's facts as a form: what the technician types or confirms at the bench when the
device did not run our agent (issue 18 item 3), field by field.

`form_values` fills the form from what is recorded (the facts, else the make, model and serial
taken in; the locks noted); `facts_from_form` reads it back into a `HostInventory` and the
locks, each field checked (`sanitiser.text`'s one check for text, a number or a date where one
is wanted) and refused with the field's name and the reason. What the form does not show (the
baseboard, memory modules, a second battery, a display's EDID identity ...) is kept as it was
recorded: confirming never loses a fact. Storage is not typed: it is what the linked drives'
certificates prove (`storage_text`).

Pure: values in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Final

from sanitiser.assets.facts import (
    SECURE_BOOT_STATES,
    TPM_NOT_RECORDED,
    date_problem,
    typed_battery,
    typed_cpu,
)
from sanitiser.assets.model import LOCK_STATES, LOCKS, Device, DeviceError
from sanitiser.errors import SanitiserError
from sanitiser.inventory.cpu import cpu_family, cpu_vendor
from sanitiser.inventory.dmi import chassis_kind
from sanitiser.inventory.model import (
    Battery,
    Bios,
    Chassis,
    Cpu,
    Display,
    HostInventory,
    Memory,
    SecureBootState,
    SystemInfo,
    Tpm,
)
from sanitiser.text import clean_text

GIB: Final = 2**30


class FactsFormError(DeviceError):
    """A field of the facts form cannot be kept: `field` names it (a key of `FACT_FIELDS`)."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(msg)
        self.field = field


@dataclass(frozen=True, slots=True)
class FactField:
    """One line of the form."""

    key: str
    label: str
    kind: str
    """The text kind of `sanitiser.text.MAX_LENGTHS` the typed value is checked as."""
    hint: str
    """What to type (the placeholder)."""


FACT_FIELDS: Final = (
    FactField("vendor", "DMI vendor", "name", "e.g. Dell Inc."),
    FactField("product", "DMI product", "model", "e.g. Latitude 5490"),
    FactField("serial", "DMI serial", "tag", "the system serial (service tag)"),
    FactField("sku", "DMI SKU", "model", "optional"),
    FactField("chassis", "Chassis type", "name", "Notebook, Desktop, Tablet ..."),
    FactField("bios_vendor", "BIOS vendor", "name", "optional"),
    FactField("bios_version", "BIOS version", "model", "e.g. 1.21.0"),
    FactField("bios_date", "BIOS date", "tag", "YYYY-MM-DD"),
    FactField("cpu", "CPU model", "model", "e.g. Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz"),
    FactField("cores", "CPU cores", "tag", "a whole number"),
    FactField("generation", "CPU generation", "tag", "blank: read from the model"),
    FactField("ram_gb", "RAM total GB", "tag", "e.g. 8"),
    FactField("ram_type", "RAM type", "name", "e.g. DDR4"),
    FactField("ram_slots", "RAM slots", "tag", "used/total, e.g. 1/2"),
    FactField("battery_design_wh", "Battery design Wh", "tag", "energy when new"),
    FactField("battery_full_wh", "Battery full Wh", "tag", "energy at full charge now"),
    FactField("battery_health", "Battery health %", "tag", "or give design and full Wh"),
    FactField("battery_cycles", "Battery cycles", "tag", "a whole number"),
    FactField("tpm", "TPM version", "tag", "2.0, 1.2 or none (blank: not recorded)"),
    FactField("secure_boot", "Secure Boot", "tag", " / ".join(SECURE_BOOT_STATES)),
    FactField("screen_in", "Screen size in", "tag", 'diagonal in inches, e.g. 14 or 15.6"'),
    FactField("resolution", "Resolution", "tag", "WIDTHxHEIGHT, e.g. 1920x1080"),
    *(
        FactField(f"lock:{name}", name, "tag", " / ".join(LOCK_STATES) + " (blank: not noted)")
        for name in LOCKS
    ),
)
"""The fields, in the order the form shows them."""

FIELD_KEYS: Final = tuple(f.key for f in FACT_FIELDS)
_LABELS: Final = {f.key: f.label for f in FACT_FIELDS}


@dataclass(frozen=True, slots=True)
class FormFacts:
    """What the form gives back: the facts, the locks noted, and which fields were changed."""

    inventory: HostInventory
    locks: Mapping[str, str]
    changed: tuple[str, ...]
    """The keys of the fields whose value differs from what the form was filled with."""


# --- filling the form ------------------------------------------------------------------------


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _first_battery(inv: HostInventory | None) -> Battery | None:
    return inv.batteries[0] if inv is not None and inv.batteries else None


def _first_display(inv: HostInventory | None) -> Display | None:
    return inv.displays[0] if inv is not None and inv.displays else None


def form_values(device: Device) -> dict[str, str]:
    """The form filled with what is recorded: the facts, else the make, model and serial as
    taken in; the locks noted. Blank for what is not recorded (never a guess)."""
    inv = device.inventory
    intake = device.intake
    system = inv.system if inv is not None else None
    bios = inv.bios if inv is not None else None
    cpu = inv.cpu if inv is not None else None
    memory = inv.memory if inv is not None else None
    battery = _first_battery(inv)
    display = _first_display(inv)
    tpm = "" if inv is None else _tpm_text(inv.tpm)
    slots = ""
    if memory is not None and memory.slots_total is not None:
        slots = (
            f"{memory.slots_used if memory.slots_used is not None else '?'}/{memory.slots_total}"
        )
    values = {
        "vendor": (system.vendor if system else intake.make) or "",
        "product": (system.product if system else intake.model) or "",
        "serial": (system.serial if system else intake.serial) or "",
        "sku": (system.sku if system else None) or "",
        "chassis": (inv.chassis.type if inv is not None and inv.chassis else None) or "",
        "bios_vendor": (bios.vendor if bios else None) or "",
        "bios_version": (bios.version if bios else None) or "",
        "bios_date": (bios.release_date if bios else None) or "",
        "cpu": (cpu.model if cpu else None) or "",
        "cores": _num(cpu.cores if cpu else None),
        "generation": _num(cpu.generation if cpu else None),
        "ram_gb": _num(
            round(memory.total_bytes / GIB, 2) if memory and memory.total_bytes else None
        ),
        "ram_type": (memory.type if memory else None) or "",
        "ram_slots": slots,
        "battery_design_wh": _num(battery.energy_full_design_wh if battery else None),
        "battery_full_wh": _num(battery.energy_full_wh if battery else None),
        "battery_health": _num(
            round(battery.health_pct, 1) if battery and battery.health_pct is not None else None
        ),
        "battery_cycles": _num(battery.cycle_count if battery else None),
        "tpm": tpm,
        "secure_boot": inv.secure_boot if inv is not None else "unknown",
        "screen_in": _num(display.diagonal_in if display else None),
        "resolution": (
            f"{display.resolution[0]}x{display.resolution[1]}"
            if display is not None and display.resolution
            else ""
        ),
    }
    for name in LOCKS:
        values[f"lock:{name}"] = device.locks.get(name, "")
    return values


def _tpm_text(tpm: Tpm | None) -> str:
    if tpm is None:
        return "none"
    if tpm.source == TPM_NOT_RECORDED.source or not tpm.version:
        return ""
    return tpm.version


def storage_text(device: Device) -> str:
    """The storage the linked drives' certificates prove (it is not typed)."""
    if not device.holds_data:
        return "none (holds no data-bearing media)"
    sized = [d for d in device.drives if d.capacity_bytes]
    if not sized:
        return "from the linked drives' certificates (none yet)"
    total = sum(d.capacity_bytes for d in sized) / 10**9
    sanitised = sum(1 for d in sized if d.sanitised)
    return f"{total:g} GB in {len(sized)} drive(s), {sanitised} sanitised (from their certificates)"


# --- reading it back -------------------------------------------------------------------------


def _refuse(key: str, why: str) -> FactsFormError:
    return FactsFormError(key, f"{_LABELS[key]}: {why}")


def _number(
    key: str, text: str, low: float, high: float, *, whole: bool = False, eg: str = ""
) -> float | None:
    if not text:
        return None
    pattern = r"\d+" if whole else r"\d+(\.\d+)?"
    if not re.fullmatch(pattern, text):
        what = "a whole number" if whole else "a number"
        raise _refuse(key, f"{text!r} is not {what}" + (f" (e.g. {eg})" if eg else ""))
    value = float(text)
    if not low <= value <= high:
        raise _refuse(key, f"{text} is out of range ({low:g} to {high:g})")
    return value


def _whole(key: str, text: str, low: int, high: int) -> int | None:
    value = _number(key, text, low, high, whole=True)
    return None if value is None else int(value)


def _choice(key: str, text: str, choices: tuple[str, ...]) -> str:
    low = text.lower()
    if low and low not in choices:
        raise _refuse(key, f"{text!r} is not one of {', '.join(choices)}")
    return low


def _typed(values: Mapping[str, str]) -> dict[str, str]:
    """Every field as clean text (`sanitiser.text`): a control character, an invisible one or
    a value too long is refused naming its field; blanks around a value are dropped."""
    out = {}
    for f in FACT_FIELDS:
        raw = values.get(f.key, "")
        try:
            out[f.key] = clean_text(raw, f.label, kind=f.kind)
        except SanitiserError as e:
            raise FactsFormError(f.key, e.msg) from e
    return out


def _slots(text: str) -> tuple[int | None, int | None]:
    if not text:
        return None, None
    m = re.fullmatch(r"(?:(\d+|\?)\s*/\s*)?(\d+)", text)
    if m is None:
        raise _refuse("ram_slots", f"{text!r}: give USED/TOTAL (e.g. 1/2) or the total")
    used = None if m.group(1) in (None, "?") else int(m.group(1))
    total = int(m.group(2))
    if not 1 <= total <= 64 or (used is not None and used > total):
        raise _refuse("ram_slots", f"{text}: used 0-{total}, total 1-64")
    return used, total


def _resolution(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    m = re.fullmatch(r"(\d{2,5})\s*[xX×]\s*(\d{2,5})", text)
    if m is None:
        raise _refuse("resolution", f"{text!r}: give WIDTHxHEIGHT, e.g. 1920x1080")
    return int(m.group(1)), int(m.group(2))


def _bios_date(text: str) -> str | None:
    if not text:
        return None
    if problem := date_problem(text):
        raise _refuse("bios_date", f"{text!r}: {problem}")
    return text


def _or_none(text: str) -> str | None:
    return text or None


def _battery(v: dict[str, str], base: Battery | None) -> Battery | None:
    design = _number("battery_design_wh", v["battery_design_wh"], 0.1, 1000)
    full = _number("battery_full_wh", v["battery_full_wh"], 0.0, 1000)
    health = _number("battery_health", v["battery_health"], 0, 150)
    cycles = _whole("battery_cycles", v["battery_cycles"], 0, 100000)
    if design is not None and full is not None:
        derived = round(full / design * 100, 1)
        if health is not None and abs(health - derived) > 1:
            raise _refuse(
                "battery_health",
                f"{health:g}% disagrees with full/design = {full:g}/{design:g} Wh = "
                f"{derived:g}%: correct one of them, or leave the health blank",
            )
        health = derived
    elif (design is None) != (full is None):
        missing = "battery_full_wh" if full is None else "battery_design_wh"
        raise _refuse(missing, "give both design and full Wh (or only the health %)")
    if design is None and health is None and cycles is None:
        return None
    kept = base or typed_battery()
    same_energy = design == kept.energy_full_design_wh and full == kept.energy_full_wh
    return replace(
        kept,
        energy_full_design_wh=design,
        energy_full_wh=full,
        charge_full_design_ah=kept.charge_full_design_ah if same_energy else None,
        charge_full_ah=kept.charge_full_ah if same_energy else None,
        health_pct=health,
        cycle_count=cycles,
    )


def _display(v: dict[str, str], base: Display | None) -> Display | None:
    size = _number("screen_in", v["screen_in"].rstrip('"'), 1, 200)
    resolution = _resolution(v["resolution"])
    if size is None and resolution is None:
        return None
    kept = base or Display(
        connector=None,
        manufacturer="",
        product_code=0,
        serial=None,
        model=None,
        year=None,
        size_mm=None,
        diagonal_in=None,
        resolution=None,
    )
    return replace(kept, diagonal_in=size, resolution=resolution)


def _cpu(v: dict[str, str], base: Cpu | None) -> Cpu | None:
    model = _or_none(v["cpu"])
    cores = _whole("cores", v["cores"], 1, 1024)
    generation = _whole("generation", v["generation"], 1, 99)
    if model is None and cores is None and generation is None:
        return None
    family, derived = cpu_family(model)
    kept = base or typed_cpu(None)
    return replace(
        kept,
        vendor=cpu_vendor(None, model) if model != kept.model else kept.vendor,
        model=model,
        family=family,
        generation=generation if generation is not None else derived,
        cores=cores,
    )


def _tpm(text: str, base: Tpm | None) -> Tpm | None:
    choice = _choice("tpm", text, ("2.0", "1.2", "none"))
    if not choice:
        return TPM_NOT_RECORDED
    if choice == "none":
        return None
    if base is not None and base.version == choice:
        return base  # as read (its manufacturer and firmware stay)
    return Tpm(version=choice, manufacturer=None, firmware=None, source="typed")


_BOOT: Final[dict[str, SecureBootState]] = {
    "enabled": "enabled",
    "disabled": "disabled",
    "unsupported": "unsupported",
    "unknown": "unknown",
}


def facts_from_form(device: Device, values: Mapping[str, str]) -> FormFacts:
    """The facts and locks the form says, over what is recorded (fields the form does not show
    are kept), and which fields the technician changed.

    Raises:
        FactsFormError: the first field that cannot be kept, named, with the reason.
    """
    v = _typed(values)
    before = form_values(device)
    base = device.inventory
    ram_gb = _number("ram_gb", v["ram_gb"], 0.25, 65536, eg="8")
    used, total = _slots(v["ram_slots"])
    memory = base.memory if base is not None else Memory(None, None, None, None, ())
    memory = replace(
        memory,
        total_bytes=None if ram_gb is None else int(ram_gb * GIB),
        type=_or_none(v["ram_type"]),
        slots_used=used,
        slots_total=total,
    )
    if ram_gb is not None and before["ram_gb"] == v["ram_gb"] and base is not None:
        memory = replace(memory, total_bytes=base.memory.total_bytes)  # as read, to the byte
    system = (
        base.system if base is not None else SystemInfo(None, None, None, None, None, None, None)
    )
    system = replace(
        system,
        vendor=_or_none(v["vendor"]),
        product=_or_none(v["product"]),
        serial=_or_none(v["serial"]),
        sku=_or_none(v["sku"]),
    )
    chassis_type = _or_none(v["chassis"])
    chassis = base.chassis if base is not None else None
    if chassis_type is None:
        chassis = None
    elif chassis is None or chassis.type != chassis_type:
        chassis = Chassis(
            type=chassis_type,
            kind=chassis_kind(chassis_type),
            vendor=chassis.vendor if chassis else None,
            serial=chassis.serial if chassis else None,
            asset_tag=chassis.asset_tag if chassis else None,
        )
    bios_fields = (
        _or_none(v["bios_vendor"]),
        _or_none(v["bios_version"]),
        _bios_date(v["bios_date"]),
    )
    bios = None
    if any(bios_fields):
        kept_text = base.bios.release_date_text if base is not None and base.bios else None
        same_date = base is not None and base.bios and base.bios.release_date == bios_fields[2]
        bios = Bios(
            vendor=bios_fields[0],
            version=bios_fields[1],
            release_date=bios_fields[2],
            release_date_text=kept_text if same_date else bios_fields[2],
        )
    battery = _battery(v, _first_battery(base))
    display = _display(v, _first_display(base))
    rest_batteries = base.batteries[1:] if base is not None else ()
    rest_displays = base.displays[1:] if base is not None else ()
    inventory = HostInventory(
        system=system,
        baseboard=base.baseboard if base is not None else None,
        chassis=chassis,
        bios=bios,
        cpu=_cpu(v, base.cpu if base is not None else None),
        memory=memory,
        batteries=((battery,) if battery else ()) + tuple(rest_batteries),
        tpm=_tpm(v["tpm"], base.tpm if base is not None else None),
        secure_boot=_BOOT[
            _choice("secure_boot", v["secure_boot"] or "unknown", SECURE_BOOT_STATES)
        ],
        displays=((display,) if display else ()) + tuple(rest_displays),
        notes=base.notes if base is not None else ("typed at the bench",),
    )
    locks = {}
    for name in LOCKS:
        key = f"lock:{name}"
        state = _choice(key, v[key], LOCK_STATES)
        if state:
            locks[name] = state
        elif name in device.locks:
            raise _refuse(key, "a lock noted before cannot be un-noted: give its state")
    changed = tuple(k for k in FIELD_KEYS if v[k] != before[k].strip())
    return FormFacts(inventory, locks, changed)


def confirmed_source(previous: str, changed: bool) -> str:
    """Where the facts come from once the technician has confirmed them: ``typed`` when nothing
    was recorded; the earlier source with ``+ typed`` when a value was changed; the earlier
    source unchanged when each was confirmed as it was."""
    if not previous:
        return "typed"
    if changed and "typed" not in previous:
        return f"{previous} + typed"
    return previous
