"""Value objects shared by every part of the product.

Everything here is a frozen dataclass or a StrEnum: plain values with no I/O. Enum values are
lower-kebab strings; they are what the store keeps and what certificates print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Transport(StrEnum):
    """How the drive is attached to the bench."""

    SATA = "sata"
    NVME = "nvme"
    SCSI = "scsi"  # SAS and parallel SCSI, and virtio-scsi
    USB = "usb"
    MMC = "mmc"
    VIRTIO = "virtio"  # virtio-blk
    LOOP = "loop"
    UNKNOWN = "unknown"


class MediaKind(StrEnum):
    """The kind of medium, which decides the NIST SP 800-88 technique and destruction level."""

    HDD = "hdd"
    SSD = "ssd"  # SATA/SAS solid state
    NVME = "nvme"
    USB_FLASH = "usb-flash"  # sticks and card readers: their own controller, overwrite only
    USB_DRIVE = "usb-drive"  # an HDD/SSD behind a USB bridge
    MMC = "mmc"
    VIRTUAL = "virtual"  # loop, virtio: no physical medium of its own
    UNKNOWN = "unknown"


class HealthGrade(StrEnum):
    """The documented health grade (see `sanitiser.devices.health`), used by routing."""

    A = "A"
    B = "B"
    C = "C"
    FAIL = "FAIL"
    UNKNOWN = "unknown"


class DestinationKind(StrEnum):
    """What a registered destination does with the devices handed to it."""

    REUSE = "reuse"  # a reuse scheme: refurbished and passed on
    RECYCLE = "recycle"  # a recycler: materials recovered
    DESTROY = "destroy"  # a destruction provider: shredded, disintegrated, ...


class NistCategory(StrEnum):
    """NIST SP 800-88 sanitisation category."""

    CLEAR = "clear"
    PURGE = "purge"
    DESTROY = "destroy"


class OutcomeStatus(StrEnum):
    """What became of a sanitisation attempt."""

    SANITISED = "sanitised"
    FAILED = "failed"
    REFUSED = "refused"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class Drive:
    """One whole disk as the bench sees it. Built at the udev boundary; never a live udev object."""

    path: str
    """Device node, e.g. ``/dev/sda`` (for a simulated drive: its backing file)."""
    name: str
    """Kernel name, e.g. ``sda``, ``nvme0n1``, ``loop3``."""
    model: str
    serial: str
    """Serial number, or "" when the drive reports none (loop devices, some USB sticks)."""
    size_bytes: int
    transport: Transport
    vendor: str = ""
    wwn: str = ""
    firmware: str = ""
    logical_sector_size: int = 512
    physical_sector_size: int = 512
    rotational: bool = False
    removable: bool = False
    read_only: bool = False
    by_id: str = ""
    """The stable ``/dev/disk/by-id/...`` path, or "" when udev gives none."""
    devnum: str = ""
    """``MAJ:MIN`` of the whole disk."""
    simulated: bool = False
    """True for lab drives: every record made from them says SIMULATED."""

    @property
    def media_kind(self) -> MediaKind:
        """The medium kind, from transport and rotation."""
        if self.transport in (Transport.LOOP, Transport.VIRTIO):
            return MediaKind.VIRTUAL
        if self.transport is Transport.NVME:
            return MediaKind.NVME
        if self.transport is Transport.MMC:
            return MediaKind.MMC
        if self.transport is Transport.USB:
            return MediaKind.USB_FLASH if self.removable else MediaKind.USB_DRIVE
        if self.transport in (Transport.SATA, Transport.SCSI):
            return MediaKind.HDD if self.rotational else MediaKind.SSD
        return MediaKind.UNKNOWN

    @property
    def identity(self) -> tuple[str, str, int]:
        """What the guard re-checks right before acting: serial, WWN and size."""
        return (self.serial, self.wwn, self.size_bytes)


@dataclass(frozen=True, slots=True)
class Health:
    """SMART health summary and its grade. Counts are None when the drive does not report them."""

    grade: HealthGrade
    reasons: tuple[str, ...] = ()
    """Why the grade is what it is, one plain sentence each."""
    smart_available: bool = False
    smart_passed: bool | None = None
    power_on_hours: int | None = None
    manufactured: str | None = None
    """ISO week of manufacture, ``YYYY-Www``, when the drive reports it (SCSI/SAS)."""
    reallocated_sectors: int | None = None  # ATA id 5
    reported_uncorrectable: int | None = None  # ATA id 187
    pending_sectors: int | None = None  # ATA id 197
    offline_uncorrectable: int | None = None  # ATA id 198
    percentage_used: int | None = None  # NVMe endurance used
    media_errors: int | None = None  # NVMe
    critical_warning: int | None = None  # NVMe bitfield
    grown_defects: int | None = None  # SCSI grown defect list
    temperature_c: int | None = None
    available_spare: int | None = None  # NVMe, percent
    available_spare_threshold: int | None = None  # NVMe, percent
    exit_status: int | None = None
    """The smartctl exit-status bitmask (docs/DEVICE-COMMANDS.md §5.3), when smartctl ran."""
    failed_attributes: tuple[str, ...] = ()
    """ATA attributes at or below threshold, e.g. ``5 Reallocated_Sector_Ct (now)``."""
    raw: str = field(default="", compare=False, repr=False)
    """The tool output the summary was parsed from, kept for the record."""


UNKNOWN_HEALTH = Health(grade=HealthGrade.UNKNOWN, reasons=("no SMART data",))


@dataclass(frozen=True, slots=True)
class Protection:
    """The guard's verdict on one drive."""

    protected: bool
    reasons: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """All reasons in one line ("" when the drive may be used)."""
        return "; ".join(self.reasons)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A contiguous range of the device, in bytes."""

    start: int
    length: int


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """One external command run against the drive, redacted (no passwords), for the record."""

    argv: tuple[str, ...]
    returncode: int
    stdout_tail: str = ""
    stderr_tail: str = ""


@dataclass(frozen=True, slots=True)
class Verification:
    """What verification read back and found. Coverage is in parts per million (no floats)."""

    mode: str
    """``full``, ``sampled``, ``canary`` or ``none``."""
    passed: bool
    bytes_checked: int = 0
    samples: int = 0
    coverage_ppm: int = 0
    canaries_written: int = 0
    canaries_surviving: int = 0
    mismatched: tuple[ByteRange, ...] = ()
    unreadable: tuple[ByteRange, ...] = ()
    expected: str = ""
    """What the medium was expected to read as (e.g. ``zeros``, ``aes-ctr seed 3f...``)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What was done to one drive and what was verified: the only input to a certificate."""

    status: OutcomeStatus
    method: str
    nist_category: NistCategory
    verified: bool
    reason: str
    started_at: datetime
    finished_at: datetime
    commands: tuple[CommandRecord, ...] = ()
    verification: Verification | None = None
    hpa_dco: str = ""
    """What was found and done about HPA/DCO ("" when not applicable)."""
    failed_ranges: tuple[ByteRange, ...] = ()
    details: tuple[tuple[str, str], ...] = field(default=())
    """Method-specific facts (pattern, passes, seed id, downgrade reason, ...), as sorted pairs."""
