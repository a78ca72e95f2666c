"""What the engine writes to and reads from: a claimed descriptor, and low-level I/O helpers.

The engine never opens a device for writing by path. It is handed a `Target` (the guard's
`Claim` adapted by `DeviceTarget.from_claim`, or any object with the same four attributes) and
at most re-opens *that* descriptor through ``/proc/self/fd/N`` to add ``O_DIRECT``; the
exclusive (``O_EXCL``) hold of the claim stays in force the whole time.

O_DIRECT rules (docs/DEVICE-COMMANDS.md §6.3): buffer address, length and offset must be multiples
of the logical block size, so buffers are anonymous `mmap` objects (page aligned) used with
`os.preadv`/`os.pwritev`; O_DIRECT does not flush the drive's cache, so every pass ends with
`os.fsync`; before read-back the page cache is dropped (BLKFLSBUF, posix_fadvise DONTNEED).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import mmap
import os
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from sanitiser.domain import Drive

BLKGETSIZE64 = 0x80081272
BLKSSZGET = 0x1268
BLKFLSBUF = 0x1261
PAGE = mmap.PAGESIZE
HUGE_PAGE = 2 << 20
"""Transparent huge page size on x86-64 and arm64 (4 KiB base pages)."""

GONE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.ENOMEDIUM, errno.ESHUTDOWN})
"""Errors that mean the device itself is gone, not that a range of it is bad."""


class Target(Protocol):
    """The device (or lab file) the engine works on; `DeviceTarget` and adapters satisfy it."""

    @property
    def fd(self) -> int:
        """A read-write descriptor held for the whole job (the guard's exclusive claim)."""
        ...

    @property
    def path(self) -> str:
        """Device node or lab file, for messages and records only (never opened by path)."""
        ...

    @property
    def size_bytes(self) -> int:
        """Bytes to write and verify, from offset 0 (after HPA/DCO removal)."""
        ...

    @property
    def sector_size(self) -> int:
        """Logical block size: every offset and length is a multiple of it."""
        ...


class ClaimLike(Protocol):
    """What `DeviceTarget.from_claim` needs of the guard's `Claim`."""

    @property
    def fd(self) -> int:
        """The claimed descriptor."""
        ...

    @property
    def path(self) -> str:
        """The claimed device node."""
        ...

    @property
    def drive(self) -> Drive:
        """The claimed drive."""
        ...


@dataclass(frozen=True, slots=True)
class DeviceTarget:
    """A plain `Target` value: a descriptor the caller owns, with its geometry."""

    fd: int
    path: str
    size_bytes: int
    sector_size: int = 512

    @classmethod
    def from_fd(cls, fd: int, path: str) -> DeviceTarget:
        """Measure an open descriptor: BLKGETSIZE64/BLKSSZGET for a block device, else fstat.

        Args:
            fd: an open descriptor (the caller keeps ownership).
            path: its path, for messages.
        """
        size, sector = device_geometry(fd)
        return cls(fd=fd, path=path, size_bytes=size, sector_size=sector)

    @classmethod
    def from_claim(cls, claim: ClaimLike, size_bytes: int | None = None) -> DeviceTarget:
        """Adapt the guard's Claim; the size is measured on the fd unless given.

        Args:
            claim: the guard's claim (its fd stays owned by the claim).
            size_bytes: bytes to cover, e.g. the native size after HPA removal; measured if None.
        """
        measured, sector = device_geometry(claim.fd)
        sector = claim.drive.logical_sector_size or sector
        return cls(
            fd=claim.fd,
            path=claim.path,
            size_bytes=measured if size_bytes is None else size_bytes,
            sector_size=sector,
        )


def is_block_device(fd: int) -> bool:
    """True when `fd` is a block device (not a regular lab file)."""
    return stat.S_ISBLK(os.fstat(fd).st_mode)


def device_geometry(fd: int) -> tuple[int, int]:
    """(size in bytes, logical sector size) of an open block device or regular file."""
    if is_block_device(fd):
        size = struct.unpack("Q", fcntl.ioctl(fd, BLKGETSIZE64, b"\0" * 8))[0]
        sector = struct.unpack("i", fcntl.ioctl(fd, BLKSSZGET, b"\0" * 4))[0]
        return int(size), int(sector)
    return os.fstat(fd).st_size, 512


def current_size(fd: int) -> int | None:
    """The size the kernel reports now (0 after a hot-unplug), or None if it cannot be read."""
    try:
        return device_geometry(fd)[0]
    except OSError:
        return None


@contextlib.contextmanager
def direct_fd(fd: int, *, write: bool) -> Iterator[tuple[int, bool]]:
    """A descriptor of the same claimed file with O_DIRECT, and whether O_DIRECT is in effect.

    Re-opens ``/proc/self/fd/N`` (the claim's exclusive hold stays). Where O_DIRECT is not
    supported (tmpfs lab files) it yields the original descriptor, buffered.

    Args:
        fd: the claimed descriptor (not closed here).
        write: open read-write (else read-only).
    """
    flags = (os.O_RDWR if write else os.O_RDONLY) | os.O_CLOEXEC
    try:
        dfd = os.open(f"/proc/self/fd/{fd}", flags | os.O_DIRECT)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        yield fd, False
        return
    try:
        yield dfd, True
    finally:
        os.close(dfd)


def drop_cache(fd: int) -> None:
    """Write back and drop the page cache of `fd` so read-back sees the medium, not memory."""
    with contextlib.suppress(OSError):
        os.fsync(fd)
    if is_block_device(fd):
        with contextlib.suppress(OSError):  # needs CAP_SYS_ADMIN; fadvise below still helps
            fcntl.ioctl(fd, BLKFLSBUF, 0)
    with contextlib.suppress(OSError):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


class AlignedBuffer:
    """A page-aligned anonymous mapping of `size` bytes (+ one spare page for AES-CTR).

    `view` covers exactly `size` bytes; `address` is the C address for `memcmp`.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        huge = size >= HUGE_PAGE
        # Large buffers start on a 2 MiB boundary and ask for transparent huge pages: the
        # kernel pins a buffer for every O_DIRECT transfer, and pinning a few huge pages costs
        # far less system time than pinning a thousand small ones.
        self._map = mmap.mmap(
            -1,
            size + PAGE + (HUGE_PAGE if huge else 0),
            flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
        )
        self._anchor = ctypes.c_char.from_buffer(self._map)
        start = 0
        if huge:
            start = -ctypes.addressof(self._anchor) % HUGE_PAGE
            with contextlib.suppress(AttributeError, OSError):  # no THP: small pages, still fine
                self._map.madvise(mmap.MADV_HUGEPAGE)
        self.full = memoryview(self._map)[start : start + size + PAGE]
        """`size` + one spare page: `update_into` wants room past the data it writes."""
        self.view = self.full[:size]
        self.address = ctypes.addressof(self._anchor) + start

    def close(self) -> None:
        """Unmap (idempotent)."""
        if self._map.closed:
            return
        self.view.release()
        self.full.release()
        del self._anchor
        self._map.close()


_libc = ctypes.CDLL(None, use_errno=True)
_memcmp = _libc.memcmp
_memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_memcmp.restype = ctypes.c_int


def same_bytes(addr_a: int, addr_b: int, length: int) -> bool:
    """memcmp of two raw addresses; runs without the GIL (unlike memoryview ==, ~0.2 GB/s)."""
    return bool(_memcmp(addr_a, addr_b, length) == 0)
