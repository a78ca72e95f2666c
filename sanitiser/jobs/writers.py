"""What another writer on the drive during a job means for its outcome (pure).

The guard's ``O_EXCL`` hold keeps out mounts and exclusive openers, but a plain ``open`` by
another process still succeeds; such a process could write a block behind the overwrite, after
the verification sampled past it. The claim watches ``/proc/*/fd`` (`Claim.other_writers`)
during the job and before it is certified; this module decides what that means:

- nobody seen: the outcome stands;
- a writer still has the drive open at the end: nothing can be proven (it may write after any
  check), so the outcome fails;
- a writer came and went, and verification read every block after the overwrite: the outcome
  stands, and it says so; with a sampled or canary verification it fails, since a block the
  sample skipped may hold what the other process wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sanitiser.devices.guard import Opener
from sanitiser.domain import Outcome, OutcomeStatus

WRITERS_DETAIL = "other_writers"
"""The outcome detail that names the other writers seen."""


def _named(openers: Sequence[Opener]) -> str:
    return "; ".join(f"process {o.pid} ({o.command})" for o in openers)


def judge_other_writers(
    outcome: Outcome, *, seen: Sequence[Opener], still_open: Sequence[Opener], verification: str
) -> Outcome:
    """The outcome once other writers seen during the job are taken into account.

    Args:
        outcome: what the method reported.
        seen: every other process seen with the drive open for writing during the job.
        still_open: those with it open for writing now, after the method.
        verification: the plan's verification mode (``full``, ``sampled``, ``canary``).

    Returns:
        `outcome` unchanged when nobody was seen or it did not claim success; otherwise the
        outcome with the writers named in its details, failed when they make it unprovable.
    """
    if not seen or outcome.status is not OutcomeStatus.SANITISED:
        return outcome
    details = tuple(sorted((*outcome.details, (WRITERS_DETAIL, _named(seen)))))
    if still_open:
        reason = (
            f"another process still has the drive open for writing ({_named(still_open)}): "
            "nothing written or verified can be relied on; stop it and run the job again"
        )
    elif verification != "full":
        reason = (
            f"another process had the drive open for writing during the job ({_named(seen)}); "
            f"a {verification} verification cannot show it left nothing behind: run the job "
            "again with full verification"
        )
    else:
        return replace(outcome, details=details)
    return replace(
        outcome, status=OutcomeStatus.FAILED, verified=False, reason=reason, details=details
    )
