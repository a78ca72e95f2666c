"""Two restarts of one job from two processes (two benches on one store): one new job."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import pytest

from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.errors import SanitiserError
from sanitiser.jobs.orchestrator import Orchestrator
from sanitiser.lab.bench import LabBench, LabKind
from sanitiser.lab.runner import emulator_for, lab_runner
from sanitiser.runner import CommandResult
from sanitiser.store import Store
from tests.integration.test_jobs import (
    STATION,
    Rig,
    _Crash,
    file_drive,
    hold_method,
    interrupted_job,
    rig,
)

__all__ = ["rig"]  # the fixture, shared with test_jobs


def test_two_processes_restarting_one_job_make_one_new_job(rig: Rig) -> None:
    """Each orchestrator has its own store connection and its own lock (as two processes do);
    they restart the same interrupted job at the same moment. The store's compare-and-set lets
    exactly one through; the other is told which job won, and no second job exists."""
    gate, entered = threading.Event(), threading.Event()
    hold_method(rig, gate, entered)
    first = rig.orchestrator()
    old = interrupted_job(rig, first, file_drive(rig.tmp, "RACE-1"))
    other_store = Store(rig.store.url)
    second = Orchestrator(
        other_store, rig.deps(), station=STATION, organisation="Test Org", poll_interval=0.01
    )
    rig.orchestrators.append(second)
    barrier = threading.Barrier(2)
    started: list[str] = []
    refused: list[str] = []

    def restart(orch: Orchestrator) -> None:
        barrier.wait()
        try:
            started.append(orch.restart(old, operator="pat"))
        except SanitiserError as e:
            refused.append(e.msg)

    threads = [threading.Thread(target=restart, args=(o,)) for o in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    gate.set()
    assert len(started) == 1, refused
    assert len(refused) == 1
    assert f"already restarted as job {started[0][:8]}" in refused[0]
    for orch in (first, second):
        assert orch.wait(timeout=120)
    assert sorted(j.id for j in rig.store.jobs()) == sorted([old, started[0]])
    assert rig.job(old).detail["retried_by"] == started[0]


def test_a_claim_is_released_when_the_new_job_cannot_be_recorded(rig: Rig) -> None:
    """If starting the new job fails after the claim, the old job is not left pointing at a
    job that does not exist: it can be restarted again."""
    orch = rig.orchestrator()
    old = interrupted_job(rig, orch, file_drive(rig.tmp, "RACE-2"))

    def failing_start(*args: object, **kwargs: object) -> list[str]:
        raise SanitiserError("the store went away", title="Store")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(orch, "start", failing_start)
        with pytest.raises(SanitiserError, match="the store went away"):
            orch.restart(old, operator="pat")
        assert "retried_by" not in rig.job(old).detail
    new = orch.restart(old, operator="pat")
    assert orch.wait([new], timeout=120)
    assert rig.job(old).detail["retried_by"] == new


def test_a_resumed_job_is_not_repolled_on_a_different_drive(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bench dies while an NVMe sanitize runs; at the next start the drive found under
    that serial is another size: the job is not re-polled there (as a restart would refuse)."""
    lab = LabBench(tmp_path / "labdata", drive_mib=4, kinds=(LabKind.NVME,))
    [drive] = lab.list()
    emulator = emulator_for(drive)
    assert isinstance(emulator, NvmeDriveEmulator)
    emulator.polls_per_sanitize = 6
    inner = lab_runner(lab)
    crashed = threading.Event()

    class CrashAfterSanitize:
        def run(self, argv: Any, **kw: Any) -> CommandResult:
            res = inner.run(argv, **kw)
            if tuple(argv[:2]) == ("nvme", "sanitize") and not crashed.is_set():
                crashed.set()
                raise _Crash
            return res

    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the staged "death"
    rig.runner = CrashAfterSanitize()
    first = rig.orchestrator()
    [job_id] = first.start([drive], operator="gina")
    first.wait([job_id], timeout=60)
    assert crashed.is_set()
    rig.kill_owner(job_id)
    rig.runner = inner
    other = dataclasses.replace(drive, size_bytes=drive.size_bytes * 2)
    deps = dataclasses.replace(rig.deps(), find_drive=lambda d: other)
    second = Orchestrator(
        rig.store, deps, station=STATION, organisation="Test Org", poll_interval=0.01
    )
    rig.orchestrators.append(second)
    report = second.recover()
    assert report.interrupted == (job_id,)
    assert report.resumed == ()
    notes = [e.data.get("message", "") for e in rig.store.job_events(job_id) if e.kind == "note"]
    assert any("not re-polled" in n and "size is now" in n for n in notes), notes
