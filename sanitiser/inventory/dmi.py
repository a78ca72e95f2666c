"""The computer's DMI facts from ``dmidecode`` text (pure).

`parse_dmidecode` reads the full dump as ``dmidecode`` prints it (no ``-t``): types 0 (BIOS),
1 (System), 2 (Base Board), 3 (Chassis), 4 (Processor, one record a socket), 16/17 (memory
array and devices, ``No Module Installed`` for an empty slot, sizes in kB/MB/GB/TB) and 43 (TPM).
It does not rely on tabs: a dump pasted where tabs became spaces, or lost their indentation,
reads the same. Vendors' placeholder strings ("To Be Filled By O.E.M.", "Default string",
"System Serial Number", "Not Specified", "0123456789", ...) become ``None``.

Text that is recognisably dmidecode but has no readable System Information record (type 1),
or whose records are cut short, raises `ToolOutputError` carrying the raw text: never blanks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.cpu import cpu_family, cpu_vendor
from sanitiser.inventory.model import (
    Baseboard,
    Bios,
    Chassis,
    ChassisKind,
    Cpu,
    DmiFacts,
    Memory,
    MemoryModule,
    SystemInfo,
    Tpm,
)

TOOL = "dmidecode"

_HANDLE = re.compile(r"^\s*Handle 0x([0-9A-Fa-f]+), DMI type (\d+), (\d+) bytes\s*$")
_MARKERS = ("# dmidecode", "SMBIOS ", "Getting SMBIOS data", "DMI type ")
_NO_TABLE = ("No SMBIOS nor DMI entry point found", "Table is unreachable")

PLACEHOLDERS = frozenset(
    s.lower()
    for s in (
        "To Be Filled By O.E.M.",
        "To be filled by O.E.M.",
        "Default string",
        "Default String",
        "System Serial Number",
        "System Product Name",
        "System manufacturer",
        "System Manufacturer",
        "System Version",
        "System SKUNumber",
        "Chassis Serial Number",
        "Chassis Manufacture",
        "Chassis Version",
        "Base Board Serial Number",
        "Not Specified",
        "Not Applicable",
        "Not Available",
        "Not Provided",
        "Not Present",
        "Not Settable",
        "Not Installed",
        "Unknown",
        "Other",
        "None",
        "N/A",
        "NA",
        "O.E.M.",
        "OEM",
        "Type1ProductConfigId",
        "Type2 - Board Serial Number",
        "0123456789",
        "123456789",
        "1234567890",
        "00000000",
        "0000000000",
        "Invalid",
        "<BAD INDEX>",
        "<OUT OF SPEC>",
        "03000200-0400-0500-0006-000700080009",
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
    )
)
"""Strings vendors leave in DMI for "not filled in", compared case-insensitively."""

_CHASSIS_KINDS: Mapping[str, ChassisKind] = {
    "portable": "laptop",
    "laptop": "laptop",
    "notebook": "laptop",
    "sub notebook": "laptop",
    "convertible": "laptop",
    "hand held": "tablet",
    "tablet": "tablet",
    "detachable": "tablet",
    "desktop": "desktop",
    "low profile desktop": "desktop",
    "pizza box": "desktop",
    "mini tower": "desktop",
    "tower": "desktop",
    "all in one": "desktop",
    "space-saving": "desktop",
    "lunch box": "desktop",
    "sealed-case pc": "desktop",
    "mini pc": "desktop",
    "stick pc": "desktop",
    "main server chassis": "server",
    "rack mount chassis": "server",
    "multi-system": "server",
    "blade": "server",
    "blade enclosure": "server",
}
_SIZE = re.compile(r"^(\d+)\s*(bytes|kB|KB|MB|GB|TB)$")
_UNITS = {"bytes": 1, "kB": 1 << 10, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_SPEED = re.compile(r"^(\d+)\s*(MT/s|MHz)$")
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})$")
_VERSION = re.compile(r"^(\d+\.\d+)")
_FIRMWARE = re.compile(r"Firmware Revision:\s*(\S+)")


@dataclass(frozen=True, slots=True)
class DmiRecord:
    """One record of the dump: its handle, type, title and ``Key: value`` properties (the
    first of each key; list items and hw-probe's hashed lines are not properties)."""

    handle: str
    type: int
    title: str
    props: Mapping[str, str]


def clean(value: str | None) -> str | None:
    """`value` stripped, or ``None`` when it is empty or a vendor placeholder."""
    if value is None:
        return None
    text = value.strip()
    if not text or text.lower() in PLACEHOLDERS:
        return None
    return text


def chassis_kind(type_text: str | None) -> ChassisKind:
    """laptop / desktop / tablet / server / other from the SMBIOS chassis type as printed.
    Convertible counts as a laptop, Detachable and Hand Held as a tablet."""
    if type_text is None:
        return "other"
    return _CHASSIS_KINDS.get(type_text.strip().lower(), "other")


def parse_size(text: str | None) -> int | None:
    """Bytes of a dmidecode size (``8 GB``, ``8192 MB``); ``None`` for ``No Module Installed``,
    ``Unknown`` and the like. dmidecode's units are binary (1 kB = 1024 bytes)."""
    if text is None:
        return None
    m = _SIZE.match(text.strip())
    if m is None:
        return None
    return int(m.group(1)) * _UNITS[m.group(2)]


def parse_bios_date(text: str | None) -> str | None:
    """ISO date of a DMI BIOS date ``MM/DD/YYYY`` (or ``MM/DD/YY``: 80-99 are 19xx), or None."""
    if text is None:
        return None
    m = _DATE.match(text.strip())
    if m is None:
        return None
    month, day, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if len(m.group(3)) == 2:
        year += 1900 if year >= 80 else 2000
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    m = re.match(r"^\s*(\d+)", text)
    return int(m.group(1)) if m else None


def parse_records(text: str) -> list[DmiRecord]:
    """The records of a dmidecode dump, in order."""
    records: list[DmiRecord] = []
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if _HANDLE.match(line)]
    for n, start in enumerate(starts):
        m = _HANDLE.match(lines[start])
        if m is None:  # pragma: no cover - starts holds only matching lines
            continue
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        body = [line for line in lines[start + 1 : end] if line.strip()]
        if not body:
            raise ToolOutputError(
                TOOL, f"record 0x{m.group(1)} (DMI type {m.group(2)}) is empty: cut short?", text
            )
        title, rest = body[0].strip(), body[1:]
        records.append(DmiRecord(m.group(1), int(m.group(2)), title, _properties(rest)))
    return records


