"""The job state machine: allowed paths, forbidden moves, and the pure event/journal codecs."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime

import pytest

from sanitiser.domain import (
    ByteRange,
    CommandRecord,
    Drive,
    Health,
    HealthGrade,
    NistCategory,
    Outcome,
    OutcomeStatus,
    Transport,
    Verification,
)
from sanitiser.errors import SanitiserError
from sanitiser.jobs.events import EventBus, JobEvent, JobLog, JobOutcome, JobPhase, JobProgress
from sanitiser.jobs.journal import (
    ProcessOwner,
    _decode,
    _encode,
    drive_from_json,
    drive_to_json,
    health_from_json,
    health_to_json,
    outcome_from_json,
    outcome_to_json,
    owner_alive,
)
from sanitiser.jobs.states import (
    ACTIVE,
    FINAL,
    TRANSITIONS,
    IllegalTransitionError,
    JobState,
    can_move,
    check_transition,
    sources_of,
)

HAPPY = [
    JobState.QUEUED,
    JobState.PROBING,
    JobState.UNLOCKING,
    JobState.SANITISING,
    JobState.VERIFYING,
    JobState.CERTIFYING,
    JobState.ROUTED,
]


def test_the_happy_path_is_allowed_step_by_step() -> None:
    """queued -> probing -> unlocking -> sanitising -> verifying -> certifying -> routed."""
    for current, new in itertools.pairwise(HAPPY):
        assert check_transition(current, new) is new


def test_optional_phases_can_be_skipped() -> None:
    """Unlocking and verifying are optional; nothing else is."""
    assert can_move(JobState.PROBING, JobState.SANITISING)
    assert can_move(JobState.SANITISING, JobState.CERTIFYING)
    assert not can_move(JobState.QUEUED, JobState.SANITISING)
    assert not can_move(JobState.PROBING, JobState.CERTIFYING)
    assert not can_move(JobState.SANITISING, JobState.ROUTED)


@pytest.mark.parametrize("state", sorted(ACTIVE - {JobState.CERTIFYING}))
def test_every_working_state_can_fail_abort_or_be_interrupted(state: JobState) -> None:
    """A job at work can always end failed, aborted or interrupted."""
    for end in (JobState.FAILED, JobState.ABORTED, JobState.INTERRUPTED):
        assert can_move(state, end)


def test_certifying_cannot_be_aborted() -> None:
    """Once the outcome is recorded the certificate is issued: abort is not a way out."""
    assert not can_move(JobState.CERTIFYING, JobState.ABORTED)
    assert can_move(JobState.CERTIFYING, JobState.INTERRUPTED)


@pytest.mark.parametrize("state", sorted(FINAL))
def test_final_states_are_never_left(state: JobState) -> None:
    """Routed, failed and aborted jobs never move again."""
    assert TRANSITIONS[state] == frozenset()
    with pytest.raises(IllegalTransitionError, match=f"from {state}"):
        check_transition(state, JobState.QUEUED)


def test_interrupted_jobs_only_continue_what_the_drive_does() -> None:
    """An interrupted job may resume polling, certify a recorded outcome, or fail; not restart."""
    assert TRANSITIONS[JobState.INTERRUPTED] == {
        JobState.SANITISING,
        JobState.VERIFYING,
        JobState.CERTIFYING,
        JobState.FAILED,
    }
    assert not can_move(JobState.INTERRUPTED, JobState.QUEUED)
    assert not can_move(JobState.INTERRUPTED, JobState.ROUTED)


def test_unknown_state_names_are_errors() -> None:
    """A garbled state from the store is an error, not a silent pass."""
    with pytest.raises(SanitiserError, match="unknown job state"):
        check_transition("queued", "flying")


def test_sources_of_lists_every_predecessor() -> None:
    """Routed is reached only from certifying; aborted from every working state but that."""
    assert sources_of(JobState.ROUTED) == {JobState.CERTIFYING}
    assert sources_of(JobState.ABORTED) == ACTIVE - {JobState.CERTIFYING}


def test_every_state_is_reachable_from_queued() -> None:
    """No state is dead code: each is reachable from queued."""
    seen, todo = {JobState.QUEUED}, [JobState.QUEUED]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(JobState)


def test_events_serialise_to_json_lines() -> None:
    """Every event kind becomes one JSON object with its kind and the outcome contract keys."""
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    events: list[JobEvent] = [
        JobPhase("j1", "/dev/loop1", "probing", "queued", at=at),
        JobProgress("j1", "/dev/loop1", "pass 1/1 zeros", 50, 200, 12.345, 3.4),
        JobLog("j1", "/dev/loop1", "hdparm ran", "info", at=at),
        JobOutcome(
            "j1", "/dev/loop1", "S1", "sanitised", "routed", "host-overwrite", "clear", True
        ),
    ]
    lines = [json.loads(json.dumps(e.to_json())) for e in events]
    assert [line["event"] for line in lines] == ["phase", "progress", "log", "outcome"]
    assert lines[0]["at"] == "2026-01-02T03:04:05+00:00"
    assert lines[1]["percent"] == 25.0
    assert lines[1]["eta_s"] == 3
    assert lines[3].keys() >= {
        "method",
        "nist_category",
        "verified",
        "status",
        "reason",
        "certificate_id",
    }
    assert lines[3]["verified"] is True


def test_bus_delivers_in_order_and_coalesces_queued_progress() -> None:
    """Phases and logs arrive in order; a backlog of one job's progress keeps only the newest."""
    bus = EventBus()
    got: list[JobEvent] = []
    gate = threading.Event()

    def slow(event: JobEvent) -> None:
        gate.wait(5)
        got.append(event)

    bus.subscribe(slow)
    bus.publish(JobPhase("j", "d", "probing"))
    for i in range(100):
        bus.publish(JobProgress("j", "d", "p", i, 100))
    bus.publish(JobLog("j", "d", "done"))
    gate.set()
    assert bus.drain(5)
    bus.close()
    progress = [e for e in got if isinstance(e, JobProgress)]
    assert isinstance(got[0], JobPhase)
    assert isinstance(got[-1], JobLog)
    assert 1 <= len(progress) <= 2
    assert progress[-1].bytes_done == 99


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    """One broken subscriber is logged; the next one still gets every event."""
    bus = EventBus()
    got: list[JobEvent] = []

    def broken(event: JobEvent) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(got.append)
    bus.publish(JobLog("j", "d", "one"))
    assert bus.drain(5)
    unsubscribe()
    bus.publish(JobLog("j", "d", "two"))
    assert bus.drain(5)
    bus.close()
    assert [e.message for e in got if isinstance(e, JobLog)] == ["one"]


