"""A content fingerprint for drives that cannot name themselves (no serial, no WWN).

A USB stick behind a cheap bridge, or a loop device, reports no serial: after it is unplugged
and another of the same size is plugged into the same port, nothing the kernel says tells them
apart. Before a job's first write the bench hashes the drive's first and last MiB; a restart
(or a resumed job) of a drive without a serial must show that one of them still holds what it
held then. The overwrite runs from the start to the end, so an interrupted pass leaves the end
untouched, and a job that failed before writing leaves both.

Limits, stated where they are used: once a pass has reached the end of the drive both regions
have changed, and the drive cannot be re-identified (restart is refused: start a new wipe,
confirmed afresh); and two drives whose first or last MiB are identical (e.g. both blank) look
alike by that region.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

SPAN = 1 << 20
"""Bytes hashed at each end."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """SHA-256 (hex) of a drive's first and last `SPAN` bytes, and its size."""

    head: str
    tail: str
    size_bytes: int

    def to_json(self) -> dict[str, Any]:
        """The form kept in the job's record."""
        return {"head": self.head, "tail": self.tail, "size_bytes": self.size_bytes}

    @classmethod
    def from_json(cls, data: Any) -> Fingerprint | None:
        """The fingerprint from a job's record (None when it holds none)."""
        if not isinstance(data, dict) or not {"head", "tail", "size_bytes"} <= set(data):
            return None
        return cls(str(data["head"]), str(data["tail"]), int(data["size_bytes"]))


def fingerprint_fd(fd: int, size_bytes: int) -> Fingerprint:
    """Hash the first and last `SPAN` bytes read from an open descriptor.

    Raises:
        OSError: the drive cannot be read.
    """
    span = min(SPAN, size_bytes)
    head = os.pread(fd, span, 0)
    tail = os.pread(fd, span, size_bytes - span)
    if len(head) != span or len(tail) != span:
        raise OSError(f"short read: {len(head)}/{len(tail)} of {span} bytes")
    return Fingerprint(
        hashlib.sha256(head).hexdigest(), hashlib.sha256(tail).hexdigest(), size_bytes
    )


def fingerprint_path(path: str, size_bytes: int) -> Fingerprint:
    """`fingerprint_fd` over a read-only open of `path` (nothing is written).

    Raises:
        OSError: the drive cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return fingerprint_fd(fd, size_bytes)
    finally:
        os.close(fd)


def needs_fingerprint(serial: str, wwn: str) -> bool:
    """True when a drive has nothing of its own to be recognised by."""
    return not serial.strip() and not wwn.strip()


def same_content(recorded: Fingerprint, now: Fingerprint) -> bool:
    """True when the drive still holds, at one end at least, what it held when recorded."""
    return recorded.size_bytes == now.size_bytes and (
        recorded.head == now.head or recorded.tail == now.tail
    )
