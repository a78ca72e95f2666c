"""ATA methods on the ATA emulator over lab-style files, claimed through the real guard.

Every state transition the methods must handle: success (file really erased, canaries gone),
frozen (refused with the bench instruction), a drive that lies (FAILED, never purged), an
interrupted security erase (recovered in the run and after a restart), sanitize SD3, a sanitize
already running at start (polled, not restarted), HPA/DCO removed first, and methods never sent
when not advertised.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Unpack

import pytest

from sanitiser.blockio import CanarySet
from sanitiser.devices.guard import Swap, SystemState, claim
from sanitiser.devices.probing import probe
from sanitiser.domain import NistCategory, Outcome, OutcomeStatus, Transport
from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.ata import AtaDriveEmulator
from sanitiser.errors import DriveBusyError
from sanitiser.methods.ata import (
    JOURNAL_PASSWORD,
    LOCKED_REASON,
    USB_REASON,
    AtaSanitize,
    AtaSecurityErase,
)
from sanitiser.methods.registry import method_for
from sanitiser.methods.session import FROZEN_INSTRUCTION, REDACTED
from sanitiser.methods.verify_after import plant_canaries
from sanitiser.probe.capabilities import Capabilities, Technique
from tests.emulator_options import AtaOptions
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

SERIAL = "SIM-SSD-0001"
SECTORS = 8 * MIB // 512
PASSWORD_RE = re.compile(r"san[0-9a-f]{16}")


def rig(
    tmp_path: Path,
    *,
    rotational: bool = False,
    extra_sectors: int = 0,
    **kwargs: Unpack[AtaOptions],
) -> tuple[Path, AtaDriveEmulator, EmulatedRunner]:
    """A lab file, its ATA emulator (device = the file) and a runner."""
    path = lab_file(tmp_path, SERIAL, 8 * MIB + extra_sectors * 512)
    emu = AtaDriveEmulator(path, SERIAL, "Emulated SSD", device=str(path), **kwargs)
    return path, emu, EmulatedRunner({str(path): emu})


def run_method(
    method: AtaSecurityErase | AtaSanitize,
    path: Path,
    runner: EmulatedRunner,
    *,
    rotational: bool = False,
    journal: dict[str, object] | None = None,
    caps: Capabilities | None = None,
) -> tuple[Outcome, dict[str, object], list[str]]:
    """Run `method` on the drive at `path`; returns (outcome, journal, log lines)."""
    drive = simulated(path, Transport.SATA, rotational=rotational)
    logs: list[str] = []
    journal = {} if journal is None else journal
    with claimed(drive) as held:
        ctx = context(drive, held, runner, caps, logs=logs, journal=journal)
        outcome = method.run(ctx)
    return outcome, journal, logs


class TestSecurityErase:
    """SECURITY ERASE UNIT with a throwaway password."""

    def test_enhanced_erase_sanitises_and_verifies(self, tmp_path: Path) -> None:
        """Set pass, erase, security disabled again; every sector erased, canaries gone."""
        path, emu, runner = rig(tmp_path)
        outcome, journal, _ = run_method(AtaSecurityErase(enhanced=True), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert outcome.verification is not None
        assert outcome.verification.canaries_written > 0
        assert outcome.verification.canaries_surviving == 0
        assert surviving_sectors(path, SERIAL) == 0
        assert not emu.enabled
        assert not emu.locked
        assert JOURNAL_PASSWORD not in journal  # the drive no longer holds it
        assert len(calls_with(runner.calls, "--security-erase-enhanced")) == 1

    def test_flash_is_clear_hdd_enhanced_is_purge(self, tmp_path: Path) -> None:
        """Enhanced erase earns Purge on an HDD, only Clear on an SSD (NIST r1 A-5/A-8)."""
        path, _, runner = rig(tmp_path)
        ssd, _, _ = run_method(AtaSecurityErase(enhanced=True), path, runner)
        hdd, _, _ = run_method(AtaSecurityErase(enhanced=True), path, runner, rotational=True)
        normal, _, _ = run_method(AtaSecurityErase(), path, runner, rotational=True)
        assert ssd.nist_category is NistCategory.CLEAR
        assert hdd.nist_category is NistCategory.PURGE
        assert normal.nist_category is NistCategory.CLEAR

    def test_password_never_recorded_or_logged(self, tmp_path: Path) -> None:
        """hdparm echoes the password; every record and log line has it redacted."""
        path, _, runner = rig(tmp_path)
        outcome, _, logs = run_method(AtaSecurityErase(), path, runner)
        sent = next(c for c in runner.calls if "--security-set-pass" in c)
        password = sent[sent.index("--security-set-pass") + 1]
        assert PASSWORD_RE.fullmatch(password)
        text = (
            " ".join(" ".join(r.argv) + r.stdout_tail + r.stderr_tail for r in outcome.commands)
            + " ".join(logs)
            + outcome.reason
            + str(outcome.details)
        )
        assert password not in text
        assert REDACTED in text

    def test_frozen_drive_refused_with_instruction(self, tmp_path: Path) -> None:
        """A frozen drive gets the bench instruction and no security command at all."""
        path, _, runner = rig(tmp_path, frozen=True)
        outcome, _, _ = run_method(AtaSecurityErase(enhanced=True), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert outcome.reason == FROZEN_INSTRUCTION
        assert "rtcwake -m mem" in outcome.reason
        assert not [c for c in runner.calls if any(a.startswith("--security") for a in c)]
        assert surviving_sectors(path, SERIAL) == SECTORS

    def test_drive_that_skips_the_erase_fails(self, tmp_path: Path) -> None:
        """Firmware that reports success but erases nothing is caught by the canaries."""
        path, _, runner = rig(tmp_path, skips_erase=True)
        outcome, _, _ = run_method(AtaSecurityErase(enhanced=True), path, runner)
        assert outcome.status is OutcomeStatus.FAILED
        assert not outcome.verified
        assert "canaries survived" in outcome.reason
        assert outcome.verification is not None
        assert outcome.verification.canaries_surviving == outcome.verification.canaries_written

    def test_qemu_disk_never_attempted_from_its_probe(self, tmp_path: Path) -> None:
        """QEMU's AHCI disk advertises no security set: the erase is never sent."""
        path, _, runner = rig(tmp_path, lies=True)
        outcome, _, _ = run_method(AtaSecurityErase(), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert not calls_with(runner.calls, "--security-erase")

    def test_qemu_disk_with_stale_capabilities_ends_failed(self, tmp_path: Path) -> None:
        """Told it supports security, QEMU's disk prints success and the job ends FAILED."""
        path, _, honest = rig(tmp_path)
        good_caps = probe(simulated(path, Transport.SATA), honest)
        qemu = AtaDriveEmulator(path, SERIAL, device=str(path), lies=True)
        runner = EmulatedRunner({str(path): qemu})
        outcome, journal, _ = run_method(AtaSecurityErase(), path, runner, caps=good_caps)
        assert outcome.status is OutcomeStatus.FAILED
        assert "does not show security enabled" in outcome.reason
        assert not outcome.verified
        assert not calls_with(runner.calls, "--security-erase")
        planted = CanarySet.from_json(str(journal["canaries"]))
        assert surviving_sectors(path, SERIAL) == SECTORS - 8 * len(planted.offsets)  # untouched
        assert JOURNAL_PASSWORD not in journal

    def test_interrupted_erase_recovered_in_the_same_run(self, tmp_path: Path) -> None:
        """Power loss mid-erase leaves it locked; the erase is re-issued with the same password."""
        path, emu, runner = rig(tmp_path)
        emu.interrupt_next_erase = True
        outcome, _, logs = run_method(AtaSecurityErase(), path, runner)
        erases = calls_with(runner.calls, "--security-erase")
        assert len(erases) == 2
        assert erases[0] == erases[1]
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert not emu.locked
        assert not emu.enabled
        assert any("re-issuing" in line for line in logs)

    def test_locked_drive_recovered_after_restart(self, tmp_path: Path) -> None:
        """After a restart the journal's password and canaries finish the interrupted job."""
        path, emu, runner = rig(tmp_path)
        drive = simulated(path, Transport.SATA)
        journal: dict[str, object] = {JOURNAL_PASSWORD: "sanfeedfacecafebeef"}
        with claimed(drive) as held:
            plant_canaries(context(drive, held, runner, journal=journal))
        runner.run(("hdparm", "--user-master", "u", "--security-set-pass",
                    "sanfeedfacecafebeef", str(path)))  # fmt: skip
        emu.interrupt_next_erase = True
        runner.run(("hdparm", "--user-master", "u", "--security-erase",
                    "sanfeedfacecafebeef", str(path)))  # fmt: skip
        emu.power_cycle()
        locked_after_power_cycle = emu.locked  # not narrowing emu.locked: run_method changes it
        assert locked_after_power_cycle
        outcome, journal, _ = run_method(AtaSecurityErase(), path, runner, journal=journal)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert not emu.locked
        assert JOURNAL_PASSWORD not in journal
        assert surviving_sectors(path, SERIAL) == 0
        assert len(calls_with(runner.calls, "--security-set-pass")) == 1  # ours, before restart

    def test_locked_by_someone_else_refused(self, tmp_path: Path) -> None:
        """A drive locked with a password this job does not hold is refused with the way out."""
        path, emu, runner = rig(tmp_path)
        runner.run(("hdparm", "--user-master", "u", "--security-set-pass", "owner", str(path)))
        emu.power_cycle()
        outcome, _, _ = run_method(AtaSecurityErase(), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert outcome.reason == LOCKED_REASON

    def test_not_advertised_never_sent(self, tmp_path: Path) -> None:
        """Without the security feature set, or without enhanced erase, nothing is sent."""
        path, _, runner = rig(tmp_path, security=False)
        outcome, _, _ = run_method(AtaSecurityErase(), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        other = tmp_path / "other"
        other.mkdir()
        path2, _, runner2 = rig(other, enhanced_erase=False)
        enhanced, _, _ = run_method(AtaSecurityErase(enhanced=True), path2, runner2)
        assert "enhanced security erase is not advertised" in enhanced.reason
        for calls in (runner.calls, runner2.calls):
            assert not [c for c in calls if any(a.startswith("--security") for a in c)]

    def test_usb_bridge_refused(self, tmp_path: Path) -> None:
        """ATA security is never sent through a USB bridge (§1.5, §9 #11)."""
        path, _, runner = rig(tmp_path)
        caps = probe(simulated(path, Transport.SATA), runner)
        usb = simulated(path, Transport.USB)
        assert AtaSecurityErase().unavailable(usb, replace(caps, transport=Transport.USB)) == (
            USB_REASON
        )


class TestSanitize:
    """ATA SANITIZE with --sanitize-status polling."""

    @pytest.mark.parametrize("action", ["crypto", "block", "overwrite"])
    def test_each_action_sanitises(self, tmp_path: Path, action: str) -> None:
        """Start, poll until SD0 + Completed Without Error, canaries gone, file rewritten."""
        path, _, runner = rig(tmp_path)
        outcome, _, _ = run_method(AtaSanitize(action), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert surviving_sectors(path, SERIAL) == 0
        assert len(calls_with(runner.calls, "--sanitize-status")) >= 4  # 1 before, 3+ polls
        if action == "overwrite":
            assert path.read_bytes() == bytes(8 * MIB)
            assert dict(outcome.details)["pattern_verify"] == "sampled passed"

    def test_overwrite_category_depends_on_media(self, tmp_path: Path) -> None:
        """Sanitize overwrite is Purge on an HDD, Clear on flash; block erase is Purge."""
        method = AtaSanitize("overwrite")
        ssd = simulated(lab_file(tmp_path, "SIM-A"), Transport.SATA)
        hdd = replace(ssd, rotational=True)
        assert method.category_for(ssd) is NistCategory.CLEAR
        assert method.category_for(hdd) is NistCategory.PURGE
        assert AtaSanitize("block").category_for(ssd) is NistCategory.PURGE

    def test_sd3_failure_is_failed(self, tmp_path: Path) -> None:
        """A sanitize ending in SD3 is FAILED, whatever the start command said."""
        path, emu, runner = rig(tmp_path)
        emu.fail_next_sanitize = True
        outcome, _, _ = run_method(AtaSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.FAILED
        assert "SD3" in outcome.reason
        assert calls_with(runner.calls, "--sanitize-block-erase")[0]

    def test_running_sanitize_is_polled_not_restarted(self, tmp_path: Path) -> None:
        """A sanitize found in SD2 at start (after a restart) is polled to the end."""
        path, emu, runner = rig(tmp_path, polls_per_sanitize=5)
        drive = simulated(path, Transport.SATA)
        journal: dict[str, object] = {}
        with claimed(drive) as held:
            plant_canaries(context(drive, held, runner, journal=journal))
        runner.run(("hdparm", "--yes-i-know-what-i-am-doing", "--sanitize-crypto-scramble",
                    str(path)))  # fmt: skip
        assert emu.sanitize_running == "crypto"
        outcome, _, logs = run_method(AtaSanitize("crypto"), path, runner, journal=journal)
        assert len(calls_with(runner.calls, "--sanitize-crypto-scramble")) == 1
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert outcome.verified
        assert dict(outcome.details)["resumed"] == "yes"
        assert any("already in progress" in line for line in logs)

    def test_sanitize_frozen_refused(self, tmp_path: Path) -> None:
        """SD1 Sanitize Frozen gets the bench instruction and no start command."""
        path, _, runner = rig(tmp_path, sanitize_frozen=True)
        outcome, _, _ = run_method(AtaSanitize("crypto"), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert outcome.reason.startswith(FROZEN_INSTRUCTION)
        assert not calls_with(runner.calls, "--sanitize-crypto-scramble")

    def test_unadvertised_action_never_sent(self, tmp_path: Path) -> None:
        """A drive with only overwrite gets no block erase or crypto scramble."""
        path, _, runner = rig(tmp_path, sanitize=("overwrite",))
        for action in ("block", "crypto"):
            outcome, _, _ = run_method(AtaSanitize(action), path, runner)
            assert outcome.status is OutcomeStatus.REFUSED
            assert "not advertised" in outcome.reason
        assert not calls_with(runner.calls, "--sanitize-block-erase")
        assert not calls_with(runner.calls, "--sanitize-crypto-scramble")
        assert not calls_with(runner.calls, "--sanitize-status")

    def test_drive_that_skips_sanitize_fails(self, tmp_path: Path) -> None:
        """SD0 + Completed Without Error but untouched data: FAILED by the canaries."""
        path, _, runner = rig(tmp_path, skips_erase=True)
        outcome, _, _ = run_method(AtaSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.FAILED
        assert "canaries survived" in outcome.reason


class TestHiddenAreasFirst:
    """HPA and DCO are removed before the method, and the Outcome says so."""

    def test_hpa_and_dco_removed_before_security_erase(self, tmp_path: Path) -> None:
        """The hidden tail is restored, then erased with the rest; hpa_dco tells the story."""
        path, emu, runner = rig(tmp_path, extra_sectors=64, hpa=128, dco=64)
        assert emu.visible_sectors == SECTORS - 128
        outcome, _, _ = run_method(AtaSecurityErase(enhanced=True), path, runner)
        assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
        assert "HPA hid 128 sectors" in outcome.hpa_dco
        assert "DCO hid 64 sectors" in outcome.hpa_dco
        assert "HPA removed" in outcome.hpa_dco
        assert "DCO restored" in outcome.hpa_dco
        set_pass = runner.calls.index(calls_with(runner.calls, "--security-set-pass")[0])
        assert runner.calls.index(calls_with(runner.calls, "--dco-restore")[0]) < set_pass
        assert emu.visible_sectors == emu.native_sectors == SECTORS + 64
        assert surviving_sectors(path, SERIAL) == 0  # including the formerly hidden tail

    def test_unremovable_dco_refuses_the_method(self, tmp_path: Path) -> None:
        """A frozen DCO cannot be restored: the erase is not attempted."""
        path, emu, runner = rig(tmp_path, extra_sectors=64, dco=64)
        emu.dco_frozen = True
        outcome, _, _ = run_method(AtaSanitize("block"), path, runner)
        assert outcome.status is OutcomeStatus.REFUSED
        assert "DCO could not be restored" in outcome.reason
        assert "DCO hid 64 sectors" in outcome.hpa_dco
        assert not calls_with(runner.calls, "--sanitize-block-erase")


@pytest.mark.parametrize(
    "technique",
    [t for t in Technique if t.value.startswith("ata-")],
)
def test_guard_is_required(tmp_path: Path, technique: Technique) -> None:
    """A protected drive (its file is swap) gets no Claim, so the method never runs."""
    path, _, runner = rig(tmp_path)
    drive = simulated(path, Transport.SATA)
    swapping = SystemState(swaps=(Swap(path=str(path), kind="file"),))
    with pytest.raises(DriveBusyError):
        claim(drive, drive, lab_files(drive), state_reader=lambda: swapping)
    assert method_for(technique).technique is technique
    assert runner.calls == []
    assert surviving_sectors(path, SERIAL) == SECTORS
