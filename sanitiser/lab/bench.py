"""The simulated lab bench: file-backed drives of mixed kinds for ``make run`` without hardware.

`LabBench` keeps one backing file per simulated drive in ``DATA_DIR/lab/<serial>.img``, filled
once with a recognisable pattern (every 512-byte sector reads ``LABDATA <serial> <offset>``), so
erasure is visible afterwards and survives a restart. It describes the drives as `Drive` values
with ``simulated=True``, a model and vendor saying SIMULATED and a serial starting ``SIM-``, so no
record made from them can be mistaken for a real one.

The bench is a `DriveSource` (``list()`` / ``watch(callback)``); `LabBench.add_drive` and
`LabBench.remove_drive` play hot-plug for tests and demos. Health comes from `lab_health`, which
runs the real `read_health` / `parse_smartctl_json` over smartctl JSON shaped like the real
outputs in ``../shared/reference/outputs`` (`LabBench.smartctl` answers ``smartctl -j -a`` for a
lab drive at the command-runner seam). The per-family command emulators (hdparm, nvme, sg_*) are
built elsewhere; they find a drive's backing file and kind with `LabBench.drive_at` and
`LabBench.kind_of`. The guard sees the bench's drives through `LabBench.backend` (the guard's
`LabFiles` over this directory: regular files in it, nothing else).

The default bench:

=================  =========  ======================  ===============  ========================
name               transport  model                   serial           health (why)
=================  =========  ======================  ===============  ========================
lab-sata-hdd0      sata       SIMULATED SATA HDD      SIM-HDD-0001     B (34,000 power-on hours)
lab-sata-ssd0      sata       SIMULATED SATA SSD      SIM-SSD-0001     A
lab-nvme0          nvme       SIMULATED NVMe SSD      SIM-NVME-0001    A (12% endurance used)
lab-usb-flash0     usb        SIMULATED USB FLASH     SIM-USB-0001     unknown (no SMART)
lab-usb-hdd0       usb        SIMULATED USB HDD       SIM-UHDD-0001    C (8 reallocated sectors)
=================  =========  ======================  ===============  ========================
"""

from __future__ import annotations

import builtins
import functools
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sanitiser.devices.guard import LabFiles
from sanitiser.devices.health import read_health
from sanitiser.domain import Drive, Health, HealthGrade, MediaKind, Transport
from sanitiser.runner import CommandResult
from sanitiser.testing import FakeRunner

log = logging.getLogger(__name__)

SECTOR = 512
"""Granularity of the fill pattern: one ``LABDATA`` line pattern per 512-byte sector."""
PATTERN_MAGIC = b"LABDATA "
"""Every sector of an untouched lab drive starts with these bytes."""
_CHUNK = 1 << 20

LabEventCallback = Callable[[str, Drive | None, str], None]
"""`callback(action, drive, name)`, as `DriveSource.watch` calls it: action ``add`` or
``remove``; drive is the new value (add) or the last known one (remove)."""


class LabKind(StrEnum):
    """The kinds of simulated drive the bench can hold."""

    SATA_HDD = "sata-hdd"
    SATA_SSD = "sata-ssd"
    NVME = "nvme"
    USB_FLASH = "usb-flash"
    USB_HDD = "usb-hdd"


@dataclass(frozen=True, slots=True)
class _KindInfo:
    """Identity template of one kind: names, transport and medium flags."""

    transport: Transport
    model: str
    serial_tag: str
    name_stem: str
    rotational: bool = False
    removable: bool = False
    physical_sector_size: int = 512


_KINDS: dict[LabKind, _KindInfo] = {
    LabKind.SATA_HDD: _KindInfo(
        Transport.SATA,
        "SIMULATED SATA HDD",
        "HDD",
        "lab-sata-hdd",
        rotational=True,
        physical_sector_size=4096,
    ),
    LabKind.SATA_SSD: _KindInfo(Transport.SATA, "SIMULATED SATA SSD", "SSD", "lab-sata-ssd"),
    LabKind.NVME: _KindInfo(Transport.NVME, "SIMULATED NVMe SSD", "NVME", "lab-nvme"),
    LabKind.USB_FLASH: _KindInfo(
        Transport.USB, "SIMULATED USB FLASH", "USB", "lab-usb-flash", removable=True
    ),
    LabKind.USB_HDD: _KindInfo(
        Transport.USB, "SIMULATED USB HDD", "UHDD", "lab-usb-hdd", rotational=True
    ),
}

