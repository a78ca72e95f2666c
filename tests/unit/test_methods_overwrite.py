"""Host overwrite (Clear), the General rule (`verify_after.judge`) and the method registry.

The overwrite runs the real blockio engine through the real guard's claim on a lab file; on an
ATA drive the HPA is removed first so the formerly hidden tail is written too.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sanitiser.blockio import CanarySet, VerifyResult
from sanitiser.devices.guard import Swap, SystemState, claim
from sanitiser.domain import (
    NistCategory,
    Outcome,
    OutcomeStatus,
    Transport,
    Verification,
)
from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.ata import AtaDriveEmulator
from sanitiser.errors import ConfigError, DriveBusyError
from sanitiser.methods.overwrite import JOURNAL_SEED, HostOverwrite
from sanitiser.methods.registry import all_methods, category_for, method_for
from sanitiser.methods.verify_after import Check, ReadBack, judge
from sanitiser.probe.capabilities import Capabilities, Technique
from sanitiser.testing import FakeRunner
from tests.unit.method_rig import (
    MIB,
    claimed,
    context,
    lab_file,
    lab_files,
    simulated,
    surviving_sectors,
)

SERIAL = "SIM-USB-0001"
SIZE = 8 * MIB


def run_overwrite(
    path: Path,
    transport: Transport,
    runner: FakeRunner | EmulatedRunner,
    *,
    overwrite_scheme: str = "zeros",
    verification: str = "sampled",
) -> tuple[Outcome, dict[str, object]]:
    """Run the host overwrite on the file at `path`."""
    drive = simulated(path, transport, removable=transport is Transport.USB)
    journal: dict[str, object] = {}
    with claimed(drive) as held:
        ctx = context(
            drive,
            held,
            runner,
            journal=journal,
            overwrite_scheme=overwrite_scheme,
            verification=verification,
        )
        return HostOverwrite().run(ctx), journal


class TestHostOverwrite:
    """The overwrite method."""

    def test_zeros_sampled(self, tmp_path: Path) -> None:
        """A USB stick: every byte zero, sampled read-back passed, Clear."""
        path = lab_file(tmp_path, SERIAL, SIZE)
        outcome, _ = run_overwrite(path, Transport.USB, FakeRunner())
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert outcome.nist_category is NistCategory.CLEAR
        assert outcome.verification is not None
        assert outcome.verification.mode == "sampled"
        assert path.read_bytes() == bytes(SIZE)
        assert outcome.hpa_dco == ""

    def test_random_full_keeps_seed_in_journal_only(self, tmp_path: Path) -> None:
        """Random pass with full read-back; the seed is journaled, the Outcome has its id."""
        path = lab_file(tmp_path, SERIAL, SIZE)
        outcome, journal = run_overwrite(
            path, Transport.USB, FakeRunner(), overwrite_scheme="random", verification="full"
        )
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verification is not None
        assert outcome.verification.mode == "full"
        assert outcome.verification.coverage_ppm == 1_000_000
        seed = str(journal[JOURNAL_SEED])
        assert seed not in str(outcome)
        assert dict(outcome.details)["seed_id"]
        assert surviving_sectors(path, SERIAL) == 0

    def test_no_verification_is_not_verified(self, tmp_path: Path) -> None:
        """verification=none: written, but the Outcome does not claim it was verified."""
        path = lab_file(tmp_path, SERIAL, SIZE)
        outcome, _ = run_overwrite(path, Transport.USB, FakeRunner(), verification="none")
        assert outcome.status is OutcomeStatus.SANITISED
        assert not outcome.verified
        assert "not read back" in outcome.reason

    def test_unknown_scheme_refused(self, tmp_path: Path) -> None:
        """A scheme the engine does not know writes nothing."""
        path = lab_file(tmp_path, SERIAL, SIZE)
        outcome, _ = run_overwrite(path, Transport.USB, FakeRunner(), overwrite_scheme="dod7")
        assert outcome.status is OutcomeStatus.REFUSED
        assert surviving_sectors(path, SERIAL) == SIZE // 512

    def test_hpa_removed_then_whole_native_written(self, tmp_path: Path) -> None:
        """On SATA the HPA goes first; the formerly hidden tail is overwritten as well."""
        path = lab_file(tmp_path, SERIAL, SIZE)
        emu = AtaDriveEmulator(path, SERIAL, device=str(path), hpa=256)
        runner = EmulatedRunner({str(path): emu})
        outcome, _ = run_overwrite(path, Transport.SATA, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert "HPA hid 256 sectors" in outcome.hpa_dco
        assert "HPA removed" in outcome.hpa_dco
        assert emu.visible_sectors == SIZE // 512
        assert path.read_bytes() == bytes(SIZE)

    def test_read_only_drive_refused(self, tmp_path: Path) -> None:
        """A read-only drive is not overwritten."""
        path = lab_file(tmp_path, SERIAL, SIZE)
        drive = replace(simulated(path, Transport.USB), read_only=True)
        assert HostOverwrite().unavailable(drive, Capabilities(Transport.USB)) == (
            "the drive is read-only"
        )


def _vr(passed: bool, reason: str = "") -> VerifyResult:
    return VerifyResult(Verification(mode="canary", passed=passed), reason)


class TestGeneralRule:
    """`judge`: rc 0 never outweighs the final status, the state checks or the read-back."""

    def test_all_clauses_hold(self) -> None:
        """Final status, checks and canaries all good: SANITISED and verified."""
        verdict = judge(Check("s", True), (Check("ready", True),), ReadBack(_vr(True)))
        assert verdict.status is OutcomeStatus.SANITISED
        assert verdict.verified

    def test_final_status_failure_wins(self) -> None:
        """A failed final status is FAILED even with a clean read-back."""
        verdict = judge(Check("s", False, "SD3"), (), ReadBack(_vr(True)))
        assert verdict.status is OutcomeStatus.FAILED
        assert verdict.reason == "SD3"

    def test_surviving_canaries_fail(self) -> None:
        """Old data read back: FAILED with the read-back's reason."""
        verdict = judge(Check("s", True), (), ReadBack(_vr(False, "3 of 10 canaries survived")))
        assert verdict.status is OutcomeStatus.FAILED
        assert "canaries survived" in verdict.reason

    def test_failed_check_fails_and_not_applicable_is_ignored(self) -> None:
        """A False clause fails the job; None (not applicable) does not."""
        bad = judge(Check("s", True), (Check("capacity", False, "capacity changed"),), None)
        assert bad.status is OutcomeStatus.FAILED
        fine = judge(Check("s", True), (Check("hpa", None),), ReadBack(_vr(True)))
        assert fine.verified

    def test_no_readback_is_unverified(self) -> None:
        """Status alone is not verification."""
        verdict = judge(Check("s", True), (), ReadBack(None))
        assert verdict.status is OutcomeStatus.SANITISED
        assert not verdict.verified


