"""A drive's identity key in the store (serial and WWN, else its path), from the drive or from
the signed record that names it, and whether that key names one physical drive
(`is_identity`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sanitiser.domain import Drive
from sanitiser.inventory.model import identifier


def drive_key(drive: Drive) -> str:
    """Identity key of a drive: serial and WWN when it has them, else its path."""
    if drive.serial or drive.wwn:
        return f"{drive.transport.value}:{drive.serial}:{drive.wwn}"
    return f"path:{drive.path}"


def record_drive_key(record: Mapping[str, Any]) -> str:
    """The drive key (`sanitiser.store.drive_key`) of the device a certificate record names."""
    device = record.get("device") or {}
    serial, wwn = str(device.get("serial") or ""), str(device.get("wwn") or "")
    if serial or wwn:
        return f"{device.get('transport', 'unknown')}:{serial}:{wwn}"
    return f"path:{device.get('path', '')}"


def is_identity(key: str) -> bool:
    """Whether drive key `key` names one physical drive: a serial or a WWN that identifies
    something (`sanitiser.inventory.model.identifier`: not missing, not a placeholder such as
    ``Not Specified``, not one character repeated). Pure.

    A ``path:`` key never does: every SD card read through one USB reader, and every
    serial-less drive at that node over time, has the same one. Where a key is no identity,
    the same-drive rules (one drive leaves once, a drive that left is refused, a report counts
    a drive once, a later job owns the drive) do not apply: such a drive is known only by its
    certificate (or its job).
    """
    if not key or key.startswith("path:"):
        return False
    _transport, _, rest = key.partition(":")
    serial, _, wwn = rest.rpartition(":")  # a WWN holds no colon; a serial might
    wwn_digits = wwn.strip()
    if wwn_digits.lower().startswith("0x"):
        wwn_digits = wwn_digits[2:]
    return bool(identifier(serial) or identifier(wwn_digits))
