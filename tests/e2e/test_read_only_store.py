"""An auditor's read-only copy of a data directory: the commands that only read work on it
as it is (nothing created, nothing migrated), and one that writes says the store is
read-only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sanitiser.store import migrations
from sanitiser.store.engine import make_engine
from tests.cli import run_sanitiser

pytestmark = pytest.mark.root


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_sanitiser(*args, data=data)


@contextmanager
def read_only_view(source: Path) -> Iterator[Path]:
    """`source` bind-mounted read-only (as root, only a read-only mount stops writes)."""
    view = source.with_name(f"{source.name}-read-only")
    view.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield view
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


def wiped(data: Path, drive: str) -> dict[str, Any]:
    """Wipe a lab drive in `data`; its outcome."""
    out = cli(data, "wipe", "--lab", drive, "--yes", "--json")
    assert out.returncode == 0, out.stderr
    [outcome] = [json.loads(x) for x in out.stdout.splitlines() if '"outcome"' in x]
    assert isinstance(outcome, dict)
    return outcome


def contents(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder`: its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def read_only_copy(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A data directory with one wiped lab drive, bind-mounted read-only; its certificate id."""
    source = tmp_path / "bench"
    outcome = wiped(source / "data", "lab-usb-hdd0")
    with read_only_view(source) as view:
        yield view / "data", outcome["certificate_id"]


def test_read_only_commands_work_on_a_read_only_copy(
    read_only_copy: tuple[Path, str], tmp_path: Path
) -> None:
    data, cert_id = read_only_copy
    before = sorted(p.name for p in data.iterdir())
    jobs = cli(data, "jobs", "--json")
    assert jobs.returncode == 0, jobs.stderr
    assert [j["state"] for j in json.loads(jobs.stdout)] == ["routed"]
    audit = cli(data, "audit", "verify")
    assert audit.returncode == 0, audit.stderr
    assert "intact" in audit.stdout
    report = cli(data, "report", "--format", "csv")
    assert report.returncode == 0, report.stderr
    record = tmp_path / "record.json"  # written outside the read-only copy
    exported = cli(data, "cert", "export", cert_id, "--json", str(record))
    assert exported.returncode == 0, exported.stderr
    verified = cli(data, "verify", str(record))  # trust from the copy's certs/
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert sorted(p.name for p in data.iterdir()) == before


def test_a_writing_command_says_the_store_is_read_only(read_only_copy: tuple[Path, str]) -> None:
    data, _ = read_only_copy
    out = cli(data, "scan", "--lab")
    assert out.returncode == 2
    assert "is read-only here" in out.stderr
    assert "Traceback" not in out.stderr


def crash_mid_wipe(data: Path, drive: str) -> None:
    """Start a wipe of `drive` and kill -9 its process once the job is recorded sanitising:
    the newest records stay in the store's write-ahead log (never checkpointed)."""
    env = os.environ | {"SANITISER_DATA_DIR": str(data), "SANITISER_LAB_DRIVE_MIB": "4"}
    argv = [sys.executable, "-m", "sanitiser", "wipe", "--lab", drive, "--yes", "--json"]
    with subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True
    ) as wipe:
        assert wipe.stdout is not None
        for line in wipe.stdout:
            if '"state": "sanitising"' in line:
                wipe.send_signal(signal.SIGKILL)
                break
        assert wipe.wait() == -signal.SIGKILL


def test_a_copy_of_a_bench_that_crashed_is_read_as_it_was(tmp_path: Path) -> None:
    """The crashed job is in the store's write-ahead log: the read-only copy shows it (not
    the older main file alone), records nothing, and every reading command works."""
    source = tmp_path / "bench"
    wiped(source / "data", "lab-usb-hdd0")
    crash_mid_wipe(source / "data", "lab-sata-ssd0")
    assert (source / "data" / "sanitiser.db-wal").stat().st_size > 0
    before = contents(source)
    with read_only_view(source) as view:
        data = view / "data"
        jobs = cli(data, "jobs", "--json")
        assert jobs.returncode == 0, jobs.stderr
        states = sorted(j["state"] for j in json.loads(jobs.stdout))
        assert states == ["routed", "sanitising"], states
        assert "the store is read-only here" in jobs.stderr
        listed = cli(data, "jobs")
        assert listed.returncode == 0, listed.stderr
        assert "sanitising" in listed.stdout
        for command in (
            ("audit", "verify"),
            ("audit", "show"),
            ("report", "--format", "csv"),
            ("destinations", "list"),
            ("consignment", "list"),
            ("db", "current"),
        ):
            out = cli(data, *command)
            assert out.returncode == 0, (command, out.stderr)
            assert "Traceback" not in out.stderr
    assert contents(source) == before


def test_a_read_only_folder_without_a_store_is_said_plainly(tmp_path: Path) -> None:
    source = tmp_path / "empty"
    (source / "data").mkdir(parents=True)
    with read_only_view(source) as view:
        for command in (("jobs",), ("audit", "verify"), ("report",)):
            out = cli(view / "data", *command)
            assert out.returncode == 2, out.stdout + out.stderr
            assert "there is no store at" in out.stderr
            assert "Traceback" not in out.stderr
    assert list((source / "data").iterdir()) == []


def test_a_read_only_store_of_an_older_schema_is_not_migrated(tmp_path: Path) -> None:
    source = tmp_path / "old"
    (source / "data").mkdir(parents=True)
    migrations.upgrade(make_engine(f"sqlite:///{source / 'data' / 'sanitiser.db'}"), "0002")
    before = contents(source)
    with read_only_view(source) as view:
        out = cli(view / "data", "jobs")
    assert out.returncode == 2
    assert "it is read-only here, so it was not migrated" in out.stderr
    assert "Traceback" not in out.stderr
    assert contents(source) == before
