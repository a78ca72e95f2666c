"""A drive's identity key in the store (serial and WWN, else its path), from the drive or from
the signed record that names it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sanitiser.domain import Drive


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
