"""App-wide messages, past tense (posted from worker and udev threads; post_message is safe)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from sanitiser.domain import Drive
from sanitiser.services import DriveStatus


@dataclass
class DriveEventReceived(Message):
    """udev (or the lab) reported a hot-plug event; posted from the observer thread."""

    action: str
    drive: Drive | None
    name: str


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
