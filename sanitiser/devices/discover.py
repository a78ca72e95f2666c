"""Drive discovery: whole disks from udev, and hot-plug events, as `Drive` values.

Functional core, thin shell. The pure part maps udev properties plus sysfs attributes to a
`Drive` (`drive_from_properties`), decides which block devices are wipe candidates
(`skip_reason`), picks the stable by-id link (`best_by_id`) and turns raw udev events into
bench events (`translate_event`). None of it raises on odd input: a missing serial becomes "",
control characters are dropped, and very long strings are capped with an ellipsis.

The shell, `UdevDriveSource`, is the only code that touches pyudev (nothing outside
`sanitiser.devices` imports it). It reads each `pyudev.Device` into plain dicts right away and
hands them to the core.

Loop devices never send add/remove when a file is attached or detached: the kernel sends a
`change` with the new size. `watch()` therefore reports what the bench means by add and remove
(a wipe candidate appeared / went away), not udev's raw action (docs/DEVICE-COMMANDS.md §7).
"""

from __future__ import annotations

import builtins
import logging
import re
import socket
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Protocol

import pyudev

from sanitiser.domain import Drive, Transport
from sanitiser.errors import DriveDetectionError

log = logging.getLogger(__name__)

MAX_TEXT: Final = 128
"""Longest string kept from udev (model, serial, ...); longer ones end in an ellipsis."""

ELLIPSIS: Final = "…"

ADD: Final = "add"
REMOVE: Final = "remove"
CHANGE: Final = "change"

DriveEventCallback = Callable[[str, Drive | None, str], None]
"""`callback(action, drive, kernel_name)`: action is ``add``, ``remove`` or ``change``; drive is
the new value (add/change) or the last known one (remove; None if it was never seen)."""

SYSFS_ATTRIBUTES: Final = (
    "size",
    "queue/logical_block_size",
    "queue/physical_block_size",
    "queue/rotational",
    "removable",
    "ro",
    "dev",
    "device/vendor",
    "device/model",
    "device/rev",
    "device/firmware_rev",
)
"""The sysfs attributes (relative to the disk's sysfs node) that `drive_from_properties` reads."""

# Kernel names that are never wipe targets: RAM disks, compressed swap, stacked devices
# (device-mapper, md RAID: wipe the members, not the stack), floppies, NVMe multipath paths
# (hidden per-controller nodes) and eMMC boot areas (part of the mmcblkN device).
_NEVER_TARGET = re.compile(
    r"^(ram\d+|zram\d+|dm-\d+|md\d+|md_.*|fd\d+|nvme\d+c\d+n\d+|mmcblk\d+boot\d+|mmcblk\d+rpmb)$"
)
_UDEV_ESCAPE = re.compile(r"((?:\\x[0-9A-Fa-f]{2})+)")
_HEX_ID = re.compile(r"^0x[0-9A-Fa-f]+$")
_PART_LINK = re.compile(r"-part\d+$")
_SAFE_LINK = re.compile(r"^/dev/disk/by-id/[\x21-\x7e]+$")


# --------------------------------------------------------------------------- pure core


