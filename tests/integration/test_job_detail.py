"""A job's recorded facts, typed (`sanitiser.jobs.detail`): read from real jobs' records as
the engine wrote them (routed, failed with a record, interrupted and restarted), each round-trips
to the object the store keeps, and its fields say what the record says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sanitiser.domain import OutcomeStatus
from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.jobs.detail import JobDetail, JobDetailError, detail_of
from sanitiser.lab.bench import LabKind
from sanitiser.lab.runner import emulator_for
from sanitiser.store import JobView
from tests.integration.test_jobs import (
    MiB,
    Rig,
    file_drive,
    interrupted_job,
    lab_reuse_policy,
    lab_rig,
    rig,
    routed_view,
)

__all__ = ["rig"]  # the fixture, imported


def round_trips(view: JobView) -> JobDetail:
    """The view's typed facts, checked to give back exactly the stored object."""
    detail = detail_of(view)
    assert json.loads(json.dumps(detail.to_json())) == view.detail
    assert JobDetail.from_json(detail.to_json()) == detail
    return detail


def test_a_routed_job_reads_back_whole(rig: Rig, tmp_path: Path) -> None:
    [ssd] = lab_rig(rig, tmp_path, LabKind.SATA_SSD)
    view = routed_view(rig, ssd, str(lab_reuse_policy(tmp_path)), "mia")
    detail = round_trips(view)
    assert detail.drive is not None
    assert detail.drive.serial == ssd.serial
    assert detail.device == ssd.path
    assert (detail.destination, detail.routing_rule) == ("reuse", "reuse")
    assert detail.certificate_id
    assert detail.certificate_id == view.detail["certificate_id"]
    assert detail.outcome is not None
    assert detail.outcome.status is OutcomeStatus.SANITISED
    assert detail.plan is not None
    assert detail.plan.chosen.technique == detail.technique
    assert detail.health is not None
    assert detail.owner is not None
    assert detail.routing is not None
    assert detail.routing["rule_id"] == "reuse"
    assert detail.record_pending is None
    assert not detail.extra


def test_a_failed_job_with_its_record_reads_back_whole(rig: Rig, tmp_path: Path) -> None:
    [nvme] = lab_rig(rig, tmp_path, LabKind.NVME)
    emulator = emulator_for(nvme)
    assert isinstance(emulator, NvmeDriveEmulator)
    emulator.lies = True
    orch = rig.orchestrator()
    [job_id] = orch.start([nvme], operator="pat")
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "failed"
    detail = round_trips(view)
    assert detail.status == "failed"
    assert detail.destination == "destroy"
    assert detail.destruction_level == "ISO/IEC 21964 E-4"
    assert detail.outcome is not None
    assert detail.outcome.verified is False
    assert detail.reason == view.detail["reason"]


def test_an_interrupted_job_and_its_restart_read_back_whole(rig: Rig) -> None:
    drive = file_drive(rig.tmp, "DETAIL-1")
    orch = rig.orchestrator()
    job_id = interrupted_job(rig, orch, drive)
    rig.store.update_job_detail(
        job_id, progress={"phase": "pass 1/1 zeros", "bytes_done": MiB, "total": 2 * MiB}
    )
    old = rig.store.job(job_id)
    assert old is not None
    detail = round_trips(old)
    assert detail.interrupted_from == "sanitising"
    assert detail.status == "interrupted"
    assert detail.progress is not None
    assert detail.progress.bytes_done == MiB
    assert detail.progress.at == ""  # a record that did not say when
    new_id = orch.restart(job_id, operator="frank")
    assert orch.wait([new_id], timeout=120)
    new, old = rig.store.job(new_id), rig.store.job(job_id)
    assert new is not None
    assert old is not None
    assert round_trips(new).retry_of == job_id
    assert round_trips(old).retried_by == new_id


def test_empty_text_unknown_keys_and_empty_blocks_are_kept_as_recorded() -> None:
    raw: dict[str, Any] = {
        "technique_override": "",
        "plan": {},
        "from_a_newer_version": {"x": [1, 2]},
        "policy": "nist-800-88",
    }
    detail = JobDetail.from_json(raw)
    assert detail.technique_override == ""
    assert detail.plan is None
    assert detail.extra == {"plan": {}, "from_a_newer_version": {"x": [1, 2]}}
    assert detail.to_json() == raw


@pytest.mark.parametrize(
    ("key", "value"),
    [("drive", "sda"), ("health", [1]), ("outcome", {"status": "sanitised"}), ("plan", 3)],
)
def test_a_block_of_the_wrong_shape_is_a_clear_error(key: str, value: object) -> None:
    with pytest.raises(JobDetailError, match="unreadable"):
        JobDetail.from_json({key: value})
