"""A FUSE file system with one file, ``disk``, whose I/O fails (EIO) in chosen byte ranges.

This kernel has no device-mapper, so a loop device over this file stands in for a dm ``error``
target: the loop device then returns real EIO from the block layer for those ranges. Killing
the daemon makes every I/O fail, as a drive that stopped responding does.

Usage: ``python faultfs.py BACKING MOUNTPOINT [--bad-write START:LEN]... [--bad-read START:LEN]...``
(runs in the foreground until unmounted or killed).
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
from typing import Any

import mfusepy as fuse


def _span(text: str) -> tuple[int, int]:
    start, length = text.split(":")
    return int(start, 0), int(length, 0)


def _error(code: int) -> OSError:
    """The error an operation raises (what ``fuse.FuseOSError(code)`` is, but typed)."""
    return OSError(code, os.strerror(code))


class FaultFS(fuse.Operations):
    """Passes I/O of ``/disk`` to BACKING, except in the bad ranges."""

    use_ns = True

    def __init__(
        self, backing: str, bad_write: list[tuple[int, int]], bad_read: list[tuple[int, int]]
    ) -> None:
        self.fd = os.open(backing, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.bad_write, self.bad_read = bad_write, bad_read

    @staticmethod
    def _hit(spans: list[tuple[int, int]], offset: int, n: int) -> bool:
        return any(offset < s + ln and s < offset + n for s, ln in spans)

    def getattr(self, path: str, fh: Any = None) -> dict[str, int]:
        if path == "/":
            return {"st_mode": stat.S_IFDIR | 0o755, "st_nlink": 2}
        if path == "/disk":
            return {"st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": self.size}
        raise _error(errno.ENOENT)

    def readdir(self, path: str, fh: Any) -> list[str]:
        return [".", "..", "disk"]

    def open(self, path: str, flags: int) -> int:
        return 0

    def read(self, path: str, size: int, offset: int, fh: Any) -> bytes:
        if self._hit(self.bad_read, offset, size):
            raise _error(errno.EIO)
        return os.pread(self.fd, size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: Any) -> int:
        if self._hit(self.bad_write, offset, len(data)):
            raise _error(errno.EIO)
        return os.pwrite(self.fd, data, offset)

    def truncate(self, path: str, length: int, fh: Any = None) -> int:
        return 0

    def fsync(self, path: str, datasync: int, fh: Any) -> int:
        os.fsync(self.fd)
        return 0

    def flush(self, path: str, fh: Any) -> int:
        return 0


def main() -> None:
    """Mount and serve until unmounted."""
    ap = argparse.ArgumentParser()
    ap.add_argument("backing")
    ap.add_argument("mountpoint")
    ap.add_argument("--bad-write", type=_span, action="append", default=[])
    ap.add_argument("--bad-read", type=_span, action="append", default=[])
    a = ap.parse_args()
    fs = FaultFS(a.backing, a.bad_write, a.bad_read)
    fuse.FUSE(fs, a.mountpoint, foreground=True, direct_io=True, nothreads=True)


if __name__ == "__main__":
    main()