def decode_udev_escapes(value: str) -> str:
    r"""Decode udev's ``\xNN`` byte escapes (as in ``ID_MODEL_ENC``).

    Runs of escapes are decoded together as UTF-8, so an escaped multi-byte character comes back
    whole; bytes that are not valid UTF-8 become ``?``.

    Args:
        value: a udev property value.

    Returns:
        The value with every ``\xNN`` run replaced by the text it encodes.
    """

    def _decode(match: re.Match[str]) -> str:
        raw = bytes(int(h, 16) for h in match.group(1).split("\\x")[1:])
        return raw.decode("utf-8", errors="replace").replace("\ufffd", "?")

    return _UDEV_ESCAPE.sub(_decode, value)


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    r"""Make a udev string safe to show, store and print on a certificate.

    Decodes ``\xNN`` escapes, turns whitespace controls into spaces, drops every other control,
    format (bidi overrides, zero-width), surrogate, private-use and unassigned character,
    collapses whitespace, and caps the length with an ellipsis.

    Args:
        value: anything; None and non-strings give "" (str) or their str() form.
        limit: the longest result, ellipsis included.

    Returns:
        The cleaned string ("" when nothing printable is left).
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = decode_udev_escapes(text)
    kept: list[str] = []
    for char in text:
        if char.isspace():
            kept.append(" ")
        elif not unicodedata.category(char).startswith("C"):
            kept.append(char)
    text = " ".join("".join(kept).split())
    if len(text) > limit:
        text = text[: max(limit - 1, 0)].rstrip() + ELLIPSIS
    return text


def _int(value: object, default: int = 0) -> int:
    """A non-negative int from a sysfs string (ASCII digits, at most 30), else `default`."""
    text = str(value).strip() if value is not None else ""
    return int(text) if re.fullmatch(r"[0-9]{1,30}", text) else default


def _flag(value: object) -> bool:
    """A sysfs 0/1 flag ("1" is true; anything else false)."""
    return str(value).strip() == "1" if value is not None else False


def kernel_name(props: Mapping[str, str]) -> str:
    """The kernel name (``sda``, ``nvme0n1``) from DEVPATH, else DEVNAME, else ""."""
    for key in ("DEVPATH", "DEVNAME"):
        value = props.get(key)
        if value:
            return clean_text(str(value).rstrip("/").rsplit("/", 1)[-1])
    return ""


def detect_transport(name: str, props: Mapping[str, str], attrs: Mapping[str, str]) -> Transport:
    """How the disk is attached, from udev properties, the kernel name and sysfs.

    USB is checked first: a SATA disk in a USB enclosure can carry ``ID_BUS=ata`` too. NVMe has no
    ``ID_BUS`` at all, so it is recognised by name or ``ID_PATH`` (docs/DEVICE-COMMANDS.md §7).

    Args:
        name: kernel name.
        props: udev properties.
        attrs: sysfs attributes (``device/vendor`` is ``ATA`` for libata disks).

    Returns:
        The transport, `Transport.UNKNOWN` when nothing identifies it.
    """
    bus = str(props.get("ID_BUS") or "").strip().lower()
    id_path = str(props.get("ID_PATH") or "").lower()
    devpath = str(props.get("DEVPATH") or "").lower()
    if name.startswith("loop") or devpath.startswith("/devices/virtual/block/loop"):
        return Transport.LOOP
    if props.get("ID_USB_DRIVER") or "-usb-" in id_path or bus == "usb" or "/usb" in devpath:
        return Transport.USB
    if name.startswith("nvme") or "-nvme-" in id_path or "/nvme/" in devpath:
        return Transport.NVME
    if name.startswith("mmcblk") or bus == "mmc" or "/mmc_host/" in devpath:
        return Transport.MMC
    if re.match(r"^x?vd[a-z]+$", name):
        return Transport.VIRTIO
    if bus == "ata" or props.get("ID_ATA") == "1" or "-ata-" in id_path:
        return Transport.SATA
    if str(attrs.get("device/vendor") or "").strip() == "ATA":
        return Transport.SATA  # libata disks report vendor "ATA" in the SCSI INQUIRY it emulates
    if bus == "scsi" or "-sas-" in id_path or "-scsi-" in id_path or name.startswith("sd"):
        return Transport.SCSI
    return Transport.UNKNOWN


def best_by_id(devlinks: str, id_serial: str = "", serial: str = "") -> str:
    """The most stable ``/dev/disk/by-id/`` link of a whole disk.

    Preference: ``wwn-...``; then the link udev builds from ID_SERIAL (``ata-<ID_SERIAL>``,
    ``nvme-<ID_SERIAL>``, ...); then any other link holding the serial; then any other by-id link.
    ``-partN`` links and links with unprintable characters are never chosen.

    Args:
        devlinks: the space-separated DEVLINKS property.
        id_serial: udev ``ID_SERIAL`` (model_serial), cleaned or raw.
        serial: the short serial.

    Returns:
        The chosen link, or "" when udev gives none.
    """
    links = [
        link
        for link in devlinks.split()
        if _SAFE_LINK.match(link) and not _PART_LINK.search(link) and len(link) <= 4096
    ]

    def rank(link: str) -> tuple[int, int, str]:
        base = link.rsplit("/", 1)[-1]
        if base.startswith("wwn-"):
            tier = 0
        elif id_serial and base.split("-", 1)[-1] == id_serial:
            tier = 1
        elif serial and serial in base:
            tier = 2
        else:
            tier = 3
        return (tier, len(link), link)

    return min(links, key=rank) if links else ""


def _vendor(props: Mapping[str, str], attrs: Mapping[str, str]) -> str:
    """Vendor name; libata's placeholder "ATA" and virtio's PCI id (0x1af4) are not names."""
    for value in (props.get("ID_VENDOR_ENC"), props.get("ID_VENDOR"), attrs.get("device/vendor")):
        text = clean_text(value)
        if text and text != "ATA" and not _HEX_ID.match(text):
            return text
    return ""


def _first(*values: object) -> str:
    """The first value that is non-empty once cleaned, else ""."""
    for value in values:
        text = clean_text(value)
        if text:
            return text
    return ""


def drive_from_properties(props: Mapping[str, str], attrs: Mapping[str, str]) -> Drive:
    """Map one whole disk's udev properties and sysfs attributes to a `Drive`. Never raises.

    Args:
        props: udev properties (``DEVNAME``, ``ID_MODEL_ENC``, ``ID_SERIAL_SHORT``, ``ID_WWN``,
            ``ID_REVISION``, ``ID_BUS``, ``ID_PATH``, ``ID_USB_DRIVER``, ``DEVLINKS``, ...).
        attrs: sysfs attributes relative to the disk's node (see `SYSFS_ATTRIBUTES`): ``size`` is
            in 512-byte sectors whatever the logical block size.

    Returns:
        The drive. Missing facts get a clear empty value ("" or the 512-byte default); it is
        never a live udev object.
    """
    name = kernel_name(props)
    devname = clean_text(props.get("DEVNAME"), limit=4096)
    path = devname if devname.startswith("/dev/") else (f"/dev/{name}" if name else "")
    transport = detect_transport(name, props, attrs)
    serial = _first(props.get("ID_SERIAL_SHORT"), props.get("ID_SCSI_SERIAL"))
    model = _first(props.get("ID_MODEL_ENC"), props.get("ID_MODEL"), attrs.get("device/model"))
    firmware = _first(
        props.get("ID_REVISION"), attrs.get("device/firmware_rev"), attrs.get("device/rev")
    )
    rotational = _flag(attrs.get("queue/rotational"))
    rpm = _int(props.get("ID_ATA_ROTATION_RATE_RPM"), -1)
    if rpm >= 0:
        rotational = rpm > 0  # the drive's own word beats the kernel default
    if transport is Transport.LOOP:
        rotational = False  # the kernel's 1 for loop devices is a default, not a spinning medium
    devnum = clean_text(attrs.get("dev"))
    if not re.match(r"^\d+:\d+$", devnum):
        major, minor = str(props.get("MAJOR") or ""), str(props.get("MINOR") or "")
        devnum = f"{major}:{minor}" if major.isdigit() and minor.isdigit() else ""
    return Drive(
        path=path,
        name=name,
        model=model,
        serial=serial,
        size_bytes=_int(attrs.get("size")) * 512,
        transport=transport,
        vendor=_vendor(props, attrs),
        wwn=_first(props.get("ID_WWN_WITH_EXTENSION"), props.get("ID_WWN")),
        firmware=firmware,
        logical_sector_size=_int(attrs.get("queue/logical_block_size"), 512) or 512,
        physical_sector_size=_int(attrs.get("queue/physical_block_size"), 512) or 512,
        rotational=rotational,
        removable=_flag(attrs.get("removable")),
        read_only=_flag(attrs.get("ro")),
        by_id=best_by_id(
            str(props.get("DEVLINKS") or ""),
            id_serial=str(props.get("ID_SERIAL") or "").strip(),
            serial=serial,
        ),
        devnum=devnum,
    )


LOOP_SKIPPED = "a loop device (a file on this machine; set loop_devices = true to offer them)"


def skip_reason(
    props: Mapping[str, str], attrs: Mapping[str, str], *, loop_devices: bool = False
) -> str:
    """Why a block device is not listed as a drive, or "" when it is a wipe candidate.

    Listed: whole disks (``DEVTYPE=disk``) with a medium. Not listed: partitions, RAM disks,
    zram, device-mapper and md stacks, optical drives, NVMe multipath paths, eMMC boot areas,
    anything of size 0 (a loop device with no backing file, an empty card reader), and loop
    devices unless `loop_devices` (the ``loop_devices`` setting).

    Args:
        props: udev properties.
        attrs: sysfs attributes (``size``).
        loop_devices: list loop devices too.

    Returns:
        A short reason, or "".
    """
    name = kernel_name(props)
    if str(props.get("DEVTYPE") or "") != "disk":
        return "not a whole disk"
    if not name:
        return "no kernel name"
    if _NEVER_TARGET.match(name):
        return "never a wipe target"
    if props.get("ID_CDROM") == "1" or re.match(r"^sr\d+$", name):
        return "optical drive"
    if _int(attrs.get("size")) == 0:
        return "no medium (size 0)"
    if not loop_devices and detect_transport(name, props, attrs) is Transport.LOOP:
        return LOOP_SKIPPED
    return ""


def translate_event(
    action: str, fresh: Drive | None, known: Drive | None
) -> tuple[str, Drive | None] | None:
    """Turn a raw udev action into a bench event, or None when the bench has nothing to learn.

    Args:
        action: udev's action (``add``, ``remove``, ``change``, ``bind``, ``online``, ...).
        fresh: the device read now, or None when it is not (or no longer) a wipe candidate.
        known: the last value reported for this kernel name, or None.

    Returns:
        ``(action, drive)``: ``add`` when a candidate appears, ``remove`` (with the last known
        drive) when one goes away, ``change`` when its value changed; None otherwise (repeated
        change events, devices that were never candidates).
    """
    if action == REMOVE or fresh is None:
        return (REMOVE, known) if known is not None or action == REMOVE else None
    if known is None:
        return (ADD, fresh)
    if fresh != known:
        return (CHANGE, fresh)
    return None


def parse_udevadm_properties(text: str) -> dict[str, str]:
    """Properties from ``udevadm info`` output (``E: KEY=VALUE`` lines or bare ``KEY=VALUE``).

    Args:
        text: the output of ``udevadm info DEV`` or ``udevadm info --query=property DEV``.

    Returns:
        The properties; other record lines (``P:``, ``N:``, ``S:``, ...) are ignored.
    """
    props: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.rstrip("\r\n")
        if re.match(r"^[A-Z]: ", line):
            if not line.startswith("E: "):
                continue
            line = line[3:]
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Za-z0-9_.]+", key):
            props[key] = value
    return props


# --------------------------------------------------------------------------- shell


class DriveSource(Protocol):
    """Where the bench gets drives from: udev here; the lab bench and tests supply their own."""

    def list(self) -> builtins.list[Drive]:
        """The wipe-candidate whole disks present now."""
        ...

    def watch(self, callback: DriveEventCallback) -> Callable[[], None]:
        """Report drives appearing, changing and going away; returns a function that stops it.

        The callback runs on a background thread (marshal into the UI thread yourself). Start
        watching before calling `list()`, and treat an ``add`` for a name already shown as an
        update: the two may overlap.
        """
        ...


def udev_is_running(control: str = "/run/udev/control") -> bool:
    """True when a udev daemon listens on its control socket (events and ``ID_*`` need one).

    The socket file outlives a killed daemon, so this connects rather than checking it exists.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(control)
        except OSError:
            return False
        return True


