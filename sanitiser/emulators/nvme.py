"""An emulated NVMe controller + namespace that answers nvme-cli 2.3 (docs/DEVICE-COMMANDS.md §2).

JSON comes from the QEMU 7.2 controller's real id-ctrl/id-ns output (reference/outputs/qemu-7.2),
with the fields that matter replaced, printed as nvme-cli 2.3 prints it (2-space indent, no space
after the colon, u32s signed). Format honours ``oacs`` and ``fna``; sanitize honours ``sanicap``,
runs in the background with ``sanitize-log`` progress, rejects commands while in progress with
"Sanitize In Progress", keeps running across `power_cycle`, and can be told to fail. ``lies=True``
answers success to format and sanitize without touching the medium.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from sanitiser.emulators import BackingFile, result, tool_name
from sanitiser.runner import CommandResult

_ID_CTRL = json.loads(
    '{"vid":6966,"ssvid":6900,"sn":"","mn":"","fr":"","rab":6,"ieee":5395456,"cmic":0,"mdts":7,'
    '"cntlid":0,"ver":66560,"rtd3r":0,"rtd3e":0,"oaes":256,"ctratt":32768,"rrls":0,"cntrltype":1,'
    '"fguid":"00000000-0000-0000-0000-000000000000","crdt1":0,"crdt2":0,"crdt3":0,"nvmsr":0,'
    '"vwci":0,"mec":0,"oacs":266,"acl":3,"aerl":3,"frmw":3,"lpa":7,"elpe":0,"npss":0,"avscc":0,'
    '"apsta":0,"wctemp":343,"cctemp":373,"mtfa":0,"hmpre":0,"hmmin":0,"tnvmcap":"0","unvmcap":"0",'
    '"rpmbs":0,"edstt":0,"dsto":0,"fwug":0,"kas":0,"hctma":0,"mntmt":0,"mxtmt":0,"sanicap":0,'
    '"hmminds":0,"hmmaxd":0,"nsetidmax":0,"endgidmax":0,"anatt":0,"anacap":0,"anagrpmax":0,'
    '"nanagrpid":0,"pels":0,"domainid":0,"megcap":"0","sqes":102,"cqes":68,"maxcmd":0,"nn":256,'
    '"oncs":349,"fuses":0,"fna":0,"vwc":7,"awun":0,"awupf":0,"icsvscc":0,"nwpc":0,"acwu":0,'
    '"ocfs":3,"sgls":1,"mnan":0,"maxdna":"0","maxcna":0,"subnqn":"","ioccsz":0,"iorcsz":0,'
    '"icdoff":0,"fcatt":0,"msdbd":0,"ofcs":0,"psds":[{"max_power":2500,"flags":0,"entry_lat":16,'
    '"exit_lat":4,"read_tput":0,"read_lat":0,"write_tput":0,"write_lat":0,"idle_power":0,'
    '"idle_scale":0,"active_power":0,"active_power_work":0,"active_scale":0}]}'
)
_ID_NS = json.loads(
    '{"nsze":0,"ncap":0,"nuse":0,"nsfeat":20,"nlbaf":7,"flbas":0,"mc":3,"dpc":31,"dps":0,"nmic":0,'
    '"rescap":0,"fpi":0,"dlfeat":1,"nawun":0,"nawupf":0,"nacwu":0,"nabsn":0,"nabo":0,"nabspf":0,'
    '"noiob":0,"nvmcap":"0","nsattr":0,"nvmsetid":0,"npwg":0,"npwa":0,"npdg":7,"npda":7,"nows":0,'
    '"mssrl":0,"mcl":0,"msrc":0,"nulbaf":0,"anagrpid":0,"endgid":0,"eui64":"0000000000000000",'
    '"nguid":"00000000000000000000000000000000","lbafs":[{"ms":0,"ds":9,"rp":0},'
    '{"ms":8,"ds":9,"rp":0},{"ms":16,"ds":9,"rp":0},{"ms":64,"ds":9,"rp":0},{"ms":0,"ds":12,"rp":0},'
    '{"ms":8,"ds":12,"rp":0},{"ms":16,"ds":12,"rp":0},{"ms":64,"ds":12,"rp":0}]}'
)
_STATUS = {
    "opcode": "Invalid Command Opcode: A reserved coded value or an unsupported value in the "
    "command opcode field(0x4001)",
    "field": "Invalid Field in Command: A reserved coded value or an unsupported value in a "
    "defined field(0x4002)",
    "in-progress": "Sanitize In Progress: The requested function is prohibited while a sanitize "
    "operation is in progress(0x1d)",
    "failed": "Sanitize Failed: The most recent sanitize operation failed and no recovery action "
    "has been successfully completed(0x1c)",
}
_SSTAT = (
    "NVM Subsystem has never been sanitized.",
    "Most Recent Sanitize Command Completed Successfully.",
    "Sanitize in Progress.",
    "Most Recent Sanitize Command Failed.",
    "Most Recent Sanitize Command (No-Deallocate After Sanitize) Completed Successfully.",
)
_SANACT = {"exit-failure": 1, "start-block-erase": 2, "start-overwrite": 3, "start-crypto-erase": 4}
SANICAP_ALL = 0x7
"""Crypto erase, block erase and overwrite."""


def nvme_json(value: Any) -> str:
    """JSON as nvme-cli 2.3 prints it (2-space indent, ``"key":value``, trailing newline)."""
    return json.dumps(value, indent=2, separators=(",", ":")) + "\n"


def _signed32(value: int) -> int:
    """How nvme-cli 2.0-2.3 prints a u32 (json-c signed int, §2.3)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _options(args: list[str]) -> dict[str, str]:
    """``--name=value``, ``--name value``, ``-x value`` and bare flags, by long name."""
    short = {"-n": "namespace-id", "-s": "ses", "-l": "lbaf", "-a": "sanact", "-f": "force",
             "-u": "ause", "-d": "no-dealloc", "-i": "oipbp", "-p": "ovrpat", "-o": "output-format",
             "-t": "timeout", "-r": "reset"}  # fmt: skip
    bare = {"force", "ause", "no-dealloc", "oipbp", "reset"}
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        name = short.get(arg, arg[2:] if arg.startswith("--") else arg)
        if "=" in name:
            name, value = name.split("=", 1)
        elif name in bare:
            value = "1"
        else:
            i += 1
            value = args[i] if i < len(args) else ""
        opts[name] = value
        i += 1
    return opts


