"""The SCSI emulator: sg3_utils formats and §3.6 exit codes, sanitize/format on the backing file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Unpack

import pytest

from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.scsi import ScsiDriveEmulator
from sanitiser.probe.scsi import (
    ScsiCapabilities,
    parse_sg_inq,
    parse_sg_opcodes,
    parse_sg_readcap,
)
from sanitiser.runner import CommandResult
from tests.emulator_options import ScsiOptions

DEV = "/dev/sdb"
SIZE = 1 << 20
PATTERN = bytes(range(256))


@pytest.fixture
def backing(tmp_path: Path) -> Path:
    """A 1 MiB disk full of a non-zero pattern."""
    path = tmp_path / "sas.img"
    path.write_bytes(PATTERN * (SIZE // 256))
    return path


def make(backing: Path, **kwargs: Unpack[ScsiOptions]) -> tuple[ScsiDriveEmulator, EmulatedRunner]:
    drive = ScsiDriveEmulator(backing, "SCSI0001", **kwargs)
    return drive, EmulatedRunner({DEV: drive})


def sg(runner: EmulatedRunner, tool: str, *args: str) -> CommandResult:
    return runner.run((tool, *args, DEV))


def untouched(path: Path) -> bool:
    return path.read_bytes() == PATTERN * (SIZE // 256)


def probe(runner: EmulatedRunner) -> ScsiCapabilities:
    ops = sg(runner, "sg_opcodes")
    return ScsiCapabilities(
        inquiry=parse_sg_inq(sg(runner, "sg_inq").stdout),
        opcodes=parse_sg_opcodes(ops.stdout, ops.stderr, ops.returncode),
        capacity=parse_sg_readcap(sg(runner, "sg_readcap", "-l").stdout),
    )


def test_outputs_have_the_real_layout(backing: Path, reference: Path) -> None:
    """sg_inq / sg_readcap lines match the real QEMU outputs line by line (values aside)."""
    _, runner = make(backing, vendor="QEMU", product="QEMU HARDDISK", revision="2.5+")
    real_inq = (reference / "qemu-7.2" / "sg_inq-sdb.txt").read_text().splitlines()
    ours = sg(runner, "sg_inq").stdout.splitlines()
    assert [line.split(":")[0] for line in ours[-4:]] == [x.split(":")[0] for x in real_inq[-4:]]
    assert ours[-4:-1] == real_inq[-4:-1]
    real_cap = (reference / "qemu-7.2" / "sg_readcap-sdb.txt").read_text().splitlines()
    cap = sg(runner, "sg_readcap", "-l").stdout.splitlines()
    assert [_shape(x) for x in cap] == [_shape(x) for x in real_cap]


def _shape(line: str) -> str:
    """A line with its numbers masked, so only the layout is compared."""
    return re.sub(r"(0x)?[0-9a-f]*\d[0-9a-f.]*", "N", line)


def test_parsers_read_emulator_capabilities(backing: Path) -> None:
    """Full support: every sanitize SA and FORMAT UNIT listed; capacity from the file size."""
    _, runner = make(backing, lbprz=True)
    caps = probe(runner)
    assert caps.inquiry.vendor == "SEAGATE"
    assert caps.inquiry.serial == "SCSI0001"
    assert caps.sanitize_crypto_erase
    assert caps.sanitize_block_erase
    assert caps.sanitize_overwrite
    assert caps.sanitize_exit_failure
    assert caps.format_unit
    assert caps.block_count == SIZE // 512
    assert caps.lbprz


def test_no_rsoc_reads_as_unknown_like_qemu(backing: Path, reference: Path) -> None:
    """Without RSOC: exit 9 and the same error line QEMU's disk gave."""
    _, runner = make(backing, rsoc=False)
    ops = sg(runner, "sg_opcodes")
    assert ops.returncode == 9
    real = (reference / "qemu-7.2" / "sg_opcodes-sdb.txt").read_text().splitlines()[0]
    assert ops.stderr.strip() == real
    assert probe(runner).sanitize_block_erase is None


def test_sanitize_early_then_requests_progress_and_status(backing: Path) -> None:
    """--early returns at once; sg_requests polls progress; --status ends 0 and data is zero."""
    drive, runner = make(backing, polls_per_op=3)
    assert sg(runner, "sg_sanitize", "--block", "--quick", "--early").returncode == 0
    assert untouched(backing)
    running = sg(runner, "sg_requests", "--status")
    assert running.returncode == 2
    assert "sanitize in progress" in running.stdout
    assert sg(runner, "sg_turs").returncode in (0, 2)
    progress = sg(runner, "sg_requests", "--progress", "--num=9999")
    assert "Progress indication:" in progress.stdout
    assert sg(runner, "sg_requests", "--status").returncode == 0
    assert sg(runner, "sg_turs").returncode == 0
    assert backing.read_bytes() == bytes(SIZE)
    assert drive.erases == 1