def _properties(lines: Sequence[str]) -> dict[str, str]:
    """``Key: value`` lines at the shallowest indentation of a record (tabs or spaces alike)."""
    indents = [len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip()) for line in lines]
    top = min(indents, default=0)
    props: dict[str, str] = {}
    for line, indent in zip(lines, indents, strict=True):
        if indent != top:
            continue
        key, sep, value = line.strip().partition(":")
        if sep and key and not re.fullmatch(r"[0-9A-Fa-f ]+", key):
            props.setdefault(key.strip(), value.strip())
    return props


def _require(record: DmiRecord, keys: Sequence[str], text: str) -> None:
    missing = [k for k in keys if k not in record.props]
    if missing:
        raise ToolOutputError(
            TOOL,
            f"{record.title} (DMI type {record.type}, handle 0x{record.handle}) has no "
            f"{', '.join(missing)}: the output is cut short or not dmidecode's",
            text,
        )


def parse_dmidecode(text: str) -> DmiFacts:
    """The DMI facts of one full ``dmidecode`` dump; ToolOutputError when it cannot be read."""
    for phrase in _NO_TABLE:
        if phrase in text:
            raise ToolOutputError(TOOL, f"the firmware gives no SMBIOS table ({phrase})", text)
    if not any(marker in text for marker in _MARKERS):
        raise ToolOutputError(TOOL, "this is not dmidecode output", text)
    records = parse_records(text)
    by_type: dict[int, list[DmiRecord]] = {}
    for record in records:
        by_type.setdefault(record.type, []).append(record)
    systems = by_type.get(1, [])
    if not systems:
        raise ToolOutputError(
            TOOL, "no System Information record (DMI type 1): the output is cut short?", text
        )
    system = systems[0]
    _require(system, ("Manufacturer", "Product Name"), text)
    for record in by_type.get(17, []):
        _require(record, ("Size",), text)
    for record in by_type.get(4, []):
        _require(record, ("Version",), text)
    return DmiFacts(
        system=_system(system),
        baseboard=_baseboard(by_type.get(2, [])),
        chassis=_chassis(by_type.get(3, [])),
        bios=_bios(by_type.get(0, [])),
        cpu=_cpu(by_type.get(4, [])),
        memory=_memory(by_type.get(16, []), by_type.get(17, [])),
        tpm=_tpm(by_type.get(43, [])),
    )


