"""The same donor boots from the USB image (a usb-storage drive of the guest, no -kernel): the
stick's syslinux loads the image, /init finds the stick by its label, names it as the boot
device (the agent's guard must never touch it), and the self-test's report is both on the
console and written back to the stick (where the offline agent keeps its evidence)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sanitiser.netboot.build import BuildResult
from tests.lab import donor

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

PARTITION = "@@1M"  # mtools: the FAT partition starts 1 MiB into the image


@pytest.fixture(scope="module")
def usb_boot(
    netboot_image: BuildResult, tmp_path_factory: pytest.TempPathFactory
) -> tuple[donor.Boot, Path]:
    """One boot of the donor from a copy of the USB image with a 'selftest' file on it."""
    assert netboot_image.usb is not None
    workdir = tmp_path_factory.mktemp("usb")
    donor.prepare(workdir)
    stick = workdir / "stick.img"
    shutil.copyfile(netboot_image.usb, stick)
    flag = workdir / "selftest"
    flag.write_text("")
    subprocess.run(
        ["mcopy", "-i", f"{stick}{PARTITION}", str(flag), "::/sanitiser/selftest"], check=True
    )
    boot = donor.boot(donor.donor_argv(workdir, donor.usb_stick(stick)), workdir)
    print(f"USB boot to powered off: {boot.seconds:.0f} s")
    assert not boot.timed_out, boot.console[-4000:]
    return boot, stick


def test_usb_boot_reports_the_donor_and_its_drives(usb_boot: tuple[donor.Boot, Path]) -> None:
    """The report names the firmware serial, both drives and the stick itself."""
    boot, _ = usb_boot
    report: dict[str, Any] = boot.selftest()
    assert report["inventory"]["system"]["serial"] == "NB-SN-0042"
    drives = donor.drives_by_serial(report)
    assert drives[donor.NVME_SERIAL]["transport"] == "nvme"
    assert drives[donor.SATA_SERIAL]["transport"] == "sata"
    assert drives["NBSTICK01"]["transport"] == "usb"


def test_stick_is_named_as_the_boot_device(usb_boot: tuple[donor.Boot, Path]) -> None:
    """/init names the stick's disk for the guard, and the report it wrote is on the stick."""
    boot, stick = usb_boot
    report = boot.selftest()
    stick_path = donor.drives_by_serial(report)["NBSTICK01"]["path"]
    assert f"boot device: {stick_path}" in boot.console
    written = subprocess.run(
        ["mtype", "-i", f"{stick}{PARTITION}", "::/sanitiser/selftest.json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(written) == report