def _read_device(device: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Copy a pyudev Device's properties and the sysfs attributes we use into plain dicts."""
    props: dict[str, str] = {}
    for key in device.properties:
        value = device.properties.get(key)
        if value is not None:
            props[str(key)] = str(value)
    attrs: dict[str, str] = {}
    for name in SYSFS_ATTRIBUTES:
        try:
            attrs[name] = device.attributes.asstring(name)
        except (KeyError, OSError, UnicodeDecodeError):
            continue  # absent for this kind of device, or gone (remove events)
    return props, attrs


class UdevDriveSource:
    """Whole disks from udev (pyudev), and live hot-plug events. Implements `DriveSource`."""

    def __init__(self, context: Any = None, *, loop_devices: bool = False) -> None:
        """Use `context` (a ``pyudev.Context``) or make one; list loop devices if `loop_devices`.

        Raises:
            DriveDetectionError: libudev could not be loaded.
        """
        self._loop_devices = loop_devices
        try:
            self._context = context if context is not None else pyudev.Context()
        except (ImportError, OSError) as exc:
            raise DriveDetectionError(f"cannot use libudev: {exc}", title="udev") from exc

    def _candidate(self, device: Any) -> Drive | None:
        """The device as a Drive when it is a wipe candidate, else None."""
        props, attrs = _read_device(device)
        if skip_reason(props, attrs, loop_devices=self._loop_devices):
            return None
        return drive_from_properties(props, attrs)

    def list(self) -> builtins.list[Drive]:
        """The wipe-candidate whole disks present now, sorted by kernel name.

        Raises:
            DriveDetectionError: udev could not be enumerated.
        """
        drives: builtins.list[Drive] = []
        try:
            devices: Iterable[Any] = builtins.list(
                self._context.list_devices(subsystem="block", DEVTYPE="disk")
            )
        except (OSError, pyudev.DeviceError) as exc:
            raise DriveDetectionError(f"cannot enumerate block devices: {exc}") from exc
        for device in devices:
            try:
                drive = self._candidate(device)
            except (OSError, pyudev.DeviceError) as exc:
                log.warning("skipping %s: %s", getattr(device, "sys_name", "?"), exc)
                continue
            if drive is not None:
                drives.append(drive)
        return sorted(drives, key=lambda d: _natural_key(d.name))

    def watch(self, callback: DriveEventCallback) -> Callable[[], None]:
        """Call `callback(action, drive, kernel_name)` as drives come and go.

        Built on ``pyudev.MonitorObserver`` with an in-kernel ``block``/``disk`` filter; events
        arrive after udev rules ran. The callback runs on the observer thread; an exception in it
        is logged and watching goes on.

        Args:
            callback: receives ``add``/``change`` with the new Drive, ``remove`` with the last
                known one.

        Returns:
            A function that stops watching (idempotent; joins the thread unless called from the
            callback itself).

        Raises:
            DriveDetectionError: the udev monitor could not be opened.
        """
        try:
            monitor = pyudev.Monitor.from_netlink(self._context)
            monitor.filter_by("block", device_type="disk")
            monitor.start()  # receive from now on, so nothing between here and list() is lost
        except (OSError, ValueError) as exc:
            raise DriveDetectionError(f"cannot open the udev monitor: {exc}") from exc
        known: dict[str, Drive] = {d.name: d for d in self.list()}

        def on_device(device: Any) -> None:
            name = str(getattr(device, "sys_name", "") or "")
            action = str(getattr(device, "action", "") or CHANGE)
            try:
                fresh = None if action == REMOVE else self._candidate(device)
            except (OSError, pyudev.DeviceError) as exc:
                log.warning("cannot read %s after %s: %s", name, action, exc)
                fresh = None
            event = translate_event(action, fresh, known.get(name))
            if event is None:
                return
            if event[0] == REMOVE:
                known.pop(name, None)
            elif fresh is not None:
                known[name] = fresh
            try:
                callback(event[0], event[1], name)
            except Exception:  # a consumer bug must not end hot-plug detection: log it, go on
                log.exception("drive event callback failed for %s %s", event[0], name)

        observer = pyudev.MonitorObserver(monitor, callback=on_device, name="sanitiser-udev")
        observer.daemon = True
        observer.start()
        stopped = threading.Event()

        def stop() -> None:
            if stopped.is_set():
                return
            stopped.set()
            observer.stop()

        return stop


def _natural_key(name: str) -> tuple[str | int, ...]:
    """Sort key that puts loop2 before loop10 and nvme1n1 before nvme10n1."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))
