"""App-wide messages, past tense (posted from worker and udev threads; post_message is safe)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from sanitiser.services import DriveStatus


@dataclass
class DrivesScanned(Message):
    """A full scan finished."""

    statuses: list[DriveStatus]


@dataclass
class DriveAttached(Message):
    """A drive appeared (hot-plug) and was assessed."""

    status: DriveStatus


@dataclass
class DriveDetached(Message):
    """A drive went away (kernel name)."""

    name: str
