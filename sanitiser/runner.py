"""THE seam for external commands. Nothing else in the product imports subprocess.

Every hdparm / nvme / sg_* / smartctl call goes through a `CommandRunner`. Production uses
`SubprocessRunner`; tests and the lab bench swap in emulators (`sanitiser.testing`,
`sanitiser.lab`) that answer with real output formats.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sanitiser.errors import CommandFailedError

# Tools run with a fixed C locale so their output is parseable (docs/DEVICE-COMMANDS.md §0).
_TOOL_ENV_KEEP = ("PATH",)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one command did."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the process exited 0 (which is never proof of erasure on its own)."""
        return self.returncode == 0

    def check(self) -> CommandResult:
        """Return self, or raise CommandFailedError when the exit status is not 0."""
        if self.returncode != 0:
            raise CommandFailedError(self.argv, self.returncode, self.stderr)
        return self


class CommandRunner(Protocol):
    """Runs one external command and returns its result; never raises for a non-zero exit."""

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> CommandResult: ...


class SubprocessRunner:
    """Runs real tools: argv only (no shell), C locale, no stdin, own process group."""

    def __init__(self, extra_path: Sequence[str] = ("/usr/sbin", "/sbin")) -> None:
        path = os.environ.get("PATH", "/usr/bin:/bin")
        self._path = ":".join([path, *extra_path])

    def which(self, tool: str) -> str | None:
        """Absolute path of `tool`, or None."""
        return shutil.which(tool, path=self._path)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> CommandResult:
        """Run `argv`; a missing tool gives returncode 127, a timeout 124 (as coreutils does)."""
        args = tuple(argv)
        exe = self.which(args[0]) if not os.path.isabs(args[0]) else args[0]
        if exe is None:
            return CommandResult(args, 127, "", f"{args[0]}: command not found")
        env = {k: os.environ[k] for k in _TOOL_ENV_KEEP if k in os.environ}
        env.update(LC_ALL="C", LANG="C", PATH=self._path)
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                (exe, *args[1:]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as e:
            return CommandResult(args, 126, "", f"{args[0]}: {e.strerror}")
        out_lines: list[str] = []
        err_chunks: list[str] = []

        stdout, stderr = proc.stdout, proc.stderr
        if stdout is None or stderr is None:  # pragma: no cover - PIPE always gives both
            raise RuntimeError("subprocess pipes missing")

        def read_stdout() -> None:
            for line in stdout:
                out_lines.append(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))

        def read_stderr() -> None:
            err_chunks.append(stderr.read())

        readers = [threading.Thread(target=f, daemon=True) for f in (read_stdout, read_stderr)]
        for t in readers:
            t.start()
        returncode = self._wait(proc, timeout, cancelled, start)
        for t in readers:
            t.join()
        return CommandResult(
            args, returncode, "".join(out_lines), "".join(err_chunks), time.monotonic() - start
        )

    @staticmethod
    def _wait(
        proc: subprocess.Popen[str],
        timeout: float | None,
        cancelled: Callable[[], bool],
        start: float,
    ) -> int:
        while True:
            try:
                return proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                expired = timeout is not None and time.monotonic() - start > timeout
                if expired or cancelled():
                    _kill_group(proc)
                    proc.wait()
                    return 124 if expired else -int(signal.SIGTERM)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Terminate the whole process group, then kill it if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
