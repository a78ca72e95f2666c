"""A real systemd-udevd for tests, and loop devices that are always detached afterwards.

Use from a test module (root only)::

    from tests.e2e.udevd import LoopDevices, running_udevd

    @pytest.fixture(scope="module")
    def udevd() -> Iterator[None]:
        with running_udevd():
            yield

`running_udevd` starts `/lib/systemd/systemd-udevd` only if no daemon answers a ping, and stops
only the process it started (by PID). The daemon runs in the foreground of its own session rather
than with `--daemon`, so the PID we hold is the daemon's own and nothing has to be looked up by
name. See ../shared/lab/DRIVE-LAB.md §1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

UDEVD = "/lib/systemd/systemd-udevd"


def udev_answers(timeout: int = 1) -> bool:
    """True when a udev daemon answers `udevadm control --ping`."""
    result = subprocess.run(
        ["udevadm", "control", "--ping", f"--timeout={timeout}"],
        capture_output=True,
        check=False,
        timeout=timeout + 5,
    )
    return result.returncode == 0


def settle(timeout: int = 10) -> None:
    """Wait until udev has processed every queued event."""
    subprocess.run(["udevadm", "settle", f"--timeout={timeout}"], check=False, timeout=timeout + 5)


@contextmanager
def running_udevd(log_dir: Path | None = None) -> Iterator[int | None]:
    """Make sure a udev daemon runs for the body; yields the PID we started, or None.

    Replays `add` for every block device so the udev database is filled (`ID_*`, `DEVLINKS`),
    then waits for udev to settle.

    Args:
        log_dir: where the daemon's output goes when we start one (default: discarded).
    """
    proc: subprocess.Popen[bytes] | None = None
    if not udev_answers():
        out = open(log_dir / "udevd.log", "wb") if log_dir else subprocess.DEVNULL  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                [UDEVD], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if not isinstance(out, int):
                out.close()
        deadline = time.monotonic() + 10
        while not udev_answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait(timeout=5)
                raise RuntimeError(f"{UDEVD} did not start (exit {proc.returncode})")
            time.sleep(0.1)
    try:
        subprocess.run(
            ["udevadm", "trigger", "--subsystem-match=block", "--action=add"],
            check=True,
            timeout=30,
        )
        settle()
        yield proc.pid if proc else None
    finally:
        if proc is not None:
            # Only the daemon we started, by PID: never by name (another may belong to someone).
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


class LoopDevices:
    """Loop devices attached by one test; `close()` detaches the ones still attached to our files.

    A device is detached at teardown only if it still shows our backing file, so a number that
    was freed and re-used by someone else is never touched.
    """

    def __init__(self, directory: Path) -> None:
        """Keep backing files in `directory` (a tmp_path)."""
        self.directory = directory
        self.attached: dict[str, Path] = {}

    def attach(self, size_bytes: int, name: str = "disk") -> str:
        """Create a sparse file of `size_bytes`, attach it with `losetup -f --show`; the node."""
        backing = self.directory / f"{name}-{len(self.attached)}.img"
        with open(backing, "wb") as handle:
            handle.truncate(size_bytes)
        node = subprocess.run(
            ["losetup", "-f", "--show", str(backing)],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        self.attached[node] = backing
        return node

    def backing_file(self, node: str) -> str:
        """The file `node` is attached to now ("" when none)."""
        result = subprocess.run(
            ["losetup", "-n", "-O", "BACK-FILE", node],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    def detach(self, node: str) -> None:
        """Detach one of our devices (`losetup -d`)."""
        backing = self.attached.pop(node)
        if self.backing_file(node) == str(backing):
            subprocess.run(["losetup", "-d", node], check=True, timeout=30)

    def close(self) -> None:
        """Detach every device still attached to one of our files."""
        for node in list(self.attached):
            self.detach(node)
