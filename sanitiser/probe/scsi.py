"""SCSI/SAS capabilities from sg3_utils 1.46 text: sg_inq, sg_opcodes, sg_readcap -l.

Pure functions over text (docs/DEVICE-COMMANDS.md §3). Vendor ``ATA`` means a SATL with a SATA disk
behind it: use ATA commands on it, not SCSI SANITIZE (§3.7). When REPORT SUPPORTED OPERATION
CODES itself is unsupported, support is unknown (None), not "no".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sanitiser.errors import ToolOutputError

SANITIZE = 0x48
FORMAT_UNIT = 0x04
SA_OVERWRITE = 0x1
SA_BLOCK_ERASE = 0x2
SA_CRYPTO_ERASE = 0x3
SA_EXIT_FAILURE = 0x1F

SG_EXIT_INVALID_OPCODE = 9
"""sg3_utils exit status: illegal request, invalid command operation code (§3.6)."""
SG_EXIT_ILLEGAL_REQUEST = 5


@dataclass(frozen=True, slots=True)
class ScsiInquiry:
    """The standard INQUIRY as ``sg_inq DEV`` prints it."""

    vendor: str
    product: str
    revision: str
    serial: str = ""
    peripheral_type: str = ""
    protect: bool = False
    raw: str = field(default="", compare=False, repr=False)

    @property
    def is_satl(self) -> bool:
        """Vendor ``ATA``: a SATA disk behind a SCSI-ATA translation layer."""
        return self.vendor == "ATA"


def _line(text: str, label: str) -> str:
    match = re.search(rf"^\s*{re.escape(label)}:[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    return match.group(1) if match else ""


def parse_sg_inq(text: str) -> ScsiInquiry:
    """`ScsiInquiry` from ``sg_inq DEV``.

    Raises:
        ToolOutputError: when there is no standard INQUIRY report.
    """
    if "standard INQUIRY:" not in text or "Vendor identification:" not in text:
        raise ToolOutputError("sg_inq", "no standard INQUIRY in the output", text)
    ptype = re.search(r"Peripheral device type: (.+?)\s*$", text, re.MULTILINE)
    protect = re.search(r"\bProtect=(\d)", text)
    return ScsiInquiry(
        vendor=_line(text, "Vendor identification"),
        product=_line(text, "Product identification"),
        revision=_line(text, "Product revision level"),
        serial=_line(text, "Unit serial number"),
        peripheral_type=ptype.group(1) if ptype else "",
        protect=bool(protect and protect.group(1) == "1"),
        raw=text,
    )


@dataclass(frozen=True, slots=True)
class ScsiOpcodes:
    """What ``sg_opcodes DEV`` (REPORT SUPPORTED OPERATION CODES, all commands) said."""

    reported: bool
    """False when the device does not support RSOC: then no support can be read from it."""
    commands: frozenset[tuple[int, int | None]] = frozenset()
    """(opcode, service action or None) of every listed command."""
    raw: str = field(default="", compare=False, repr=False)

    def supports(self, opcode: int, service_action: int | None = None) -> bool | None:
        """Whether (opcode, service action) is listed; None when RSOC was not available."""
        if not self.reported:
            return None
        if service_action is None:
            return any(op == opcode for op, _ in self.commands)
        return (opcode, service_action) in self.commands


_OPCODE_ROW = re.compile(r"^ ([0-9a-f]{2}) {5}([ 0-9a-f]{4}) +\d+ ")


def parse_sg_opcodes(stdout: str, stderr: str = "", returncode: int = 0) -> ScsiOpcodes:
    """`ScsiOpcodes` from ``sg_opcodes DEV`` (the full listing, §3.2).

    An "Invalid opcode"/"Illegal request" failure (exit 9 or 5) means RSOC is unsupported:
    ``reported=False``. "no commands to display" is an honest empty list.

    Raises:
        ToolOutputError: for any other failure or an unreadable listing.
    """
    text = stdout + stderr
    if returncode != 0 or "Report supported operation codes:" in text:
        if returncode in (0, SG_EXIT_INVALID_OPCODE, SG_EXIT_ILLEGAL_REQUEST) and (
            "Illegal request" in text
        ):
            return ScsiOpcodes(reported=False, raw=text)
        raise ToolOutputError("sg_opcodes", f"failed (exit {returncode})", text)
    if "no commands to display" in stdout:
        return ScsiOpcodes(reported=True, raw=text)
    commands: set[tuple[int, int | None]] = set()
    for line in stdout.splitlines():
        match = _OPCODE_ROW.match(line)
        if match:
            sa = match.group(2).strip()
            commands.add((int(match.group(1), 16), int(sa, 16) if sa else None))
    if not commands:
        raise ToolOutputError("sg_opcodes", "no command table in the output", text)
    return ScsiOpcodes(reported=True, commands=frozenset(commands), raw=text)


@dataclass(frozen=True, slots=True)
class ReadCapacity:
    """``sg_readcap -l DEV`` (READ CAPACITY(16), §3.1)."""

    last_lba: int
    block_count: int
    block_length: int
    lbpme: bool
    """Logical block provisioning management enabled (thin provisioning)."""
    lbprz: bool
    """Unmapped blocks read as zeros: zeros after an erase prove the logical view only (§9 #6)."""
    protection_enabled: bool = False
    physical_exponent: int = 0
    raw: str = field(default="", compare=False, repr=False)

    @property
    def size_bytes(self) -> int:
        """Capacity in bytes."""
        return self.block_count * self.block_length


def parse_sg_readcap(text: str) -> ReadCapacity:
    """`ReadCapacity` from ``sg_readcap -l DEV``.

    Raises:
        ToolOutputError: when the capacity lines are missing.
    """
    lba = re.search(r"Last LBA=(\d+) \(0x[0-9a-fA-F]+\), Number of logical blocks=(\d+)", text)
    length = re.search(r"Logical block length=(\d+) bytes", text)
    lbp = re.search(r"lbpme=(\d), lbprz=(\d)", text)
    if lba is None or length is None:
        raise ToolOutputError("sg_readcap", "no capacity in the output", text)
    prot = re.search(r"prot_en=(\d)", text)
    exponent = re.search(r"Logical blocks per physical block exponent=(\d+)", text)
    return ReadCapacity(
        last_lba=int(lba.group(1)),
        block_count=int(lba.group(2)),
        block_length=int(length.group(1)),
        lbpme=bool(lbp and lbp.group(1) == "1"),
        lbprz=bool(lbp and lbp.group(2) == "1"),
        protection_enabled=bool(prot and prot.group(1) == "1"),
        physical_exponent=int(exponent.group(1)) if exponent else 0,
        raw=text,
    )


@dataclass(frozen=True, slots=True)
class ScsiCapabilities:
    """A SCSI/SAS disk's identity and erase support, from the three sg3_utils reports."""

    inquiry: ScsiInquiry
    opcodes: ScsiOpcodes
    capacity: ReadCapacity | None = None

    @property
    def is_satl(self) -> bool:
        """A SATA disk behind a SATL: SCSI SANITIZE/FORMAT UNIT are refused (§3.7)."""
        return self.inquiry.is_satl

    @property
    def sanitize_overwrite(self) -> bool | None:
        """SANITIZE overwrite (0x48/1) supported; None when unknown."""
        return self.opcodes.supports(SANITIZE, SA_OVERWRITE)

    @property
    def sanitize_block_erase(self) -> bool | None:
        """SANITIZE block erase (0x48/2) supported; None when unknown."""
        return self.opcodes.supports(SANITIZE, SA_BLOCK_ERASE)

    @property
    def sanitize_crypto_erase(self) -> bool | None:
        """SANITIZE cryptographic erase (0x48/3) supported; None when unknown."""
        return self.opcodes.supports(SANITIZE, SA_CRYPTO_ERASE)

    @property
    def sanitize_exit_failure(self) -> bool | None:
        """SANITIZE exit failure mode (0x48/0x1f) supported; None when unknown."""
        return self.opcodes.supports(SANITIZE, SA_EXIT_FAILURE)

    @property
    def format_unit(self) -> bool | None:
        """FORMAT UNIT (0x04) supported; None when unknown."""
        return self.opcodes.supports(FORMAT_UNIT)

    @property
    def lbprz(self) -> bool:
        """Unmapped blocks read as zeros (False when the capacity is unknown)."""
        return self.capacity.lbprz if self.capacity else False

    @property
    def block_count(self) -> int:
        """Logical blocks (0 when unknown)."""
        return self.capacity.block_count if self.capacity else 0

    @property
    def block_length(self) -> int:
        """Logical block length in bytes (0 when unknown)."""
        return self.capacity.block_length if self.capacity else 0
