"""The engine under real kernel faults: a device-mapper ``error`` segment and a lying disk.

The host kernel has no device-mapper (`tests/e2e/test_engine_faults.py` injects EIO through a
FUSE file instead); the lab guest's Debian kernel has it. One boot, two SCSI disks:

- ``faulty``: a dm table that maps the disk straight through except 256 KiB at 8 MiB, which is
  a dm ``error`` target: every read and write there fails with EIO from the block layer.
- ``liar``: a dm ``flakey`` target that is always "down" with ``drop_writes``: every write is
  acknowledged and silently thrown away, reads return what the disk held before.

This checkout's engine (`run_scheme`, zeros, full verification) runs on both in the guest; the
host then checks the reports against the disks' backing files, byte ranges exact.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.lab.drivelab import BLOCK, MIB, DriveSpec, LabPlan, LabRun

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
PY = shlex.quote(sys.executable)
SIZE_MB = 24
BAD_START, BAD_LEN = 8 * MIB, 256 * 1024
SECTOR = 512

ENGINE = f"""
cd {shlex.quote(str(REPO))} && {PY} - "$MAPPER" <<'PY'
import json, os, sys
from sanitiser.blockio import DeviceTarget, IOConfig, VerifyMode, run_scheme, scheme
path = sys.argv[1]
fd = os.open(path, os.O_RDWR | os.O_EXCL)
try:
    report = run_scheme(
        DeviceTarget.from_fd(fd, path), scheme("zeros"), verify=VerifyMode.FULL,
        config=IOConfig(block_size=1 << 20, workers=2),
    )
finally:
    os.close(fd)
v = report.verification
ranges = lambda rs: [[r.start, r.length] for r in rs]
print(json.dumps({{
    "status": str(report.status), "reason": report.reason,
    "bad_ranges": ranges(report.overwrite.bad_ranges), "errors": list(report.overwrite.errors),
    "bytes_written": report.overwrite.bytes_written, "flushed": report.overwrite.flushed,
    "passed": v.passed, "unreadable": ranges(v.unreadable), "mismatched": ranges(v.mismatched),
    "bytes_checked": v.bytes_checked, "failed_ranges": ranges(report.failed_ranges),
}}))
PY
"""

ERROR_TABLE = (
    f"0 {BAD_START // SECTOR} linear $d 0\\n"
    f"{BAD_START // SECTOR} {BAD_LEN // SECTOR} error\\n"
    f"{(BAD_START + BAD_LEN) // SECTOR} $(( $(blockdev --getsz $d) - "
    f"{(BAD_START + BAD_LEN) // SECTOR} )) linear $d {(BAD_START + BAD_LEN) // SECTOR}"
)

LAB_PLAN = LabPlan(
    (DriveSpec("vscsi", "FLTERR01", SIZE_MB), DriveSpec("vscsi", "FLTLIE01", SIZE_MB)),
    {
        "modules": "modprobe dm_mod && modprobe dm_flakey && echo ok",
        "faulty": (
            f'd=$(dev FLTERR01); printf "{ERROR_TABLE}\\n" | dmsetup create faulty '
            "&& udevadm settle && dmsetup table faulty"
        ),
        "liar": (
            'd=$(dev FLTLIE01); dmsetup create liar --table "0 $(blockdev --getsz $d) '
            'flakey $d 0 0 1 1 drop_writes" && udevadm settle && dmsetup table liar'
        ),
        "engine-faulty": f"MAPPER=/dev/mapper/faulty; {ENGINE}",
        "engine-liar": f"MAPPER=/dev/mapper/liar; {ENGINE}",
    },
    timeout=400,
    step_timeout=180,
)


def report(lab_run: LabRun, name: str) -> dict[str, Any]:
    """The engine's report from the guest, after its dm set-up succeeded."""
    for step_name in ("modules", name.removeprefix("engine-")):
        step = lab_run.step(step_name)
        assert step.rc == 0, f"{step_name}: rc={step.rc}\n{step.out}\n{step.err}"
    step = lab_run.step(name)
    assert step.rc == 0, f"{name}: rc={step.rc}\n{step.out}\n{step.err}"
    result: dict[str, Any] = json.loads(step.out.strip().splitlines()[-1])
    return result


def test_error_segment_is_recorded_exactly_and_fails_the_job(lab_run: LabRun) -> None:
    """EIO from a dm error target: the 256 KiB is a bad range for writing and for reading, the
    run goes on over the rest of the disk, and the outcome is FAILED with that range."""
    r = report(lab_run, "engine-faulty")
    bad = [[BAD_START, BAD_LEN]]
    assert r["status"] == "failed"
    assert r["bad_ranges"] == bad
    assert r["failed_ranges"] == bad
    assert r["unreadable"] == bad
    assert r["mismatched"] == []
    assert r["passed"] is False
    assert r["bytes_written"] == SIZE_MB * MIB
    assert r["bytes_checked"] == SIZE_MB * MIB - BAD_LEN
    assert any("EIO" in e for e in r["errors"])
    assert "could not be written" in r["reason"]


def test_error_segment_keeps_its_old_data_and_the_rest_is_zeroed(lab_run: LabRun) -> None:
    """On the disk itself, exactly the error segment still holds what was there before."""
    state = lab_run.image_state("FLTERR01")
    bad_blocks = BAD_LEN // BLOCK
    assert state.blocks == SIZE_MB * MIB // BLOCK
    assert state.pattern == bad_blocks
    assert state.first_pattern_block == BAD_START // BLOCK
    assert state.zero == state.blocks - bad_blocks


def test_a_disk_that_drops_writes_is_caught_by_verification(lab_run: LabRun) -> None:
    """Every write 'succeeds' and nothing is written: verification reads the old data back
    everywhere and the outcome is FAILED, never sanitised."""
    r = report(lab_run, "engine-liar")
    assert r["bad_ranges"] == []  # the disk never admitted an error
    assert r["flushed"] is True
    assert r["status"] == "failed"
    assert r["passed"] is False
    assert r["mismatched"] == [[0, SIZE_MB * MIB]]
    assert "not zeros" in r["reason"]
    assert lab_run.image_state("FLTLIE01").verdict.name == "UNTOUCHED"
