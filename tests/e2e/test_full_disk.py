"""A data directory that fills up: before a wipe, or in the middle of one. Each time: one clear
outcome line saying "data directory full", the documented exit status, no traceback, and the
job is found again (interrupted or failed, as its outcome line said) once there is room; the
bench then works again (nothing half-written is left in the way)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sanitiser.certificate.keys import make_org_ca, write_private_key
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


def fill(disk: Path, leave: int = 0) -> Path:
    """Take all the free space of `disk` but `leave` bytes (all of it, however much others
    write meanwhile, when `leave` is 0); the file that holds it."""
    filler = disk / f"filler-{len(list(disk.glob('filler-*')))}"
    if leave:
        stat = os.statvfs(disk)
        free = stat.f_bavail * stat.f_frsize
        subprocess.run(["fallocate", "-l", str(max(free - leave, 1)), str(filler)], check=True)
        return filler
    with filler.open("wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(bytes(size))
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
    return filler


def outcome_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in stdout.splitlines() if '"event": "outcome"' in x]


def said_plainly(stderr: str) -> None:
    """No traceback: every line on stderr is one of the bench's own one-line messages."""
    assert "Traceback" not in stderr
    assert all(line.startswith("sanitiser: ") for line in stderr.splitlines()), stderr


def found_again_as_said(data: Path, outcome: dict[str, Any]) -> None:
    """With room again, the job is listed in the state its outcome line gave."""
    listed = cli(data, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    [job] = [j for j in json.loads(listed.stdout) if j["job_id"] == outcome["job_id"]]
    assert job["state"] == outcome["state"], job
    assert job["state"] in ("interrupted", "failed"), job


def test_a_full_data_directory_before_a_wipe_gives_one_clear_outcome(small_disk: Path) -> None:
    data = small_disk / "data"
    assert cli(data, "scan", "--lab").returncode == 0  # the lab drives and the store exist
    filler = fill(small_disk, leave=192 * 1024)
    out = cli(data, "wipe", "--lab", "lab-usb-hdd0", "--yes", "--json")
    said_plainly(out.stderr)
    final = outcome_lines(out.stdout)
    if out.returncode == 2:  # full before the job could be recorded at all: nothing started
        assert final == []
        assert "data directory full" in out.stderr
        return
    assert out.returncode == 1, out.stderr  # the usual case: the job started, then it filled
    assert len(final) == 1, out.stdout
    assert final[0]["status"] in ("failed", "interrupted")
    assert final[0]["reason"].startswith("data directory full")
    filler.unlink()
    found_again_as_said(data, final[0])


def test_a_data_directory_filling_up_mid_wipe(small_disk: Path) -> None:
    """The disk fills while the overwrite runs (a real tmpfs taken whole at the job's first
    progress event): the job cannot record its end or sign its certificate."""
    data = small_disk / "data"
    env = os.environ | {
        "SANITISER_DATA_DIR": str(data),
        "SANITISER_LAB_DRIVE_MIB": "4",
        "SANITISER_POLL_INTERVAL": "0.01",
    }
    assert cli(data, "scan", "--lab").returncode == 0
    wipe = subprocess.Popen(
        [sys.executable, "-m", "sanitiser", "wipe", "--lab", "lab-usb-hdd0", "--yes", "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert wipe.stdout is not None
    lines, filler = [], None
    for line in wipe.stdout:
        lines.append(line)
        if filler is None and '"event": "progress"' in line:
            filler = fill(small_disk)
    stderr = wipe.stderr.read() if wipe.stderr is not None else ""
    assert wipe.wait(timeout=300) == 1, stderr  # documented: 1 when a drive was not sanitised
    assert filler is not None, "the job never reported progress"
    said_plainly(stderr)
    [outcome] = outcome_lines("".join(lines))
    assert outcome["status"] in ("failed", "interrupted"), outcome
    assert outcome["state"] == outcome["status"]
    assert outcome["reason"].startswith("data directory full"), outcome["reason"]
    filler.unlink()
    found_again_as_said(data, outcome)
    again = cli(data, "wipe", "--lab", "lab-usb-hdd0", "--yes", "--json")
    assert again.returncode == 0, again.stdout + again.stderr  # nothing half-written in the way


def test_a_private_key_that_did_not_fit_leaves_no_stub(small_disk: Path) -> None:
    """A key file cut short by a full disk is removed: the next attempt, with room, makes it
    (a stub would be refused forever as 'exists; refusing to overwrite a private key')."""
    key, _ = make_org_ca("Example", development=True)
    path = small_disk / "keys" / "org-ca.key"
    path.parent.mkdir()
    filler = fill(small_disk)
    with pytest.raises(OSError, match="No space left on device"):
        write_private_key(path, key)
    assert not path.exists()
    filler.unlink()
    write_private_key(path, key)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
