"""A data directory that fills up during a wipe: one clear outcome line, no traceback, and the
job is found again (interrupted) once there is room, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import run_sanitiser

pytestmark = pytest.mark.root


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 32 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_sanitiser(*args, data=data, env={"SANITISER_POLL_INTERVAL": "0.01"})


def test_a_full_data_directory_mid_wipe_gives_one_clear_outcome(small_disk: Path) -> None:
    data = small_disk / "data"
    assert cli(data, "scan", "--lab").returncode == 0  # the lab drives and the store exist
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler = small_disk / "filler"
    subprocess.run(["fallocate", "-l", str(free - 192 * 1024), str(filler)], check=True)
    out = cli(data, "wipe", "--lab", "lab-usb-hdd0", "--yes", "--json")
    assert "Traceback" not in out.stderr
    final = [json.loads(x) for x in out.stdout.splitlines() if '"event": "outcome"' in x]
    if out.returncode == 2:  # full before the job could be recorded at all: nothing started
        assert final == []
        assert "the store's disk is full" in out.stderr
    else:  # the usual case with this much room: the job started, then the disk filled
        assert out.returncode == 1, out.stderr
        assert len(final) == 1, out.stdout
        assert final[0]["status"] == "failed"
        assert "disk is full" in final[0]["reason"]
    filler.unlink()
    listed = cli(data, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    [job] = json.loads(listed.stdout)
    assert job["state"] in ("interrupted", "failed"), job
