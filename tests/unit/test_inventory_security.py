"""TPM and Secure Boot facts.

The tpm2_getcap outputs are real (tests/data/real/tpm, see SOURCES). No real capture of the
sysfs TPM files or of the SecureBoot efivar was found, so those inputs are written here from
their definitions: drivers/char/tpm/tpm-sysfs.c (``caps``: "Manufacturer: 0x%x", "TCG version:
%d.%d", "Firmware version: %d.%d"), and the UEFI spec (a variable file is 4 attribute bytes,
here 0x06 = boot-service + runtime access, then the 1-byte value).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.model import Tpm
from sanitiser.inventory.security import (
    SECURE_BOOT_VAR,
    parse_tpm2_getcap_fixed,
    secure_boot_from_efivar,
    secure_boot_state,
    tpm_from_sysfs,
    vendor_id_text,
)

TPM = Path(__file__).resolve().parents[1] / "data" / "real" / "tpm"
ATTRS = bytes((0x06, 0x00, 0x00, 0x00))


def test_real_tpm2_getcap() -> None:
    infineon = parse_tpm2_getcap_fixed(
        (TPM / "infineon-slb9670-tpm2_getcap-properties-fixed.txt").read_text()
    )
    # FIRMWARE_VERSION_1 raw 0x7003D: 0x0007 . 0x003D.
    assert infineon == Tpm(version="2.0", manufacturer="IFX", firmware="7.61", source="tpm2_getcap")
    stm = parse_tpm2_getcap_fixed(
        (TPM / "thinkpad-x1-stm-tpm2_getcap-properties-fixed.txt").read_text()
    )
    # MANUFACTURER value "STM " (padded); FIRMWARE_VERSION_1 raw 0x10102: 0x0001 . 0x0102.
    assert stm == Tpm(version="2.0", manufacturer="STM", firmware="1.258", source="tpm2_getcap")


def test_tpm2_getcap_without_family_raises() -> None:
    with pytest.raises(ToolOutputError, match="TPM2_PT_FAMILY_INDICATOR"):
        parse_tpm2_getcap_fixed("TPM2_PT_LEVEL:\n  raw: 0\n")


def test_tpm_from_sysfs() -> None:
    assert tpm_from_sysfs("2\n") == Tpm("2.0", None, None, "sysfs")
    caps = "Manufacturer: 0x49465800\nTCG version: 1.2\nFirmware version: 3.19\n"
    assert tpm_from_sysfs("1\n", None, caps) == Tpm("1.2", "IFX", "3.19", "sysfs")
    assert tpm_from_sysfs(None, None, caps) == Tpm("1.2", "IFX", "3.19", "sysfs")
    assert tpm_from_sysfs(None, "TPM 2.0 Device\n") == Tpm("2.0", None, None, "sysfs")
    assert tpm_from_sysfs(None) is None
    with pytest.raises(ToolOutputError, match="not 1 or 2"):
        tpm_from_sysfs("3\n")


def test_vendor_ids() -> None:
    assert vendor_id_text(0x49465800) == "IFX"
    assert vendor_id_text(0x53544D20) == "STM"
    assert vendor_id_text(0x4E544300) == "NTC"
    assert vendor_id_text(0) is None


def test_secure_boot() -> None:
    assert secure_boot_from_efivar(ATTRS + b"\x01") == "enabled"
    assert secure_boot_from_efivar(ATTRS + b"\x00") == "disabled"
    with pytest.raises(ToolOutputError, match="expected 5"):
        secure_boot_from_efivar(b"\x01")
    with pytest.raises(ToolOutputError, match="not 0 or 1"):
        secure_boot_from_efivar(ATTRS + b"\x07")
    assert secure_boot_state(False, False, None) == "unsupported"  # legacy BIOS boot
    assert secure_boot_state(True, True, None) == "unsupported"  # UEFI without the variable
    assert secure_boot_state(True, False, None) == "unknown"  # efivarfs not mounted
    assert secure_boot_state(True, True, ATTRS + b"\x01") == "enabled"


def test_the_secure_boot_variable_is_uefis_global_one() -> None:
    """efivarfs names a variable NAME-GUID; SecureBoot is in EFI_GLOBAL_VARIABLE, which the UEFI
    specification writes {0x8BE4DF61, 0x93CA, 0x11D2, {0xAA, 0x0D, 0x00, 0xE0, 0x98, 0x03,
    0x2B, 0x8C}} (a wrong GUID read every UEFI computer as having no Secure Boot at all)."""
    name, _, guid = SECURE_BOOT_VAR.partition("-")
    assert name == "SecureBoot"
    assert uuid.UUID(guid) == uuid.UUID(
        fields=(0x8BE4DF61, 0x93CA, 0x11D2, 0xAA, 0x0D, 0x00E098032B8C)
    )
