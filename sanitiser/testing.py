"""Test doubles shared by the test suite and the lab bench (shipped, like structlog.testing).

Fakes live only at the command-runner seam. `FakeRunner` replays scripted results; the faithful
per-family device emulators (ATA security, sanitize, NVMe format, ...) build on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sanitiser.domain import Drive
from sanitiser.runner import CommandResult

Responder = Callable[[tuple[str, ...]], CommandResult]


@dataclass
class FakeRunner:
    """A CommandRunner that answers from rules and records every argv it was given.

    A rule is (prefix, responder): the first rule whose prefix matches the start of argv answers.
    Unmatched commands answer 127 "command not found", as a missing tool would.
    """

    rules: list[tuple[tuple[str, ...], Responder]] = field(default_factory=list)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def on(self, prefix: Sequence[str], responder: Responder) -> FakeRunner:
        """Answer commands starting with `prefix` with `responder(argv)`."""
        self.rules.append((tuple(prefix), responder))
        return self

    def reply(
        self, prefix: Sequence[str], stdout: str = "", stderr: str = "", returncode: int = 0
    ) -> FakeRunner:
        """Answer commands starting with `prefix` with fixed output."""
        return self.on(prefix, lambda argv: CommandResult(argv, returncode, stdout, stderr))

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> CommandResult:
        """Record `argv` and answer it from the first matching rule."""
        args = tuple(argv)
        self.calls.append(args)
        for prefix, responder in self.rules:
            if args[: len(prefix)] == prefix:
                result = responder(args)
                if on_line is not None:
                    for line in result.stdout.splitlines():
                        on_line(line)
                return result
        return CommandResult(args, 127, "", f"{args[0]}: command not found")


@dataclass
class FakeDriveSource:
    """A DriveSource with drives set by the test; `plug`/`unplug` fire hot-plug callbacks."""

    drives: list[Drive] = field(default_factory=list)
    _callbacks: list[Callable[[str, Drive | None, str], None]] = field(default_factory=list)

    def list(self) -> list[Drive]:
        """The drives currently 'attached'."""
        return list(self.drives)

    def watch(self, callback: Callable[[str, Drive | None, str], None]) -> Callable[[], None]:
        """Register a hot-plug callback; returns the function that unregisters it."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def plug(self, drive: Drive) -> None:
        """Attach a drive and announce it (callbacks run on the caller's thread)."""
        self.drives.append(drive)
        for cb in list(self._callbacks):
            cb("add", drive, drive.name)

    def unplug(self, name: str) -> None:
        """Detach a drive by kernel name and announce it."""
        gone = next((d for d in self.drives if d.name == name), None)
        self.drives = [d for d in self.drives if d.name != name]
        for cb in list(self._callbacks):
            cb("remove", gone, name)
