"""A job whose drive another process opens for writing (no O_EXCL) is not certified clean."""

from __future__ import annotations

import threading

from sanitiser.domain import Outcome
from sanitiser.jobs.events import JobOutcome
from sanitiser.methods.base import MethodContext
from tests.integration.test_jobs import Rig, WrappedMethod, file_drive, hold_method, rig
from tests.openers import opened_by_another_process

__all__ = ["rig"]  # the fixture, shared with test_jobs


def test_a_writer_still_on_the_drive_at_the_end_fails_the_job(rig: Rig) -> None:
    """The method finishes while another process holds the drive open for writing: FAILED."""
    gate, entered = threading.Event(), threading.Event()
    hold_method(rig, gate, entered)
    drive = file_drive(rig.tmp, "WRITER-1")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="ivy")
    assert entered.wait(30)
    with opened_by_another_process(drive.path, "r+b") as writer:
        gate.set()
        assert orch.wait([job_id], timeout=120)
    [outcome] = rig.of(job_id, JobOutcome)
    assert outcome.state == "failed"
    assert f"still has the drive open for writing (process {writer.pid} " in outcome.reason


def test_a_writer_seen_during_a_sampled_job_fails_it(rig: Rig) -> None:
    """A writer seen while the method ran (here: the running job's own look, made while the
    writer is open), gone by the end: a sampled verification cannot clear it, so FAILED."""

    class Watched(WrappedMethod):
        def run(self, ctx: MethodContext) -> Outcome:
            with opened_by_another_process(ctx.drive.path, "r+b"):
                assert ctx.claim.other_writers()  # what the job's periodic look sees
            return self.real.run(ctx)

    rig.methods["host-overwrite"] = Watched
    drive = file_drive(rig.tmp, "WRITER-2")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="ivy")
    assert orch.wait([job_id], timeout=120)
    [outcome] = rig.of(job_id, JobOutcome)
    assert outcome.state == "failed"
    assert "had the drive open for writing during the job" in outcome.reason
    assert "verification cannot show it left nothing behind" in outcome.reason