class NvmeDriveEmulator:
    """One NVMe controller (`controller`) with one namespace (`namespace`) on `backing_file`.

    Knobs: `fail_next_sanitize` (the next sanitize ends with status 3), `stall` (progress stops,
    like the Intel 660p at SPROG 655, until `power_cycle`), `polls_per_sanitize` (sanitize-log
    reads until done) and `tick(seconds)`.
    """

    def __init__(
        self,
        backing_file: str | os.PathLike[str],
        serial: str = "EMU-NVME-0001",
        model: str = "Emulated NVMe SSD",
        *,
        controller: str = "/dev/nvme0",
        namespace: str = "/dev/nvme0n1",
        firmware: str = "EMU1",
        oacs: int = 0x10A,
        sanicap: int = SANICAP_ALL,
        fna: int = 0x4,
        lbaf: int = 0,
        lies: bool = False,
        polls_per_sanitize: int = 3,
        sanitize_seconds: float = 60.0,
    ) -> None:
        self.medium = BackingFile(backing_file)
        self.serial, self.model, self.firmware = serial, model, firmware
        self.controller, self.namespace = controller, namespace
        self.oacs, self.sanicap, self.fna = oacs, sanicap, fna
        self.lbaf = lbaf
        self.lies = lies
        self.polls_per_sanitize = polls_per_sanitize
        self.sanitize_seconds = sanitize_seconds
        self.sanitize_status = 0
        self.sanitize_action = 0
        self.sanitize_progress = 0.0
        self.sanitize_ause = False
        self.sanitize_no_dealloc = False
        self.sanitize_pattern = b"\x00\x00\x00\x00"
        self.global_erased = False
        self.failure_mode = False
        self.fail_next_sanitize = False
        self.stall = False
        self.erases = 0
        """How many formats/sanitizes really rewrote the medium."""

    # -- facts ------------------------------------------------------------------------------
    @property
    def block_size(self) -> int:
        """Logical block size of the current LBA format."""
        return 1 << int(_ID_NS["lbafs"][self.lbaf]["ds"])

    @property
    def blocks(self) -> int:
        """Namespace size in logical blocks."""
        return self.medium.size // self.block_size

    @property
    def in_progress(self) -> bool:
        """A sanitize is running."""
        return self.sanitize_status == 2

    @property
    def readable(self) -> bool:
        """I/O is allowed (no sanitize running, not in the sanitize failure state)."""
        return not (self.in_progress or self.failure_mode)

    def id_ctrl(self) -> dict[str, Any]:
        """The id-ctrl fields for the current state (nvme-cli 2.3 key order)."""
        data = dict(_ID_CTRL)
        data.update(
            sn=self.serial.ljust(20)[:20],
            mn=self.model.ljust(40)[:40],
            fr=self.firmware.ljust(8)[:8],
            oacs=self.oacs,
            sanicap=_signed32(self.sanicap),
            fna=self.fna,
            nn=1,
            subnqn=f"nqn.2019-08.org.qemu:{self.serial}",
        )
        return data

    def id_ns(self) -> dict[str, Any]:
        """The id-ns fields for the current state."""
        data = dict(_ID_NS)
        data.update(nsze=self.blocks, ncap=self.blocks, nuse=self.blocks, flbas=self.lbaf)
        return data

    # -- power / time -----------------------------------------------------------------------
    def power_cycle(self) -> None:
        """Power off and on: a running sanitize continues (and a stalled one gets going)."""
        self.stall = False

    def tick(self, seconds: float) -> None:
        """Advance the clock: a running sanitize progresses `seconds` worth."""
        self._advance(seconds / self.sanitize_seconds)

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, argv: tuple[str, ...]) -> CommandResult | None:
        """Answer one nvme-cli command addressed to this controller or namespace."""
        if tool_name(argv) != "nvme" or len(argv) < 2:
            return None
        sub = argv[1]
        rest = [a for a in argv[2:] if a not in (self.controller, self.namespace)]
        opts = _options(rest)
        if sub == "list":
            return result(argv, 0, nvme_json({"Devices": [self._list_entry()]}))
        if sub == "id-ctrl":
            return result(argv, 0, nvme_json(self.id_ctrl()))
        if sub == "id-ns":
            if self.in_progress:
                return self._error(argv, "in-progress")
            return result(argv, 0, nvme_json(self.id_ns()))
        if sub == "sanitize-log":
            return self._sanitize_log(argv)
        if sub == "format":
            return self._format(argv, opts)
        if sub == "sanitize":
            return self._sanitize(argv, opts)
        return None

    @staticmethod
    def _error(argv: tuple[str, ...], key: str) -> CommandResult:
        return result(argv, 1, "", f"NVMe status: {_STATUS[key]}\n")

    def _list_entry(self) -> dict[str, Any]:
        return {
            "NameSpace": 1,
            "DevicePath": self.namespace,
            "Firmware": self.firmware,
            "ModelNumber": self.model,
            "SerialNumber": self.serial,
            "UsedBytes": self.blocks * self.block_size,
            "MaximumLBA": self.blocks,
            "PhysicalSize": self.blocks * self.block_size,
            "SectorSize": self.block_size,
        }

    # -- format -----------------------------------------------------------------------------
    def _format(self, argv: tuple[str, ...], opts: dict[str, str]) -> CommandResult:
        try:
            ses = int(opts.get("ses", "0"), 0)
            lbaf = int(opts.get("lbaf", str(self.lbaf)), 0)
        except ValueError:
            return result(argv, 1, "", "Invalid value\n")
        nsid = 0xFFFFFFFF if self.fna & 0x1 else int(opts.get("namespace-id", "1"), 0)
        warning = ""
        if "force" not in opts:
            name = os.path.basename(self.namespace)
            warning = (
                f"You are about to format {name}, namespace {nsid:#x}.\n"
                "WARNING: Format may irrevocably delete this device's data.\n"
                "You have 10 seconds to press Ctrl-C to cancel this operation.\n\n"
                "Use the force [--force] option to suppress this warning.\n"
                "Sending format operation ... \n"
            )
        if self.in_progress:
            return self._error(argv, "in-progress")
        if self.failure_mode:
            return self._error(argv, "failed")
        if not self.oacs & 0x2:
            return self._error(argv, "opcode")
        invalid = ses > 2 or lbaf >= len(_ID_NS["lbafs"]) or (ses == 2 and not self.fna & 0x4)
        if invalid and not self.lies:
            return result(argv, 1, "", warning + f"NVMe status: {_STATUS['field']}\n")
        if not self.lies:
            self.lbaf = lbaf
            self.medium.fill(0, self.medium.size, random=ses == 2)
            self.erases += 1
        return result(argv, 0, f"Success formatting namespace:{nsid:x}\n", warning)

    # -- sanitize ---------------------------------------------------------------------------
    def _sanitize(self, argv: tuple[str, ...], opts: dict[str, str]) -> CommandResult:
        if "namespace-id" in opts:  # -n is --owpass for sanitize
            opts["owpass"] = opts.pop("namespace-id")
        sanact = parse_sanact(opts.get("sanact", ""))
        if sanact is None:
            return result(argv, 1, "", "Invalid Sanitize Action\n")
        overwrite_opts = {"owpass", "ovrpat", "oipbp"} & opts.keys()
        if overwrite_opts and sanact != 3:
            return result(argv, 1, "", "ovrpat, owpass, and oipbp are only valid with sanact=3\n")
        if sanact == 1 and ({"ause", "no-dealloc"} & opts.keys()):
            return result(argv, 1, "", "ause and no-dealloc are not valid with sanact=1\n")
        if not self.sanicap & SANICAP_ALL:
            return self._error(argv, "opcode")
        if self.in_progress:
            return self._error(argv, "in-progress")
        if sanact == 1:
            if self.failure_mode and not self.sanitize_ause:
                return self._error(argv, "failed")
            self.failure_mode = False
            return result(argv, 0)
        bit = {4: 0x1, 2: 0x2, 3: 0x4}[sanact]
        if not self.sanicap & bit:
            return self._error(argv, "field")
        if self.lies:
            self.sanitize_status, self.sanitize_action, self.sanitize_progress = 1, sanact, 1.0
            return result(argv, 0)
        pattern = opts.get("ovrpat", "0")
        try:
            self.sanitize_pattern = int(pattern, 0).to_bytes(4, "big")
        except (ValueError, OverflowError):
            return result(argv, 1, "", "Invalid value for ovrpat\n")
        self.sanitize_status, self.sanitize_action, self.sanitize_progress = 2, sanact, 0.0
        self.sanitize_ause = "ause" in opts
        self.sanitize_no_dealloc = "no-dealloc" in opts
        self.global_erased = False
        return result(argv, 0)

    def _sanitize_log(self, argv: tuple[str, ...]) -> CommandResult:
        if not self.sanicap & SANICAP_ALL:
            return self._error(argv, "field")
        if self.in_progress:
            self._advance(1 / max(1, self.polls_per_sanitize))
        sprog = 65535 if not self.in_progress else min(65534, int(self.sanitize_progress * 65536))
        log = {
            "sprog": sprog,
            "sstat": {
                "global_erased": int(self.global_erased),
                "no_cmplted_passes": 1
                if self.sanitize_action == 3 and self.sanitize_status == 1
                else 0,
                "status": f"({self.sanitize_status}) {_SSTAT[self.sanitize_status]}",
            },
            "cdw10_info": self.sanitize_action | (0x8 if self.sanitize_ause else 0),
            "time_over_write": -1,
            "time_block_erase": -1,
            "time_crypto_erase": -1,
            "time_over_write_no_dealloc": -1,
            "time_block_erase_no_dealloc": -1,
            "time_crypto_erase_no_dealloc": -1,
        }
        return result(argv, 0, nvme_json({os.path.basename(self.controller): log}))

    def _advance(self, fraction: float) -> None:
        if not self.in_progress or self.stall:
            return
        self.sanitize_progress += fraction
        if self.sanitize_progress < 1.0 - 1e-9:
            return
        if self.fail_next_sanitize:
            self.fail_next_sanitize = False
            self.medium.fill(0, self.medium.size // 2)
            self.sanitize_status, self.failure_mode = 3, True
            return
        if self.sanitize_action == 4:
            self.medium.fill(0, self.medium.size, random=True)
        elif self.sanitize_action == 3:
            self.medium.fill(0, self.medium.size, self.sanitize_pattern)
        else:
            self.medium.fill(0, self.medium.size)
        self.erases += 1
        self.global_erased = True
        self.failure_mode = False
        self.sanitize_status = 4 if self.sanitize_no_dealloc else 1


def parse_sanact(value: str) -> int | None:
    """The sanact number for a ``--sanact`` value (number or nvme-cli name), or None."""
    if value in _SANACT:
        return _SANACT[value]
    return int(value) if re.fullmatch(r"[1-4]", value) else None
