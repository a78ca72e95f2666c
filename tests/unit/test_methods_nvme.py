"""NVMe methods on the NVMe emulator over lab-style files, claimed through the real guard.

Sanitize (crypto, block, overwrite) with sanitize-log polling, a sanitize already running at
start (after a restart) polled to the end, a stalled sanitize, status 3 failures and a lying
controller; Format NVM SES=1/SES=2 per namespace or all namespaces as FNA says, never SES=2 when
FNA does not advertise it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

import pytest

from sanitiser.devices.guard import BLOCK_DEVICES, Swap, SystemState, claim
from sanitiser.domain import NistCategory, Outcome, OutcomeStatus, Transport
from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.errors import DriveBusyError
from sanitiser.methods.nvme import NvmeFormat, NvmeSanitize, format_timeout_ms, namespace_id
from sanitiser.methods.registry import method_for
from sanitiser.methods.verify_after import plant_canaries
from sanitiser.probe.capabilities import Technique
from tests.emulator_options import NvmeOptions
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

SERIAL = "SIM-NVME-0001"
SIZE = 8 * MIB


def rig(
    tmp_path: Path, **kwargs: Unpack[NvmeOptions]
) -> tuple[Path, NvmeDriveEmulator, EmulatedRunner]:
    """A lab file, its NVMe emulator (controller = namespace = the file) and a runner."""
    path = lab_file(tmp_path, SERIAL, SIZE)
    emu = NvmeDriveEmulator(
        path,
        SERIAL,
        controller=str(path),
        namespace=str(path),
        **kwargs,
    )
    return path, emu, EmulatedRunner({str(path): emu})


def run_method(
    method: NvmeSanitize | NvmeFormat,
    path: Path,
    runner: EmulatedRunner,
    journal: dict[str, object] | None = None,
) -> tuple[Outcome, list[str]]:
    """Run `method` on the NVMe drive at `path`."""
    drive = simulated(path, Transport.NVME)
    logs: list[str] = []
    with claimed(drive) as held:
        ctx = context(drive, held, runner, logs=logs, journal={} if journal is None else journal)
        return method.run(ctx), logs


def sanitize_starts(runner: EmulatedRunner) -> list[tuple[str, ...]]:
    """The ``nvme sanitize`` commands sent (not the log reads)."""
    return [c for c in runner.calls if c[:2] == ("nvme", "sanitize")]


class TestSanitize:
    """NVMe Sanitize with sanitize-log polling."""

    @pytest.mark.parametrize("action", ["crypto", "block", "overwrite"])
    def test_each_action_sanitises(self, tmp_path: Path, action: str) -> None:
        """Started on the controller, polled to status 1, canaries gone, file rewritten."""
        path, _, runner = rig(tmp_path)
        outcome, _ = run_method(NvmeSanitize(action), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert outcome.nist_category is NistCategory.PURGE
        assert surviving_sectors(path, SERIAL) == 0
        sanact = {"crypto": "4", "block": "2", "overwrite": "3"}[action]
        assert sanitize_starts(runner) == [
            ("nvme", "sanitize", str(path), f"--sanact={sanact}")
            + (("--owpass=1", "--ovrpat=0x00000000") if action == "overwrite" else ())
        ]
        assert len(calls_with(runner.calls, "sanitize-log")) >= 4
        assert dict(outcome.details)["final_status"].startswith("(1)")

    def test_unadvertised_action_never_sent(self, tmp_path: Path) -> None:
        """sanicap crypto+block: overwrite is refused without any sanitize command."""
        path, _, runner = rig(tmp_path, sanicap=0x3)
        outcome, _ = run_method(NvmeSanitize("overwrite"), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert "not advertised" in outcome.reason
        assert sanitize_starts(runner) == []
        assert surviving_sectors(path, SERIAL) == SIZE // 512

    def test_no_sanitize_at_all_never_sent(self, tmp_path: Path) -> None:
        """QEMU's controller (sanicap 0) gets no sanitize."""
        path, _, runner = rig(tmp_path, sanicap=0)
        outcome, _ = run_method(NvmeSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert sanitize_starts(runner) == []

    def test_failed_sanitize_is_failed(self, tmp_path: Path) -> None:
        """Status 3 at the end is FAILED with the recovery explained."""
        path, emu, runner = rig(tmp_path)
        emu.fail_next_sanitize = True
        outcome, _ = run_method(NvmeSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.FAILED
        assert "status 3" in outcome.reason
        assert "only a new sanitize" in outcome.reason

    def test_lying_controller_is_caught(self, tmp_path: Path) -> None:
        """Status 1 at once and nothing erased: the canaries make it FAILED."""
        path, _, runner = rig(tmp_path, lies=True)
        outcome, _ = run_method(NvmeSanitize("crypto"), path, runner)
        assert outcome.status is OutcomeStatus.FAILED
        assert "canaries survived" in outcome.reason
        assert not outcome.verified

    def test_running_sanitize_is_polled_not_restarted(self, tmp_path: Path) -> None:
        """After a restart the running sanitize is polled to the end with the journal's canaries."""
        path, emu, runner = rig(tmp_path, polls_per_sanitize=6)
        drive = simulated(path, Transport.NVME)
        journal: dict[str, object] = {}
        with claimed(drive) as held:
            plant_canaries(context(drive, held, runner, journal=journal))
        runner.run(("nvme", "sanitize", str(path), "--sanact=2"))
        emu.power_cycle()  # the sanitize survives it
        assert emu.in_progress
        outcome, logs = run_method(NvmeSanitize("crypto"), path, runner, journal)
        assert len(sanitize_starts(runner)) == 1  # only the one before the restart
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert dict(outcome.details)["sanitize_action"] == "block"  # what really ran
        assert dict(outcome.details)["resumed"] == "yes"
        assert any("already in progress" in line for line in logs)

    def test_resumed_without_canaries_is_not_verified(self, tmp_path: Path) -> None:
        """With no journal the drive's status is the only evidence: SANITISED, not verified."""
        path, _, runner = rig(tmp_path)
        runner.run(("nvme", "sanitize", str(path), "--sanact=2"))
        outcome, _ = run_method(NvmeSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED
        assert not outcome.verified
        assert "nothing could be read back" in outcome.reason

    def test_stall_stops_for_a_power_cycle_then_resumes(self, tmp_path: Path) -> None:
        """A stuck sprog is ABORTED with the power-cycle instruction; the rerun finishes it."""
        path, emu, runner = rig(tmp_path, polls_per_sanitize=4)
        method = NvmeSanitize("block")
        method.stall_seconds = 0.0
        emu.stall = True
        journal: dict[str, object] = {}
        first, _ = run_method(method, path, runner, journal)
        assert first.status is OutcomeStatus.ABORTED
        assert "power-cycle" in first.reason
        emu.power_cycle()
        second, _ = run_method(method, path, runner, journal)
        assert second.status is OutcomeStatus.SANITISED, second.reason
        assert second.verified
        assert len(sanitize_starts(runner)) == 1


class TestFormat:
    """NVMe Format NVM."""

    def test_user_data_erase_single_namespace(self, tmp_path: Path) -> None:
        """SES=1 with the current lbaf on namespace 1; fna bit 0 clear: this namespace only."""
        path, _, runner = rig(tmp_path, fna=0x4)
        outcome, _ = run_method(NvmeFormat(crypto=False), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert path.read_bytes() == bytes(SIZE)
        (fmt,) = calls_with(runner.calls, "format")
        assert fmt == ("nvme", "format", str(path), "--namespace-id=1", "--ses=1", "--lbaf=0",
                       "--force", f"--timeout={format_timeout_ms(SIZE)}")  # fmt: skip
        assert dict(outcome.details)["scope"].startswith("namespace 1 only")

    def test_the_format_timeout_outlasts_a_slow_large_drive(self) -> None:
        """nvme-cli's 10 min default would abort a large drive's erase: an hour at least, and
        more for a larger drive (8 TB at 50 MB/s: 44 h 27 min)."""
        assert format_timeout_ms(0) == 3_600_000
        assert format_timeout_ms(SIZE) == 3_600_000 + SIZE // 50_000_000 * 1000
        assert format_timeout_ms(8_000_000_000_000) == (3600 + 160_000) * 1000
        assert format_timeout_ms(8_000_000_000_000) > format_timeout_ms(4_000_000_000_000)
        assert format_timeout_ms(10**15) == 0xFFFFFFFF  # nvme-cli's u32: capped, never wrapped

    def test_fna_all_namespaces_recorded(self, tmp_path: Path) -> None:
        """fna bit 0: the format covers every namespace, and the Outcome says so."""
        path, _, runner = rig(tmp_path, fna=0x5)
        outcome, _ = run_method(NvmeFormat(crypto=True), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert dict(outcome.details)["scope"].startswith("all namespaces")
        assert surviving_sectors(path, SERIAL) == 0

    def test_crypto_format_not_advertised_never_sent(self, tmp_path: Path) -> None:
        """fna bit 2 clear (QEMU): SES=2 is refused, not sent and trusted."""
        path, _, runner = rig(tmp_path, fna=0)
        outcome, _ = run_method(NvmeFormat(crypto=True), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert "fna bit 2" in outcome.reason
        assert not calls_with(runner.calls, "format")

    def test_format_unsupported_never_sent(self, tmp_path: Path) -> None:
        """oacs without Format NVM: refused."""
        path, _, runner = rig(tmp_path, oacs=0x8)
        outcome, _ = run_method(NvmeFormat(crypto=False), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert not calls_with(runner.calls, "format")

    def test_lying_format_is_caught(self, tmp_path: Path) -> None:
        """'Success formatting namespace' with nothing erased ends FAILED."""
        path, _, runner = rig(tmp_path, lies=True)
        outcome, _ = run_method(NvmeFormat(crypto=False), path, runner)
        assert outcome.status is OutcomeStatus.FAILED
        assert "canaries survived" in outcome.reason


def test_device_paths() -> None:
    """Namespace ids come from the kernel name; simulated drives address their file."""
    drive = simulated(Path(__file__), Transport.NVME, name="lab-nvme0")
    assert lab_files(drive).nvme_controller(drive) == str(Path(__file__))
    assert namespace_id(drive) == 1
    real = drive.__class__(
        path="/dev/nvme3n2", name="nvme3n2", model="m", serial="s", size_bytes=1,
        transport=Transport.NVME,
    )  # fmt: skip
    assert namespace_id(real) == 2
    assert BLOCK_DEVICES.nvme_controller(real).startswith("/dev/nvme")


@pytest.mark.parametrize("technique", [t for t in Technique if t.value.startswith("nvme-")])
def test_guard_is_required(tmp_path: Path, technique: Technique) -> None:
    """A protected drive (its file is swap) gets no Claim, so the method never runs."""
    path, _, runner = rig(tmp_path)
    drive = simulated(path, Transport.NVME)
    swapping = SystemState(swaps=(Swap(path=str(path), kind="file"),))
    with pytest.raises(DriveBusyError):
        claim(drive, drive, lab_files(drive), state_reader=lambda: swapping)
    assert method_for(technique).technique is technique
    assert runner.calls == []
    assert surviving_sectors(path, SERIAL) == SIZE // 512
