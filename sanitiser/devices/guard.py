"""The one safety gate for destructive work: may this drive be touched, and is it still the one?

Three layers, from pure to imperative:

- `SystemState` is a snapshot of the machine (mounts, swaps, the block-device graph from sysfs and
  the disks that hold the running system). `read_system_state` reads it from ``/proc`` and
  ``/sys``; its roots are parameters so tests can point it at a fake tree.
- `assess(drive, state)` is pure: it returns every reason the drive must not be touched, each a
  plain sentence for the technician (docs/DEVICE-COMMANDS.md §6.5).
- `claim(drive, confirmed, backend)` is the gate itself. It re-reads the state and the drive's
  identity right before acting, opens the device ``O_RDWR | O_EXCL`` and holds that descriptor
  for the whole job. A `Claim` is the only thing in the product that hands out a writable
  descriptor to a drive, and every destructive path (overwrite engine, erase commands) takes one
  as proof that the guard was passed. Only `claim` can make one.

What is behind a drive's path is the one seam between a real bench and the lab: a
`DriveBackend` says what the operating system says about it (its rules, identity, exclusive
open, whether it is still there, its NVMe controller node, the size to cover). `BlockDevices`
answers for the kernel's block devices (sysfs, ``/proc``, ``/dev``); `LabFiles` for the lab
bench's backing files, and only for regular files in its own directory, so a lab drive can never
reach a device. The wiring picks the backend where the drive comes from (`claim` defaults to
`BLOCK_DEVICES`); the gate runs the same steps for both.

Why one module of ~1,500 lines: it is the one safety gate. Every rule that keeps a write off a
disk nobody chose (system disk, mounts, swap, holders, stacks, loop backing files, other
writers, a lab drive kept to its own files) is here, so a reviewer or an auditor reads the whole
gate in one place and no rule can live somewhere the claim does not look.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, TypeVar

from sanitiser.domain import Drive, Protection
from sanitiser.errors import DriveBusyError, DriveDetectionError

SYSTEM_MOUNTPOINTS: Final[tuple[tuple[str, str], ...]] = (
    ("/", "holds the root filesystem /"),
    ("/boot", "holds the boot filesystem /boot"),
    ("/boot/efi", "holds the EFI system partition /boot/efi"),
)
"""Mount points whose backing disks are the running system, with the reason shown for each."""

LIVE_MEDIUM_MOUNTPOINTS: Final[tuple[str, ...]] = (
    "/run/live/medium",  # Debian live-boot (bookworm)
    "/lib/live/mount/medium",  # older live-boot
    "/cdrom",  # Debian/Ubuntu installers and casper
    "/run/initramfs/live",  # dracut dmsquash-live (Fedora, RHEL live media)
    "/run/archiso/bootmnt",  # Arch-based live media
)
"""Where live systems mount the medium they booted from."""

BOOT_MEDIUM_REASON: Final = "the medium the bench booted from"
READ_ONLY_REASON: Final = "read-only device"
IN_USE_REASON: Final = "in use by the kernel (mounted, swap, dm/md or another exclusive opener)"

# Kernel command-line keys that name the boot or root device (dracut, live-boot, archiso).
_BOOT_HINT_KEYS: Final = ("root", "live-media", "archisodevice", "bootfrom")

_BLKGETSIZE64: Final = 0x80081272  # docs/DEVICE-COMMANDS.md §6.1, u64 bytes
_MAX_DEPTH: Final = 16  # dm/md/loop stacks deeper than this are treated as cycles


@dataclass(frozen=True, slots=True)
class BlockDevice:
    """One node of the kernel's block-device graph, as sysfs showed it."""

    name: str
    """Kernel name: ``sda``, ``sda1``, ``dm-0``, ``md0``, ``loop3``."""
    devnum: str
    """``MAJ:MIN``."""
    parent: str = ""
    """For a partition, the whole disk it belongs to; "" for a whole device."""
    partitions: tuple[str, ...] = ()
    holders: tuple[str, ...] = ()
    """Stacked devices built on this one (``holders/``): dm-*, md*, bcache ..."""
    slaves: tuple[str, ...] = ()
    """Devices this one is built on (``slaves/``), for dm and md devices."""
    read_only: bool = False
    dm_name: str = ""
    """The device-mapper name (``dm/name``), e.g. ``vg-root``; "" if not a dm device."""
    backing_file: str = ""
    """For a loop device, its backing file; "" otherwise."""
    backing_devnum: str = ""
    """For a loop device over a block device (its backing file is a device node), that
    device's ``MAJ:MIN``; "" otherwise."""
    backing_fs: str = ""
    """For a loop device over a regular file, the ``MAJ:MIN`` of the filesystem that holds the
    file (the file's ``st_dev``: it names the file even after it is renamed, deleted or its
    filesystem lazily unmounted); "" when unknown."""
    backing_inode: int = 0
    """For a loop device over a regular file, the file's inode number (0 when unknown)."""

    @property
    def backing_id(self) -> tuple[str, int] | None:
        """``(filesystem MAJ:MIN, inode)`` of a loop device's backing file, when known."""
        return (self.backing_fs, self.backing_inode) if self.backing_fs else None


@dataclass(frozen=True, slots=True)
class Mount:
    """One line of ``/proc/self/mountinfo``."""

    mountpoint: str
    source: str
    """The mount source as the kernel shows it (``/dev/sda2``, ``overlay``, ``tmpfs`` ...)."""
    devnum: str
    """``MAJ:MIN`` of the filesystem (0:NN for btrfs, tmpfs and other virtual devices)."""
    fstype: str
    device: str = ""
    """Kernel name of the block device mounted, "" when the source is not a block device."""


@dataclass(frozen=True, slots=True)
class Swap:
    """One active swap area from ``/proc/swaps``."""

    path: str
    kind: str
    """``partition`` (any block device) or ``file``."""
    device: str = ""
    """Kernel name of the swap block device, "" for a swap file."""
    file_id: tuple[str, int] | None = None
    """For a swap file, ``(filesystem MAJ:MIN, inode)`` of the file when it could be read."""


