"""App-wide messages, past tense (posted from worker and udev threads; post_message is safe)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from sanitiser.app.services import DriveStatus
from sanitiser.domain import Drive
from sanitiser.jobs.events import JobEvent
from sanitiser.tui.bench import DrivePlan


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


@dataclass
class JobEventReceived(Message):
    """The orchestrator published a job event; posted from the event-bus thread."""

    event: JobEvent


@dataclass
class JobsStarted(Message):
    """Jobs were recorded and started: (job id, drive name) pairs."""

    jobs: list[tuple[str, str]]


@dataclass
class PlansMade(Message):
    """The plan of each drive about to be confirmed."""

    plans: list[DrivePlan]


@dataclass
class ActionFailed(Message):
    """A worker's action could not be done; the message says why (shown in ErrorModal)."""

    title: str
    message: str


@dataclass
class ComputerChanged(Message):
    """A computer running the agent said hello, or its device record changed; posted from the
    receiver's or a worker's thread."""

    key: str
