"""The job state machine: which state may follow which. Pure: values in, values or errors out.

::

    queued -> probing -> [unlocking] -> sanitising -> [verifying] -> certifying -> routed
       \\          \\            \\             \\              \\            \\
        +----------+------------+-------------+--------------+------------+--> failed | aborted
                                                                                | interrupted

``interrupted`` is what recovery writes for a job whose process died (crash, kill -9, power
loss). From there a job may only continue what the drive is still doing on its own (a firmware
sanitize re-polled: back to ``sanitising``/``verifying``), finish its certificate
(``certifying``), or end ``failed``; starting over is a new job (`Orchestrator.restart`).

A job's state says what happened to it; its signed record is a fact beside the state: a
``routed`` job has its certificate, and a ``failed`` or ``aborted`` job that got as far as a
plan has a signed record of that outcome too (issued right after the end, or by recovery; see
`sanitiser.jobs.orchestrator`). No state is added for it: the record never changes the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from sanitiser.errors import SanitiserError


class JobState(StrEnum):
    """Where a job stands. Values are what the store keeps."""

    QUEUED = "queued"
    PROBING = "probing"
    UNLOCKING = "unlocking"
    """Unlocking the drive or restoring sectors hidden by HPA/DCO before erasing."""
    SANITISING = "sanitising"
    VERIFYING = "verifying"
    CERTIFYING = "certifying"
    ROUTED = "routed"
    """Done: sanitised, routed by the policy (reuse, recycle or destroy) and certified with that
    destination (``undecided`` only when routing itself failed)."""
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"


class IllegalTransitionError(SanitiserError):
    """A state change the job state machine does not allow."""

    def __init__(self, current: JobState, new: JobState) -> None:
        super().__init__(f"a job cannot go from {current} to {new}", title="Job state")
        self.current = current
        self.new = new


_ENDS: Final = (JobState.FAILED, JobState.ABORTED, JobState.INTERRUPTED)

TRANSITIONS: Final[Mapping[JobState, frozenset[JobState]]] = {
    JobState.QUEUED: frozenset({JobState.PROBING, *_ENDS}),
    JobState.PROBING: frozenset({JobState.UNLOCKING, JobState.SANITISING, *_ENDS}),
    JobState.UNLOCKING: frozenset({JobState.SANITISING, *_ENDS}),
    JobState.SANITISING: frozenset({JobState.VERIFYING, JobState.CERTIFYING, *_ENDS}),
    JobState.VERIFYING: frozenset({JobState.CERTIFYING, *_ENDS}),
    JobState.CERTIFYING: frozenset({JobState.ROUTED, JobState.FAILED, JobState.INTERRUPTED}),
    JobState.ROUTED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.ABORTED: frozenset(),
    JobState.INTERRUPTED: frozenset(
        {JobState.SANITISING, JobState.VERIFYING, JobState.CERTIFYING, JobState.FAILED}
    ),
}
"""Every allowed transition. Certifying cannot be aborted: the outcome is already fact."""

ACTIVE: Final = frozenset(
    {
        JobState.QUEUED,
        JobState.PROBING,
        JobState.UNLOCKING,
        JobState.SANITISING,
        JobState.VERIFYING,
        JobState.CERTIFYING,
    }
)
"""States of a job some process is working on; after a crash they become ``interrupted``."""

FINAL: Final = frozenset({JobState.ROUTED, JobState.FAILED, JobState.ABORTED})
"""States nothing ever leaves."""


def can_move(current: JobState, new: JobState) -> bool:
    """True when the state machine allows `current` -> `new`."""
    return new in TRANSITIONS[current]


def check_transition(current: JobState | str, new: JobState | str) -> JobState:
    """The new state, when `current` -> `new` is allowed.

    Raises:
        IllegalTransitionError: it is not (including unknown state names).
    """
    try:
        cur, nxt = JobState(current), JobState(new)
    except ValueError as exc:
        raise SanitiserError(f"unknown job state in {current!r} -> {new!r}") from exc
    if not can_move(cur, nxt):
        raise IllegalTransitionError(cur, nxt)
    return nxt


def sources_of(new: JobState) -> frozenset[JobState]:
    """Every state from which `new` may be reached."""
    return frozenset(s for s, targets in TRANSITIONS.items() if new in targets)
