"""Faithful device emulators at the command-runner seam (shipped, like `sanitiser.testing`).

Each emulator is a small state machine for one drive family (ATA, NVMe, SCSI) that answers the
exact argv a method would send with the real output formats and exit codes of hdparm 9.65,
nvme-cli 2.3 and sg3_utils 1.46 (docs/DEVICE-COMMANDS.md), and acts on a backing file so a test can
read back whether data is gone. They cover the states QEMU cannot produce: frozen, locked and
expired ATA security, sanitize with progress and failure, HPA/DCO, drives that lie.

`EmulatedRunner` routes each command to the emulator whose device path appears in its argv.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from sanitiser.runner import CommandResult, CommandRunner


class DeviceEmulator(Protocol):
    """One emulated drive: answers the commands addressed to it."""

    def handle(self, argv: tuple[str, ...]) -> CommandResult | None:
        """The result of `argv`, or None when this emulator does not know the tool."""
        ...


def tool_name(argv: Sequence[str]) -> str:
    """The tool's base name (``/usr/sbin/hdparm`` -> ``hdparm``)."""
    return os.path.basename(argv[0]) if argv else ""


class BackingFile:
    """The medium of an emulated drive: a regular file read and rewritten in place.

    Only ever a regular file: each read and write opens the path anew without following a
    final symlink and checks what it opened, so a backing file swapped for a link to a device
    (or a device node) mid-job is refused, never written.
    """

    CHUNK = 1 << 20

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"backing file {self.path} does not exist")

    @property
    def size(self) -> int:
        """Size of the medium in bytes."""
        return self.path.stat().st_size

    def _open(self, flags: int, mode: str) -> IO[bytes]:
        """The backing file opened with `flags`, refused unless it is a regular file."""
        fd = os.open(self.path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "the backing file is not a regular file", str(self.path))
        return os.fdopen(fd, mode)

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes from `offset`."""
        with self._open(os.O_RDONLY, "rb") as f:
            f.seek(offset)
            return f.read(length)

    def fill(
        self, start: int, end: int, pattern: bytes | None = None, *, random: bool = False
    ) -> None:
        """Rewrite bytes [start, end): zeros, a repeated `pattern`, or random bytes."""
        end = min(end, self.size)
        with self._open(os.O_RDWR, "r+b") as f:
            f.seek(start)
            pos = start
            while pos < end:
                n = min(self.CHUNK, end - pos)
                if random:
                    data = os.urandom(n)
                elif pattern:
                    skew = pos % len(pattern)  # the pattern is tiled from offset 0
                    reps = (skew + n) // len(pattern) + 1
                    data = (pattern * reps)[skew : skew + n]
                else:
                    data = bytes(n)
                f.write(data)
                pos += n
            f.flush()
            os.fsync(f.fileno())


def result(
    argv: Sequence[str], returncode: int, stdout: str = "", stderr: str = ""
) -> CommandResult:
    """A `CommandResult` for `argv`."""
    return CommandResult(tuple(argv), returncode, stdout, stderr)


@dataclass
class EmulatedRunner:
    """A CommandRunner that routes each command to the emulator named by a device argument.

    The first argv element (after the tool) equal to a key of `emulators` picks the emulator.
    Commands for no known device, or that the emulator does not know, go to `fallback`
    (127 "command not found" when there is none). Every argv is recorded in `calls`.
    """

    emulators: Mapping[str, DeviceEmulator]
    fallback: CommandRunner | None = None
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> CommandResult:
        """Answer `argv` from its device's emulator (or the fallback)."""
        args = tuple(argv)
        self.calls.append(args)
        answer: CommandResult | None = None
        for arg in args[1:]:
            emulator = self.emulators.get(arg)
            if emulator is not None:
                answer = emulator.handle(args)
                break
        if answer is None:
            if self.fallback is not None:
                return self.fallback.run(
                    args, timeout=timeout, on_line=on_line, cancelled=cancelled
                )
            answer = result(args, 127, "", f"{args[0] if args else ''}: command not found")
        if on_line is not None:
            for line in answer.stdout.splitlines():
                on_line(line)
        return answer


__all__ = ["BackingFile", "DeviceEmulator", "EmulatedRunner", "result", "tool_name"]