def test_domain_values_survive_the_journal_codecs() -> None:
    """Drive, Health and Outcome come back from their JSON exactly as they went in."""
    drive = Drive("/dev/sdz", "sdz", "M", "S", 1 << 30, Transport.SATA, rotational=True)
    health = Health(HealthGrade.B, reasons=("old",), power_on_hours=5, failed_attributes=("x",))
    t = datetime(2026, 1, 1, tzinfo=UTC)
    outcome = Outcome(
        OutcomeStatus.SANITISED,
        "ata-security-erase",
        NistCategory.PURGE,
        True,
        "",
        t,
        t,
        commands=(CommandRecord(("hdparm", "-I"), 0, "out", "err"),),
        verification=Verification("sampled", True, 10, 2, 100, mismatched=(ByteRange(0, 512),)),
        failed_ranges=(ByteRange(512, 512),),
        details=(("a", "b"),),
    )
    assert drive_from_json(json.loads(json.dumps(drive_to_json(drive)))) == drive
    assert health_from_json(json.loads(json.dumps(health_to_json(health)))) == health
    assert outcome_from_json(json.loads(json.dumps(outcome_to_json(outcome)))) == outcome


def test_method_journal_values_keep_bytes() -> None:
    """Seeds (bytes) in a method journal survive the JSON round trip."""
    notes = {"seed": b"\x00\xff", "nested": {"k": [b"\x01", 2]}, "text": "x"}
    assert _decode(json.loads(json.dumps(_encode(notes)))) == notes


def test_owner_liveness() -> None:
    """This process is alive; the same pid with another start time, or another boot, is not."""
    me = ProcessOwner.current()
    assert owner_alive(me)
    assert not owner_alive(ProcessOwner(me.host, me.boot_id, me.pid, "1"))
    assert not owner_alive(ProcessOwner(me.host, "another-boot", me.pid, me.start))
    assert not owner_alive(None)
    assert owner_alive(ProcessOwner("some-other-bench", "b", 1, "1"))  # not ours to judge
    assert ProcessOwner.from_json(me.to_json()) == me
    assert ProcessOwner.from_json({"pid": "x"}) is None
