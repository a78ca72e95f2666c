"""TPM and Secure Boot facts (pure): sysfs file contents, ``tpm2_getcap`` text, efivar bytes.

- TPM from sysfs: ``/sys/class/tpm/tpm0/tpm_version_major`` holds ``1`` or ``2`` (kernel 5.6+);
  a TPM 1.2 also has ``device/caps`` (``Manufacturer: 0x49465800``, ``TCG version: 1.2``,
  ``Firmware version: 3.19``, as drivers/char/tpm/tpm-sysfs.c prints them).
- TPM from ``tpm2_getcap properties-fixed`` (tpm2-tools 4+ YAML-like output).
- Secure Boot from the efivarfs file ``SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c``: 4
  attribute bytes, then the value (1 enabled, 0 disabled). No ``/sys/firmware/efi`` (a legacy
  BIOS boot) or a UEFI without the variable is ``unsupported``; a UEFI whose variables cannot
  be read is ``unknown``.
"""

from __future__ import annotations

import re

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.model import SecureBootState, Tpm

SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
"""The efivarfs file name of the UEFI global variable SecureBoot."""

_CAPS_MANUFACTURER = re.compile(r"^Manufacturer:\s*0x([0-9A-Fa-f]{1,8})\s*$", re.M)
_CAPS_VERSION = re.compile(r"^TCG version:\s*(\d+\.\d+)\s*$", re.M)
_CAPS_FIRMWARE = re.compile(r"^Firmware version:\s*(\d+\.\d+)\s*$", re.M)
_GETCAP_KEY = re.compile(r"^(TPM2?_PT_\w+):\s*$")
_GETCAP_FIELD = re.compile(r"^\s+(raw|value):\s*(.*?)\s*$")


def vendor_id_text(value: int) -> str | None:
    """The 4-character TCG vendor id packed in a 32-bit value (0x49465800 -> ``IFX``)."""
    text = value.to_bytes(4, "big").decode("ascii", "replace").replace("\x00", "").strip()
    return text if text and text.isprintable() else None


def tpm_from_sysfs(
    version_major: str | None, description: str | None = None, caps: str | None = None
) -> Tpm | None:
    """A TPM from the contents of ``tpm_version_major``, ``device/description`` and
    ``device/caps`` (each None when the file is absent); None when none says there is one."""
    manufacturer = firmware = version = None
    if caps is not None:
        if m := _CAPS_MANUFACTURER.search(caps):
            manufacturer = vendor_id_text(int(m.group(1), 16))
        if m := _CAPS_VERSION.search(caps):
            version = m.group(1)
        if m := _CAPS_FIRMWARE.search(caps):
            firmware = m.group(1)
    if version_major is not None:
        major = version_major.strip()
        if major == "2":
            version = "2.0"
        elif major == "1":
            version = version or "1.2"
        else:
            raise ToolOutputError("tpm", f"tpm_version_major is {major!r}, not 1 or 2", major)
    if version is None and description is not None and "2.0" in description:
        version = "2.0"
    if version is None and caps is None and version_major is None and description is None:
        return None
    return Tpm(version=version, manufacturer=manufacturer, firmware=firmware, source="sysfs")


def parse_tpm2_getcap_fixed(text: str) -> Tpm:
    """A TPM 2.0 from ``tpm2_getcap properties-fixed``; ToolOutputError without the family."""
    props: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if m := _GETCAP_KEY.match(line):
            current = props.setdefault(m.group(1), {})
        elif current is not None and (m := _GETCAP_FIELD.match(line)):
            current[m.group(1)] = m.group(2)
    family = props.get("TPM2_PT_FAMILY_INDICATOR", {})
    version = _quoted(family.get("value"))
    if version is None:
        raise ToolOutputError(
            "tpm2_getcap", "no TPM2_PT_FAMILY_INDICATOR value: not properties-fixed output", text
        )
    manufacturer = _quoted(props.get("TPM2_PT_MANUFACTURER", {}).get("value"))
    firmware = None
    raw = props.get("TPM2_PT_FIRMWARE_VERSION_1", {}).get("raw")
    if raw is not None:
        number = int(raw, 16)
        firmware = f"{number >> 16}.{number & 0xFFFF}"
    return Tpm(
        version=version,
        manufacturer=manufacturer.strip() or None if manufacturer else None,
        firmware=firmware,
        source="tpm2_getcap",
    )


def _quoted(value: str | None) -> str | None:
    """The string of a ``value:`` field: the quoted text, or the first word when unquoted
    (a trailing annotation is dropped)."""
    if value is None:
        return None
    if value.startswith('"'):
        end = value.find('"', 1)
        return value[1:end] if end > 0 else None
    return value.split()[0] if value.split() else None


def secure_boot_from_efivar(data: bytes) -> SecureBootState:
    """``enabled`` or ``disabled`` from the SecureBoot efivar file (4 attribute bytes + 1)."""
    if len(data) != 5:
        raise ToolOutputError(
            "efivar", f"{SECURE_BOOT_VAR} has {len(data)} bytes, expected 5", data.hex()
        )
    if data[4] == 1:
        return "enabled"
    if data[4] == 0:
        return "disabled"
    raise ToolOutputError("efivar", f"SecureBoot value is {data[4]}, not 0 or 1", data.hex())


def secure_boot_state(
    efi: bool, variables_readable: bool, secure_boot_var: bytes | None
) -> SecureBootState:
    """Secure Boot from what the shell found: `efi` (``/sys/firmware/efi`` exists),
    `variables_readable` (efivarfs lists variables) and the SecureBoot variable's bytes."""
    if not efi:
        return "unsupported"
    if secure_boot_var is not None:
        return secure_boot_from_efivar(secure_boot_var)
    return "unsupported" if variables_readable else "unknown"
