"""An auditor's read-only copy of a data directory: the commands that only read work on it
as it is (nothing created, nothing migrated), and one that writes says the store is
read-only."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import run_sanitiser

pytestmark = pytest.mark.root


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_sanitiser(*args, data=data)


@pytest.fixture
def read_only_copy(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A data directory with one wiped lab drive, bind-mounted read-only; its certificate id."""
    source = tmp_path / "bench"
    wiped = cli(source / "data", "wipe", "--lab", "lab-usb-hdd0", "--yes", "--json")
    assert wiped.returncode == 0, wiped.stderr
    [outcome] = [json.loads(x) for x in wiped.stdout.splitlines() if '"outcome"' in x]
    view = tmp_path / "audit"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(source), str(view)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield view / "data", outcome["certificate_id"]
    finally:
        subprocess.run(["umount", "-l", str(view)], check=False)


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
