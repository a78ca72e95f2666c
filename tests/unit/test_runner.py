"""The command-runner seam: real subprocesses, timeouts, missing tools, and the fake."""

from __future__ import annotations

import time

from sanitiser.runner import SubprocessRunner
from sanitiser.testing import FakeRunner


def test_runs_real_command_with_c_locale() -> None:
    """Output, exit status and the C locale come back from a real process."""
    r = SubprocessRunner().run(["sh", "-c", 'echo "$LC_ALL"; echo err >&2; exit 3'])
    assert (r.returncode, r.stdout, r.stderr) == (3, "C\n", "err\n")
    assert not r.ok


def test_missing_tool_is_127_not_an_exception() -> None:
    """A tool that is not installed answers 127 with a clear message."""
    r = SubprocessRunner().run(["no-such-tool-xyz", "--x"])
    assert r.returncode == 127
    assert "not found" in r.stderr


def test_timeout_kills_the_process_group() -> None:
    """A command past its timeout is killed, children included, and reports 124."""
    start = time.monotonic()
    r = SubprocessRunner().run(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5)
    assert r.returncode == 124
    assert time.monotonic() - start < 10


def test_cancel_stops_a_running_command() -> None:
    """The cancelled() callback stops a long command."""
    deadline = time.monotonic() + 0.5
    r = SubprocessRunner().run(["sleep", "30"], cancelled=lambda: time.monotonic() > deadline)
    assert r.returncode < 0


def test_lines_are_streamed() -> None:
    """on_line sees each stdout line as it comes."""
    seen: list[str] = []
    SubprocessRunner().run(["printf", "a\\nb\\n"], on_line=seen.append)
    assert seen == ["a", "b"]


def test_stdin_is_not_a_terminal() -> None:
    """Tools get no stdin (blkdiscard and others behave differently with a TTY)."""
    r = SubprocessRunner().run(["sh", "-c", "test -t 0 && echo tty || echo notty"])
    assert r.stdout.strip() == "notty"


def test_fake_runner_records_and_answers_by_prefix() -> None:
    """FakeRunner answers the first matching prefix and records every call."""
    fake = FakeRunner().reply(["hdparm", "-I"], stdout="ok").reply(["hdparm"], returncode=22)
    assert fake.run(["hdparm", "-I", "/dev/sda"]).stdout == "ok"
    assert fake.run(["hdparm", "-N", "/dev/sda"]).returncode == 22
    assert fake.run(["nvme", "list"]).returncode == 127
    assert fake.calls == [
        ("hdparm", "-I", "/dev/sda"),
        ("hdparm", "-N", "/dev/sda"),
        ("nvme", "list"),
    ]
