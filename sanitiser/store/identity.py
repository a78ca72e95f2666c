"""A drive's identity key in the store (serial and WWN, else its path)."""

from __future__ import annotations

from sanitiser.domain import Drive


def drive_key(drive: Drive) -> str:
    """Identity key of a drive: serial and WWN when it has them, else its path."""
    if drive.serial or drive.wwn:
        return f"{drive.transport.value}:{drive.serial}:{drive.wwn}"
    return f"path:{drive.path}"
