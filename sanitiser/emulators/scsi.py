"""An emulated SAS/SCSI disk that answers sg3_utils 1.46 (docs/DEVICE-COMMANDS.md §3).

sg_inq, sg_opcodes (the full RSOC listing), sg_readcap -l, sg_sanitize, sg_requests, sg_format
and sg_turs, with the §3.6 exit codes: 9 for an unsupported opcode, 2 not ready, 3 medium error.
SANITIZE runs for `polls_per_op` REQUEST SENSE polls and can be told to fail (MEDIUM ERROR
0x31/0x03). Faithful to §9 #1 and #2: a default-mode sg_sanitize exits 0 at the first poll
without progress even after a failure, and sg_format prints "FORMAT UNIT Complete" regardless.
``lies=True`` answers success to SANITIZE/FORMAT UNIT and erases nothing (QEMU virtio-scsi).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from sanitiser.emulators import BackingFile, result, tool_name
from sanitiser.runner import CommandResult

SANITIZE_ACTIONS = ("overwrite", "block", "crypto")
EXIT_NOT_READY, EXIT_MEDIUM, EXIT_ILLEGAL, EXIT_INVALID_OP = 2, 3, 5, 9
_SA = {"overwrite": 1, "block": 2, "crypto": 3}
_SA_NAME = {1: "overwrite", 2: "block erase", 3: "cryptographic erase", 0x1F: "exit failure mode"}
_ALWAYS = (
    (0x00, None, 6, "Test Unit Ready"),
    (0x03, None, 6, "Request Sense"),
    (0x12, None, 6, "Inquiry"),
    (0x25, None, 10, "Read capacity(10)"),
    (0x28, None, 10, "Read(10)"),
    (0x2A, None, 10, "Write(10)"),
    (0x35, None, 10, "Synchronize cache(10)"),
    (0x88, None, 16, "Read(16)"),
    (0x8A, None, 16, "Write(16)"),
    (0x9E, 0x10, 16, "Read capacity(16)"),
    (0xA0, None, 12, "Report luns"),
    (0xA3, 0x0C, 12, "Report supported operation codes"),
)
_INVALID_OP = "Illegal request, Invalid opcode"


class ScsiDriveEmulator:
    """A SCSI disk at `device` on `backing_file`.

    Knobs: `fail_next_sanitize`, `fail_next_format` (the next one ends in a medium error),
    `polls_per_op` (REQUEST SENSE polls until a running op completes).
    """

    def __init__(
        self,
        backing_file: str | os.PathLike[str],
        serial: str = "EMU-SCSI-0001",
        *,
        device: str = "/dev/sdb",
        vendor: str = "SEAGATE",
        product: str = "ST4000NM0023",
        revision: str = "0004",
        block_size: int = 512,
        sanitize: Iterable[str] = SANITIZE_ACTIONS,
        format_unit: bool = True,
        rsoc: bool = True,
        lbprz: bool = False,
        lies: bool = False,
        polls_per_op: int = 3,
    ) -> None:
        self.medium = BackingFile(backing_file)
        self.serial, self.device = serial, device
        self.vendor, self.product, self.revision = vendor, product, revision
        self.block_size = block_size
        self.sanitize_actions = frozenset(sanitize)
        self.format_unit = format_unit
        self.rsoc = rsoc
        self.lbprz = lbprz
        self.lies = lies
        self.polls_per_op = polls_per_op
        self.running: str | None = None
        """``sanitize:<action>`` or ``format`` while an operation runs."""
        self.pattern = b"\x00\x00\x00\x00"
        self.progress = 0
        self.failed: str | None = None
        """``sanitize`` or ``format`` after a failed operation (medium error sense)."""
        self.fail_next_sanitize = False
        self.fail_next_format = False
        self.erases = 0

    def _busy(self) -> bool:
        """An operation is running (a method, so mypy does not keep a stale narrowing)."""
        return self.running is not None

    @property
    def blocks(self) -> int:
        """Logical blocks."""
        return self.medium.size // self.block_size

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, argv: tuple[str, ...]) -> CommandResult | None:
        """Answer one sg3_utils command addressed to this disk."""
        tool = tool_name(argv)
        args = [a for a in argv[1:] if a != self.device]
        handlers = {
            "sg_inq": self._inq,
            "sg_opcodes": self._opcodes,
            "sg_readcap": self._readcap,
            "sg_sanitize": self._sanitize,
            "sg_requests": self._requests,
            "sg_format": self._format,
            "sg_turs": self._turs,
        }
        handler = handlers.get(tool)
        return handler(argv, args) if handler else None

    def _ident(self) -> str:
        return f"{self.vendor:<8.8}  {self.product:<16.16}  {self.revision:<4.4}"

    def _inq(self, argv: tuple[str, ...], args: list[str]) -> CommandResult:
        text = (
            "standard INQUIRY:\n"
            "  PQual=0  PDT=0  RMB=0  LU_CONG=0  hot_pluggable=0  version=0x06  [SPC-4]\n"
            "  [AERC=0]  [TrmTsk=0]  NormACA=0  HiSUP=1  Resp_data_format=2\n"
            "  SCCS=0  ACC=0  TPGS=0  3PC=0  Protect=0  [BQue=0]\n"
            "  EncServ=0  MultiP=0  [MChngr=0]  [ACKREQQ=0]  Addr16=0\n"
            "  [RelAdr=0]  WBus16=0  Sync=1  [Linked=0]  [TranDis=0]  CmdQue=1\n"
            "    length=36 (0x24)   Peripheral device type: disk\n"
            f" Vendor identification: {self.vendor:<8}\n"
            f" Product identification: {self.product:<16}\n"
            f" Product revision level: {self.revision}\n"
            f" Unit serial number: {self.serial}\n"
        )
        return result(argv, 0, text)

    def _opcodes(self, argv: tuple[str, ...], args: list[str]) -> CommandResult:
        head = f"  {self._ident()}\n  Peripheral device type: disk\n"
        if not self.rsoc:
            err = f"Report supported operation codes: {_INVALID_OP}\n"
            return result(argv, EXIT_INVALID_OP, head, err)
        rows = list(_ALWAYS)
        if self.format_unit:
            rows.append((0x04, None, 6, "Format unit"))
        for action in sorted(self.sanitize_actions, key=_SA.__getitem__):
            rows.append((0x48, _SA[action], 10, f"Sanitize, {_SA_NAME[_SA[action]]}"))
        if self.sanitize_actions:
            rows.append((0x48, 0x1F, 10, "Sanitize, exit failure mode"))
        rows.sort(key=lambda r: (r[0], r[1] or 0))
        table = "".join(
            f" {op:02x}     {'' if sa is None else format(sa, 'x'):>4}       {cdb:3d}"
            f"    0,0    {name}\n"
            for op, sa, cdb, name in rows
        )
        header = (
            "\nOpcode  Service    CDB  RWCDLP,  Name\n(hex)   action(h)  size   CDLP       \n"
            "-----------------------------------------------\n"
        )
        return result(argv, 0, head + header + table)

    def _readcap(self, argv: tuple[str, ...], args: list[str]) -> CommandResult:
        if self.running:
            return result(argv, EXIT_NOT_READY, "", "READ CAPACITY (16) failed: Not ready\n")
        last = self.blocks - 1
        size = self.blocks * self.block_size
        text = (
            "Read Capacity results:\n"
            "   Protection: prot_en=0, p_type=0, p_i_exponent=0\n"
            f"   Logical block provisioning: lbpme={int(self.lbprz)}, lbprz={int(self.lbprz)}\n"
            f"   Last LBA={last} (0x{last:x}), Number of logical blocks={self.blocks}\n"
            f"   Logical block length={self.block_size} bytes\n"
            "   Logical blocks per physical block exponent=0\n"
            "   Lowest aligned LBA=0\n"
            "Hence:\n"
            f"   Device size: {size} bytes, {size / 1048576:.1f} MiB, {size / 1e9:.2f} GB\n"
        )
        return result(argv, 0, text)

    def _turs(self, argv: tuple[str, ...], args: list[str]) -> CommandResult:
        if self.running:
            return result(argv, EXIT_NOT_READY, "device not ready\n")
        if self.failed:
            return result(argv, EXIT_MEDIUM, "", "test unit ready: Medium or hardware error\n")
        return result(argv, 0)

    # -- sense / progress -------------------------------------------------------------------
    def _sense(self) -> tuple[int, str]:
        """(exit status for --status, decoded sense text) for the current state."""
        if self.running:
            what = "sanitize" if self.running.startswith("sanitize") else "format"
            pct = self.progress * 10000 // max(1, self.polls_per_op)
            return EXIT_NOT_READY, (
                "Fixed format, current; Sense key: Not Ready\n"
                f" Additional sense: Logical unit not ready, {what} in progress\n"
                f"  Progress indication: {pct // 100}.{pct % 100:02d}%\n"
            )
        if self.failed:
            asc = (
                "Sanitize command failed" if self.failed == "sanitize" else "Format command failed"
            )
            return EXIT_MEDIUM, (
                f"Fixed format, current; Sense key: Medium Error\n Additional sense: {asc}\n"
            )
        return (
            0,
            "Fixed format, current; Sense key: No Sense\n"
            " Additional sense: No additional sense information\n",
        )

    def _poll(self) -> None:
        """One REQUEST SENSE: a running operation moves on, and completes at the end."""
        if not self.running:
            return
        self.progress += 1
        if self.progress < self.polls_per_op:
            return
        op, self.running = self.running, None
        end = self.medium.size
        fail = self.fail_next_sanitize if op.startswith("sanitize") else self.fail_next_format
        if fail:
            self.fail_next_sanitize = self.fail_next_format = False
            self.medium.fill(0, end // 2)
            self.failed = "sanitize" if op.startswith("sanitize") else "format"
            return
        if not self.lies:
            if op == "sanitize:crypto":
                self.medium.fill(0, end, random=True)
            elif op == "sanitize:overwrite":
                self.medium.fill(0, end, self.pattern)
            else:
                self.medium.fill(0, end)
            self.erases += 1
        self.failed = None

    def _requests(self, argv: tuple[str, ...], args: list[str]) -> CommandResult:
        if "--progress" in args or "-p" in args:
            lines: list[str] = []
            while self._busy():
                pct = self.progress * 10000 // max(1, self.polls_per_op)
                lines.append(f"Progress indication: {pct // 100}.{pct % 100:02d}% done\n")
                self._poll()
            return result(argv, 0, "".join(lines))
        self._poll()
        status, text = self._sense()
        rc = status if ("--status" in args or "-s" in args) else 0
        return result(argv, rc, "Decode parameter data as sense data:\n" + text)

    # -- destructive ------------------------------------------------------------------------
    def _start(self, op: str) -> None:
        self.running, self.progress, self.failed = op, 0, None

    def _sanitize(self, argv: tuple[str, ...], args: list[str]) -> CommandResult:
        chosen = [a for a in ("--crypto", "--block", "--overwrite", "--fail") if a in args]
        if len(chosen) != 1:
            return result(
                argv, 1, "",
                "one and only one of '--block', '--crypto', '--fail' or '--overwrite' please\n",
            )  # fmt: skip
        action = chosen[0][2:]
        early, wait = "--early" in args, "--wait" in args
        if early and wait:
            return result(argv, 1, "", "confused, '--early' and '--wait' are mutually exclusive\n")
        if action == "overwrite" and not (
            "--zero" in args or any(a.startswith("--pattern=") for a in args)
        ):
            return result(argv, 1, "", "'--overwrite' requires '--pattern=PF' or '--zero' option\n")
        out = "" if "--quick" in args else f"    {self._ident()}   peripheral_type: disk [0x0]\n"
        if action == "fail":
            supported = bool(self.sanitize_actions)
        else:
            supported = action in self.sanitize_actions
        if not supported:
            err = f"Sanitize failed: {_INVALID_OP}\nsg_sanitize failed: {_INVALID_OP}\n"
            return result(argv, EXIT_INVALID_OP, out, err)
        if self.running:
            return result(argv, EXIT_NOT_READY, out, "Sanitize failed: Not ready\n")
        if action == "fail":
            if self.failed == "sanitize":
                self.failed = None
                return result(argv, 0, out)
            return result(argv, EXIT_ILLEGAL, out, "Sanitize failed: Illegal request\n")
        self.pattern = b"\x00\x00\x00\x00"
        self._start(f"sanitize:{action}")
        if early:
            return result(argv, 0, out)
        if wait:
            while self._busy():
                self._poll()
            if self.failed:
                return result(argv, EXIT_MEDIUM, out, "Sanitize failed: Medium or hardware error\n")
            return result(argv, 0, out)
        lines: list[str] = []
        while self._busy():
            pct = self.progress * 100 // max(1, self.polls_per_op)
            lines.append(f"Progress indication: {pct}% done\n")
            self._poll()
        return result(argv, 0, out + "".join(lines))  # exits 0 even after a failure (§9 #1)

    def _format(self, argv: tuple[str, ...], args: list[str]) -> CommandResult:
        ident = f"    {self._ident()}   peripheral_type: disk [0x0]\n"
        if "--format" not in args and "-F" not in args:
            status = "format corrupt" if self.failed == "format" else "ok"
            return result(
                argv, 0, ident + f"      Mode Sense (block descriptor) data, status {status}\n"
            )
        if not self.format_unit:
            return result(argv, EXIT_INVALID_OP, ident, f"Format unit command: {_INVALID_OP}\n")
        if self.running:
            return result(argv, EXIT_NOT_READY, ident, "Format unit command: Not ready\n")
        if any(a.startswith("--ffmt") for a in args):
            return result(argv, 0, ident + "\nFormat unit has started\nFORMAT UNIT Complete\n")
        self._start("format")
        if "--early" in args:
            return result(argv, 0, ident + "\nFormat unit has started\n")
        lines = [ident, "\nFormat unit has started\n"]
        while self._busy():
            pct = self.progress * 10000 // max(1, self.polls_per_op)
            lines.append(f"Format unit in progress, {pct // 100}.{pct % 100:02d}% done\n")
            self._poll()
        lines.append("FORMAT UNIT Complete\n")  # printed whatever the final state (§9 #2)
        return result(argv, 0, "".join(lines))