@dataclass(frozen=True, slots=True)
class SystemState:
    """A snapshot of what the machine is using, for `assess`. Plain values, no I/O.

    The mapping fields are plain dicts: the snapshot is frozen but not hashable.
    """

    blocks: Mapping[str, BlockDevice] = field(default_factory=dict)
    """Every block device in ``/sys/class/block`` (disks and partitions), by kernel name."""
    mounts: tuple[Mount, ...] = ()
    swaps: tuple[Swap, ...] = ()
    system_disks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Whole disks that hold ``/``, ``/boot``, ``/boot/efi`` or the boot medium, with why."""

    def by_devnum(self, devnum: str) -> BlockDevice | None:
        """The block device with this ``MAJ:MIN``, or None."""
        return _node_by_devnum(self.blocks, devnum)


@dataclass(frozen=True, slots=True)
class DriveIdentity:
    """What a drive says it is right now: read just before a destructive step."""

    name: str
    """Kernel name the path resolves to now (names move across resets)."""
    devnum: str
    """``MAJ:MIN`` the path resolves to now ("" for a lab file)."""
    serial: str
    wwn: str
    size_bytes: int


StateReader = Callable[[], "SystemState"]
IdentityReader = Callable[[Drive], DriveIdentity]
_T = TypeVar("_T")


# ---------------------------------------------------------------------------------------------
# Pure core: parsing and judgement over values.
# ---------------------------------------------------------------------------------------------


def _unescape(text: str) -> str:
    r"""Undo the kernel's octal escapes in mountinfo and swaps (``\040`` is a space)."""
    if "\\" not in text:
        return text
    out: list[str] = []
    i = 0
    while i < len(text):
        chunk = text[i + 1 : i + 4]
        if text[i] == "\\" and len(chunk) == 3 and all(c in "01234567" for c in chunk):
            out.append(chr(int(chunk, 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> tuple[Mount, ...]:
    """Parse ``/proc/self/mountinfo`` into mounts (``device`` left empty; resolved later).

    Args:
        text: the file's content.

    Returns:
        One Mount per well-formed line, in file order.
    """
    mounts: list[Mount] = []
    for line in text.splitlines():
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        mounts.append(
            Mount(
                mountpoint=_unescape(fields[4]),
                source=_unescape(fields[sep + 2]),
                devnum=fields[2],
                fstype=fields[sep + 1],
            )
        )
    return tuple(mounts)


def parse_swaps(text: str) -> tuple[Swap, ...]:
    """Parse ``/proc/swaps`` into swap areas (``device`` left empty; resolved later)."""
    swaps: list[Swap] = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            swaps.append(Swap(path=_unescape(fields[0]), kind=fields[1]))
    return tuple(swaps)


def parse_boot_hints(cmdline: str) -> tuple[str, ...]:
    """Device specs on the kernel command line that name the root or boot medium.

    Understands ``root=`` (``/dev/X``, ``UUID=``, ``PARTUUID=``, ``LABEL=``, ``PARTLABEL=`` and
    dracut's ``live:`` forms with ``CDLABEL=``), live-boot's ``live-media=``, archiso's
    ``archisodevice=`` and ``bootfrom=``. Arguments after ``--`` belong to init and are ignored.

    Returns:
        Specs such as ``/dev/sda2`` or ``UUID=1234``; unresolvable forms (nfs, zfs) are dropped.
    """
    specs: list[str] = []
    for arg in cmdline.split():
        if arg == "--":
            break
        key, sep, value = arg.partition("=")
        if not sep or key not in _BOOT_HINT_KEYS or not value:
            continue
        value = value.removeprefix("live:")
        if value.startswith("CDLABEL="):
            value = "LABEL=" + value.removeprefix("CDLABEL=")
        if value.startswith("/dev/") or value.split("=", 1)[0] in (
            "UUID",
            "PARTUUID",
            "LABEL",
            "PARTLABEL",
        ):
            specs.append(value)
    return tuple(specs)


def _node_by_devnum(blocks: Mapping[str, BlockDevice], devnum: str) -> BlockDevice | None:
    """The block device with this ``MAJ:MIN``, or None."""
    for node in blocks.values():
        if node.devnum == devnum:
            return node
    return None


def _mount_containing(path: str, mounts: Iterable[Mount]) -> Mount | None:
    """The block-device mount whose mount point is the longest prefix of `path`."""
    best: Mount | None = None
    for mount in mounts:
        mp = mount.mountpoint.rstrip("/") + "/"
        inside = bool(mount.device) and (path + "/").startswith(mp)
        if inside and (best is None or len(mount.mountpoint) >= len(best.mountpoint)):
            best = mount
    return best


def _file_host(
    node: BlockDevice, blocks: Mapping[str, BlockDevice], mounts: Iterable[Mount]
) -> str:
    """The block device whose filesystem holds a loop device's backing file, or "".

    By the file's filesystem ``MAJ:MIN`` when it is known (a block device, or a mount of a
    filesystem such as btrfs that shows an anonymous number), else by the longest mount point
    that contains the backing file's path. A file on tmpfs has no block device under it.
    """
    if node.backing_fs:
        host = _node_by_devnum(blocks, node.backing_fs)
        if host is not None:
            return host.name
        return next((m.device for m in mounts if m.devnum == node.backing_fs and m.device), "")
    holder = _mount_containing(node.backing_file, mounts)
    return holder.device if holder is not None else ""


def _lowers(
    name: str, blocks: Mapping[str, BlockDevice], mounts: Iterable[Mount]
) -> tuple[str, ...]:
    """The block devices one level beneath `name`.

    A partition sits on its disk, a dm/md device on its slaves, a loop device on the device its
    backing file is (a loop over ``/dev/X``) or on the device whose filesystem holds that file.
    """
    node = blocks.get(name)
    if node is None:
        return ()
    if node.parent:
        return (node.parent,)
    if node.slaves:
        return node.slaves
    if node.backing_devnum:
        lower = _node_by_devnum(blocks, node.backing_devnum)
        return (lower.name,) if lower is not None else ()
    if node.backing_file:
        host = _file_host(node, blocks, mounts)
        return (host,) if host else ()
    return ()


def stack_below(
    name: str, blocks: Mapping[str, BlockDevice], mounts: Iterable[Mount] = ()
) -> dict[str, tuple[str, ...]]:
    """Every block device beneath `name`, transitively, each with the chain that leads to it.

    Follows partitions to their disk, dm/md devices to their slaves and loop devices to their
    backing device or to the device that holds their backing file (loop driver stacks make no
    ``holders/`` links, so sysfs alone does not show them).

    Args:
        name: kernel name of any block device.
        blocks: the block-device graph.
        mounts: the mount table (to place a loop device's backing file on its filesystem).

    Returns:
        Lower device -> the names from `name` down to it, e.g. ``{"sdb": ("loop1", "loop0",
        "sdb")}``; stacks deeper than the limit are cut (treated as cycles).
    """
    mounts = tuple(mounts)
    found: dict[str, tuple[str, ...]] = {}
    frontier: list[tuple[str, ...]] = [(name,)]
    while frontier:
        chain = frontier.pop(0)
        if len(chain) > _MAX_DEPTH:
            continue
        for lower in _lowers(chain[-1], blocks, mounts):
            if lower != name and lower not in found:
                found[lower] = (*chain, lower)
                frontier.append(found[lower])
    return found


def disks_under(
    name: str, blocks: Mapping[str, BlockDevice], mounts: Iterable[Mount] = ()
) -> frozenset[str]:
    """The bottom devices a block device sits on: partitions -> their disk, dm/md -> slaves,
    loop devices -> the device behind them.

    Args:
        name: kernel name of any block device.
        blocks: the block-device graph.
        mounts: the mount table (to place a loop device's backing file).

    Returns:
        Kernel names of the devices at the bottom of the stack (the device itself when it sits
        on nothing); empty when the name is unknown.
    """
    if name not in blocks:
        return frozenset()
    mounts = tuple(mounts)
    below = stack_below(name, blocks, mounts)
    bottom = {lower for lower in below if not _lowers(lower, blocks, mounts)}
    return frozenset(bottom or {name})


def _whole_devices_under(
    name: str, blocks: Mapping[str, BlockDevice], mounts: tuple[Mount, ...]
) -> frozenset[str]:
    """`name` and every device beneath it that is a whole device (not a partition, not dm/md)."""
    chain = {name, *stack_below(name, blocks, mounts)}
    return frozenset(
        n for n in chain if n in blocks and not blocks[n].parent and not blocks[n].slaves
    )


def derive_system_disks(
    blocks: Mapping[str, BlockDevice], mounts: tuple[Mount, ...], boot_devices: Iterable[str]
) -> dict[str, tuple[str, ...]]:
    """Which whole disks hold the running system, and why.

    Args:
        blocks: the block-device graph.
        mounts: mounts with their ``device`` resolved.
        boot_devices: kernel names of devices the command line names as root or boot medium.

    Returns:
        Disk kernel name -> reasons (root, /boot, /boot/efi, boot medium).
    """
    reasons: dict[str, list[str]] = {}

    def add(disks: Iterable[str], reason: str) -> None:
        for disk in sorted(disks):
            if reason not in reasons.setdefault(disk, []):
                reasons[disk].append(reason)

    for mountpoint, reason in SYSTEM_MOUNTPOINTS:
        for mount in mounts:
            if mount.mountpoint == mountpoint and mount.device:
                add(_whole_devices_under(mount.device, blocks, mounts), reason)
    for mount in mounts:
        if mount.mountpoint in LIVE_MEDIUM_MOUNTPOINTS and mount.device:
            add(_whole_devices_under(mount.device, blocks, mounts), BOOT_MEDIUM_REASON)
    for device in boot_devices:
        add(_whole_devices_under(device, blocks, mounts), BOOT_MEDIUM_REASON)
    return {disk: tuple(why) for disk, why in reasons.items()}


def disks_holding(paths: Iterable[str], state: SystemState) -> dict[str, tuple[str, ...]]:
    """The whole disks under the filesystems that hold `paths`, each with the paths it holds.
    Pure: the mount containing each path (longest mount point), and every whole device beneath
    it. A path on tmpfs or an initramfs is held by no disk.

    The agent protects its own boot medium with it: the stick holding its evidence directory
    or its credentials is never one of the drives it may erase.
    """
    held: dict[str, list[str]] = {}
    for path in paths:
        if _in_memory(path, state.mounts):
            continue
        mount = _mount_containing(path, state.mounts)
        if mount is None:
            continue
        for disk in sorted(_whole_devices_under(mount.device, state.blocks, state.mounts)):
            held.setdefault(disk, []).append(path)
    return {disk: tuple(found) for disk, found in held.items()}


MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "rootfs"})
"""Filesystems that live in memory: nothing on them is on a disk."""


def _in_memory(path: str, mounts: Iterable[Mount]) -> bool:
    """The innermost mount holding `path` (of any kind) is a memory filesystem: a tmpfs
    mounted over a directory of a disk's filesystem holds its files itself."""
    innermost: Mount | None = None
    for mount in mounts:
        mp = mount.mountpoint.rstrip("/") + "/"
        if (path + "/").startswith(mp) and (
            innermost is None or len(mount.mountpoint) >= len(innermost.mountpoint)
        ):
            innermost = mount
    return innermost is not None and innermost.fstype in MEMORY_FILESYSTEMS


def _label(node: BlockDevice | None, name: str) -> str:
    """``dm-0 "vg-root"`` for dm devices, else the kernel name."""
    return f'{name} "{node.dm_name}"' if node is not None and node.dm_name else name


def _holder_reason(holder: str, blocks: Mapping[str, BlockDevice]) -> str:
    """The reason text for one holder of a disk or partition (without the subject)."""
    if holder.startswith("dm-"):
        label = _label(blocks.get(holder), holder)
        return f"held by device-mapper {label} (LVM/dm-crypt/multipath)"
    if holder.startswith("md"):
        return f"a member of MD RAID {holder}"
    return f"held by {holder}"


def _chain_text(chain: Iterable[str]) -> str:
    """A stack as the technician reads it: ``loop1 -> loop0 -> sdb``."""
    return " -> ".join(chain)


def _via(chain: tuple[str, ...]) -> str:
    """`` (loop1 -> loop0 -> sdb)`` for a stack more than one level deep, else ""."""
    return f" ({_chain_text(chain)})" if len(chain) > 2 else ""


def _uppers(name: str, state: SystemState) -> dict[str, tuple[str, ...]]:
    """Every device stacked on `name` (its own partitions excepted), with the chain down to it."""
    found: dict[str, tuple[str, ...]] = {}
    for upper in state.blocks:
        if upper == name or state.blocks[upper].parent == name:
            continue
        chain = stack_below(upper, state.blocks, state.mounts).get(name)
        if chain is not None:
            found[upper] = chain
    return found


def _backing_file_reasons(node: BlockDevice, state: SystemState) -> list[str]:
    """Why writing through loop device `node` would change a file something else relies on."""
    reasons: list[str] = []
    path, file_id = node.backing_file, node.backing_id
    for other in state.blocks.values():
        if other.name == node.name or not other.backing_file or other.backing_devnum:
            continue
        same = (
            other.backing_id == file_id
            if file_id and other.backing_id
            else (other.backing_file == path)
        )
        if same:
            reasons.append(f"its backing file {path} also backs {other.name}")
    for swap in state.swaps:
        if (file_id is not None and swap.file_id == file_id) or swap.path == path:
            reasons.append(f"its backing file {path} is active swap")
    return reasons


def _stack_reasons(name: str, node: BlockDevice, state: SystemState) -> list[str]:
    """Reasons from what `name` is stacked on and what is stacked on it (mounts, swaps, loops)."""
    reasons: list[str] = []
    if node.slaves:
        kind = "an MD RAID array" if name.startswith("md") else "a stacked device"
        built_on = ", ".join(node.slaves)
        reasons.append(f"{kind} built on {built_on}: sanitise the disks underneath instead")
    if node.backing_devnum:
        lower = state.by_devnum(node.backing_devnum)
        lower_name = lower.name if lower is not None else node.backing_devnum
        reasons.append(
            f"a loop device over {lower_name} ({node.backing_file}): "
            f"sanitise {lower_name} itself instead"
        )
    elif node.backing_file:
        reasons.extend(_backing_file_reasons(node, state))
    uppers = _uppers(name, state)
    for mount in state.mounts:
        if not mount.device:
            continue
        if mount.device == name:
            reasons.append(f"mounted at {mount.mountpoint}")
        elif mount.device in node.partitions:
            reasons.append(f"partition {mount.device} is mounted at {mount.mountpoint}")
        elif mount.device in uppers:
            label = _label(state.blocks.get(mount.device), mount.device)
            reasons.append(
                f"{label}, built on this disk{_via(uppers[mount.device])}, "
                f"is mounted at {mount.mountpoint}"
            )
    for swap in state.swaps:
        if swap.device == name or swap.device in node.partitions:
            reasons.append(f"used as swap ({swap.path})")
        elif swap.device in uppers:
            reasons.append(f"used as swap ({swap.path}){_via(uppers[swap.device])}")
        elif swap.file_id is not None:
            host = state.by_devnum(swap.file_id[0])
            if host is not None and (host.name == name or host.name in node.partitions):
                reasons.append(f"holds the active swap file {swap.path}")
    direct_holders = {h for m in (name, *node.partitions) for h in _holders_of(m, state)}
    for upper, chain in uppers.items():
        upper_node = state.blocks[upper]
        if upper in direct_holders or not upper_node.backing_file:
            continue
        if len(chain) == 2 or (len(chain) == 3 and chain[1] in node.partitions):
            how = "is attached over" if upper_node.backing_devnum else "has its backing file on"
            where = f"partition {chain[1]} of this disk" if len(chain) == 3 else "this disk"
            reasons.append(
                f"loop device {upper} {how} {where} ({upper_node.backing_file}); detach it first"
            )
        else:
            reasons.append(f"loop device {upper} is stacked on this disk ({_chain_text(chain)})")
    return reasons


def _holders_of(name: str, state: SystemState) -> tuple[str, ...]:
    """The ``holders/`` of one device (dm/md/bcache built on it)."""
    node = state.blocks.get(name)
    return node.holders if node is not None else ()


def _assess_disk(drive: Drive, state: SystemState) -> list[str]:
    """Every reason a block device must not be touched."""
    node = state.blocks.get(drive.name)
    if node is None and drive.devnum:
        node = state.by_devnum(drive.devnum)
    if node is None:
        return [f"{drive.name or drive.path} is not present in sysfs (was it removed?)"]
    name = node.name
    if node.parent:
        return [f"{name} is a partition of {node.parent}, not a whole disk"]
    reasons: list[str] = list(state.system_disks.get(name, ()))
    reasons.extend(_stack_reasons(name, node, state))
    for member in (name, *node.partitions):
        for holder in _holders_of(member, state):
            text = _holder_reason(holder, state.blocks)
            if member == name:
                reasons.append(text.removeprefix("a "))
            else:
                reasons.append(f"partition {member} is {text}")
    if node.read_only or drive.read_only:
        reasons.append(READ_ONLY_REASON)
    return reasons


def _assess_file(drive: Drive, state: SystemState, directory: Path) -> list[str]:
    """Every reason a lab drive (a backing file in `directory`) must not be touched."""
    reasons: list[str] = []
    if drive.path.startswith("/dev/"):
        reasons.append(f"a simulated drive must be a file, but {drive.path} is a device node")
    elif _lab_entry(drive, directory) is None:
        reasons.append(
            f"a simulated drive must be a file in the lab directory {directory}, "
            f"but {drive.path} is not"
        )
    reasons.extend(f"used as swap ({swap.path})" for swap in state.swaps if swap.path == drive.path)
    for node in state.blocks.values():
        if node.backing_file and node.backing_file == drive.path:
            loop = Drive(
                path=f"/dev/{node.name}",
                name=node.name,
                model="",
                serial="",
                size_bytes=0,
                transport=drive.transport,
            )
            busy = [r for r in _assess_disk(loop, state) if "also backs" not in r]
            if busy:
                reasons.append(f"its file backs {node.name}, which is {'; '.join(busy)}")
    if drive.read_only:
        reasons.append(READ_ONLY_REASON)
    return reasons


def _lab_entry(drive: Drive, directory: Path) -> str | None:
    """The name of `drive`'s file in the lab `directory`, or None when its path names anything
    else (another directory, ``..``). Pure: the path as written, no look at the filesystem."""
    path = Path(drive.path)
    inside = path.parent == directory and path.name not in ("", ".", "..")
    return path.name if inside else None


def _protection(found: Iterable[str]) -> Protection:
    """The verdict for these reasons (each once, in order)."""
    reasons = tuple(dict.fromkeys(found))
    return Protection(protected=bool(reasons), reasons=reasons)


def assess(drive: Drive, state: SystemState) -> Protection:
    """Decide whether block device `drive` may be touched. Pure: every reason that applies.

    Drives are refused when they hold ``/``, ``/boot``, ``/boot/efi`` or the boot medium,
    when the disk or a partition is mounted, used as swap or held by device-mapper / MD RAID
    (LVM, dm-crypt, multipath), when read-only, or when they are themselves a stacked device or
    a partition. Loop stacks, which the kernel does not show as holders, are followed both ways
    and transitively: a disk with a loop device attached over it (or over one of its
    partitions), or holding the backing file of a loop device, is refused, and so is a loop
    device over another block device, or over a file that also backs another loop device or is
    active swap. Each such reason names the chain. A lab bench's file is judged by
    `LabFiles.assess` instead (file rules only).

    Args:
        drive: the drive to judge.
        state: a snapshot from `read_system_state`.

    Returns:
        The verdict; ``protected`` is True exactly when there is at least one reason.
    """
    return _protection(_assess_disk(drive, state))


def assess_all(drives: Iterable[Drive], state: SystemState) -> dict[str, Protection]:
    """`assess` for many drives against one snapshot, keyed by drive path (for ``scan``)."""
    return {drive.path: assess(drive, state) for drive in drives}


def _norm_text(text: str) -> str:
    """A udev string with its whitespace collapsed (as discovery stores it)."""
    return " ".join(text.split())


def _norm_wwn(wwn: str) -> str:
    """A WWN without its encoding prefix (udev says ``0x5000...``, sysfs ``naa.5000...``)."""
    value = wwn.strip().lower()
    for prefix in ("0x", "naa.", "eui.", "t10."):
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def identity_mismatches(confirmed: Drive, actual: DriveIdentity) -> tuple[str, ...]:
    """How the drive now differs from what the technician confirmed (empty when it does not).

    Compares serial, WWN and size (`Drive.identity`), ignoring blanks and the WWN's encoding
    prefix (udev says ``0x5000...``, sysfs ``naa.5000...``).
    """
    serial, wwn, size = confirmed.identity
    problems: list[str] = []
    if _norm_text(serial) != _norm_text(actual.serial):
        problems.append(
            f"serial is now {_norm_text(actual.serial)!r}, but {_norm_text(serial)!r} was confirmed"
        )
    if _norm_wwn(wwn) != _norm_wwn(actual.wwn):
        problems.append(f"WWN is now {actual.wwn.strip()!r}, but {wwn.strip()!r} was confirmed")
    if size != actual.size_bytes:
        problems.append(f"size is now {actual.size_bytes} bytes, but {size} bytes was confirmed")
    return tuple(problems)


def drive_mismatches(recorded: Drive, attached: Drive) -> tuple[str, ...]:
    """How a drive attached now differs from one recorded earlier: serial, WWN, size (as
    `identity_mismatches`) and model. Empty when nothing recorded differs."""
    now = DriveIdentity(
        name=attached.name,
        devnum=attached.devnum,
        serial=attached.serial,
        wwn=attached.wwn,
        size_bytes=attached.size_bytes,
    )
    problems = [
        p.replace("was confirmed", "was recorded") for p in identity_mismatches(recorded, now)
    ]
    if _norm_text(recorded.model) != _norm_text(attached.model):
        problems.append(
            f"model is now {_norm_text(attached.model)!r}, but {_norm_text(recorded.model)!r} "
            "was recorded"
        )
    return tuple(problems)


# ---------------------------------------------------------------------------------------------
# Imperative shell: reading /proc, /sys, /dev and udev.
# ---------------------------------------------------------------------------------------------


def _read(path: Path) -> str:
    """A sysfs/proc file's text, stripped; "" when it is gone (devices vanish under us)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _listdir(path: Path) -> tuple[str, ...]:
    """Sorted entries of a directory; () when it does not exist."""
    try:
        return tuple(sorted(os.listdir(path)))
    except OSError:
        return ()


_LOOP_GET_STATUS64: Final = 0x4C05
_LOOP_INFO64_SIZE: Final = 232  # struct loop_info64: lo_device, lo_inode, lo_rdevice first
_DELETED_SUFFIX: Final = " (deleted)"


def _devnum_text(encoded: int) -> str:
    """``MAJ:MIN`` of a device number as the kernel encodes it (0 -> "")."""
    return f"{os.major(encoded)}:{os.minor(encoded)}" if encoded else ""


def _loop_backing(device: Path, backing_file: str) -> tuple[str, str, int]:
    """What is behind a loop device: ``(backing device, file's filesystem, file's inode)``.

    Asks the loop driver (``LOOP_GET_STATUS64`` on the device node): it names the backing file
    by device and inode, which stays true when the file was renamed, deleted or its filesystem
    lazily unmounted. Falls back to ``stat`` of the backing file's path when the ioctl cannot be
    made; returns blanks when neither works (the path-based rules still apply).
    """
    try:
        fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            info = bytearray(_LOOP_INFO64_SIZE)
            fcntl.ioctl(fd, _LOOP_GET_STATUS64, info)
        finally:
            os.close(fd)
        fs_dev, inode, rdev = struct.unpack_from("QQQ", info)
        if rdev:
            return _devnum_text(rdev), "", 0
        return "", _devnum_text(fs_dev), inode
    except OSError:
        pass
    try:
        st = os.stat(backing_file.removesuffix(_DELETED_SUFFIX))
    except OSError:
        return "", "", 0
    if stat.S_ISBLK(st.st_mode):
        return _devnum_text(st.st_rdev), "", 0
    return "", _devnum_text(st.st_dev), st.st_ino


def read_blocks(
    sys_root: str | Path = "/sys", dev_root: str | Path = "/dev"
) -> dict[str, BlockDevice]:
    """Read the block-device graph from ``SYS/class/block`` (loop devices asked through DEV).

    Raises:
        DriveDetectionError: sysfs has no ``class/block`` (then nothing can be judged safely).
    """
    class_dir = Path(sys_root) / "class" / "block"
    if not class_dir.is_dir():
        raise DriveDetectionError(f"cannot read the block devices: {class_dir} is missing")
    raw: dict[str, BlockDevice] = {}
    for name in _listdir(class_dir):
        node = Path(os.path.realpath(class_dir / name))
        devnum = _read(node / "dev")
        if not devnum:
            continue  # vanished while we looked
        is_partition = (node / "partition").exists()
        backing_file = _read(node / "loop" / "backing_file")
        backing = (
            _loop_backing(Path(dev_root) / name, backing_file) if backing_file else ("", "", 0)
        )
        raw[name] = BlockDevice(
            name=name,
            devnum=devnum,
            parent=node.parent.name if is_partition else "",
            holders=_listdir(node / "holders"),
            slaves=_listdir(node / "slaves"),
            read_only=_read(node / "ro") == "1",
            dm_name=_read(node / "dm" / "name"),
            backing_file=backing_file,
            backing_devnum=backing[0],
            backing_fs=backing[1],
            backing_inode=backing[2],
        )
    children: dict[str, list[str]] = {}
    for node_ in raw.values():
        if node_.parent:
            children.setdefault(node_.parent, []).append(node_.name)
    return {
        name: replace(node_, partitions=tuple(sorted(children.get(name, ()))))
        for name, node_ in raw.items()
    }


def _resolve_dev_path(path: str, blocks: Mapping[str, BlockDevice], dev_root: Path) -> str:
    """Kernel name of the block device a ``/dev/...`` path names (through symlinks), or ""."""
    if not path.startswith("/dev/"):
        return ""
    resolved = Path(os.path.realpath(dev_root / path.removeprefix("/dev/")))
    name = resolved.name
    if name in blocks:
        return name
    if path.startswith("/dev/mapper/"):
        dm_name = path.removeprefix("/dev/mapper/")
        for node in blocks.values():
            if node.dm_name == dm_name:
                return node.name
    return ""


def _resolve_spec(spec: str, blocks: Mapping[str, BlockDevice], dev_root: Path) -> str:
    """Kernel name for a boot spec (``/dev/X``, ``UUID=``, ``LABEL=`` ...), or ""."""
    if spec.startswith("/dev/"):
        return _resolve_dev_path(spec, blocks, dev_root)
    kind, _, value = spec.partition("=")
    folder = {
        "UUID": "by-uuid",
        "PARTUUID": "by-partuuid",
        "LABEL": "by-label",
        "PARTLABEL": "by-partlabel",
    }.get(kind)
    if folder is None or not value:
        return ""
    if kind == "PARTUUID":
        value = value.lower()
    if kind in ("LABEL", "PARTLABEL"):
        value = value.replace("/", "\\x2f").replace(" ", "\\x20")  # udev's encoding
    return _resolve_dev_path(f"/dev/disk/{folder}/{value}", blocks, dev_root)


def _device_of(source: str, devnum: str, blocks: Mapping[str, BlockDevice], dev_root: Path) -> str:
    """Kernel name of a mount's block device: by MAJ:MIN, else by its source path.

    Virtual filesystems (btrfs, tmpfs, overlay) show 0:NN, which no block device has.
    """
    for node in blocks.values():
        if node.devnum == devnum:
            return node.name
    return _resolve_dev_path(source, blocks, dev_root)


def read_system_state(
    sys_root: str | Path = "/sys", proc_root: str | Path = "/proc", dev_root: str | Path = "/dev"
) -> SystemState:
    """Take a snapshot of mounts, swaps, the block graph and the system disks.

    Args:
        sys_root: where sysfs is (a fake tree in tests).
        proc_root: where procfs is.
        dev_root: where ``/dev`` is (for ``/dev/mapper``, ``/dev/disk/by-uuid`` links).

    Returns:
        The snapshot.

    Raises:
        DriveDetectionError: mounts or block devices cannot be read (refuse rather than guess).
    """
    proc, dev = Path(proc_root), Path(dev_root)
    blocks = read_blocks(sys_root, dev)
    try:
        mountinfo = (proc / "self" / "mountinfo").read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DriveDetectionError(f"cannot read the mount table: {exc}") from exc
    mounts = tuple(
        replace(m, device=_device_of(m.source, m.devnum, blocks, dev))
        for m in parse_mountinfo(mountinfo)
    )
    swaps = tuple(
        replace(s, device=_resolve_dev_path(s.path, blocks, dev), file_id=_file_id(s))
        for s in parse_swaps(_read(proc / "swaps"))
    )
    boot = [_resolve_spec(spec, blocks, dev) for spec in parse_boot_hints(_read(proc / "cmdline"))]
    return SystemState(
        blocks=blocks,
        mounts=mounts,
        swaps=swaps,
        system_disks=derive_system_disks(blocks, mounts, [b for b in boot if b]),
    )


def _file_id(swap: Swap) -> tuple[str, int] | None:
    """``(filesystem MAJ:MIN, inode)`` of a swap file; None for a swap device or when unreadable."""
    if swap.kind != "file":
        return None
    try:
        st = os.stat(swap.path.removesuffix(_DELETED_SUFFIX))
    except OSError:
        return None
    return _devnum_text(st.st_dev), st.st_ino


def _udev_properties(devnum: str, udev_root: Path) -> dict[str, str]:
    """Properties udev recorded for block device MAJ:MIN (``/run/udev/data/bMAJ:MIN``)."""
    props: dict[str, str] = {}
    for line in _read(udev_root / "data" / f"b{devnum}").splitlines():
        if line.startswith("E:"):
            key, _, value = line[2:].partition("=")
            props[key] = value
    return props


def read_identity(
    drive: Drive, *, sys_root: str | Path = "/sys", udev_root: str | Path = "/run/udev"
) -> DriveIdentity:
    """Read what `drive.path` is right now: kernel name, MAJ:MIN, serial, WWN and size.

    Serial and WWN are read exactly as discovery reads them (udev ``ID_SERIAL_SHORT`` or
    ``ID_SCSI_SERIAL``; ``ID_WWN_WITH_EXTENSION`` or ``ID_WWN``), so a drive compares equal to
    the `Drive` the technician confirmed; the size comes from sysfs. (A lab file's identity:
    `LabFiles.read_identity`.)

    Raises:
        DriveDetectionError: the path is gone, is not a block device, or cannot be read.
    """
    try:
        st = os.stat(drive.path)
    except OSError as exc:
        raise DriveDetectionError(f"{drive.path} cannot be read: {exc.strerror}") from exc
    if not stat.S_ISBLK(st.st_mode):
        raise DriveDetectionError(f"{drive.path} is not a block device")
    devnum = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    node = Path(os.path.realpath(Path(sys_root) / "dev" / "block" / devnum))
    size_sectors = _read(node / "size")
    if not size_sectors.isdigit():
        raise DriveDetectionError(f"{drive.path} ({devnum}) has no size in sysfs")
    props = _udev_properties(devnum, Path(udev_root))
    return DriveIdentity(
        name=node.name,
        devnum=devnum,
        serial=props.get("ID_SERIAL_SHORT") or props.get("ID_SCSI_SERIAL", ""),
        wwn=props.get("ID_WWN_WITH_EXTENSION") or props.get("ID_WWN", ""),
        size_bytes=int(size_sectors) * 512,
    )


@dataclass(frozen=True, slots=True)
class Opener:
    """Another process that has the drive open (seen in ``/proc/PID/fd``)."""

    pid: int
    command: str
    """The process's ``comm``."""
    writable: bool
    """Opened for writing (``O_WRONLY`` or ``O_RDWR``, from ``fdinfo``)."""

    def __str__(self) -> str:
        mode = "for writing" if self.writable else "for reading"
        return f"process {self.pid} ({self.command}) has it open {mode}"


def _fd_writable(fdinfo: Path) -> bool:
    """Whether a descriptor was opened for writing (``flags:`` in ``fdinfo``, octal)."""
    for line in _read(fdinfo).splitlines():
        if line.startswith("flags:"):
            with contextlib.suppress(ValueError):
                return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    return True  # unreadable flags: assume the worst


_OpenKey = tuple[str, str, int]
"""``("b", MAJ:MIN, 0)`` for a block device, ``("f", filesystem MAJ:MIN, inode)`` for a file."""


_NOT_FILES: Final = ("socket:[", "pipe:[", "anon_inode:")
"""Descriptor link targets that are neither block devices nor files."""


def _scan_open_files(proc: Path, skip: int) -> dict[_OpenKey, list[tuple[str, str]]]:
    """Every process's open block devices and files: key -> ``(pid, fd)`` pairs."""
    table: dict[_OpenKey, list[tuple[str, str]]] = {}
    for entry in sorted((e for e in _listdir(proc) if e.isdigit()), key=int):
        if int(entry) == skip:
            continue
        fd_dir = proc / entry / "fd"
        for fd in _listdir(fd_dir):
            try:
                if os.readlink(fd_dir / fd).startswith(_NOT_FILES):
                    continue  # sockets, pipes, eventfds ...: nothing to stat
                st = os.stat(fd_dir / fd)
            except OSError:
                continue
            if stat.S_ISBLK(st.st_mode):
                key: _OpenKey = ("b", _devnum_text(st.st_rdev), 0)
            elif stat.S_ISREG(st.st_mode):
                key = ("f", _devnum_text(st.st_dev), st.st_ino)
            else:
                continue
            table.setdefault(key, []).append((entry, fd))
    return table


_scan_lock = threading.Lock()
_last_scans: dict[tuple[Path, int], tuple[float, dict[_OpenKey, list[tuple[str, str]]]]] = {}


def _open_files(proc: Path, skip: int, max_age: float) -> dict[_OpenKey, list[tuple[str, str]]]:
    """`_scan_open_files`, or the last scan when it is at most `max_age` seconds old (many jobs
    watching their drives share one look at ``/proc`` instead of each making its own)."""
    with _scan_lock:
        now = time.monotonic()
        last = _last_scans.get((proc, skip))
        if last is not None and now - last[0] <= max_age:
            return last[1]
        table = _scan_open_files(proc, skip)
        _last_scans[(proc, skip)] = (now, table)
        return table


def find_openers(
    devnums: Iterable[str] = (),
    files: Iterable[tuple[str, int]] = (),
    *,
    proc_root: str | Path = "/proc",
    exclude_pid: int | None = None,
    max_age: float = 0.0,
) -> tuple[Opener, ...]:
    """Other processes holding a block device (by ``MAJ:MIN``) or a file (by device and inode)
    open, from ``/proc/*/fd``.

    An ``O_EXCL`` hold keeps out mounts and other exclusive openers, but not a plain ``open``;
    this is how such openers are seen. Processes and descriptors that vanish while looking are
    skipped.

    Args:
        devnums: ``MAJ:MIN`` of the block devices to look for.
        files: ``(filesystem MAJ:MIN, inode)`` of the files to look for.
        proc_root: where procfs is.
        exclude_pid: a process to leave out (this one, by default).
        max_age: a look at ``/proc`` at most this many seconds old may be reused (0: look now).

    Returns:
        One Opener per process and descriptor, in pid order.
    """
    proc = Path(proc_root)
    skip = os.getpid() if exclude_pid is None else exclude_pid
    table = _open_files(proc, skip, max_age)
    keys = [("b", d, 0) for d in devnums] + [("f", dev, ino) for dev, ino in files]
    pairs = sorted({pair for key in keys for pair in table.get(key, ())}, key=lambda p: int(p[0]))
    return tuple(
        Opener(
            pid=int(pid),
            command=_read(proc / pid / "comm") or "?",
            writable=_fd_writable(proc / pid / "fdinfo" / fd),
        )
        for pid, fd in pairs
    )


# ---------------------------------------------------------------------------------------------
# The gate.
# ---------------------------------------------------------------------------------------------

_CLAIM_TOKEN: Final = object()


class Claim:
    """Proof that the guard was passed: holds the drive's one writable, exclusive descriptor.

    Only `claim` makes a Claim. Every destructive step takes one and writes only through
    `Claim.fd`; the descriptor is closed (and the exclusive hold released) when the ``with``
    block ends or `close` is called. For a real drive the fd was opened ``O_RDWR | O_EXCL``, so
    the kernel refuses mounts, swap, dm/md and other exclusive openers while it is held; tools
    that need their own ``O_EXCL`` open (``blkdiscard``) cannot run meanwhile, so use the ioctls
    on this fd instead.

    ``O_EXCL`` does not keep out a plain ``open`` by another process, so the claim also watches
    for other writers (`other_writers`): the job asks during its run and before it certifies.
    """

    __slots__ = ("_devnums", "_fd", "_files", "_seen", "backend", "drive", "identity")

    def __init__(
        self,
        token: object,
        *,
        drive: Drive,
        identity: DriveIdentity,
        fd: int,
        backend: DriveBackend | None = None,
        devnums: tuple[str, ...] = (),
        files: tuple[tuple[str, int], ...] = (),
    ) -> None:
        if token is not _CLAIM_TOKEN:
            raise TypeError("a Claim is made only by sanitiser.devices.guard.claim()")
        self.drive: Final = drive
        """The drive as it is now (kernel name and MAJ:MIN refreshed)."""
        self.identity: Final = identity
        """The identity read at claim time."""
        self.backend: Final[DriveBackend] = backend if backend is not None else BLOCK_DEVICES
        """What is behind the drive's path (the claim was made through it): what the methods
        ask about the drive (its NVMe controller node, a rescan, the size to cover)."""
        self._fd = fd
        self._devnums = devnums
        self._files = files
        self._seen: dict[tuple[int, str], Opener] = {}

    def other_writers(
        self, proc_root: str | Path = "/proc", *, max_age: float = 0.0
    ) -> tuple[Opener, ...]:
        """Other processes that have the drive (or one of its partitions) open for writing now
        (or at a look at ``/proc`` at most `max_age` seconds old).

        Each one found is also remembered (`writers_seen`), so a writer that came and went
        between two looks is still reported if either look saw it.
        """
        openers = find_openers(self._devnums, self._files, proc_root=proc_root, max_age=max_age)
        now = tuple(o for o in openers if o.writable)
        for opener in now:
            self._seen.setdefault((opener.pid, opener.command), opener)
        return now

    @property
    def writers_seen(self) -> tuple[Opener, ...]:
        """Every other writer any call of `other_writers` has seen during this claim."""
        return tuple(self._seen.values())

    @property
    def path(self) -> str:
        """The device node (or lab file) that was opened."""
        return self.drive.path

    @property
    def closed(self) -> bool:
        """True once the descriptor has been released."""
        return self._fd < 0

    @property
    def fd(self) -> int:
        """The writable descriptor, held exclusively for the whole job.

        Raises:
            DriveBusyError: the claim was already released.
        """
        if self._fd < 0:
            raise DriveBusyError(f"the claim on {self.path} has been released", title="Released")
        return self._fd

    def recheck(self, identity_reader: IdentityReader | None = None) -> None:
        """Re-read the identity and refuse if the drive is no longer the one claimed.

        Call it before each erase command sent long after the claim (e.g. after a reset).

        Raises:
            DriveBusyError: the identity differs, or cannot be read.
        """
        reader = identity_reader or self.backend.read_identity
        _check_identity(self.drive, _read_identity_or_refuse(self.drive, reader))

    def close(self) -> None:
        """Release the descriptor (idempotent)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Claim:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A leaked claim must not keep the disk locked for the life of the process.
        with contextlib.suppress(AttributeError, OSError):
            self.close()

    def __repr__(self) -> str:
        state = "released" if self.closed else f"fd={self._fd}"
        return f"Claim({self.path!r}, {state})"


def _refuse(drive: Drive, reasons: Iterable[str], title: str = "Drive refused") -> DriveBusyError:
    """The error for a refusal, listing every reason."""
    why = tuple(reasons)
    return DriveBusyError(f"{drive.path} refused: {'; '.join(why)}", title=title, reasons=why)


def _read_identity_or_refuse(drive: Drive, reader: IdentityReader) -> DriveIdentity:
    """Read the identity; a failure to read is a refusal."""
    try:
        return reader(drive)
    except (DriveDetectionError, OSError) as exc:
        raise _refuse(drive, [f"its identity cannot be read ({exc})"]) from exc


def _check_identity(confirmed: Drive, actual: DriveIdentity) -> None:
    """Refuse when the drive is not the one the technician confirmed."""
    problems = identity_mismatches(confirmed, actual)
    if problems:
        raise _refuse(
            confirmed,
            [f"not the drive that was confirmed: {p}" for p in problems],
            title="Different drive",
        )


def _open_device(drive: Drive, confirmed: Drive, identity: DriveIdentity) -> int:
    """Open a real drive ``O_RDWR | O_EXCL`` and check the fd is the device that was read."""
    try:
        fd = os.open(drive.path, os.O_RDWR | os.O_EXCL | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.EBUSY:
            raise _refuse(drive, [IN_USE_REASON], title="Drive in use") from exc
        raise _refuse(drive, [f"cannot be opened for writing ({exc.strerror})"]) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISBLK(st.st_mode):
            raise _refuse(drive, ["is not a block device"])
        devnum = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
        if identity.devnum and devnum != identity.devnum:
            raise _refuse(drive, [f"changed while being checked (now {devnum})"])
        size = struct.unpack("Q", fcntl.ioctl(fd, _BLKGETSIZE64, b"\0" * 8))[0]
        if size != confirmed.size_bytes:
            raise _refuse(
                drive,
                [
                    f"not the drive that was confirmed: size is now {size} bytes, "
                    f"but {confirmed.size_bytes} bytes was confirmed"
                ],
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


# ---------------------------------------------------------------------------------------------
# What is behind a drive's path: the kernel's block devices, or the lab bench's files.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    """A writable descriptor a backend opened for `claim`, and what to watch for other writers."""

    fd: int
    devnums: tuple[str, ...] = ()
    """``MAJ:MIN`` of the device and its partitions (a block device)."""
    files: tuple[tuple[str, int], ...] = ()
    """``(filesystem MAJ:MIN, inode)`` of the file (a lab file)."""


class DriveBackend(Protocol):
    """What the operating system says about the thing behind a drive's path.

    The one place a lab drive differs from a real one below the wiring: `claim` runs the same
    steps for both and asks the backend each time; the methods and the job ask the claim's
    backend. `BlockDevices` answers for real drives, `LabFiles` for the lab bench's files.
    """

    def assess(self, drive: Drive, state: SystemState) -> Protection:
        """Every reason the drive must not be touched (pure: `state` is the snapshot)."""
        ...

    def read_identity(self, drive: Drive) -> DriveIdentity:
        """What the path is right now (raises `DriveDetectionError` when it cannot be read)."""
        ...

    def open(
        self, drive: Drive, confirmed: Drive, identity: DriveIdentity, state: SystemState
    ) -> Opened:
        """Open it read-write and exclusively, checked to be what was judged (for `claim` only;
        raises `DriveBusyError` when refused)."""
        ...

    def gone(self, drive: Drive) -> str:
        """Why the drive looks removed or dead, or "" when it is still there."""
        ...

    def nvme_controller(self, drive: Drive) -> str:
        """The NVMe controller node for the drive's namespace (what ``nvme sanitize`` takes)."""
        ...

    def rescan(self, drive: Drive) -> bool:
        """Have the size re-read after the drive's maximum changed; True when asked."""
        ...

    def native_bytes(self, native_sectors: int) -> int | None:
        """The bytes an overwrite must cover once HPA/DCO are removed, or None: the claimed
        descriptor's own size is the whole medium."""
        ...


def _vanished(path: str) -> str:
    """Why a drive looks removed because its path is gone, or ""."""
    if os.path.exists(path):
        return ""
    return f"the drive disappeared ({path} no longer exists: removed or failed)"


@dataclass(frozen=True, slots=True)
class BlockDevices:
    """Drives the kernel knows as block devices: sysfs, ``/proc``, ``/dev`` and udev's data.

    Args:
        sys_root: where sysfs is (a fake tree in tests).
        udev_root: where udev keeps its data.
    """

    sys_root: Path = Path("/sys")
    udev_root: Path = Path("/run/udev")

    def assess(self, drive: Drive, state: SystemState) -> Protection:
        """`assess`: the disk rules."""
        return assess(drive, state)

    def read_identity(self, drive: Drive) -> DriveIdentity:
        """`read_identity`, from this sysfs and udev."""
        return read_identity(drive, sys_root=self.sys_root, udev_root=self.udev_root)

    def open(
        self, drive: Drive, confirmed: Drive, identity: DriveIdentity, state: SystemState
    ) -> Opened:
        """``O_RDWR | O_EXCL``, the node and size checked; the device and its partitions are
        watched for other writers."""
        fd = _open_device(drive, confirmed, identity)
        node = state.blocks.get(drive.name)
        partitions = node.partitions if node is not None else ()
        return Opened(fd, devnums=(identity.devnum, *(state.blocks[p].devnum for p in partitions)))

    def gone(self, drive: Drive) -> str:
        """The node is gone, or (a ``/dev`` path) sysfs shows no capacity or no device."""
        vanished = _vanished(drive.path)
        if vanished or not drive.path.startswith("/dev/"):
            return vanished
        name = os.path.basename(os.path.realpath(drive.path))
        try:
            size = (self.sys_root / "class" / "block" / name / "size").read_text("ascii")
            if int(size.strip() or "0") == 0:
                return f"the drive disappeared ({drive.path} now has no capacity)"
        except (OSError, ValueError):
            return f"the drive disappeared ({drive.path} is no longer in sysfs)"
        return ""

    def nvme_controller(self, drive: Drive) -> str:
        """``/dev/nvme0n1`` -> ``/dev/nvme0``, via sysfs.

        The number in a namespace name can be the subsystem's, not the controller's
        (docs/DEVICE-COMMANDS.md §2.2), so the controller is read from
        ``/sys/block/<ns>/device``; string surgery is the last resort.
        """
        link = self.sys_root / "block" / drive.name / "device"
        try:
            name = os.path.basename(os.path.realpath(link))
        except OSError:
            name = ""
        if re.fullmatch(r"nvme\d+", name):
            return f"/dev/{name}"
        match = re.fullmatch(r"(/dev/nvme\d+)n\d+", drive.path)
        return match.group(1) if match else drive.path

    def rescan(self, drive: Drive) -> bool:
        """Write ``1`` to ``/sys/block/<name>/device/rescan`` (best effort)."""
        if not drive.name:
            return False
        try:
            (self.sys_root / "block" / drive.name / "device" / "rescan").write_text("1\n")
        except OSError:
            return False
        return True

    def native_bytes(self, native_sectors: int) -> int | None:
        """The native maximum: the kernel must see all of it before an overwrite."""
        return native_sectors * 512


BLOCK_DEVICES: Final = BlockDevices()
"""The machine's own block devices."""


@dataclass(frozen=True, slots=True)
class LabFiles:
    """The lab bench's drives: regular files ``<serial>.img`` directly in `directory`.

    Nothing else: a path outside the directory, a symlink, anything not a regular file or a
    file with other names (hard links) is refused, so a lab drive cannot be used to reach a
    device or another file. The file's
    rules are the guard's (`assess`: swap, loop devices over it), its exclusive hold is an
    ``flock``, and the emulators answer the drive's commands on the file itself.

    Args:
        directory: the lab bench's directory (`LabBench.directory`).
    """

    directory: Path

    def assess(self, drive: Drive, state: SystemState) -> Protection:
        """The file rules: in the directory, not swap, not behind a busy loop device."""
        return _protection(_assess_file(drive, state, self.directory))

    def _entry(self, drive: Drive) -> str:
        name = _lab_entry(drive, self.directory)
        if name is None:
            raise DriveDetectionError(f"{drive.path} is not in the lab directory {self.directory}")
        return name

    def _in_directory(self, drive: Drive, act: Callable[[str, int], _T]) -> _T:
        """`act(name, directory fd)` on the drive's entry in the directory itself (never through
        a path that may lead elsewhere)."""
        name = self._entry(drive)
        folder = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return act(name, folder)
        finally:
            os.close(folder)

    def read_identity(self, drive: Drive) -> DriveIdentity:
        """The file's name is the serial (``<serial>.img``), its size the size."""
        try:
            st = self._in_directory(
                drive, lambda name, folder: os.stat(name, dir_fd=folder, follow_symlinks=False)
            )
        except OSError as exc:
            raise DriveDetectionError(
                f"lab file {drive.path} cannot be read: {exc.strerror}"
            ) from exc
        if not stat.S_ISREG(st.st_mode):
            raise DriveDetectionError(f"lab file {drive.path} is not a regular file")
        return DriveIdentity(
            name=drive.name, devnum="", serial=Path(drive.path).stem, wwn="", size_bytes=st.st_size
        )

    def open(
        self, drive: Drive, confirmed: Drive, identity: DriveIdentity, state: SystemState
    ) -> Opened:
        """Read-write, locked exclusively (``flock``); the file is watched for other writers."""
        flags = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = self._in_directory(drive, lambda name, folder: os.open(name, flags, dir_fd=folder))
        except DriveDetectionError as exc:
            raise _refuse(drive, [str(exc)]) from exc
        except OSError as exc:
            raise _refuse(drive, [f"cannot be opened for writing ({exc.strerror})"]) from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise _refuse(drive, ["a simulated drive must be a regular file"])
            if st.st_nlink != 1:
                raise _refuse(
                    drive,
                    [
                        f"the lab file has other names ({st.st_nlink} hard links): writing it "
                        "would change another file"
                    ],
                )
            if st.st_size != confirmed.size_bytes:
                raise _refuse(
                    drive,
                    [
                        f"not the drive that was confirmed: size is now {st.st_size} "
                        f"bytes, but {confirmed.size_bytes} bytes was confirmed"
                    ],
                )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                raise _refuse(
                    drive, ["in use by another job (the lab file is locked)"], title="Drive in use"
                ) from exc
        except BaseException:
            os.close(fd)
            raise
        return Opened(fd, files=((_devnum_text(st.st_dev), st.st_ino),))

    def gone(self, drive: Drive) -> str:
        """The file is gone."""
        return _vanished(drive.path)

    def nvme_controller(self, drive: Drive) -> str:
        """The file itself: the lab's emulator answers on it."""
        return drive.path

    def rescan(self, drive: Drive) -> bool:
        """Nothing to re-read: the file is the medium."""
        return False

    def native_bytes(self, native_sectors: int) -> int | None:
        """None: the file is the whole medium (the emulator's sectors map onto it)."""
        return None


def claim(
    drive: Drive,
    confirmed: Drive,
    backend: DriveBackend = BLOCK_DEVICES,
    *,
    state_reader: StateReader = read_system_state,
    identity_reader: IdentityReader | None = None,
) -> Claim:
    """Pass the guard: the only way to get a writable descriptor to a drive.

    Right before acting it (1) re-reads the system state and refuses a drive that is protected
    now, (2) re-reads the drive's identity (serial, WWN, size) and refuses if it is not what the
    technician confirmed, (3) opens the device ``O_RDWR | O_EXCL`` (a lab file: read-write with an
    exclusive ``flock``) and checks the opened descriptor is that same device and size, (4)
    refuses when another process has the drive or one of its partitions open for writing. The
    steps are the same for every drive; `backend` answers them for what is behind the path.

    Use it as ``with claim(drive, confirmed) as c: engine.run(c, ...)``; the descriptor is held
    until the block ends.

    Args:
        drive: the drive to open (its ``path``).
        confirmed: the drive as the technician confirmed it (its ``identity`` is the reference).
        backend: what is behind the path: the kernel's block devices (the default), or the lab
            bench's files (`LabFiles`, for the lab's drives only).
        state_reader: takes the system snapshot (tests inject one).
        identity_reader: reads the drive's identity now (tests inject one); the backend's own
            reader when None.

    Returns:
        The claim, holding the open descriptor.

    Raises:
        DriveBusyError: refused; ``reasons`` lists every reason.
    """
    identity = _read_identity_or_refuse(drive, identity_reader or backend.read_identity)
    # judge the device the path names now (kernel names move)
    current = replace(drive, name=identity.name or drive.name, devnum=identity.devnum)
    try:
        state = state_reader()
    except (DriveDetectionError, OSError) as exc:
        raise _refuse(drive, [f"the system state cannot be read ({exc})"]) from exc
    protection = backend.assess(current, state)
    if protection.protected:
        raise _refuse(current, protection.reasons, title="Protected drive")
    _check_identity(confirmed, identity)
    opened = backend.open(current, confirmed, identity, state)
    held = Claim(
        _CLAIM_TOKEN,
        drive=current,
        identity=identity,
        fd=opened.fd,
        backend=backend,
        devnums=opened.devnums,
        files=opened.files,
    )
    writers = held.other_writers()
    if writers:
        held.close()
        raise _refuse(current, [str(w) for w in writers], title="Drive in use")
    return held
