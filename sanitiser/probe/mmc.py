"""eMMC capabilities from ``mmc extcsd read`` (mmc-utils) and the card's sysfs attributes.

Pure functions over text (docs/DEVICE-COMMANDS.md §10). mmc-utils prints the 512-byte EXT_CSD
register as lines such as ``Sector Count [SEC_COUNT: 0x00e90000]`` or ``RPMB Size
[RPMB_SIZE_MULT]: 0x04``; which lines appear depends on the register's revision (EXT_CSD_REV):
SEC_FEATURE_SUPPORT and RPMB_SIZE_MULT only from revision 5 (eMMC 4.41), the device life time
and pre-EOL bytes only from revision 7 (eMMC 5.0). Sanitize exists from revision 6 (eMMC 4.5).

Traps the parser guards against:

- mmc-utils prints **nothing** and exits 0 for a revision it does not know (a future eMMC), and
  only the banner for revisions below 3: both are refused, never read as "no features".
- A dump cut short (a terminal scrollback, a forum post) misses fields the methods need: the
  parser raises `ToolOutputError` naming the missing field, never fills in a blank.
- An SD card also appears as ``mmcblkN`` but has no EXT_CSD and no secure erase: the sysfs
  ``type`` attribute (``MMC`` or ``SD``) tells them apart before anything is sent.

SEC_FEATURE_SUPPORT bits (JEDEC JESD84-B51 EXT_CSD[231]): bit 0 SECURE_ER_EN (secure erase and
secure trim exist), bit 2 SEC_BD_BLK_EN (bad blocks are sanitised when retired), bit 4
SEC_GB_CL_EN (trim and secure trim exist), bit 6 SEC_SANITIZE (the Sanitize operation exists).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from sanitiser.errors import ToolOutputError

SECURE_ER_EN = 0x01
SEC_BD_BLK_EN = 0x04
SEC_GB_CL_EN = 0x10
SEC_SANITIZE = 0x40
SECTOR = 512
"""Bytes per sector of a block-addressed eMMC (SEC_COUNT counts these)."""
BOOT_UNIT = 128 * 1024
"""BOOT_SIZE_MULT and RPMB_SIZE_MULT count 128 KiB units."""
ERASE_UNIT = 512 * 1024
"""HC_ERASE_GRP_SIZE counts 512 KiB units."""

_HEADER = re.compile(r"^\s*Extended CSD rev 1\.(\d+) \(MMC ([\d.]+)\)\s*$", re.MULTILINE)
# "Name [FIELD: 0x12]" (inside the brackets) and "Name [FIELD]: 0x12" (after them).
_FIELD = re.compile(r"\[([A-Z0-9_]+)(?::\s*(\S+?))?\]\s*(?::\s*(\S+))?\s*$")
_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_LIFE_TIME = ("EXT_CSD_DEVICE_LIFE_TIME_EST_TYP_A", "EXT_CSD_DEVICE_LIFE_TIME_EST_TYP_B")

_ALWAYS = (
    "SEC_COUNT",
    "HC_ERASE_GRP_SIZE",
    "ERASE_GROUP_DEF",
    "BOOT_SIZE_MULTI",
    "ERASED_MEM_CONT",
)
_FROM_REV5 = ("SEC_FEATURE_SUPPORT", "RPMB_SIZE_MULT")

MANUFACTURERS: Mapping[int, str] = {
    0x02: "SanDisk",
    0x11: "Toshiba/Kioxia",
    0x13: "Micron",
    0x15: "Samsung",
    0x45: "SanDisk",
    0x70: "Kingston",
    0x90: "SK hynix",
    0xFE: "Micron (Numonyx)",
}
"""CID manufacturer ids as the Linux MMC core names them (drivers/mmc/core/card.h)."""


@dataclass(frozen=True, slots=True)
class MmcExtCsd:
    """What ``mmc extcsd read`` printed, decoded. Fields mmc-utils does not print for this
    revision are None; fields it must print are never None."""

    revision: int
    """EXT_CSD_REV: 5 = eMMC 4.41, 6 = 4.5, 7 = 5.0, 8 = 5.1."""
    version: str
    """The eMMC version mmc-utils names in its banner (``5.1``)."""
    sec_count: int
    """SEC_COUNT: the user area in 512-byte sectors."""
    block_addressed: bool
    hc_erase_grp_size: int
    """HC_ERASE_GRP_SIZE in 512 KiB units."""
    erase_group_def: int
    """ERASE_GROUP_DEF: bit 0 set means the high-capacity erase unit applies."""
    boot_size_mult: int
    """BOOT_SIZE_MULT: each boot partition in 128 KiB units (0: none)."""
    erased_mem_cont: int
    """ERASED_MEM_CONT: 0 means an erased block reads as zeros, 1 as ones."""
    sec_feature_support: int | None
    """SEC_FEATURE_SUPPORT (revision 5 and later)."""
    rpmb_size_mult: int | None
    """RPMB_SIZE_MULT (revision 5 and later), in 128 KiB units."""
    life_time_a: int | None = None
    """DEVICE_LIFE_TIME_EST_TYP_A (revision 7+): 0x01 is 0-10 % used ... 0x0B exceeded."""
    life_time_b: int | None = None
    pre_eol: int | None = None
    """PRE_EOL_INFO: 1 normal, 2 warning (80 % of reserved blocks used), 3 urgent."""
    secure_removal_type: int | None = None
    """SECURE_REMOVAL_TYPE (revision 7+, newer mmc-utils only)."""
    raw: str = field(default="", compare=False, repr=False)

    @property
    def capacity_bytes(self) -> int:
        """The user area's size (SEC_COUNT x 512)."""
        return self.sec_count * SECTOR

    @property
    def secure_erase(self) -> bool:
        """Secure erase exists (SECURE_ER_EN)."""
        return bool((self.sec_feature_support or 0) & SECURE_ER_EN)

    @property
    def secure_trim(self) -> bool:
        """Secure trim exists (SECURE_ER_EN and SEC_GB_CL_EN; mmc-utils checks both)."""
        want = SECURE_ER_EN | SEC_GB_CL_EN
        return (self.sec_feature_support or 0) & want == want

    @property
    def sanitize(self) -> bool:
        """The Sanitize operation exists (SEC_SANITIZE; eMMC 4.5 and later)."""
        return self.revision >= 6 and bool((self.sec_feature_support or 0) & SEC_SANITIZE)

    @property
    def bad_blocks_sanitised(self) -> bool:
        """Retired bad blocks are sanitised too (SEC_BD_BLK_EN)."""
        return bool((self.sec_feature_support or 0) & SEC_BD_BLK_EN)

    @property
    def erase_group_bytes(self) -> int | None:
        """The erase unit that erase commands round to, when the high-capacity one applies."""
        if self.erase_group_def & 1 and self.hc_erase_grp_size:
            return self.hc_erase_grp_size * ERASE_UNIT
        return None

    @property
    def erase_group_sectors(self) -> int:
        """The erase unit in sectors (1 when unknown: then no rounding is assumed)."""
        size = self.erase_group_bytes
        return size // SECTOR if size else 1

    @property
    def boot_partition_bytes(self) -> int:
        """Each of the two boot partitions (mmcblkNboot0/1), 0 when there are none."""
        return self.boot_size_mult * BOOT_UNIT

    @property
    def rpmb_bytes(self) -> int | None:
        """The RPMB partition (mmcblkNrpmb), which no erase or sanitize reaches."""
        return None if self.rpmb_size_mult is None else self.rpmb_size_mult * BOOT_UNIT

    @property
    def erased_pattern(self) -> bytes:
        """What an erased block reads as (ERASED_MEM_CONT)."""
        return b"\xff" if self.erased_mem_cont & 1 else b"\x00"

    @property
    def life_time_exceeded(self) -> bool:
        """Either life-time estimate says the device's rated life is used up (0x0B)."""
        return any(v is not None and v >= 0x0B for v in (self.life_time_a, self.life_time_b))


