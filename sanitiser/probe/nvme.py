"""NVMe capabilities from nvme-cli 2.x JSON: id-ctrl, id-ns, sanitize-log, list, status errors.

Pure functions over text (docs/DEVICE-COMMANDS.md §2). nvme-cli 2.0-2.3 prints u32 fields as signed
ints, so every u32 is masked with ``& 0xFFFFFFFF`` (§9 #9); fixed-width strings are space-padded
and stripped. Anything malformed raises `ToolOutputError` with the raw text, never a KeyError.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sanitiser.errors import ToolOutputError

U32 = 0xFFFFFFFF
SPROG_IDLE = 65535
"""``sprog`` when no sanitize is in progress (the progress denominator is 65536)."""


def _load(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ToolOutputError("nvme", f"{what}: not JSON ({e.msg})", text) from None
    if not isinstance(data, dict):
        raise ToolOutputError("nvme", f"{what}: expected a JSON object", text)
    return data


def _int(data: dict[str, Any], key: str, what: str, raw: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolOutputError("nvme", f"{what}: missing or non-integer '{key}'", raw)
    return value


def _str(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    return value.strip() if isinstance(value, str) else ""


def _required_str(data: dict[str, Any], key: str, what: str, raw: str) -> str:
    """A text field the report must carry (it may be blank, as the drive says, but not absent
    or of another type: then the report is not what it claims, and blanks would hide it)."""
    value = data.get(key)
    if not isinstance(value, str):
        raise ToolOutputError("nvme", f"{what}: missing or non-text {key!r}", raw)
    return value.strip()


@dataclass(frozen=True, slots=True)
class NvmeCapabilities:
    """What an NVMe controller advertises (``nvme id-ctrl -o json``), bits decoded (§2.3)."""

    serial: str
    model: str
    firmware: str
    oacs: int
    """Optional Admin Command Support (masked u32 of a u16 field)."""
    sanicap: int
    """Sanitize Capabilities, masked to u32."""
    fna: int
    """Format NVM Attributes."""
    namespaces: int
    """``nn``: the number of namespaces the controller supports."""
    raw: str = field(default="", compare=False, repr=False)

    @property
    def format_supported(self) -> bool:
        """Format NVM is supported (oacs bit 1)."""
        return bool(self.oacs & 0x2)

    @property
    def security_send_receive(self) -> bool:
        """Security Send/Receive (TCG) is supported (oacs bit 0)."""
        return bool(self.oacs & 0x1)

    @property
    def namespace_management(self) -> bool:
        """Namespace management is supported (oacs bit 3)."""
        return bool(self.oacs & 0x8)

    @property
    def sanitize_crypto(self) -> bool:
        """Sanitize Crypto Erase (sanicap bit 0)."""
        return bool(self.sanicap & 0x1)

    @property
    def sanitize_block(self) -> bool:
        """Sanitize Block Erase (sanicap bit 1)."""
        return bool(self.sanicap & 0x2)

    @property
    def sanitize_overwrite(self) -> bool:
        """Sanitize Overwrite (sanicap bit 2)."""
        return bool(self.sanicap & 0x4)

    @property
    def sanitize_any(self) -> bool:
        """At least one sanitize action is supported."""
        return bool(self.sanicap & 0x7)

    @property
    def no_dealloc_inhibited(self) -> bool:
        """NDI (sanicap bit 29): a No-Deallocate request is not honoured."""
        return bool(self.sanicap & (1 << 29))

    @property
    def nodmmas(self) -> int:
        """Media modification after sanitize (bits 31:30): 0 undefined, 1 not, 2 additionally."""
        return (self.sanicap >> 30) & 0x3

    @property
    def format_applies_to_all(self) -> bool:
        """A format applies to all namespaces (fna bit 0): nvme-cli forces NSID 0xFFFFFFFF."""
        return bool(self.fna & 0x1)

    @property
    def crypto_erase_applies_to_all(self) -> bool:
        """A cryptographic erase applies to all namespaces (fna bit 1)."""
        return bool(self.fna & 0x2)

    @property
    def format_crypto_erase(self) -> bool:
        """Cryptographic erase is supported as a Format SES=2 (fna bit 2)."""
        return bool(self.fna & 0x4)

    @property
    def broadcast_format_unsupported(self) -> bool:
        """NVMe 2.0 fna bit 3: Format with the broadcast NSID is NOT supported."""
        return bool(self.fna & 0x8)


def parse_id_ctrl(text: str) -> NvmeCapabilities:
    """`NvmeCapabilities` from ``nvme id-ctrl DEV -o json``.

    Raises:
        ToolOutputError: when the text is not id-ctrl JSON.
    """
    data = _load(text, "id-ctrl")
    what = "id-ctrl"
    return NvmeCapabilities(
        serial=_required_str(data, "sn", what, text),
        model=_required_str(data, "mn", what, text),
        firmware=_required_str(data, "fr", what, text),
        oacs=_int(data, "oacs", what, text) & U32,
        sanicap=_int(data, "sanicap", what, text) & U32,
        fna=_int(data, "fna", what, text) & U32,
        namespaces=_int(data, "nn", what, text) & U32,
        raw=text,
    )


@dataclass(frozen=True, slots=True)
class LbaFormat:
    """One LBA format: metadata size, block size exponent, relative performance."""

    metadata_size: int
    data_size_exponent: int
    relative_performance: int

    @property
    def block_size(self) -> int:
        """Logical block size in bytes (``1 << ds``)."""
        return 1 << self.data_size_exponent


@dataclass(frozen=True, slots=True)
class NvmeNamespace:
    """One namespace (``nvme id-ns -o json``): size, usage and LBA formats (§2.4)."""

    size_blocks: int
    """``nsze``."""
    capacity_blocks: int
    """``ncap``."""
    used_blocks: int
    """``nuse``; re-read after a sanitize."""
    flbas: int
    dlfeat: int
    """Deallocate behaviour; bits 2:0 = 1 means deallocated blocks read as zeros (§9 #6)."""
    lba_formats: tuple[LbaFormat, ...]
    raw: str = field(default="", compare=False, repr=False)

    @property
    def current_lbaf(self) -> int:
        """The LBA format in use: flbas bits 3:0, plus bits 6:5 as 5:4 with more than 16."""
        index = self.flbas & 0x0F
        if len(self.lba_formats) > 16:
            index |= ((self.flbas >> 5) & 0x3) << 4
        return index

    @property
    def block_size(self) -> int:
        """Logical block size of the format in use."""
        return self.lba_formats[self.current_lbaf].block_size

    @property
    def size_bytes(self) -> int:
        """Namespace size in bytes."""
        return self.size_blocks * self.block_size

    @property
    def deallocated_reads_zeros(self) -> bool:
        """Deallocated blocks read back as zeros, so zeros prove the logical view only."""
        return self.dlfeat & 0x7 == 1


def parse_id_ns(text: str) -> NvmeNamespace:
    """`NvmeNamespace` from ``nvme id-ns DEV -o json`` (``nlbaf`` is zero-based).

    Raises:
        ToolOutputError: when the text is not id-ns JSON or the formats are inconsistent.
    """
    data = _load(text, "id-ns")
    what = "id-ns"
    lbafs = data.get("lbafs")
    if not isinstance(lbafs, list) or not all(isinstance(e, dict) for e in lbafs):
        raise ToolOutputError("nvme", "id-ns: missing 'lbafs' list", text)
    nlbaf = _int(data, "nlbaf", what, text)
    formats = tuple(
        LbaFormat(_int(e, "ms", what, text), _int(e, "ds", what, text), _int(e, "rp", what, text))
        for e in lbafs
    )
    if len(formats) < nlbaf + 1:
        raise ToolOutputError("nvme", f"id-ns: nlbaf={nlbaf} but {len(formats)} formats", text)
    ns = NvmeNamespace(
        size_blocks=_int(data, "nsze", what, text),
        capacity_blocks=_int(data, "ncap", what, text),
        used_blocks=_int(data, "nuse", what, text),
        flbas=_int(data, "flbas", what, text),
        dlfeat=_int(data, "dlfeat", what, text) if "dlfeat" in data else 0,
        lba_formats=formats,
        raw=text,
    )
    if ns.current_lbaf >= len(formats):
        raise ToolOutputError(
            "nvme", f"id-ns: flbas points at missing format {ns.current_lbaf}", text
        )
    return ns


class SanitizeStatus(IntEnum):
    """The ``sstat.status`` code from the sanitize log (§2.7)."""

    NEVER = 0
    COMPLETED = 1
    IN_PROGRESS = 2
    FAILED = 3
    COMPLETED_NO_DEALLOC = 4


@dataclass(frozen=True, slots=True)
class SanitizeLog:
    """``nvme sanitize-log DEV -o json`` (§2.7, §2.8)."""

    device: str
    """The JSON's top-level key (the controller name, e.g. ``nvme0``)."""
    sprog: int
    status: SanitizeStatus
    status_text: str
    global_erased: bool
    completed_passes: int
    cdw10: int
    """The command dword 10 of the last sanitize (its sanact is bits 2:0)."""
    estimates: tuple[tuple[str, int | None], ...] = ()
    """``time_*`` estimates in seconds, sorted by key; None when not reported (0xFFFFFFFF)."""
    raw: str = field(default="", compare=False, repr=False)

    @property
    def in_progress(self) -> bool:
        """A sanitize is running."""
        return self.status is SanitizeStatus.IN_PROGRESS

    @property
    def succeeded(self) -> bool:
        """Done and good: status 1 or 4 and ``sprog`` back at 65535 (§2.8)."""
        return (
            self.status in (SanitizeStatus.COMPLETED, SanitizeStatus.COMPLETED_NO_DEALLOC)
            and self.sprog == SPROG_IDLE
        )

    @property
    def failed(self) -> bool:
        """The last sanitize failed: the controller is in its failure state."""
        return self.status is SanitizeStatus.FAILED

    @property
    def progress_percent(self) -> int:
        """Whole percent done of the running sanitize (100 when none is running)."""
        if not self.in_progress:
            return 100
        return self.sprog * 100 // 65536


def parse_sanitize_log(text: str) -> SanitizeLog:
    """`SanitizeLog` from ``nvme sanitize-log DEV -o json``; the status is the leading ``(N)``.

    Raises:
        ToolOutputError: when the text is not a sanitize log (e.g. an ``NVMe status:`` error).
    """
    data = _load(text, "sanitize-log")
    if len(data) != 1:
        raise ToolOutputError("nvme", "sanitize-log: expected one device key", text)
    device, body = next(iter(data.items()))
    what = "sanitize-log"
    if not isinstance(body, dict) or not isinstance(body.get("sstat"), dict):
        raise ToolOutputError("nvme", "sanitize-log: missing 'sstat'", text)
    sstat: dict[str, Any] = body["sstat"]
    status_text = sstat.get("status")
    match = re.match(r"\s*\((\d+)\)", status_text) if isinstance(status_text, str) else None
    if match is None or int(match.group(1)) not in SanitizeStatus._value2member_map_:
        raise ToolOutputError("nvme", f"sanitize-log: unreadable status {status_text!r}", text)
    estimates = tuple(
        sorted(
            (k, None if (v & U32) == U32 else v & U32)
            for k, v in body.items()
            if k.startswith("time_") and isinstance(v, int)
        )
    )
    return SanitizeLog(
        device=str(device),
        sprog=_int(body, "sprog", what, text),
        status=SanitizeStatus(int(match.group(1))),
        status_text=str(status_text),
        global_erased=bool(sstat.get("global_erased", 0)),
        completed_passes=int(sstat.get("no_cmplted_passes", 0)),
        cdw10=_int(body, "cdw10_info", what, text) & U32 if "cdw10_info" in body else 0,
        estimates=estimates,
        raw=text,
    )


@dataclass(frozen=True, slots=True)
class NvmeListEntry:
    """One ``nvme list -o json`` device (v2.3 flat shape, §2.2)."""

    nsid: int
    device_path: str
    firmware: str
    model: str
    serial: str
    used_bytes: int
    maximum_lba: int
    physical_size: int
    sector_size: int


def parse_nvme_list(text: str) -> tuple[NvmeListEntry, ...]:
    """The devices of ``nvme list -o json``.

    Raises:
        ToolOutputError: when the text is not the flat ``{"Devices": [...]}`` shape.
    """
    data = _load(text, "list")
    devices = data.get("Devices")
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise ToolOutputError("nvme", "list: missing 'Devices' list", text)
    what = "list"
    return tuple(
        NvmeListEntry(
            nsid=_int(d, "NameSpace", what, text),
            device_path=_str(d, "DevicePath"),
            firmware=_str(d, "Firmware"),
            model=_str(d, "ModelNumber"),
            serial=_str(d, "SerialNumber"),
            used_bytes=_int(d, "UsedBytes", what, text),
            maximum_lba=_int(d, "MaximumLBA", what, text),
            physical_size=_int(d, "PhysicalSize", what, text),
            sector_size=_int(d, "SectorSize", what, text),
        )
        for d in devices
    )


@dataclass(frozen=True, slots=True)
class NvmeStatusError:
    """An ``NVMe status: NAME: description(0xCODE)`` line from nvme-cli's stderr (§2.1)."""

    name: str
    description: str
    code: int


_STATUS = re.compile(r"NVMe status: ([^:]+): (.*)\((0x[0-9a-fA-F]+)\)\s*$", re.MULTILINE)


def parse_nvme_status(stderr: str) -> NvmeStatusError | None:
    """The NVMe status error nvme-cli printed, or None when there is none."""
    match = _STATUS.search(stderr)
    if match is None:
        return None
    return NvmeStatusError(match.group(1).strip(), match.group(2).strip(), int(match.group(3), 16))
