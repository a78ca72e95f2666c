"""Keyword options of the drive emulators, for test helpers that pass them on.

Each is the emulator's keyword-only parameters less the device path(s), which the helpers set:
a helper taking ``**options: Unpack[AtaOptions]`` is checked against the emulator's signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict


class AtaOptions(TypedDict, total=False):
    """`sanitiser.emulators.ata.AtaDriveEmulator`'s keyword options, less `device`."""

    firmware: str
    security: bool
    enhanced_erase: bool
    erase_minutes: tuple[int, int]
    sanitize: Iterable[str]
    antifreeze: bool
    hpa: int
    dco: int
    frozen: bool
    freeze_on_boot: bool
    sanitize_frozen: bool
    lies: bool
    skips_erase: bool
    master_password: str
    max_attempts: int
    polls_per_sanitize: int
    sanitize_seconds: float


class NvmeOptions(TypedDict, total=False):
    """`sanitiser.emulators.nvme.NvmeDriveEmulator`'s keyword options, less its paths."""

    firmware: str
    oacs: int
    sanicap: int
    fna: int
    lbaf: int
    lies: bool
    polls_per_sanitize: int
    sanitize_seconds: float


class ScsiOptions(TypedDict, total=False):
    """`sanitiser.emulators.scsi.ScsiDriveEmulator`'s keyword options, less `device`."""

    vendor: str
    product: str
    revision: str
    block_size: int
    sanitize: Iterable[str]
    format_unit: bool
    rsoc: bool
    lbprz: bool
    lies: bool
    polls_per_op: int
