"""The bench's functional core: row state, formatting, confirmation phrases and search.

Pure functions over values (no Textual, no I/O), so every rule the technician relies on
(which drives may be selected, what must be typed to confirm, what a search finds) is tested
directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sanitiser.app.services import DriveStatus
from sanitiser.domain import Drive
from sanitiser.jobs.detail import detail_of
from sanitiser.jobs.events import JobEvent, JobOutcome, JobPhase, JobProgress
from sanitiser.store import JobView

REMOTE_SCHEME = "agent://"
"""How the bench names a drive inside a computer running the agent (`sanitiser.agent.bench`)."""
COMPUTER_ROW = "computer:"
"""The row key prefix of a computer's own row (its drives' rows follow it)."""


def row_key(drive: Drive) -> str:
    """The bench row of a drive: its kernel name here, its full ``agent://`` name for a drive
    inside a computer (two computers, or a computer and the bench, both have an ``nvme0n1``)."""
    return drive.path if drive.path.startswith(REMOTE_SCHEME) else drive.name


def computer_row(key: str) -> str:
    """The row key of computer `key`."""
    return f"{COMPUTER_ROW}{key}"


ACTIVE_STATES = frozenset(
    {"queued", "probing", "unlocking", "sanitising", "verifying", "certifying"}
)
"""Job states during which the drive is busy (it cannot be selected again)."""


@dataclass(frozen=True, slots=True)
class RowState:
    """What the bench shows for one drive: its status and its current (or last) job."""

    status: DriveStatus
    selected: bool = False
    job_id: str = ""
    state: str = ""
    """The job's state ("" when no job ran here since the bench started)."""
    phase: str = ""
    fraction: float | None = None
    mbps: float = 0.0
    eta_s: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    method: str = ""
    """The planned or running technique."""
    outcome: str = ""
    """``sanitised``, ``failed``, ... once the job ended."""
    reason: str = ""
    certificate_id: str = ""

    @property
    def drive(self) -> Drive:
        """The drive."""
        return self.status.drive

    @property
    def key(self) -> str:
        """Its row's key (`row_key`)."""
        return row_key(self.status.drive)

    @property
    def remote(self) -> bool:
        """A drive inside a computer running the agent."""
        return self.status.drive.path.startswith(REMOTE_SCHEME)

    @property
    def busy(self) -> bool:
        """A job is running on the drive."""
        return self.state in ACTIVE_STATES

    @property
    def eligible(self) -> bool:
        """May be selected for sanitisation: not protected and not busy."""
        return not self.status.protection.protected and not self.busy


def apply_event(row: RowState, event: JobEvent) -> RowState:
    """The row after one job event (events of other jobs of the drive start a new job)."""
    if event.job_id and event.job_id != row.job_id:
        row = dataclasses.replace(
            row,
            job_id=event.job_id,
            state="queued",
            phase="",
            fraction=None,
            mbps=0.0,
            eta_s=None,
            started_at=getattr(event, "at", None),
            finished_at=None,
            outcome="",
            reason="",
            certificate_id="",
            selected=False,
        )
    if isinstance(event, JobPhase):
        return dataclasses.replace(
            row, state=event.state, started_at=row.started_at or event.at, reason=event.reason
        )
    if isinstance(event, JobProgress):
        return dataclasses.replace(
            row, phase=event.phase, fraction=event.fraction, mbps=event.mbps, eta_s=event.eta_s
        )
    if isinstance(event, JobOutcome):
        return dataclasses.replace(
            row,
            state=event.state,
            outcome=event.status,
            method=event.method or row.method,
            reason=event.reason,
            certificate_id=event.certificate_id or "",
            finished_at=event.finished_at,
            fraction=1.0 if event.succeeded else row.fraction,
            eta_s=None,
        )
    return row  # a log line changes nothing shown in the row


def progress_bar(fraction: float | None, width: int = 10) -> str:
    """A text bar such as ``█████░░░░░  50%`` (blank when there is no progress)."""
    if fraction is None:
        return ""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = round(fraction * width)
    return f"{'█' * filled}{'░' * (width - filled)} {round(fraction * 100):>3d}%"


def duration(seconds: float | None) -> str:
    """``M:SS`` or ``H:MM:SS``; "" when unknown."""
    if seconds is None or seconds < 0:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rate(mbps: float) -> str:
    """Throughput as ``123.4 MB/s`` ("" when nothing moved)."""
    return f"{mbps:.1f} MB/s" if mbps > 0 else ""


def elapsed(row: RowState, now: datetime) -> float | None:
    """Seconds the drive's job has run (until it ended), or None without a job."""
    if row.started_at is None:
        return None
    end = row.finished_at or now
    return max(0.0, (end - row.started_at).total_seconds())


def job_matches(view: JobView, query: str) -> bool:
    """Does a job match a search? Every word must be found in its serial, certificate id,
    job id, operator, station, state, method or date (``YYYY-MM-DD``)."""
    detail = detail_of(view)
    haystack = " ".join(
        str(v)
        for v in (
            view.serial,
            detail.certificate_id,
            view.id,
            view.operator,
            view.station,
            view.state,
            view.method,
            detail.technique,
            view.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    ).lower()
    return all(word in haystack for word in query.lower().split())


def search_jobs(views: Sequence[JobView], query: str) -> list[JobView]:
    """The jobs matching `query` (all of them for an empty query), in the given order."""
    return [v for v in views if job_matches(v, query)]


def qr_lines(matrix: Sequence[Sequence[bool]], quiet: int = 2) -> list[str]:
    """A QR matrix as text: two modules per character with half blocks, dark on light.

    The quiet zone (`quiet` modules) is added, so a phone can scan it off the screen.
    """
    size = len(matrix) + 2 * quiet

    def dark(r: int, c: int) -> bool:
        r, c = r - quiet, c - quiet
        return 0 <= r < len(matrix) and 0 <= c < len(matrix) and bool(matrix[r][c])

    lines: list[str] = []
    for r in range(0, size, 2):
        chars = []
        for c in range(size):
            top, bottom = dark(r, c), dark(r + 1, c) if r + 1 < size else False
            # Light modules are drawn (the blocks are light), dark modules are blank.
            chars.append(
                {(False, False): "█", (True, False): "▄", (False, True): "▀"}.get(
                    (top, bottom), " "
                )
            )
        lines.append("".join(chars))
    return lines