class TestRegistry:
    """method_for / all_methods / category_for."""

    def test_every_technique_has_its_method(self) -> None:
        """Each Technique (and its string value) maps to a method implementing it."""
        for technique in Technique:
            assert method_for(technique).technique is technique
            assert method_for(technique.value) is method_for(technique)
        assert len(all_methods()) == len(Technique)
        assert all_methods()[-1].technique is Technique.HOST_OVERWRITE

    def test_destroy_is_not_a_method(self) -> None:
        """No software performs destruction."""
        with pytest.raises(ConfigError):
            method_for("destroy")

    def test_category_never_stronger_than_best_case(self, tmp_path: Path) -> None:
        """Per-drive categories are the method's best case or weaker."""
        path = lab_file(tmp_path, SERIAL, MIB)
        for drive in (simulated(path, Transport.SATA), simulated(path, Transport.SATA,
                                                                 rotational=True)):  # fmt: skip
            for method in all_methods():
                got = method.category_for(drive)
                assert got is method.nist_category or got is NistCategory.CLEAR
        assert category_for("host-overwrite", simulated(path, Transport.USB)) is NistCategory.CLEAR


def test_canary_set_round_trips_through_journal() -> None:
    """The journal holds the canary set as JSON (for a resumed job)."""
    canaries = CanarySet(seed=b"\1" * 32, offsets=(0, 4096), size_bytes=8192)
    assert CanarySet.from_json(canaries.to_json()) == canaries


def test_guard_is_required(tmp_path: Path) -> None:
    """A protected drive (its file is swap) gets no Claim, so the overwrite never runs."""
    path = lab_file(tmp_path, SERIAL, SIZE)
    drive = simulated(path, Transport.USB)
    swapping = SystemState(swaps=(Swap(path=str(path), kind="file"),))
    with pytest.raises(DriveBusyError):
        claim(drive, drive, lab_files(drive), state_reader=lambda: swapping)
    assert method_for(Technique.HOST_OVERWRITE).technique is Technique.HOST_OVERWRITE
    assert surviving_sectors(path, SERIAL) == SIZE // 512
