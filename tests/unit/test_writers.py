"""Other writers seen on a drive during its job: what they do to the outcome (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sanitiser.devices.guard import Opener
from sanitiser.domain import NistCategory, Outcome, OutcomeStatus
from sanitiser.jobs.writers import WRITERS_DETAIL, judge_other_writers

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
DD = Opener(pid=4242, command="dd", writable=True)


def sanitised(
    *, status: OutcomeStatus = OutcomeStatus.SANITISED, verified: bool = True, reason: str = ""
) -> Outcome:
    return Outcome(
        status=status,
        method="host-overwrite",
        nist_category=NistCategory.CLEAR,
        verified=verified,
        reason=reason,
        started_at=T0,
        finished_at=T0,
        details=(("pattern", "zeros"),),
    )


@pytest.mark.parametrize("verification", ["full", "sampled", "canary"])
def test_nobody_seen_leaves_the_outcome_alone(verification: str) -> None:
    outcome = sanitised()
    assert (
        judge_other_writers(outcome, seen=(), still_open=(), verification=verification) is outcome
    )


@pytest.mark.parametrize("verification", ["full", "sampled"])
def test_a_writer_still_open_fails_any_verification(verification: str) -> None:
    judged = judge_other_writers(
        sanitised(), seen=(DD,), still_open=(DD,), verification=verification
    )
    assert (judged.status, judged.verified) == (OutcomeStatus.FAILED, False)
    assert "still has the drive open for writing (process 4242 (dd))" in judged.reason
    assert (WRITERS_DETAIL, "process 4242 (dd)") in judged.details


@pytest.mark.parametrize("verification", ["sampled", "canary"])
def test_a_writer_seen_fails_a_partial_verification(verification: str) -> None:
    judged = judge_other_writers(sanitised(), seen=(DD,), still_open=(), verification=verification)
    assert judged.status is OutcomeStatus.FAILED
    assert f"a {verification} verification cannot show it left nothing behind" in judged.reason


def test_a_writer_gone_before_a_full_verification_is_named_not_failed() -> None:
    judged = judge_other_writers(sanitised(), seen=(DD,), still_open=(), verification="full")
    assert (judged.status, judged.verified) == (OutcomeStatus.SANITISED, True)
    assert judged.details == ((WRITERS_DETAIL, "process 4242 (dd)"), ("pattern", "zeros"))


def test_a_failed_outcome_is_not_touched() -> None:
    failed = sanitised(status=OutcomeStatus.FAILED, verified=False, reason="I/O error")
    assert judge_other_writers(failed, seen=(DD,), still_open=(DD,), verification="full") is failed
