"""What every sanitisation method is, and what it is given to run.

A method is one technique (`sanitiser.probe.capabilities.Technique`) with its NIST SP 800-88
category. It runs only with a `Claim` from the guard (`sanitiser.devices.guard.claim`): there is
no other way for a method to reach a writable device, and command-based methods re-check the
claim's identity before each destructive command. It reports progress and log lines through the
context, and returns an `Outcome` that states only what was done and verified: an exit status of 0
is never proof on its own.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sanitiser.blockio.progress import ProgressEvent
from sanitiser.devices.guard import Claim
from sanitiser.domain import Drive, NistCategory, Outcome
from sanitiser.probe.capabilities import Capabilities, Technique
from sanitiser.runner import CommandRunner


def _no_progress(_: ProgressEvent) -> None:
    return None


def _no_log(_: str) -> None:
    return None


@dataclass
class MethodContext:
    """Everything a method needs to run on one drive."""

    drive: Drive
    claim: Claim
    """Proof the guard passed; holds the O_EXCL fd for the whole job."""
    runner: CommandRunner
    capabilities: Capabilities
    on_progress: Callable[[ProgressEvent], None] = _no_progress
    on_log: Callable[[str], None] = _no_log
    cancelled: Callable[[], bool] = lambda: False
    journal: MutableMapping[str, Any] = field(default_factory=dict)
    """Durable per-job notes (throwaway password, seed, started sanitize) for resume/recovery;
    the job layer persists it after every change. Never copied into a certificate."""
    poll_interval: float = 10.0
    """Seconds between status polls of background operations (tests use ~0)."""
    overwrite_scheme: str = "zeros"
    """Host overwrite only: the named scheme (`Plan.overwrite_scheme`)."""
    overwrite_passes: tuple[str, ...] = ()
    """Its passes when the policy defines the scheme itself (`Plan.overwrite_passes`); empty
    means a built-in scheme of that name."""
    verification: str = "sampled"
    """Read-back after the method (`Plan.verification`): ``full``, ``sampled``, ``canary`` or
    ``none``. Firmware methods always check their canaries; this adds pattern read-back where the
    medium has a known content afterwards (host overwrite, sanitize overwrite)."""


class Method(Protocol):
    """One sanitisation technique."""

    technique: Technique
    nist_category: NistCategory

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        """Why this method cannot run on this drive now, or None when it can."""
        ...

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        """How long it may take (the drive's own estimate where it gives one)."""
        ...

    def run(self, ctx: MethodContext) -> Outcome:
        """Run it, verify it, and say exactly what was done and verified."""
        ...