def _system(r: DmiRecord) -> SystemInfo:
    p = r.props
    return SystemInfo(
        vendor=clean(p.get("Manufacturer")),
        product=clean(p.get("Product Name")),
        version=clean(p.get("Version")),
        serial=clean(p.get("Serial Number")),
        sku=clean(p.get("SKU Number")),
        family=clean(p.get("Family")),
        uuid=clean(p.get("UUID")),
    )


def _baseboard(records: Sequence[DmiRecord]) -> Baseboard | None:
    if not records:
        return None
    p = records[0].props
    return Baseboard(
        vendor=clean(p.get("Manufacturer")),
        product=clean(p.get("Product Name")),
        version=clean(p.get("Version")),
        serial=clean(p.get("Serial Number")),
    )


def _chassis(records: Sequence[DmiRecord]) -> Chassis | None:
    if not records:
        return None
    p = records[0].props
    kind_text = clean(p.get("Type"))
    return Chassis(
        type=kind_text,
        kind=chassis_kind(kind_text),
        vendor=clean(p.get("Manufacturer")),
        serial=clean(p.get("Serial Number")),
        asset_tag=clean(p.get("Asset Tag")),
    )


def _bios(records: Sequence[DmiRecord]) -> Bios | None:
    if not records:
        return None
    p = records[0].props
    date_text = clean(p.get("Release Date"))
    return Bios(
        vendor=clean(p.get("Vendor")),
        version=clean(p.get("Version")),
        release_date=parse_bios_date(date_text),
        release_date_text=date_text,
    )


def _populated(r: DmiRecord) -> bool:
    status = r.props.get("Status")
    return status is None or status.startswith("Populated")


def _cpu(records: Sequence[DmiRecord]) -> Cpu | None:
    sockets = [r for r in records if _populated(r)]
    if not sockets:
        return None
    first = sockets[0].props
    model = clean(" ".join(first.get("Version", "").split()))
    family, generation = cpu_family(model)
    cores = [_int(r.props.get("Core Count")) for r in sockets]
    threads = [_int(r.props.get("Thread Count")) for r in sockets]
    return Cpu(
        vendor=cpu_vendor(clean(first.get("Manufacturer")), model),
        model=model,
        family=family,
        generation=generation,
        sockets=len(sockets),
        cores=sum(c for c in cores if c is not None) if None not in cores else None,
        threads=sum(t for t in threads if t is not None) if None not in threads else None,
        max_mhz=_int(clean(first.get("Max Speed"))),
    )


def _speed(text: str | None) -> int | None:
    if text is None:
        return None
    m = _SPEED.match(text.strip())
    return int(m.group(1)) if m else None


def _memory(arrays: Sequence[DmiRecord], devices: Sequence[DmiRecord]) -> Memory:
    system_arrays = [a for a in arrays if a.props.get("Use", "System Memory") == "System Memory"]
    array_handles = {a.handle for a in system_arrays}
    if array_handles:
        devices = [
            d
            for d in devices
            if d.props.get("Array Handle", "").removeprefix("0x").upper()
            in {h.upper() for h in array_handles}
            or "Array Handle" not in d.props
        ]
    modules: list[MemoryModule] = []
    for d in devices:
        size = parse_size(d.props.get("Size"))
        if size is None or size == 0:
            continue
        p = d.props
        modules.append(
            MemoryModule(
                locator=clean(p.get("Locator")),
                size_bytes=size,
                type=clean(p.get("Type")),
                speed_mts=_speed(p.get("Speed")),
                manufacturer=clean(p.get("Manufacturer")),
                part=clean(p.get("Part Number")),
                form_factor=clean(p.get("Form Factor")),
            )
        )
    kinds = list(dict.fromkeys(m.type for m in modules if m.type is not None))
    return Memory(
        total_bytes=sum(m.size_bytes for m in modules) if modules else None,
        type="/".join(kinds) if kinds else None,
        slots_total=len(devices) if devices else None,
        slots_used=len(modules) if devices else None,
        modules=tuple(modules),
    )


def _tpm(records: Sequence[DmiRecord]) -> Tpm | None:
    if not records:
        return None
    p = records[0].props
    spec = p.get("Specification Version", "")
    version = _VERSION.match(spec.strip())
    firmware = p.get("Firmware Revision")
    if firmware is None and (m := _FIRMWARE.search(spec)):
        firmware = m.group(1)
    return Tpm(
        version=version.group(1) if version else None,
        manufacturer=clean(p.get("Vendor ID")),
        firmware=clean(firmware),
        source="dmi",
    )