def _fields(text: str) -> dict[str, str]:
    """Every ``[FIELD: value]`` / ``[FIELD]: value`` on its own line; conflicting repeats raise."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        m = _FIELD.search(line.split("  <")[0].rstrip())
        if m is None:
            continue
        name, inside, after = m.group(1), m.group(2), m.group(3)
        value = inside if inside is not None else after
        if value is None:
            continue
        if name in found and found[name] != value:
            raise ToolOutputError(
                "mmc", f"extcsd: {name} printed twice with different values", text
            )
        found[name] = value
    return found


def _hex(fields: Mapping[str, str], name: str, raw: str) -> int:
    value = fields[name]
    if not _HEX.match(value):
        raise ToolOutputError("mmc", f"extcsd: {name} is {value!r}, not a hex number", raw)
    return int(value, 16)


def _optional(fields: Mapping[str, str], name: str, raw: str) -> int | None:
    return _hex(fields, name, raw) if name in fields else None


def parse_extcsd(text: str) -> MmcExtCsd:
    """Decode ``mmc extcsd read /dev/mmcblkN`` output (pure).

    Raises:
        ToolOutputError: no banner (nothing printed: an unknown revision or a failed read), a
            revision below 3 (no EXT_CSD fields printed), a field this revision must print is
            missing (a truncated dump), or a value is not a hex number.
    """
    header = _HEADER.search(text)
    if header is None:
        raise ToolOutputError(
            "mmc", "extcsd: no 'Extended CSD rev' banner (mmc-utils prints nothing for a "
            "revision it does not know, or the read failed)", text,
        )  # fmt: skip
    revision, version = int(header.group(1)), header.group(2)
    if revision < 3:
        raise ToolOutputError("mmc", f"extcsd: revision {revision} has no fields to read", text)
    fields = _fields(text[header.end() :])
    required = _ALWAYS + (_FROM_REV5 if revision >= 5 else ())
    missing = [name for name in required if name not in fields]
    if missing:
        raise ToolOutputError(
            "mmc", f"extcsd rev 1.{revision}: missing {', '.join(missing)} (output cut short?)",
            text,
        )  # fmt: skip
    if "Device is block-addressed" in text:
        block_addressed = True
    elif "Device is NOT block-addressed" in text:
        block_addressed = False
    else:
        raise ToolOutputError("mmc", "extcsd: no block-addressing line after SEC_COUNT", text)
    return MmcExtCsd(
        revision=revision,
        version=version,
        sec_count=_hex(fields, "SEC_COUNT", text),
        block_addressed=block_addressed,
        hc_erase_grp_size=_hex(fields, "HC_ERASE_GRP_SIZE", text),
        erase_group_def=_hex(fields, "ERASE_GROUP_DEF", text),
        boot_size_mult=_hex(fields, "BOOT_SIZE_MULTI", text),
        erased_mem_cont=_hex(fields, "ERASED_MEM_CONT", text),
        sec_feature_support=_optional(fields, "SEC_FEATURE_SUPPORT", text),
        rpmb_size_mult=_optional(fields, "RPMB_SIZE_MULT", text),
        life_time_a=_optional(fields, _LIFE_TIME[0], text),
        life_time_b=_optional(fields, _LIFE_TIME[1], text),
        pre_eol=_optional(fields, "EXT_CSD_PRE_EOL_INFO", text),
        secure_removal_type=_optional(fields, "SECURE_REMOVAL_TYPE", text),
        raw=text,
    )


@dataclass(frozen=True, slots=True)
class MmcIdentity:
    """The card's own identity from sysfs (``/sys/block/mmcblkN/device/...``)."""

    card_type: str
    """``MMC`` (eMMC), ``SD`` or ``SDIO``."""
    name: str
    """The product name from the CID (``BJTD4R``)."""
    manfid: int
    oemid: int
    serial: int
    cid: str
    """The whole CID register, 32 hex digits."""

    @property
    def is_emmc(self) -> bool:
        """An eMMC (has EXT_CSD); SD cards have no secure erase or sanitize."""
        return self.card_type == "MMC"

    @property
    def manufacturer(self) -> str:
        """The manufacturer's name where the id is a well-known one, else its hex id."""
        return MANUFACTURERS.get(self.manfid, f"manfid 0x{self.manfid:06x}")

    @property
    def serial_text(self) -> str:
        """The serial as the kernel prints it (``0x1234abcd``)."""
        return f"0x{self.serial:08x}"


