"""A reproducible initramfs: the "newc" cpio format, written from values (pure).

The kernel unpacks concatenated newc archives (gzip-compressed or not) into its root file
system, so an image and a small per-session overlay are two separate archives. Every field that
could vary between two builds of the same content is fixed: entries are sorted by path, inode
numbers count up in that order, owners are root, and every time is one given epoch
(``SOURCE_DATE_EPOCH``).
"""

from __future__ import annotations

import gzip
import stat
from collections.abc import Iterable
from dataclasses import dataclass

TRAILER = "TRAILER!!!"


@dataclass(frozen=True, slots=True)
class Entry:
    """One file system object of an archive (a path relative to the root, no leading '/')."""

    path: str
    mode: int
    """Full mode: the type bits (`stat.S_IFREG`, ...) and the permissions."""
    data: bytes = b""
    """A regular file's contents, or a symlink's target."""
    rdev: tuple[int, int] = (0, 0)
    """A device node's (major, minor)."""


def directory(path: str, perm: int = 0o755) -> Entry:
    """A directory entry."""
    return Entry(path, stat.S_IFDIR | perm)


def regular(path: str, data: bytes, perm: int = 0o644) -> Entry:
    """A regular file entry."""
    return Entry(path, stat.S_IFREG | perm, data)


def symlink(path: str, target: str) -> Entry:
    """A symbolic link entry."""
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def char_device(path: str, major: int, minor: int, perm: int = 0o600) -> Entry:
    """A character device node (e.g. /dev/console, 5:1)."""
    return Entry(path, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _header(ino: int, e: Entry, mtime: int, nlink: int, name: bytes) -> bytes:
    fields = (
        ino,
        e.mode,
        0,  # uid
        0,  # gid
        nlink,
        mtime,
        len(e.data),
        0,  # devmajor
        0,  # devminor
        e.rdev[0],
        e.rdev[1],
        len(name) + 1,
        0,  # check
    )
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def with_parents(entries: Iterable[Entry]) -> list[Entry]:
    """`entries` plus a directory entry for every parent not given, sorted by path.

    Raises:
        ValueError: a path is absolute, empty, has a '.' or '..' part, or is given twice.
    """
    by_path: dict[str, Entry] = {}
    for e in entries:
        parts = e.path.split("/")
        if not e.path or e.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"cpio: bad path {e.path!r}")
        if e.path in by_path:
            raise ValueError(f"cpio: {e.path!r} given twice")
        by_path[e.path] = e
    for path in list(by_path):
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            by_path.setdefault(parent, directory(parent))
    return [by_path[p] for p in sorted(by_path)]


def newc_archive(entries: Iterable[Entry], mtime: int) -> bytes:
    """The newc archive of `entries` (parents added, sorted), every time set to `mtime`."""
    out = bytearray()
    for ino, e in enumerate(with_parents(entries), start=1):
        name = e.path.encode()
        nlink = 2 if stat.S_ISDIR(e.mode) else 1
        head = _header(ino, e, mtime, nlink, name) + name + b"\0"
        out += head + _pad(len(head)) + e.data + _pad(len(e.data))
    end = _header(0, Entry(TRAILER, 0), 0, 1, TRAILER.encode()) + TRAILER.encode() + b"\0"
    out += end + _pad(len(end))
    return bytes(out)


def gzip_archive(data: bytes, level: int = 6) -> bytes:
    """`data` gzip-compressed with no name and a zero time in its header (reproducible)."""
    return gzip.compress(data, compresslevel=level, mtime=0)
