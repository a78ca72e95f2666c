"""A donor guest for the network-boot tests: a QEMU machine with firmware identity
(``-smbios``), an NVMe and a SATA drive, and **no** ``-kernel``/``-initrd``: it boots through its
PXE ROM (iPXE, ``pxe-e1000.rom`` from ipxe-qemu) or from a USB stick image, like a real laptop.

The boot image's self-test (``sanitiser.selftest=inventory``, or a ``selftest`` file on the
stick) prints the host report between markers on the serial console and powers off;
`Donor.boot` waits for QEMU to exit (a generous bound, killed after it) and `selftest` reads the
report back.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from sanitiser.netboot.texts import SELFTEST_BEGIN, SELFTEST_END
from tests.lab.drivelab import detect_accel, fill_image, run_qemu

PXE_ROM = Path("/usr/lib/ipxe/qemu/pxe-e1000.rom")
EFI_PXE_ROM = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")
"""iPXE for the e1000 card as BIOS and UEFI drivers in one ROM (ipxe-qemu)."""
SMBIOS = "type=1,manufacturer=SanitiserLab,product=NetBook 13,serial=NB-SN-0042"
NVME_SERIAL = "NBNVME01"
SATA_SERIAL = "NBSATA01"
BOOT_TIMEOUT = 600.0
"""Seconds before a guest that has not powered off is killed (TCG on a shared machine)."""


@dataclass(frozen=True, slots=True)
class Boot:
    """One finished guest run."""

    rc: int
    console: str
    seconds: float
    timed_out: bool

    def selftest(self) -> dict[str, Any]:
        """The host report between the self-test markers (fails with the console's tail)."""
        start = self.console.find(SELFTEST_BEGIN)
        end = self.console.find(SELFTEST_END, start)
        if start < 0 or end < 0:
            raise AssertionError(f"no self-test report on the console:\n{self.console[-4000:]}")
        status = self.console[end:].split("\n", 1)[0]
        assert status.strip() == f"{SELFTEST_END} rc=0", self.console[-4000:]
        return json.loads(self.console[start + len(SELFTEST_BEGIN) : end])  # type: ignore[no-any-return]


class Firmware(Enum):
    """The donor's firmware."""

    BIOS = "bios"
    UEFI = "uefi"
    UEFI_SECURE_BOOT = "uefi-secure-boot"


OVMF_DIR = Path("/usr/share/OVMF")
"""Debian's ovmf package: UEFI firmware for QEMU, with a Secure Boot build (SMM) and a variable
store that has Microsoft's keys enrolled and Secure Boot on (the ``.ms`` files)."""


def uefi_firmware(workdir: Path, firmware: Firmware) -> list[str]:
    """The pflash drives of UEFI `firmware` (none for BIOS: QEMU's SeaBIOS), each guest with
    its own copy of the variable store."""
    if firmware is Firmware.BIOS:
        return []
    if not OVMF_DIR.is_dir():
        raise AssertionError(f"UEFI needs {OVMF_DIR}: run scripts/install-system.sh --test")
    secure = firmware is Firmware.UEFI_SECURE_BOOT
    code, variables = (
        ("OVMF_CODE_4M.ms.fd", "OVMF_VARS_4M.ms.fd")
        if secure
        else ("OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd")
    )
    store = workdir / "efivars.fd"
    shutil.copyfile(OVMF_DIR / variables, store)
    return [
        *("-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_DIR / code}"),
        *("-drive", f"if=pflash,format=raw,unit=1,file={store}"),
        *(("-global", "driver=cfi.pflash01,property=secure,value=on") if secure else ()),
    ]


def donor_argv(
    workdir: Path,
    boot_args: Sequence[str],
    *,
    memory_mb: int = 1024,
    sata_bps: int = 0,
    console: Path | None = None,
    firmware: Firmware = Firmware.BIOS,
) -> list[str]:
    """The guest's command line: q35, NVMe + SATA drives, identity, `boot_args` (network or
    stick), and no -kernel/-initrd/9p. `sata_bps` caps the SATA drive's writes (bytes per
    second; 0: no cap), so that an erase of it is surely still running when a test cuts in;
    `console` makes the serial console a UNIX socket the test can type on; `firmware` is
    SeaBIOS or UEFI (OVMF, with Secure Boot on or off)."""
    throttle = f",throttling.bps-write={sata_bps}" if sata_bps else ""
    serial = ["-serial", f"file:{workdir / 'console.log'}"]
    if console is not None:  # a console the test can also type on (a UNIX socket), logged too
        chardev = (
            f"socket,id=con,path={console},server=on,wait=off,logfile={workdir / 'console.log'}"
        )
        serial = ["-chardev", chardev, "-serial", "chardev:con"]
    accel = detect_accel()
    machine = "q35,smm=on" if firmware is Firmware.UEFI_SECURE_BOOT else "q35"
    return [
        "qemu-system-x86_64",
        *("-accel", accel, "-machine", machine, "-cpu", "max" if accel == "tcg" else "host"),
        *uefi_firmware(workdir, firmware),
        *("-smp", "2", "-m", str(memory_mb), "-nodefaults", "-display", "none", "-no-reboot"),
        *serial,
        *("-smbios", SMBIOS),
        *("-drive", f"file={workdir / 'nvme.img'},if=none,id=dn,format=raw"),
        *("-device", f"nvme,drive=dn,serial={NVME_SERIAL}"),
        *("-drive", f"file={workdir / 'sata.img'},if=none,id=ds,format=raw{throttle}"),
        *("-device", f"ide-hd,drive=ds,bus=ide.1,serial={SATA_SERIAL}"),
        *boot_args,
    ]


def pxe_user_net(tftp_root: Path, bootfile: str, firmware: Firmware = Firmware.BIOS) -> list[str]:
    """Network boot on QEMU's user networking: its DHCP names `bootfile`, its TFTP serves
    `tftp_root`, and the host is 10.0.2.2; the card's iPXE ROM is the one for `firmware`."""
    rom = PXE_ROM if firmware is Firmware.BIOS else EFI_PXE_ROM
    return [
        *("-netdev", f"user,id=n0,tftp={tftp_root},bootfile={bootfile}"),
        *("-device", f"e1000,netdev=n0,romfile={rom},bootindex=1"),
    ]


def pxe_tap(tap: str, mac: str = "52:54:00:5a:4e:01") -> list[str]:
    """Network boot on a tap interface (a bridge the test made)."""
    return [
        *("-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no"),
        *("-device", f"e1000,netdev=n0,mac={mac},romfile={PXE_ROM},bootindex=1"),
    ]


def uefi_pxe_tap(tap: str, mac: str = "52:54:00:5a:4e:02") -> list[str]:
    """Network boot on a tap interface by the firmware's own UEFI PXE (OVMF's virtio-net and
    PXE drivers; the card has no iPXE ROM): an ordinary PXE client, which must be given iPXE
    (``ipxe.efi``) first."""
    return [
        *("-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no"),
        *("-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1"),
    ]


def usb_stick(image: Path) -> list[str]:
    """Boot from `image` as a USB stick (usb-storage on xHCI), no network card."""
    return [
        *("-device", "qemu-xhci,id=xhci0"),
        *("-drive", f"file={image},if=none,id=stick,format=raw"),
        *("-device", "usb-storage,bus=xhci0.0,drive=stick,serial=NBSTICK01,bootindex=0"),
    ]


def prepare(workdir: Path) -> None:
    """The donor's drives, filled with the lab's pattern."""
    workdir.mkdir(parents=True, exist_ok=True)
    fill_image(workdir / "nvme.img", 64)
    fill_image(workdir / "sata.img", 48)


def boot(argv: Sequence[str], workdir: Path, timeout: float = BOOT_TIMEOUT) -> Boot:
    """Run the guest until it powers off (or kill it after `timeout`)."""
    assert "-kernel" not in argv
    assert "-initrd" not in argv
    rc, seconds, timed_out = run_qemu(argv, workdir / "qemu.log", timeout)
    console = (workdir / "console.log").read_text(errors="replace")
    qemu_log = (workdir / "qemu.log").read_text(errors="replace").strip()
    if qemu_log:
        console += f"\n[qemu rc={rc}] {qemu_log}"
    return Boot(rc, console, seconds, timed_out)


def drives_by_serial(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The report's drives keyed by serial."""
    return {d["serial"]: d for d in report["drives"]}
