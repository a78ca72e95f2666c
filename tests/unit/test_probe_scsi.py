"""SCSI probe parsers over real sg3_utils 1.46 output from QEMU's SATA, SCSI and USB disks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.errors import ToolOutputError
from sanitiser.probe.scsi import (
    ScsiCapabilities,
    ScsiOpcodes,
    parse_sg_inq,
    parse_sg_opcodes,
    parse_sg_readcap,
)


def _qemu(reference: Path, name: str) -> str:
    return (reference / "qemu-7.2" / name).read_text()


@pytest.mark.parametrize(
    ("dev", "vendor", "product", "serial", "satl"),
    [
        ("sda", "ATA", "LabSATA", "SATA0001", True),
        ("sdb", "QEMU", "QEMU HARDDISK", "SCSI0001", False),
        ("sdc", "QEMU", "QEMU HARDDISK", "USB0001", False),
    ],
)
def test_sg_inq_real(  # noqa: PLR0917 - one parameter per column
    reference: Path, dev: str, vendor: str, product: str, serial: str, satl: bool
) -> None:
    """Vendor, product and serial are stripped; vendor ATA means a SATL."""
    inq = parse_sg_inq(_qemu(reference, f"sg_inq-{dev}.txt"))
    assert (inq.vendor, inq.product, inq.serial) == (vendor, product, serial)
    assert inq.revision == "2.5+"
    assert inq.peripheral_type == "disk"
    assert inq.is_satl is satl
    assert not inq.protect


def test_sg_inq_garbage_raises() -> None:
    """No INQUIRY report raises with the raw text."""
    with pytest.raises(ToolOutputError) as info:
        parse_sg_inq("sg_inq: error opening file: /dev/sdz: No such file or directory\n")
    assert "sdz" in info.value.raw


def test_sg_opcodes_satl_lists_nothing(reference: Path) -> None:
    """libata answered RSOC with an empty list: reported, and SANITIZE is honestly absent."""
    ops = parse_sg_opcodes(_qemu(reference, "sg_opcodes-sda.txt"))
    assert ops.reported
    assert ops.supports(0x48, 3) is False


@pytest.mark.parametrize("dev", ["sdb", "sdc"])
def test_sg_opcodes_unsupported_rsoc_is_unknown(reference: Path, dev: str) -> None:
    """QEMU's SCSI disks reject RSOC (exit 9): support is unknown, not "no"."""
    ops = parse_sg_opcodes(_qemu(reference, f"sg_opcodes-{dev}.txt"), "", 9)
    assert not ops.reported
    assert ops.supports(0x48, 2) is None


LISTING = (
    "  SEAGATE   ST4000NM0023      0004\n  Peripheral device type: disk\n"
    "\nOpcode  Service    CDB  RWCDLP,  Name\n(hex)   action(h)  size   CDLP       \n"
    "-----------------------------------------------\n"
    " 00                   6    0,0    Test Unit Ready\n"
    " 04                   6    0,0    Format unit\n"
    " 48        1         10    0,0    Sanitize, overwrite\n"
    " 48        3         10    0,0    Sanitize, cryptographic erase\n"
    " 48       1f         10    0,0    Sanitize, exit failure mode\n"
    " 9e       10         16    0,0    Read capacity(16)\n"
)


def test_sg_opcodes_listing_rows() -> None:
    """Rows in sg_opcodes 1.46's layout give opcode and service action."""
    ops = parse_sg_opcodes(LISTING)
    assert ops.supports(0x48, 1)
    assert ops.supports(0x48, 3)
    assert ops.supports(0x48, 0x1F)
    assert ops.supports(0x48, 2) is False
    assert ops.supports(0x04) is True
    assert (0x00, None) in ops.commands


def test_sg_opcodes_other_failure_raises() -> None:
    """A failure that is not "Illegal request" (e.g. cannot open, exit 15) raises."""
    with pytest.raises(ToolOutputError):
        parse_sg_opcodes("", "sg_opcodes: error opening file: /dev/sdz\n", 15)


@pytest.mark.parametrize(("dev", "blocks"), [("sda", 131072), ("sdb", 131072), ("sdc", 122880)])
def test_sg_readcap_real(reference: Path, dev: str, blocks: int) -> None:
    """READ CAPACITY(16): block count, length and provisioning bits."""
    cap = parse_sg_readcap(_qemu(reference, f"sg_readcap-{dev}.txt"))
    assert cap.block_count == blocks
    assert cap.last_lba == blocks - 1
    assert cap.block_length == 512
    assert cap.lbpme
    assert not cap.lbprz
    assert cap.size_bytes == blocks * 512


def test_sg_readcap_failure_raises() -> None:
    """sg_readcap's "0x0 0x0" or an error is not a capacity."""
    with pytest.raises(ToolOutputError):
        parse_sg_readcap("READ CAPACITY (16) failed: Not ready\n")


def test_scsi_capabilities_summary(reference: Path) -> None:
    """The summary value answers the policy's questions from the three reports."""
    caps = ScsiCapabilities(
        inquiry=parse_sg_inq(_qemu(reference, "sg_inq-sdb.txt")),
        opcodes=parse_sg_opcodes(LISTING),
        capacity=parse_sg_readcap(_qemu(reference, "sg_readcap-sdb.txt")),
    )
    assert not caps.is_satl
    assert caps.sanitize_crypto_erase
    assert caps.sanitize_overwrite
    assert caps.format_unit
    assert caps.sanitize_block_erase is False
    assert caps.block_count == 131072
    assert caps.block_length == 512
    assert not caps.lbprz
    unknown = ScsiCapabilities(caps.inquiry, ScsiOpcodes(reported=False))
    assert unknown.format_unit is None
    assert unknown.block_count == 0
