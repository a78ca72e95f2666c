"""What the technician confirmed is what runs: a job started with the plan that was shown
(`Orchestrator.start(confirmed_plans=...)`, as the TUI's start and restart do) refuses, before
anything is written, when its own plan differs (the drive changed between the confirmation and
the job: frozen, locked, swapped), and says what was shown and what it would run now."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sanitiser.jobs.events import JobOutcome
from sanitiser.lab.bench import LabKind
from tests.integration.test_jobs import Rig, lab_rig, rig

__all__ = ["rig"]  # the fixture, imported


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_plan_that_changed_after_confirmation_is_refused_and_nothing_written(
    rig: Rig, tmp_path: Path
) -> None:
    [ssd] = lab_rig(rig, tmp_path, LabKind.SATA_SSD)
    before = digest(ssd.path)
    orch = rig.orchestrator()
    [job_id] = orch.start(
        [ssd], operator="mia", confirmed_plans={ssd.path: "ata-security-erase-enhanced"}
    )
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "failed", view.detail
    [outcome] = rig.of(job_id, JobOutcome)
    assert outcome.status == "refused"
    assert "ata-security-erase-enhanced was shown" in outcome.reason
    assert "nothing was erased" in outcome.reason
    assert outcome.certificate_id is None
    assert rig.certificates(job_id) == []
    assert digest(ssd.path) == before


def test_the_plan_that_was_shown_runs(rig: Rig, tmp_path: Path) -> None:
    [ssd] = lab_rig(rig, tmp_path, LabKind.SATA_SSD)
    orch = rig.orchestrator()
    [probe_job] = orch.start([ssd], operator="mia")  # what the policy chooses for this drive
    assert orch.wait([probe_job], timeout=120)
    first = rig.store.job(probe_job)
    assert first is not None
    assert first.state == "routed"
    chosen = str(first.detail["technique"])
    [job_id] = orch.start([ssd], operator="mia", confirmed_plans={ssd.path: chosen})
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "routed", view.detail