DEFAULT_KINDS: tuple[LabKind, ...] = tuple(LabKind)
"""The drives a fresh bench holds, one of each kind, in this order."""


def lab_kind(drive: Drive) -> LabKind | None:
    """The lab kind of a simulated drive (from its medium), or None for a real drive."""
    if not drive.simulated:
        return None
    return {
        MediaKind.HDD: LabKind.SATA_HDD,
        MediaKind.SSD: LabKind.SATA_SSD,
        MediaKind.NVME: LabKind.NVME,
        MediaKind.USB_FLASH: LabKind.USB_FLASH,
        MediaKind.USB_DRIVE: LabKind.USB_HDD,
    }.get(drive.media_kind)


# --- the fill pattern (pure) ----------------------------------------------------------------


def sector_pattern(serial: str, offset: int) -> bytes:
    """The 512 bytes an untouched lab drive holds at byte `offset` (a multiple of 512).

    Whole ``LABDATA <serial> <offset as 12 hex digits>`` lines, padded with dots to a newline.
    """
    line = f"LABDATA {serial} {offset:012x}\n".encode()
    if len(line) >= SECTOR:
        raise ValueError(f"serial too long for the lab pattern: {serial!r}")
    return (line * (SECTOR // len(line))).ljust(SECTOR - 1, b".") + b"\n"


_HIGH = b"\x00" * 7
"""Placeholder for the 7 high hex digits of the offset (those above 1 MiB) in a chunk template."""


@functools.lru_cache(maxsize=8)
def _chunk_template(serial: str) -> bytes:
    """The pattern of one 1 MiB-aligned chunk with its high offset digits left as `_HIGH`."""
    sectors = (sector_pattern(serial, rel) for rel in range(0, _CHUNK, SECTOR))
    prefix = f"LABDATA {serial} ".encode()
    return b"".join(sectors).replace(prefix + b"0000000", prefix + _HIGH)


def expected_bytes(serial: str, offset: int, length: int) -> bytes:
    """What an untouched lab drive holds in ``[offset, offset + length)`` (sector aligned).

    The same bytes as joining `sector_pattern` over the range, made from a cached 1 MiB template
    so a 64 MiB drive fills in a fraction of a second.
    """
    if offset % SECTOR or length % SECTOR or offset < 0 or length < 0:
        raise ValueError("offset and length must be non-negative multiples of 512")
    template = _chunk_template(serial)
    parts = []
    end = offset + length
    while offset < end:
        base = offset - offset % _CHUNK
        stop = min(end, base + _CHUNK)
        high = f"{base // _CHUNK:07x}".encode()
        parts.append(template[offset - base : stop - base].replace(_HIGH, high))
        offset = stop
    return b"".join(parts)


def _fill(path: Path, serial: str, size: int) -> None:
    """Write the pattern over a new file of `size` bytes, atomically (write, then rename)."""
    part = path.with_name(path.name + ".part")
    with part.open("wb") as f:
        f.truncate(size)  # sparse first: the size is right even before the pattern lands
        for start in range(0, size, _CHUNK):
            f.write(expected_bytes(serial, start, min(_CHUNK, size - start)))
    part.replace(path)


# --- the bench ------------------------------------------------------------------------------


class LabBench:
    """A simulated bench of file-backed drives; a `DriveSource` with hot-plug for tests.

    Creating a bench creates any missing backing files (existing ones keep their contents, so an
    erased lab drive stays erased across restarts). Thread-safe; callbacks run on the thread
    that called `add_drive` / `remove_drive`.

    Args:
        data_dir: the product's data directory; drives live in ``data_dir/lab``.
        drive_mib: size of each new backing file in MiB (existing files keep their size).
        kinds: the drives present at start, one per entry.
    """

    def __init__(
        self, data_dir: Path, drive_mib: int = 64, kinds: Sequence[LabKind] = DEFAULT_KINDS
    ) -> None:
        if drive_mib <= 0:
            raise ValueError("drive_mib must be positive")
        self.directory = Path(data_dir) / "lab"
        self.drive_bytes = drive_mib << 20
        self._lock = threading.Lock()
        self._present: dict[str, Drive] = {}
        self._watchers: builtins.list[LabEventCallback] = []
        self.directory.mkdir(parents=True, exist_ok=True)
        for kind in kinds:
            drive = self._make(kind)
            self._present[drive.name] = drive

    # identity and backing files

    @property
    def backend(self) -> LabFiles:
        """What is behind this bench's drives for the guard: its files, and nothing else."""
        return LabFiles(self.directory)

    def _next_index(self, kind: LabKind) -> int:
        stem = _KINDS[kind].name_stem
        used = {int(n.removeprefix(stem)) for n in self._present if n.startswith(stem)}
        return next(i for i in range(len(used) + 1) if i not in used)

    def _make(self, kind: LabKind, index: int | None = None) -> Drive:
        info = _KINDS[kind]
        if index is None:
            index = self._next_index(kind)
        serial = f"SIM-{info.serial_tag}-{index + 1:04d}"
        path = self.directory / f"{serial}.img"
        if not path.exists():
            _fill(path, serial, self.drive_bytes)
        return Drive(
            path=str(path),
            name=f"{info.name_stem}{index}",
            model=info.model,
            serial=serial,
            size_bytes=path.stat().st_size,
            transport=info.transport,
            vendor="SIMULATED",
            firmware="SIM1.0",
            logical_sector_size=SECTOR,
            physical_sector_size=info.physical_sector_size,
            rotational=info.rotational,
            removable=info.removable,
            simulated=True,
        )

    def drives(self) -> builtins.list[Drive]:
        """The drives on the bench now, in the order they were plugged in."""
        with self._lock:
            return builtins.list(self._present.values())

    def list(self) -> builtins.list[Drive]:
        """`DriveSource.list`: the same as `drives`."""
        return self.drives()

    def drive_at(self, path: str | os.PathLike[str]) -> Drive | None:
        """The present lab drive whose backing file is `path`, or None."""
        wanted = os.path.realpath(path)
        with self._lock:
            for drive in self._present.values():
                if os.path.realpath(drive.path) == wanted:
                    return drive
        return None

    def kind_of(self, path: str | os.PathLike[str]) -> MediaKind:
        """The medium kind of the lab drive at `path` (what an emulator needs to pick a family).

        Raises:
            KeyError: `path` is not a present lab drive's backing file.
        """
        drive = self.drive_at(path)
        if drive is None:
            raise KeyError(f"not a lab drive: {path}")
        return drive.media_kind

    # hot-plug

    def watch(self, callback: LabEventCallback) -> Callable[[], None]:
        """`DriveSource.watch`: call `callback(action, drive, name)` on add/remove.

        Returns:
            A function that stops this watcher (idempotent).
        """
        with self._lock:
            self._watchers.append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)

        return stop

    def _notify(self, action: str, drive: Drive | None, name: str) -> None:
        with self._lock:
            watchers = builtins.list(self._watchers)
        for callback in watchers:
            try:
                callback(action, drive, name)
            except Exception:  # a consumer bug must not stop the bench: log it, go on
                log.exception("lab drive callback failed for %s %s", action, name)

    def add_drive(self, kind: LabKind = LabKind.USB_FLASH, index: int | None = None) -> Drive:
        """Plug in a simulated drive (its backing file is created if new) and tell watchers.

        Args:
            kind: the kind of drive.
            index: its number (``lab-usb-flash<index>``); the lowest free one when None.

        Returns:
            The drive now present.

        Raises:
            ValueError: a drive with that name is already present.
        """
        with self._lock:
            drive = self._make(kind, index)
            if drive.name in self._present:
                raise ValueError(f"{drive.name} is already on the bench")
            self._present[drive.name] = drive
        self._notify("add", drive, drive.name)
        return drive

    def remove_drive(self, name: str) -> Drive:
        """Pull a drive off the bench and tell watchers; its backing file (and data) stay.

        Raises:
            KeyError: no drive of that name is present.
        """
        with self._lock:
            drive = self._present.pop(name)
        self._notify("remove", drive, name)
        return drive

    # SMART at the runner seam

    def smartctl(self, argv: tuple[str, ...]) -> CommandResult:
        """Answer ``smartctl -j -a [-d TYPE] PATH`` for a lab drive, as the real tool would.

        For use as a `FakeRunner` responder: ``FakeRunner().on(("smartctl",), lab.smartctl)``.
        """
        drive = self.drive_at(argv[-1]) if len(argv) > 1 else None
        if drive is None:
            doc = _smartctl_doc(argv, 2)  # as smartctl on a path that is no device
            return CommandResult(argv, 2, _dump(doc), "")
        return lab_smartctl(drive, argv)


# --- SMART for simulated drives -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _SmartProfile:
    """The SMART state a simulated drive reports."""

    power_on_hours: int
    temperature: int = 34
    reallocated: int = 0
    pending: int = 0
    percentage_used: int = 0


_PROFILES: dict[LabKind, _SmartProfile] = {
    LabKind.SATA_HDD: _SmartProfile(power_on_hours=34_000, temperature=38),
    LabKind.SATA_SSD: _SmartProfile(power_on_hours=2_150, temperature=31),
    LabKind.NVME: _SmartProfile(power_on_hours=900, temperature=41, percentage_used=12),
    LabKind.USB_HDD: _SmartProfile(power_on_hours=12_400, temperature=36, reallocated=8),
}


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def _smartctl_doc(
    argv: Sequence[str], exit_status: int, messages: Sequence[str] = ()
) -> dict[str, Any]:
    """The envelope every smartctl 7.3 JSON output has (see the reference outputs)."""
    smartctl: dict[str, Any] = {
        "version": [7, 3],
        "svn_revision": "5338",
        "platform_info": "SIMULATED lab bench",
        "build_info": "(simulated)",
        "argv": builtins.list(argv),
    }
    if messages:
        smartctl["messages"] = [{"string": m, "severity": "error"} for m in messages]
    smartctl["exit_status"] = exit_status
    return {"json_format_version": [1, 0], "smartctl": smartctl}


def _ata_attribute(
    ata_id: int, name: str, raw: int, *, value: int = 100, thresh: int = 0, prefail: bool = False
) -> dict[str, Any]:
    """One ``ata_smart_attributes.table`` entry, shaped as smartctl 7.3 writes it."""
    flags = 3 if prefail else 2
    return {
        "id": ata_id,
        "name": name,
        "value": value,
        "worst": value,
        "thresh": thresh,
        "when_failed": "",
        "flags": {
            "value": flags,
            "string": ("PO---- " if prefail else "-O---- "),
            "prefailure": prefail,
            "updated_online": True,
            "performance": False,
            "error_rate": False,
            "event_count": False,
            "auto_keep": False,
        },
        "raw": {"value": raw, "string": str(raw)},
    }


def _ata_doc(drive: Drive, argv: Sequence[str], p: _SmartProfile, dtype: str) -> dict[str, Any]:
    doc = _smartctl_doc(argv, 0)
    doc["device"] = {
        "name": drive.path,
        "info_name": f"{drive.path} [SAT]",
        "type": dtype,
        "protocol": "ATA",
    }
    doc |= {
        "model_name": drive.model,
        "serial_number": drive.serial,
        "firmware_version": drive.firmware,
        "user_capacity": {"blocks": drive.size_bytes // SECTOR, "bytes": drive.size_bytes},
        "logical_block_size": drive.logical_sector_size,
        "physical_block_size": drive.physical_sector_size,
        "rotation_rate": 7200 if drive.rotational else 0,
        "smart_support": {"available": True, "enabled": True},
        "smart_status": {"passed": True},
        "ata_smart_attributes": {
            "revision": 16,
            "table": [
                _ata_attribute(1, "Raw_Read_Error_Rate", 0, thresh=6, prefail=True),
                _ata_attribute(5, "Reallocated_Sector_Ct", p.reallocated, thresh=36, prefail=True),
                _ata_attribute(9, "Power_On_Hours", p.power_on_hours),
                _ata_attribute(12, "Power_Cycle_Count", 412),
                _ata_attribute(194, "Temperature_Celsius", p.temperature),
                _ata_attribute(197, "Current_Pending_Sector", p.pending),
                _ata_attribute(198, "Offline_Uncorrectable", 0),
            ],
        },
        "power_on_time": {"hours": p.power_on_hours},
        "power_cycle_count": 412,
        "temperature": {"current": p.temperature},
    }
    return doc


def _nvme_doc(drive: Drive, argv: Sequence[str], p: _SmartProfile) -> dict[str, Any]:
    doc = _smartctl_doc(argv, 0)
    doc["device"] = {
        "name": drive.path,
        "info_name": drive.path,
        "type": "nvme",
        "protocol": "NVMe",
    }
    doc |= {
        "model_name": drive.model,
        "serial_number": drive.serial,
        "firmware_version": drive.firmware,
        "nvme_number_of_namespaces": 1,
        "smart_support": {"available": True, "enabled": True},
        "smart_status": {"passed": True, "nvme": {"value": 0}},
        "nvme_smart_health_information_log": {
            "critical_warning": 0,
            "temperature": p.temperature,
            "available_spare": 100,
            "available_spare_threshold": 10,
            "percentage_used": p.percentage_used,
            "data_units_read": 1_204_332,
            "data_units_written": 987_650,
            "host_reads": 20_110_004,
            "host_writes": 15_442_918,
            "controller_busy_time": 310,
            "power_cycles": 220,
            "power_on_hours": p.power_on_hours,
            "unsafe_shutdowns": 9,
            "media_errors": 0,
            "num_err_log_entries": 0,
            "warning_temp_time": 0,
            "critical_comp_time": 0,
        },
        "temperature": {"current": p.temperature},
        "power_cycle_count": 220,
        "power_on_time": {"hours": p.power_on_hours},
    }
    return doc


def lab_smartctl(drive: Drive, argv: tuple[str, ...]) -> CommandResult:
    """What ``smartctl -j -a [-d TYPE]`` prints for a simulated drive, with its exit status.

    Shaped like the real smartmontools 7.3 outputs: an ATA drive answers auto-detection and
    ``-d sat``; the NVMe answers auto and ``-d nvme``; the USB HDD sits behind a SAT bridge (only
    ``-d sat`` reaches it); the USB stick has no SAT target (``-d sat``: exit 2, nothing) and an
    unknown bridge (auto: exit 1, "Unknown USB bridge"), as a real stick does.
    """
    kind = lab_kind(drive)
    dtype = argv[argv.index("-d") + 1] if "-d" in argv[:-1] else None
    sata = kind in (LabKind.SATA_HDD, LabKind.SATA_SSD) and dtype in (None, "sat", "auto")
    if kind is not None and (sata or (kind is LabKind.USB_HDD and dtype == "sat")):
        doc = _ata_doc(drive, argv, _PROFILES[kind], "sat")
    elif kind is LabKind.NVME and dtype in (None, "nvme"):
        doc = _nvme_doc(drive, argv, _PROFILES[kind])
    elif kind in (LabKind.USB_FLASH, LabKind.USB_HDD) and dtype is None:
        message = f"{drive.path}: Unknown USB bridge [0x5ab0:0x0001 (0x000)]"
        return CommandResult(argv, 1, _dump(_smartctl_doc(argv, 1, [message])), "")
    else:  # the wrong -d type, or not a lab drive: the device cannot be identified
        doc = _smartctl_doc(argv, 2)
        doc["device"] = {"name": drive.path, "info_name": drive.path, "type": dtype or "ata"}
        return CommandResult(argv, 2, _dump(doc), "")
    return CommandResult(argv, 0, _dump(doc), "")


def lab_health(drive: Drive) -> Health:
    """The SMART health of a simulated drive, read through the real `read_health` and parser.

    A real (non-simulated) drive is never given invented health: it gets UNKNOWN.
    """
    if lab_kind(drive) is None:
        return Health(grade=HealthGrade.UNKNOWN, reasons=("not a simulated lab drive",))
    runner = FakeRunner().on(("smartctl",), lambda argv: lab_smartctl(drive, argv))
    return read_health(drive, runner)


__all__ = (
    "DEFAULT_KINDS",
    "PATTERN_MAGIC",
    "SECTOR",
    "LabBench",
    "LabEventCallback",
    "LabKind",
    "expected_bytes",
    "lab_health",
    "lab_kind",
    "lab_smartctl",
    "sector_pattern",
)