_SYSFS_REQUIRED = ("type", "name", "manfid", "oemid", "serial", "cid")


def parse_mmc_sysfs(attrs: Mapping[str, str]) -> MmcIdentity:
    """Decode the card's sysfs attributes (each file's text, as read) (pure).

    Raises:
        ToolOutputError: an attribute is missing, or a number or the CID does not read.
    """
    raw = "\n".join(f"{k}={v.strip()}" for k, v in sorted(attrs.items()))
    missing = [k for k in _SYSFS_REQUIRED if k not in attrs]
    if missing:
        raise ToolOutputError("sysfs", f"mmc card: missing {', '.join(missing)}", raw)
    values = {k: attrs[k].strip() for k in _SYSFS_REQUIRED}
    if values["type"] not in ("MMC", "SD", "SDIO", "SDcombo"):
        raise ToolOutputError("sysfs", f"mmc card: unknown type {values['type']!r}", raw)
    numbers: dict[str, int] = {}
    for key in ("manfid", "oemid", "serial"):
        if not _HEX.match(values[key]):
            raise ToolOutputError("sysfs", f"mmc card: {key} {values[key]!r} is not hex", raw)
        numbers[key] = int(values[key], 16)
    cid = values["cid"].lower()
    if not re.fullmatch(r"[0-9a-f]{32}", cid):
        raise ToolOutputError("sysfs", f"mmc card: cid {values['cid']!r} is not 32 hex digits", raw)
    return MmcIdentity(
        card_type=values["type"],
        name=values["name"],
        manfid=numbers["manfid"],
        oemid=numbers["oemid"],
        serial=numbers["serial"],
        cid=cid,
    )


@dataclass(frozen=True, slots=True)
class MmcCapabilities:
    """What the probe learned about one eMMC: its EXT_CSD and, on real hardware, its identity."""

    extcsd: MmcExtCsd
    identity: MmcIdentity | None = None


__all__ = [
    "MANUFACTURERS",
    "SECURE_ER_EN",
    "SEC_BD_BLK_EN",
    "SEC_GB_CL_EN",
    "SEC_SANITIZE",
    "MmcCapabilities",
    "MmcExtCsd",
    "MmcIdentity",
    "parse_extcsd",
    "parse_mmc_sysfs",
]
