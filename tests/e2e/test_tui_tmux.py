"""End to end: the real app in tmux at 80x24 on the lab bench, driven by keystrokes only.

The technician names themself, selects two lab drives, starts, types the confirmation phrase,
watches both finish, quits; their certificates are then found with ``sanitiser jobs --json``
and verified with ``sanitiser verify``.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.serial]

PROJECT = Path(__file__).resolve().parents[2]
WANTED = ("lab-sata-ssd0", "lab-nvme0")
SERIALS = {"SIM-SSD-0001", "SIM-NVME-0001"}


class Tmux:
    """One detached tmux session running a command in an 80x24 window."""

    def __init__(self, command: str) -> None:
        self.name = f"sanitiser-e2e-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", "80", "-y", "24", command],
            check=True,
        )

    def screen(self) -> str:
        """The visible text of the window."""
        out = subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name],
            check=False,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        """Send keys (tmux key names, or literal text)."""
        args = ["tmux", "send-keys", "-t", self.name, *(["-l"] if literal else []), *keys]
        subprocess.run(args, check=True)
        time.sleep(0.3)  # a person's pace: each burst is handled before the next

    def wait(self, condition: Callable[[str], bool], what: str, timeout: float = 120.0) -> str:
        """Wait until the screen satisfies `condition`; fails with the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; the screen was:\n{text}")
            time.sleep(0.2)

    def alive(self) -> bool:
        """The session still exists."""
        return subprocess.run(["tmux", "has-session", "-t", self.name], check=False).returncode == 0

    def close(self) -> None:
        """Kill the session (and the app in it)."""
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False, capture_output=True)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh data directory and certificates directory; fast polling."""
    e = dict(os.environ)
    e.update(
        SANITISER_DATA_DIR=str(tmp_path / "data"),
        SANITISER_CERTS_DIR=str(tmp_path / "certs"),
        SANITISER_CONFIG_FILE=str(tmp_path / "config.toml"),
        SANITISER_STATION="e2e-bench",
        SANITISER_VERIFY_BASE_URL="https://verify.example.org/v",  # no placeholder toast
        SANITISER_POLL_INTERVAL="0.01",
        TERM="xterm-256color",
    )
    return e


@pytest.fixture
def session(env: dict[str, str]) -> Iterator[Tmux]:
    """The app in tmux (killed afterwards whatever happens)."""
    exports = " ".join(
        f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith("SANITISER_")
    )
    python = shlex.quote(sys.executable)
    command = f"cd {shlex.quote(str(PROJECT))} && env {exports} {python} -m sanitiser --lab"
    tmux = Tmux(command)
    try:
        yield tmux
    finally:
        tmux.close()


def table_row(screen: str, name: str) -> int:
    """The position of a drive among the table rows (0 = first row under the header)."""
    lines = screen.splitlines()
    header = next(i for i, line in enumerate(lines) if "Drive" in line and "Serial" in line)
    row = next(i for i, line in enumerate(lines) if f" {name} " in line)
    return row - header - 1


def sanitiser(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with the session's settings."""
    return subprocess.run(
        [sys.executable, "-m", "sanitiser", *args],
        check=False,
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_lab_drives_sanitised_by_keystrokes(
    session: Tmux, env: dict[str, str], tmp_path: Path
) -> None:
    """Operator prompt, select two drives, type the phrase, both sanitised, certificates verify."""
    session.wait(lambda s: "Who is operating" in s, "the operator prompt")
    session.keys("e2e-tech", literal=True)
    session.keys("Enter")
    screen = session.wait(
        lambda s: "operator e2e-tech" in s and all(f" {n} " in s for n in WANTED),
        "the lab drives",
    )
    position = 0
    for name in WANTED:
        target = table_row(screen, name)
        for _ in range(target - position):
            session.keys("Down")
        session.keys("Space")  # selects and moves down one
        position = target + 1
    session.wait(lambda s: "2 selected" in s, "two drives selected")
    session.keys("s")
    session.wait(lambda s: "ERASE 2 DRIVES" in s and "Plans ready" in s, "the plan and phrase")
    session.keys("Enter")  # the default focus is Cancel: nothing is erased
    session.wait(lambda s: "Who is" not in s and "2 selected" in s and "Plans" not in s, "cancel")
    session.keys("s")
    session.wait(lambda s: "Plans ready" in s, "the plan again")
    session.keys("Tab")
    session.keys("ERASE 2 DRIVES", literal=True)
    session.wait(lambda s: "▊  ERASE 2 DRIVES" in s, "the phrase typed")
    session.keys("Enter")
    session.wait(
        lambda s: all(
            any(f" {n} " in line and "sanitised" in line for line in s.splitlines()) for n in WANTED
        ),
        "both drives sanitised",
        timeout=120,
    )
    session.keys("q")
    deadline = time.monotonic() + 60  # generous: a loaded CI machine
    while session.alive() and time.monotonic() < deadline:
        time.sleep(0.2)

    listed = sanitiser(env, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    jobs = [j for j in json.loads(listed.stdout) if j["serial"] in SERIALS]
    assert {j["serial"] for j in jobs} == SERIALS
    for job in jobs:
        assert job["status"] == "sanitised"
        assert job["operator"] == "e2e-tech"
        assert job["station"] == "e2e-bench"
        cert = job["certificate_id"]
        out = tmp_path / f"{cert}.json"
        exported = sanitiser(env, "cert", "export", cert, "--json", str(out))
        assert exported.returncode == 0, exported.stderr
        verdict = sanitiser(env, "verify", str(out), "--json")
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    others = [j for j in json.loads(listed.stdout) if j["serial"] not in SERIALS]
    assert others == []  # nothing else was touched
