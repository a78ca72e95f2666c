"""The same donor boots from the USB image (a usb-storage drive of the guest, no -kernel), once
with BIOS firmware (the stick's syslinux) and once with UEFI firmware enforcing Secure Boot
with Microsoft's keys, as laptops ship (the stick's signed shim, then Debian's signed GRUB and
kernel): /init finds the stick by its label, names it as the boot device (the agent's guard
must never touch it), and the self-test's report is both on the console and written back to
the stick (where the offline agent keeps its evidence)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sanitiser.netboot.build import BuildResult
from tests.lab import donor

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

PARTITION = "@@1M"  # mtools: the FAT partition starts 1 MiB into the image


@dataclass(frozen=True)
class UsbBoot:
    boot: donor.Boot
    stick: Path
    firmware: donor.Firmware


@pytest.fixture(scope="module", params=[donor.Firmware.BIOS, donor.Firmware.UEFI_SECURE_BOOT])
def usb_boot(
    netboot_image: BuildResult,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> UsbBoot:
    """One boot of the donor from a copy of the USB image with a 'selftest' file on it, per
    firmware."""
    assert netboot_image.usb is not None
    firmware: donor.Firmware = request.param
    workdir = tmp_path_factory.mktemp(f"usb-{firmware.value}")
    donor.prepare(workdir)
    stick = workdir / "stick.img"
    shutil.copyfile(netboot_image.usb, stick)
    flag = workdir / "selftest"
    flag.write_text("")
    subprocess.run(
        ["mcopy", "-i", f"{stick}{PARTITION}", str(flag), "::/sanitiser/selftest"], check=True
    )
    argv = donor.donor_argv(workdir, donor.usb_stick(stick), firmware=firmware)
    boot = donor.boot(argv, workdir)
    print(f"USB boot ({firmware.value}) to powered off: {boot.seconds:.0f} s")
    assert not boot.timed_out, boot.console[-4000:]
    return UsbBoot(boot, stick, firmware)


def test_usb_boot_reports_the_donor_and_its_drives(usb_boot: UsbBoot) -> None:
    """The report names the firmware serial, both drives and the stick itself."""
    boot = usb_boot.boot
    report: dict[str, Any] = boot.selftest()
    assert report["inventory"]["system"]["serial"] == "NB-SN-0042"
    drives = donor.drives_by_serial(report)
    assert drives[donor.NVME_SERIAL]["transport"] == "nvme"
    assert drives[donor.SATA_SERIAL]["transport"] == "sata"
    assert drives["NBSTICK01"]["transport"] == "usb"


def test_the_firmware_booted_the_stick_as_asked(usb_boot: UsbBoot) -> None:
    """The report's Secure Boot state is the firmware's: on with UEFI Secure Boot (so the
    firmware verified shim, shim verified GRUB, GRUB verified the kernel: an unsigned link
    would have stopped the boot), and no UEFI at all under BIOS."""
    boot = usb_boot.boot
    state = boot.selftest()["inventory"]["secure_boot"]
    expected = {"bios": "unsupported", "uefi-secure-boot": "enabled"}
    assert state == expected[usb_boot.firmware.value], boot.console[-3000:]


def test_stick_is_named_as_the_boot_device(usb_boot: UsbBoot) -> None:
    """/init names the stick's disk for the guard, and the report it wrote is on the stick."""
    boot, stick = usb_boot.boot, usb_boot.stick
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
