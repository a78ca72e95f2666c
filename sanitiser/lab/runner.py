"""A CommandRunner for the simulated bench: each lab drive answers through a matching emulator.

With ``make run --lab`` the same probe and the same methods as on real hardware run against the
lab's backing files, so a lab drive can really be sanitised (and its file really erased):

=========  ==================================================================================
kind       what answers
=========  ==================================================================================
sata-hdd   `AtaDriveEmulator`: ATA security with enhanced erase, SANITIZE OVERWRITE only (an HDD
           has no block or crypto erase unless it is self-encrypting)
sata-ssd   `AtaDriveEmulator`: ATA security with enhanced erase, SANITIZE CRYPTO SCRAMBLE and
           BLOCK ERASE, as real SATA SSDs advertise
nvme       `NvmeDriveEmulator`: Format NVM (SES 1 and 2), sanicap crypto + block erase
usb-flash  a stick's own controller: INQUIRY and READ CAPACITY answer; hdparm, SANITIZE and
           FORMAT UNIT fail as they do on a real stick (host overwrite only)
usb-hdd    an HDD behind a bridge whose ATA pass-through fails (hdparm gets bad sense data and an
           error), so only Clear is possible, as on many cheap enclosures
=========  ==================================================================================

``smartctl`` is answered by `LabBench.smartctl`. A command naming no lab drive is refused (rc 2):
the lab runner never runs a real tool, so ``--lab`` cannot touch a real device.

Emulator state (passwords, frozen, a running sanitize) lives **per process**: a module-level
registry keyed by the backing file's real path, shared by every `lab_runner` in the process (so
the probe and the method of one job see the same drive state), and lost on restart — after a
restart the drives come back unlocked and idle, as after a power cycle. The medium itself is the
backing file and survives. `reset_lab_emulators` clears the registry (tests).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sanitiser.domain import Drive
from sanitiser.emulators import DeviceEmulator, EmulatedRunner, result, tool_name
from sanitiser.emulators.ata import QEMU_SENSE, AtaDriveEmulator
from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.emulators.scsi import ScsiDriveEmulator
from sanitiser.lab.bench import LabBench, LabKind, lab_kind
from sanitiser.runner import CommandResult, CommandRunner

NVME_SANICAP = 0x3
"""Crypto erase + block erase."""
NVME_FNA = 0x4
"""Crypto erase supported as a Format SES."""

_lock = threading.Lock()
_emulators: dict[str, DeviceEmulator] = {}


def reset_lab_emulators() -> None:
    """Forget every lab emulator's state in this process (as if every drive power-cycled)."""
    with _lock:
        _emulators.clear()


@dataclass
class UsbEmulator:
    """A USB device with no ATA pass-through: sg_* answer as `scsi`, hdparm fails."""

    device: str
    scsi: ScsiDriveEmulator
    bridge: bool
    """True for a drive behind a bridge (hdparm sees bad sense data), False for a stick."""

    def handle(self, argv: tuple[str, ...]) -> CommandResult | None:
        """Answer one command addressed to the device."""
        tool = tool_name(argv)
        if tool == "hdparm":
            if self.bridge:
                return result(argv, 52, "", QEMU_SENSE + " HDIO_DRIVE_CMD(identify) failed: "
                              "Invalid exchange\n")  # fmt: skip
            return result(
                argv, 22, f"\n{self.device}:\n",
                " HDIO_DRIVE_CMD(identify) failed: Invalid argument\n",
            )  # fmt: skip
        if tool == "nvme":
            return result(argv, 1, "", f"{self.device}: not an NVMe device\n")
        return self.scsi.handle(argv)


def _make(drive: Drive, kind: LabKind) -> DeviceEmulator:
    path = drive.path
    if kind is LabKind.SATA_HDD:
        return AtaDriveEmulator(
            path, drive.serial, drive.model, device=path, firmware=drive.firmware,
            sanitize=("overwrite",), erase_minutes=(2, 2),
        )  # fmt: skip
    if kind is LabKind.SATA_SSD:
        return AtaDriveEmulator(
            path, drive.serial, drive.model, device=path, firmware=drive.firmware,
            sanitize=("crypto", "block"),
        )  # fmt: skip
    if kind is LabKind.NVME:
        return NvmeDriveEmulator(
            path, drive.serial, drive.model, controller=path, namespace=path,
            firmware=drive.firmware, sanicap=NVME_SANICAP, fna=NVME_FNA,
        )  # fmt: skip
    scsi = ScsiDriveEmulator(
        path, drive.serial, device=path, vendor="SIMULATD", product=drive.model[:16],
        sanitize=(), format_unit=False, rsoc=False,
    )  # fmt: skip
    return UsbEmulator(path, scsi, bridge=kind is LabKind.USB_HDD)


def emulator_for(drive: Drive) -> DeviceEmulator | None:
    """The process-wide emulator of a simulated drive (made on first use), or None."""
    kind = lab_kind(drive)
    if kind is None:
        return None
    key = os.path.realpath(drive.path)
    with _lock:
        emulator = _emulators.get(key)
        if emulator is None:
            emulator = _make(drive, kind)
            _emulators[key] = emulator
        return emulator


@dataclass
class LabRunner:
    """Routes each command to the emulator of the lab drive it names; see the module doc."""

    lab: LabBench
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        on_line: Callable[[str], None] | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> CommandResult:
        """Answer `argv` for the lab drive it names; refuse anything else."""
        args = tuple(argv)
        self.calls.append(args)
        if tool_name(args) == "smartctl":
            answer = self.lab.smartctl(args)
        else:
            routes: dict[str, DeviceEmulator] = {}
            for arg in args[1:]:
                drive = self.lab.drive_at(arg) if os.path.isabs(arg) else None
                emulator = emulator_for(drive) if drive is not None else None
                if emulator is not None:
                    routes[arg] = emulator
            if not routes:
                return result(args, 2, "", "lab runner: the command names no simulated drive\n")
            answer = EmulatedRunner(routes).run(args)
        if on_line is not None:
            for line in answer.stdout.splitlines():
                on_line(line)
        return answer


def lab_runner(lab: LabBench) -> CommandRunner:
    """A CommandRunner whose lab drives answer through emulators over their backing files."""
    return LabRunner(lab)


__all__ = ["LabRunner", "UsbEmulator", "emulator_for", "lab_runner", "reset_lab_emulators"]
