"""The plan the start-erase modal shows (`Bench.plan`) is the plan the job then makes: for
every lab drive, a job started with the plan shown runs it (the job refuses only when the drive
changed in between; `tests/integration/test_confirmed_plan.py`)."""

from __future__ import annotations

from sanitiser.app.jobs import make_orchestrator
from sanitiser.app.services import Services
from sanitiser.tui.bench import Bench


def test_every_lab_drive_runs_the_plan_it_was_shown(services: Services) -> None:
    bench = Bench(services, make_orchestrator(services, poll_interval=0.01))
    drives = [d for d in services.source.list() if d.simulated]
    assert drives
    plans = [bench.plan(d) for d in drives]
    assert all(p.plan is not None for p in plans), [p.error for p in plans]
    ids = bench.start(drives, "alice", plans)
    try:
        assert bench.orchestrator.wait(ids, timeout=300)
        for job_id, plan in zip(ids, plans, strict=True):
            view = bench.job(job_id)
            assert view is not None
            assert "was shown" not in str(view.detail.get("reason", "")), view.detail
            assert view.detail.get("technique", "DESTROY") in (plan.method, "")
    finally:
        bench.orchestrator.close()
