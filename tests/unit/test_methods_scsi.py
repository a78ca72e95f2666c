"""SCSI methods on the SCSI emulator over lab-style files, claimed through the real guard.

SANITIZE (crypto, block, overwrite) and FORMAT UNIT started with IMMED and polled with
sg_requests; judged by sg_requests --status, sg_turs, sg_readcap and the canaries, never by the
tools' own exit status (which is 0 even after a failure, DEVICE-COMMANDS §9 #1/#2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

import pytest

from sanitiser.devices.guard import Swap, SystemState, claim
from sanitiser.domain import NistCategory, Outcome, OutcomeStatus, Transport
from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.scsi import ScsiDriveEmulator
from sanitiser.errors import DriveBusyError
from sanitiser.methods.registry import method_for
from sanitiser.methods.scsi import ScsiFormatUnit, ScsiSanitize, parse_request_sense
from sanitiser.methods.verify_after import plant_canaries
from sanitiser.probe.capabilities import Technique
from tests.emulator_options import ScsiOptions
from tests.unit.method_rig import (
    MIB,
    calls_with,
    claimed,
    context,
    lab_file,
    lab_files,
    simulated,
    surviving_sectors,
)

SERIAL = "SIM-SAS-0001"
SIZE = 8 * MIB


def rig(
    tmp_path: Path, **kwargs: Unpack[ScsiOptions]
) -> tuple[Path, ScsiDriveEmulator, EmulatedRunner]:
    """A lab file, its SCSI emulator (device = the file) and a runner."""
    path = lab_file(tmp_path, SERIAL, SIZE)
    emu = ScsiDriveEmulator(path, SERIAL, device=str(path), **kwargs)
    return path, emu, EmulatedRunner({str(path): emu})


def run_method(
    method: ScsiSanitize | ScsiFormatUnit,
    path: Path,
    runner: EmulatedRunner,
    *,
    rotational: bool = True,
    journal: dict[str, object] | None = None,
) -> tuple[Outcome, list[str]]:
    """Run `method` on the SCSI drive at `path`."""
    drive = simulated(path, Transport.SCSI, rotational=rotational)
    logs: list[str] = []
    with claimed(drive) as held:
        ctx = context(drive, held, runner, logs=logs, journal={} if journal is None else journal)
        return method.run(ctx), logs


def tool_calls(runner: EmulatedRunner, tool: str) -> list[tuple[str, ...]]:
    """Commands of one tool."""
    return [c for c in runner.calls if c[0] == tool]


class TestSanitize:
    """SCSI SANITIZE."""

    @pytest.mark.parametrize("action", ["crypto", "block", "overwrite"])
    def test_each_action_sanitises(self, tmp_path: Path, action: str) -> None:
        """Started with --early, polled, judged by sense, TUR, capacity and canaries."""
        path, _, runner = rig(tmp_path)
        outcome, _ = run_method(ScsiSanitize(action), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert surviving_sectors(path, SERIAL) == 0
        (start,) = tool_calls(runner, "sg_sanitize")
        assert f"--{action}" in start
        assert "--early" in start
        assert calls_with(runner.calls, "--status")
        assert tool_calls(runner, "sg_turs")

    def test_categories(self, tmp_path: Path) -> None:
        """Overwrite is Purge on an HDD, Clear on flash; FORMAT UNIT is Clear."""
        path = lab_file(tmp_path, "SIM-X")
        hdd = simulated(path, Transport.SCSI, rotational=True)
        ssd = simulated(path, Transport.SCSI)
        assert ScsiSanitize("overwrite").category_for(hdd) is NistCategory.PURGE
        assert ScsiSanitize("overwrite").category_for(ssd) is NistCategory.CLEAR
        assert ScsiSanitize("crypto").category_for(ssd) is NistCategory.PURGE
        assert ScsiFormatUnit().category_for(hdd) is NistCategory.CLEAR

    def test_failed_sanitize_is_failed_despite_rc0(self, tmp_path: Path) -> None:
        """MEDIUM ERROR 'Sanitize command failed' after the polls: FAILED."""
        path, emu, runner = rig(tmp_path)
        emu.fail_next_sanitize = True
        outcome, _ = run_method(ScsiSanitize("block"), path, runner)
        assert tool_calls(runner, "sg_sanitize")[0]
        assert outcome.status is OutcomeStatus.FAILED
        assert "Sanitize command failed" in outcome.reason

    def test_lying_drive_is_caught(self, tmp_path: Path) -> None:
        """Good sense and TUR but nothing erased (QEMU virtio-scsi): FAILED by the canaries."""
        path, _, runner = rig(tmp_path, lies=True)
        outcome, _ = run_method(ScsiSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.FAILED
        assert "canaries survived" in outcome.reason

    def test_unadvertised_action_never_sent(self, tmp_path: Path) -> None:
        """Only crypto advertised: block erase is refused, sg_sanitize never runs."""
        path, _, runner = rig(tmp_path, sanitize=("crypto",))
        outcome, _ = run_method(ScsiSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert "not advertised" in outcome.reason
        assert tool_calls(runner, "sg_sanitize") == []

    def test_unknown_support_never_attempted(self, tmp_path: Path) -> None:
        """RSOC unsupported: support is unknown, so nothing is attempted."""
        path, _, runner = rig(tmp_path, rsoc=False)
        outcome, _ = run_method(ScsiSanitize("crypto"), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert "support is unknown" in outcome.reason
        assert tool_calls(runner, "sg_sanitize") == []

    def test_sata_behind_libata_refused(self, tmp_path: Path) -> None:
        """Vendor ATA (a SATL): SCSI SANITIZE is refused; the ATA methods apply."""
        path, _, runner = rig(tmp_path, vendor="ATA")
        outcome, _ = run_method(ScsiSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert "libata" in outcome.reason
        assert tool_calls(runner, "sg_sanitize") == []

    def test_running_sanitize_is_polled_not_restarted(self, tmp_path: Path) -> None:
        """A sanitize in progress at start (after a restart) is polled, not started again."""
        path, emu, runner = rig(tmp_path, polls_per_op=6)
        drive = simulated(path, Transport.SCSI, rotational=True)
        journal: dict[str, object] = {}
        with claimed(drive) as held:
            plant_canaries(context(drive, held, runner, journal=journal))
        runner.run(("sg_sanitize", "--block", "--quick", "--early", str(path)))
        assert emu.running == "sanitize:block"
        outcome, logs = run_method(ScsiSanitize("block"), path, runner, journal=journal)
        assert len(tool_calls(runner, "sg_sanitize")) == 1
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert any("already in progress" in line for line in logs)


class TestFormatUnit:
    """SCSI FORMAT UNIT."""

    def test_format_clears(self, tmp_path: Path) -> None:
        """A full format (never --ffmt) polled to the end: Clear, verified by canaries."""
        path, _, runner = rig(tmp_path)
        outcome, _ = run_method(ScsiFormatUnit(), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert outcome.nist_category is NistCategory.CLEAR
        assert not [c for c in runner.calls if any(a.startswith("--ffmt") for a in c)]
        assert ("sg_format", str(path)) in runner.calls  # the format-corrupt cross-check

    def test_failed_format_is_failed(self, tmp_path: Path) -> None:
        """sg_format's 'FORMAT UNIT Complete' is not believed: the medium error fails it."""
        path, emu, runner = rig(tmp_path)
        emu.fail_next_format = True
        outcome, _ = run_method(ScsiFormatUnit(), path, runner)
        assert outcome.status is OutcomeStatus.FAILED
        assert "Format command failed" in outcome.reason

    def test_format_unit_unsupported_never_sent(self, tmp_path: Path) -> None:
        """No FORMAT UNIT in sg_opcodes: refused."""
        path, _, runner = rig(tmp_path, format_unit=False)
        outcome, _ = run_method(ScsiFormatUnit(), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert not calls_with(runner.calls, "--format")


@pytest.mark.parametrize(
    ("text", "running", "percent", "failed"),
    [
        (
            "Fixed format, current; Sense key: Not Ready\n Additional sense: Logical unit not "
            "ready, sanitize in progress\n  Progress indication: 33.33%\n",
            True, 33.33, "",
        ),
        (
            "Fixed format, current; Sense key: Medium Error\n Additional sense: Sanitize "
            "command failed\n",
            False, None, "Sanitize command failed",
        ),
        (
            "Fixed format, current; Sense key: No Sense\n Additional sense: No additional "
            "sense information\n",
            False, None, "",
        ),
    ],
)  # fmt: skip
def test_parse_request_sense(text: str, running: bool, percent: float | None, failed: str) -> None:
    """sg_requests text decodes to in progress / failed / idle."""
    state = parse_request_sense(text)
    assert state.in_progress is running
    assert state.percent == percent
    assert state.failed == failed


@pytest.mark.parametrize("technique", [t for t in Technique if t.value.startswith("scsi-")])
def test_guard_is_required(tmp_path: Path, technique: Technique) -> None:
    """A protected drive (its file is swap) gets no Claim, so the method never runs."""
    path, _, runner = rig(tmp_path)
    drive = simulated(path, Transport.SCSI)
    swapping = SystemState(swaps=(Swap(path=str(path), kind="file"),))
    with pytest.raises(DriveBusyError):
        claim(drive, drive, lab_files(drive), state_reader=lambda: swapping)
    assert method_for(technique).technique is technique
    assert runner.calls == []
    assert surviving_sectors(path, SERIAL) == SIZE // 512
