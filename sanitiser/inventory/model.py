"""The computer's own facts (issue 18 item 3): frozen values, and their JSON form.

Pure values, filled by the parsers beside this module (`dmi`, `power`, `edid`) and by the shell
`sanitiser.devices.host.collect_inventory`. Every field that a source did not report is ``None``:
never an empty string or a zero standing in for "unknown". `inventory_to_json` and
`inventory_from_json` round-trip a `HostInventory` exactly; the JSON carries ``"schema": 1``.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

ChassisKind = Literal["laptop", "desktop", "tablet", "server", "other"]
"""What the chassis is, normalised from the SMBIOS chassis type (see `dmi.chassis_kind`)."""

SecureBootState = Literal["enabled", "disabled", "unsupported", "unknown"]
"""Secure Boot as the firmware states it: ``unsupported`` is a legacy-BIOS boot or a UEFI
without the ``SecureBoot`` variable; ``unknown`` means it could not be read (no efivarfs)."""

SCHEMA = 1
"""The version of the JSON form written by `inventory_to_json`."""


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """DMI type 1, System Information."""

    vendor: str | None
    product: str | None
    version: str | None
    serial: str | None
    sku: str | None
    family: str | None
    uuid: str | None


@dataclass(frozen=True, slots=True)
class Baseboard:
    """DMI type 2, Base Board Information."""

    vendor: str | None
    product: str | None
    version: str | None
    serial: str | None


@dataclass(frozen=True, slots=True)
class Chassis:
    """DMI type 3: the chassis type as printed (``Notebook``, ``Desktop``...) and its kind."""

    type: str | None
    kind: ChassisKind
    vendor: str | None
    serial: str | None
    asset_tag: str | None


@dataclass(frozen=True, slots=True)
class Bios:
    """DMI type 0. `release_date` is ISO ``YYYY-MM-DD`` when the printed date could be read;
    `release_date_text` is the date as printed."""

    vendor: str | None
    version: str | None
    release_date: str | None
    release_date_text: str | None


@dataclass(frozen=True, slots=True)
class Cpu:
    """DMI type 4, over the populated sockets.

    `family` and `generation` are derived from the model string (`sanitiser.inventory.cpu`):
    Intel Core iN/mN -> the Core generation (i5-8350U -> 8, i7-1165G7 -> 11); Core Ultra N and
    Core N -> the series (Ultra 7 155H -> 1); AMD Ryzen -> the model-number series digit
    (Ryzen 5 3500U -> 3, i.e. the "3000 series", not the Zen architecture). ``None`` when the
    string does not say (Celeron, Pentium, Xeon, Atom, Ryzen AI...).
    """

    vendor: str | None
    model: str | None
    family: str | None
    generation: int | None
    sockets: int
    cores: int | None
    threads: int | None
    max_mhz: int | None


@dataclass(frozen=True, slots=True)
class MemoryModule:
    """One installed DMI type 17 Memory Device."""

    locator: str | None
    size_bytes: int
    type: str | None
    speed_mts: int | None
    manufacturer: str | None
    part: str | None
    form_factor: str | None


@dataclass(frozen=True, slots=True)
class Memory:
    """DMI types 16/17. The slots are the memory devices DMI lists: with soldered memory
    (form factor ``Row Of Chips``) they are chips or channels, not sockets a module fits in."""

    total_bytes: int | None
    type: str | None
    slots_total: int | None
    slots_used: int | None
    modules: tuple[MemoryModule, ...]


@dataclass(frozen=True, slots=True)
class Battery:
    """One ``/sys/class/power_supply`` battery.

    Energy in Wh (``energy_*`` files, µWh) or charge in Ah (``charge_*`` files, µAh), whichever
    the driver reports. `health_pct` = full / design x 100 in the same flavour. `cycle_count` is
    ``None`` when the kernel says 0: the kernel's ABI document (Documentation/ABI/testing/
    sysfs-class-power) defines 0 as "cycle_count info is not available".
    """

    name: str
    manufacturer: str | None
    model: str | None
    serial: str | None
    technology: str | None
    status: str | None
    energy_full_design_wh: float | None
    energy_full_wh: float | None
    charge_full_design_ah: float | None
    charge_full_ah: float | None
    health_pct: float | None
    cycle_count: int | None


@dataclass(frozen=True, slots=True)
class Tpm:
    """A TPM: `version` ``"2.0"`` or ``"1.2"``; `source` says where it was read (``sysfs``,
    ``dmi`` for DMI type 43, ``tpm2_getcap``)."""

    version: str | None
    manufacturer: str | None
    firmware: str | None
    source: str


@dataclass(frozen=True, slots=True)
class Display:
    """One display's EDID. `manufacturer` is the PNP id (``AUO``, ``DEL``); `model` is the
    Display Product Name, or else the last alphanumeric string (a laptop panel's part number).
    `size_mm` is (width, height); `resolution` the preferred (first detailed) timing."""

    connector: str | None
    manufacturer: str
    product_code: int
    serial: str | None
    model: str | None
    year: int | None
    size_mm: tuple[int, int] | None
    diagonal_in: float | None
    resolution: tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class DmiFacts:
    """Everything `sanitiser.inventory.dmi.parse_dmidecode` reads from one dump."""

    system: SystemInfo
    baseboard: Baseboard | None
    chassis: Chassis | None
    bios: Bios | None
    cpu: Cpu | None
    memory: Memory
    tpm: Tpm | None


@dataclass(frozen=True, slots=True)
class HostInventory:
    """The computer's own facts, for its device record. Drives are not here (the probe has them).

    `notes` says what could not be read (an unreadable battery, an EDID with a bad checksum).
    """

    system: SystemInfo
    baseboard: Baseboard | None
    chassis: Chassis | None
    bios: Bios | None
    cpu: Cpu | None
    memory: Memory
    batteries: tuple[Battery, ...]
    tpm: Tpm | None
    secure_boot: SecureBootState
    displays: tuple[Display, ...]
    notes: tuple[str, ...] = ()


PLACEHOLDER_IDENTIFIERS = frozenset(
    {
        "not specified",
        "not applicable",
        "not available",
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "chassis serial number",
        "serial number",
        "none",
        "n/a",
        "na",
        "invalid",
        "unknown",
        "123456789",
        "0123456789",
        "1234567890",
        "03000200-0400-0500-0006-000700080009",
    }
)
"""What firmware writes in a DMI serial or UUID when the maker set none (lower case)."""


def identifier(value: str | None) -> str:
    """A DMI serial or UUID as written, or "" when it identifies nothing: missing, a
    placeholder (`PLACEHOLDER_IDENTIFIERS`), or one character repeated (``0000``, ``FFFF``,
    ``--``; dashes and spaces aside)."""
    text = (value or "").strip()
    if not text or text.lower() in PLACEHOLDER_IDENTIFIERS:
        return ""
    if len(set(text.replace("-", "").replace(" ", "").lower())) <= 1:
        return ""
    return text


def identity_serials(inventory: HostInventory) -> tuple[str, ...]:
    """The serials a computer names itself by (the system's, then the chassis'), placeholders
    left out: a Dell's service tag and a Lenovo's serial are the system serial."""
    found = [identifier(inventory.system.serial)]
    if inventory.chassis is not None:
        found.append(identifier(inventory.chassis.serial))
    return tuple(dict.fromkeys(s for s in found if s))


def inventory_from_dmi(
    dmi: DmiFacts,
    *,
    batteries: tuple[Battery, ...] = (),
    tpm: Tpm | None = None,
    secure_boot: SecureBootState = "unknown",
    displays: tuple[Display, ...] = (),
    notes: tuple[str, ...] = (),
) -> HostInventory:
    """A `HostInventory` from a dmidecode reading and the other sources; a TPM read elsewhere
    (sysfs, tpm2_getcap) wins over DMI type 43."""
    return HostInventory(
        system=dmi.system,
        baseboard=dmi.baseboard,
        chassis=dmi.chassis,
        bios=dmi.bios,
        cpu=dmi.cpu,
        memory=dmi.memory,
        batteries=batteries,
        tpm=tpm if tpm is not None else dmi.tpm,
        secure_boot=secure_boot,
        displays=displays,
        notes=notes,
    )


def inventory_to_json(inv: HostInventory) -> dict[str, Any]:
    """The JSON form (plain dicts, lists, str, int, float, None) of `inv`."""
    return {"schema": SCHEMA, **_encode_fields(inv)}


def inventory_from_json(d: Mapping[str, Any]) -> HostInventory:
    """The `HostInventory` written by `inventory_to_json`; ValueError for anything else."""
    if d.get("schema") != SCHEMA:
        raise ValueError(f"host inventory: schema {d.get('schema')!r}, expected {SCHEMA}")
    body = {k: v for k, v in d.items() if k != "schema"}
    inv = _decode(HostInventory, body, "inventory")
    if not isinstance(inv, HostInventory):  # pragma: no cover - _decode builds the type asked
        raise ValueError("host inventory: not an inventory")
    return inv


def _encode_fields(value: Any) -> dict[str, object]:
    return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}


def _encode(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return _encode_fields(value)
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


def _decode(tp: Any, value: object, where: str) -> object:
    """`value` read as type `tp` (the annotations of the classes above), or ValueError."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        (inner,) = [t for t in options if t is not type(None)]
        return _decode(inner, value, where)
    if origin is Literal:
        if value not in get_args(tp):
            raise ValueError(f"{where}: {value!r} is not one of {get_args(tp)}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ValueError(f"{where}: expected {len(args)} items, got {value!r}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in pairs)
    if isinstance(tp, type) and is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object, got {value!r}")
        hints = get_type_hints(tp)
        names = [f.name for f in fields(tp)]
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        kwargs = {}
        for f in fields(tp):
            if f.name not in value:
                if f.name == "notes":
                    continue
                raise ValueError(f"{where}: missing {f.name!r}")
            kwargs[f.name] = _decode(hints[f.name], value[f.name], f"{where}.{f.name}")
        return tp(**kwargs)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp in (int, str):
        if isinstance(value, bool) or not isinstance(value, tp):
            raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}")
        return value
    raise ValueError(f"{where}: cannot read type {tp!r}")  # pragma: no cover - a new field type
