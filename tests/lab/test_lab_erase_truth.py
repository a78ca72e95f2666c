"""What the emulated drives really do when told to erase, checked on the host's backing files.

Pinned for issue 3: an NVMe Format (SES=1) really zeroes the medium, while an ATA SECURITY ERASE
on QEMU's AHCI disk exits 0 and erases nothing (QEMU has no ATA Security feature set). Exit
status is not proof; the sanitisation methods must probe capabilities and read back.
"""

from __future__ import annotations

import pytest

from tests.lab.drivelab import DriveSpec, ImageVerdict, LabPlan, LabRun

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

LAB_PLAN = LabPlan(
    drives=(
        DriveSpec("nvme", "LABNVME1", 32),
        DriveSpec("sata", "LABSATA1", 32, model="LabSATA", extra="rotation_rate=1"),
    ),
    steps={
        "nvme-format": 'nvme format "$(dev LABNVME1)" --ses=1 --force',
        "ata-set-pass": 'hdparm --user-master u --security-set-pass p "$(dev LABSATA1)"',
        "ata-erase": 'hdparm --user-master u --security-erase p "$(dev LABSATA1)"',
    },
    timeout=240,
    step_timeout=90,
)


def test_nvme_format_ses1_zeroes_the_medium(lab_run: LabRun) -> None:
    """nvme format --ses=1 succeeds and the backing file is all zeros afterwards."""
    step = lab_run.step("nvme-format")
    assert step.rc == 0, step.err
    assert "Success formatting namespace" in step.out
    state = lab_run.image_state("LABNVME1")
    assert state.verdict is ImageVerdict.ZEROED, state


def test_ata_security_erase_claims_success_but_erases_nothing(lab_run: LabRun) -> None:
    """hdparm --security-erase exits 0 on QEMU's AHCI disk, yet every block keeps its pattern."""
    assert lab_run.step("ata-set-pass").rc == 0
    step = lab_run.step("ata-erase")
    assert step.rc == 0, step.err
    assert "Issuing SECURITY_ERASE command" in step.out
    state = lab_run.image_state("LABSATA1")
    assert state.verdict is ImageVerdict.UNTOUCHED, state
