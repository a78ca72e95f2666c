"""The lab runner: every simulated bench drive probes and sanitises through its emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sanitiser.devices.guard import SystemState, claim
from sanitiser.devices.probing import probe
from sanitiser.domain import Drive, NistCategory, OutcomeStatus
from sanitiser.lab.bench import PATTERN_MAGIC, LabBench, LabKind
from sanitiser.lab.runner import emulator_for, lab_runner, reset_lab_emulators
from sanitiser.methods.base import MethodContext
from sanitiser.methods.registry import method_for
from sanitiser.probe.capabilities import Technique

EXPECTED = {
    LabKind.SATA_HDD: ("ata-sanitize-overwrite", "ata-security-erase-enhanced",
                       "ata-security-erase", "host-overwrite"),
    LabKind.SATA_SSD: ("ata-sanitize-crypto", "ata-sanitize-block", "ata-security-erase-enhanced",
                       "ata-security-erase", "host-overwrite"),
    LabKind.NVME: ("nvme-sanitize-crypto", "nvme-sanitize-block", "nvme-format-crypto",
                   "nvme-format-user-data", "host-overwrite"),
    LabKind.USB_FLASH: ("host-overwrite",),
    LabKind.USB_HDD: ("host-overwrite",),
}  # fmt: skip


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabBench]:
    """A fresh 4 MiB-per-drive bench; emulator state is reset around the test."""
    reset_lab_emulators()
    yield LabBench(tmp_path / "data", drive_mib=4)
    reset_lab_emulators()


def by_kind(lab: LabBench, kind: LabKind) -> Drive:
    """The bench's drive of `kind`."""
    return next(d for d in lab.drives() if d.name.startswith(f"lab-{kind.value}"))


def test_each_kind_advertises_what_its_hardware_would(lab: LabBench) -> None:
    """The probe through the lab runner finds the techniques each kind's real drive has."""
    runner = lab_runner(lab)
    for kind, expected in EXPECTED.items():
        caps = probe(by_kind(lab, kind), runner)
        assert tuple(t.value for t in caps.usable) == expected, kind


@pytest.mark.parametrize("kind", list(LabKind))
def test_best_technique_really_sanitises(lab: LabBench, kind: LabKind) -> None:
    """The first usable technique runs through the same method code; the file is erased."""
    runner = lab_runner(lab)
    drive = by_kind(lab, kind)
    caps = probe(drive, runner)
    technique = caps.usable[0]
    with claim(drive, drive, lab.backend, state_reader=SystemState) as held:
        ctx = MethodContext(drive=drive, claim=held, runner=runner, capabilities=caps,
                            poll_interval=0.0)  # fmt: skip
        outcome = method_for(technique).run(ctx)
    assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
    assert outcome.verified
    assert PATTERN_MAGIC not in Path(drive.path).read_bytes()
    usb = kind in (LabKind.USB_FLASH, LabKind.USB_HDD)
    assert outcome.nist_category is (NistCategory.CLEAR if usb else NistCategory.PURGE)


def test_usb_drives_refuse_firmware_commands(lab: LabBench) -> None:
    """A stick and a bridged HDD fail hdparm, SANITIZE and FORMAT UNIT as real ones do."""
    runner = lab_runner(lab)
    for kind in (LabKind.USB_FLASH, LabKind.USB_HDD):
        path = by_kind(lab, kind).path
        assert runner.run(("hdparm", "--Istdout", path)).returncode != 0
        assert runner.run(("sg_sanitize", "--block", "--quick", "--early", path)).returncode == 9
        assert runner.run(("sg_format", "--format", "--quick", path)).returncode == 9
        assert runner.run(("sg_inq", path)).returncode == 0


def test_never_runs_a_real_tool(lab: LabBench) -> None:
    """A command naming no lab drive is refused: --lab cannot touch a real device."""
    runner = lab_runner(lab)
    res = runner.run(("hdparm", "--security-erase", "x", "/dev/sda"))
    assert res.returncode == 2
    assert "no simulated drive" in res.stderr


def test_smartctl_answered_from_the_bench(lab: LabBench) -> None:
    """smartctl goes to LabBench.smartctl."""
    drive = by_kind(lab, LabKind.NVME)
    res = lab_runner(lab).run(("smartctl", "-j", "-a", drive.path))
    assert res.returncode == 0
    assert drive.serial in res.stdout


def test_state_is_per_process_and_shared(lab: LabBench) -> None:
    """Two runners share a drive's state (same process); a reset is a power cycle."""
    drive = by_kind(lab, LabKind.SATA_SSD)
    first, second = lab_runner(lab), lab_runner(lab)
    first.run(("hdparm", "--user-master", "u", "--security-set-pass", "pw", drive.path))
    caps = probe(drive, second)
    assert caps.ata is not None
    assert caps.ata.security_enabled
    assert emulator_for(drive) is emulator_for(drive)
    reset_lab_emulators()
    fresh = probe(drive, second)
    assert fresh.ata is not None
    assert not fresh.ata.security_enabled
    assert Technique.ATA_SECURITY_ERASE in fresh.usable