def test_sanitize_crypto_wait_rewrites_random(backing: Path) -> None:
    """--wait blocks until done; crypto erase leaves neither the old data nor zeros."""
    _, runner = make(backing)
    assert sg(runner, "sg_sanitize", "--crypto", "--quick", "--wait").returncode == 0
    data = backing.read_bytes()
    assert data != bytes(SIZE)
    assert not untouched(backing)


def test_default_mode_exits_zero_even_when_sanitize_failed(backing: Path) -> None:
    """§9 #1: the default poll mode exits 0; only sg_requests --status reveals the failure."""
    drive, runner = make(backing)
    drive.fail_next_sanitize = True
    quiet = sg(runner, "sg_sanitize", "--overwrite", "--zero", "--quick")
    assert quiet.returncode == 0
    assert "Progress indication:" in quiet.stdout
    status = sg(runner, "sg_requests", "--status")
    assert status.returncode == 3
    assert "Sanitize command failed" in status.stdout
    assert sg(runner, "sg_turs").returncode == 3
    assert backing.read_bytes() != bytes(SIZE)
    assert sg(runner, "sg_sanitize", "--fail", "--quick").returncode == 0
    assert sg(runner, "sg_requests", "--status").returncode == 0


def test_sanitize_wait_reports_failure(backing: Path) -> None:
    """With --wait the failure shows in the exit status (3, medium error)."""
    drive, runner = make(backing)
    drive.fail_next_sanitize = True
    assert sg(runner, "sg_sanitize", "--block", "--quick", "--wait").returncode == 3


def test_unsupported_sanitize_is_exit_9_like_qemu(backing: Path) -> None:
    """An unsupported SA: the same two stderr lines as the lab transcript, exit 9."""
    _, runner = make(backing, sanitize=("crypto",))
    refused = sg(runner, "sg_sanitize", "--block")
    assert refused.returncode == 9
    assert refused.stderr == (
        "Sanitize failed: Illegal request, Invalid opcode\n"
        "sg_sanitize failed: Illegal request, Invalid opcode\n"
    )
    assert "peripheral_type: disk [0x0]" in refused.stdout
    assert untouched(backing)


def test_sanitize_argument_rules(backing: Path) -> None:
    """One action only; --early with --wait is contradictory; overwrite needs a pattern."""
    _, runner = make(backing)
    assert sg(runner, "sg_sanitize", "--block", "--crypto").returncode == 1
    assert sg(runner, "sg_sanitize", "--block", "--early", "--wait").returncode == 1
    assert sg(runner, "sg_sanitize", "--overwrite").returncode == 1
    assert untouched(backing)


def test_format_unit_completes_and_ffmt_writes_nothing(backing: Path) -> None:
    """--format zeros the medium; --ffmt says Complete but leaves the data (§9 #2)."""
    _, runner = make(backing)
    fast = sg(runner, "sg_format", "--format", "--ffmt=1")
    assert fast.returncode == 0
    assert "FORMAT UNIT Complete" in fast.stdout
    assert untouched(backing)
    full = sg(runner, "sg_format", "--format")
    assert full.returncode == 0
    assert full.stdout.endswith("FORMAT UNIT Complete\n")
    assert backing.read_bytes() == bytes(SIZE)


def test_failed_format_still_prints_complete(backing: Path) -> None:
    """§9 #2: "FORMAT UNIT Complete" and rc 0, yet the disk is format-corrupt."""
    drive, runner = make(backing)
    drive.fail_next_format = True
    done = sg(runner, "sg_format", "--format")
    assert done.returncode == 0
    assert "FORMAT UNIT Complete" in done.stdout
    assert "format corrupt" in sg(runner, "sg_format").stdout
    assert sg(runner, "sg_turs").returncode == 3


def test_format_unsupported_and_lies(backing: Path) -> None:
    """No FORMAT UNIT: exit 9. lies=True: rc 0, Complete, nothing erased (QEMU virtio-scsi)."""
    _, runner = make(backing, format_unit=False)
    assert sg(runner, "sg_format", "--format").returncode == 9
    drive, liar = make(backing, lies=True)
    assert sg(liar, "sg_format", "--format").returncode == 0
    assert sg(liar, "sg_sanitize", "--block", "--quick").returncode == 0
    assert untouched(backing)
    assert drive.erases == 0
