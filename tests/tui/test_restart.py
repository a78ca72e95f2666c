"""Restarting a past job from History, driven by Pilot over the real core and the lab bench: the
same plan and typed phrase as any erase, the new job live on the bench to its certificate, the
old job marked restarted; refusals said plainly, with nothing written. And the rules behind it
(which jobs are offered, what recovery tells the technician), tested directly."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from sanitiser.app.services import Services
from sanitiser.domain import Drive, Transport
from sanitiser.errors import SanitiserError
from sanitiser.jobs.journal import ProcessOwner, drive_to_json
from sanitiser.jobs.orchestrator import RecoveryReport
from sanitiser.jobs.restart import restart_refusal, restart_target
from sanitiser.lab.bench import PATTERN_MAGIC
from sanitiser.store import JobView
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.restart import recovery_notice
from sanitiser.tui.screens.destinations import DestinationsScreen
from sanitiser.tui.screens.help import HelpModal
from sanitiser.tui.screens.history import HistoryScreen
from sanitiser.tui.screens.start_erase import StartEraseModal
from tests.tui.helpers import bench_ready, make_app, noticed, notices, sanitise_one, wait_for

# --- the rules ---------------------------------------------------------------------------------


def view(state: str, **detail: Any) -> JobView:
    """A recorded job in `state` with these facts."""
    at = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    return JobView(
        "0123456789abcdef", "key", "SER-1", state, "auto", "bench", "erin", True, at, at, detail
    )


def test_only_ended_jobs_not_yet_restarted_are_offered() -> None:
    """Interrupted, failed and aborted jobs are offered; the others are refused, saying why."""
    for state in ("interrupted", "failed", "aborted"):
        assert restart_refusal(view(state)) == ""
    assert "sanitised its drive (certificate C-1)" in restart_refusal(
        view("routed", certificate_id="C-1")
    )
    assert "still sanitising" in restart_refusal(view("sanitising"))
    assert "already restarted as job fedcba98" in restart_refusal(
        view("interrupted", retried_by="fedcba9876543210")
    )


def test_a_job_whose_drive_is_gone_is_refused_before_any_phrase() -> None:
    """The drive is looked up by identity; when it is absent the technician is told which."""
    drive = Drive("/dev/sdq", "sdq", "M", "GONE-9", 1, Transport.SATA)
    job = view("interrupted", drive=drive_to_json(drive))
    with pytest.raises(SanitiserError, match=r"serial GONE-9, was /dev/sdq\) is not attached"):
        restart_target(job, job.id, lambda d: None)
    moved = dataclasses.replace(drive, path="/dev/sdr", name="sdr")
    assert restart_target(job, job.id, lambda d: moved).drive == moved


def test_recovery_notice_says_what_needs_the_technician() -> None:
    """Only restartable jobs are sent to History; resumed or certified ones carry on."""
    assert recovery_notice(RecoveryReport()) == ""
    notice = recovery_notice(
        RecoveryReport(interrupted=("a", "b", "c"), resumed=("a",), restartable=("b", "c"))
    )
    assert "3 job(s) were interrupted" in notice
    assert "1 carried on by themselves" in notice
    assert "2 interrupted job(s) must be started again: History (h), select the job, r" in notice
    assert "History" not in recovery_notice(RecoveryReport(interrupted=("a",), certified=("a",)))


# --- the flows ---------------------------------------------------------------------------------


def lab_drive(services: Services, name: str) -> Drive:
    """The lab drive called `name`."""
    assert services.lab is not None
    return next(d for d in services.lab.drives() if d.name == name)


def crashed_job(services: Services, drive: Drive, state: str = "probing", **detail: Any) -> str:
    """Record a job on `drive` left in `state` by a process that is gone (no live owner), as a
    crash leaves it; the app's recovery at start records it ``interrupted``."""
    store = services.store
    job_id = store.create_job_record(
        drive,
        station=services.settings.station,
        operator="erin",
        detail={"device": drive.path, "drive": drive_to_json(drive), "policy": "nist-800-88"}
        | detail,
    )
    store.transition_job(job_id, {"queued"}, "probing")
    if state != "probing":
        store.transition_job(job_id, {"probing"}, state)
    return job_id


def state_of(services: Services, job_id: str) -> str:
    """The job's recorded state."""
    job = services.store.job(job_id)
    assert job is not None
    return job.state


def digest(path: str) -> str:
    """The drive image's SHA-256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def open_history(pilot: Pilot[None], app: SanitiserApp, jobs: int) -> HistoryScreen:
    """History, with `jobs` jobs listed and the cursor in the results."""
    await pilot.press("h")
    await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
    history = app.screen
    assert isinstance(history, HistoryScreen)
    await wait_for(pilot, lambda: len(history.views) == jobs)
    await pilot.press("down")  # from the search field to the results
    return history


async def cursor_to(pilot: Pilot[None], history: HistoryScreen, job_id: str) -> None:
    """Put the results' cursor on a job."""
    table = history.query_one("#results", DataTable)
    table.move_cursor(row=table.get_row_index(job_id))
    await pilot.pause()
    assert history.current_job_id() == job_id


async def restart_modal(
    pilot: Pilot[None], app: SanitiserApp, services: Services, old_id: str
) -> tuple[HistoryScreen, StartEraseModal]:
    """Once the crashed job is interrupted: History, `r` on it, its confirmation planned."""
    await bench_ready(pilot, app)
    await wait_for(pilot, lambda: state_of(services, old_id) == "interrupted")
    history = await open_history(pilot, app, jobs=1)
    await pilot.press("r")
    await wait_for(pilot, lambda: isinstance(app.screen, StartEraseModal))
    modal = app.screen
    assert isinstance(modal, StartEraseModal)
    await wait_for(pilot, lambda: modal.plans is not None)
    return history, modal


async def test_restart_from_history_runs_to_a_certificate(services: Services) -> None:
    """An interrupted job restarted from History: the plan and the typed phrase, then a new
    job live on the bench to its certificate, by the bench's operator; the old job keeps its
    record and is marked restarted, and cannot be restarted twice."""
    drive = lab_drive(services, "lab-nvme0")
    old_id = crashed_job(services, drive)
    before = digest(drive.path)
    app = make_app(services, operator="alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await bench_ready(pilot, app)
        await wait_for(pilot, lambda: state_of(services, old_id) == "interrupted")
        await wait_for(pilot, noticed(app, "must be started again"))
        history = await open_history(pilot, app, jobs=1)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, StartEraseModal))
        modal = app.screen
        assert isinstance(modal, StartEraseModal)
        assert modal.focused is not None
        assert modal.focused.id == "cancel"
        assert modal.drives == [drive]
        assert modal.phrase == "ERASE 0001"
        assert f"Restart of job {old_id[:8]} (interrupted while probing)" in str(
            modal.query_one("#erase-heading").render()
        )
        await wait_for(pilot, lambda: modal.plans is not None)
        assert modal.plans is not None
        assert modal.plans[0].method.startswith("nvme-")
        await pilot.press("tab", *"ERASE 0001", "enter")

        await wait_for(pilot, lambda: app.table.states["lab-nvme0"].job_id not in ("", old_id))
        new_id = app.table.states["lab-nvme0"].job_id
        await wait_for(pilot, lambda: app.table.states["lab-nvme0"].outcome == "sanitised")
        await wait_for(pilot, lambda: str(app.table.get_cell("lab-nvme0", "status")) == "sanitised")
        assert app.screen is history  # the technician stays where they were
        results = history.query_one("#results", DataTable)
        await wait_for(pilot, lambda: len(history.views) == 2)
        await wait_for(
            pilot,
            lambda: "restarted" in str(results.get_cell(old_id, "state")),
        )

        assert history.current_job_id() == old_id  # the list was read again; cursor kept
        await pilot.press("r")  # a second time: refused, no phrase asked
        await wait_for(pilot, noticed(app, "already restarted"))
        await pilot.pause(0.2)
        assert app.screen is history

    old, new = services.store.job(old_id), services.store.job(new_id)
    assert old is not None
    assert new is not None
    assert (old.state, old.detail["retried_by"]) == ("interrupted", new_id)
    assert (new.state, new.operator, new.detail["retry_of"]) == ("routed", "alice", old_id)
    assert services.store.certificate_record(new.detail["certificate_id"]) is not None
    assert len(services.store.jobs()) == 2
    assert digest(drive.path) != before
    assert not Path(drive.path).read_bytes().startswith(PATTERN_MAGIC)


async def test_cancel_or_a_wrong_phrase_starts_nothing(services: Services) -> None:
    """The confirmation of a restart refuses anything but the phrase, and Cancel leaves the
    store and the drive as they were. The plan is the job's own (its imposed technique)."""
    drive = lab_drive(services, "lab-sata-ssd0")
    old_id = crashed_job(services, drive, technique_override="host-overwrite")
    before = digest(drive.path)
    app = make_app(services, operator="alice")
    async with app.run_test(size=(140, 40)) as pilot:
        history, modal = await restart_modal(pilot, app, services, old_id)
        assert modal.plans is not None
        assert modal.plans[0].method == "host-overwrite"
        await pilot.press("tab", *"ERASE 9999", "enter")
        assert app.screen is modal
        assert "Not confirmed" in str(modal.query_one("#plan-status").render())
        await pilot.press("shift+tab", "enter")  # back to Cancel, Enter
        await wait_for(pilot, lambda: app.screen is history)
        await wait_for(pilot, lambda: "Cancelled: nothing was erased." in notices(app))
        await pilot.press("r")  # again, then Escape
        await wait_for(pilot, lambda: isinstance(app.screen, StartEraseModal))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is history)
        await pilot.pause(0.3)
        # The row may show the old, interrupted job (recovery reports it), never a new one.
        assert app.table.states["lab-sata-ssd0"].job_id in ("", old_id)
    [job] = services.store.jobs()
    assert job.id == old_id
    assert "retried_by" not in job.detail
    assert digest(drive.path) == before


async def test_the_orchestrator_checks_again_after_the_phrase(services: Services) -> None:
    """Restarted elsewhere while the confirmation was open: the orchestrator refuses, its own
    sentence is shown, and nothing is erased."""
    drive = lab_drive(services, "lab-usb-flash0")
    old_id = crashed_job(services, drive)
    before = digest(drive.path)
    app = make_app(services, operator="alice")
    async with app.run_test(size=(140, 40)) as pilot:
        history, _ = await restart_modal(pilot, app, services, old_id)
        services.store.update_job_detail(old_id, retried_by="restarted-by-the-cli")
        await pilot.press("tab", *"ERASE 0001", "enter")
        await wait_for(pilot, lambda: app.screen is history)
        said = f"Job {old_id[:8]} was not restarted: Job {old_id[:8]} was already restarted as "
        await wait_for(pilot, lambda: any(n.startswith(said) for n in notices(app)))
        await pilot.pause(0.3)
    assert [j.id for j in services.store.jobs()] == [old_id]
    assert digest(drive.path) == before


async def test_jobs_that_cannot_be_restarted_are_refused_with_the_reason(
    services: Services,
) -> None:
    """A sanitised job, a job still running and a job whose drive is not attached: each says
    why, no phrase is asked and no job is recorded."""
    assert services.lab is not None
    running = crashed_job(services, lab_drive(services, "lab-sata-hdd0"), "sanitising")
    services.store.update_job_detail(running, owner=ProcessOwner.current().to_json())
    gone = crashed_job(services, lab_drive(services, "lab-usb-hdd0"))
    services.lab.remove_drive("lab-usb-hdd0")
    app = make_app(services, operator="alice")
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: "lab-sata-ssd0" in app.table.states)
        await wait_for(pilot, lambda: state_of(services, gone) == "interrupted")
        await sanitise_one(pilot, app, "lab-sata-ssd0", "0001")
        done = app.table.states["lab-sata-ssd0"].job_id
        cert = app.table.states["lab-sata-ssd0"].certificate_id
        history = await open_history(pilot, app, jobs=3)
        for job_id, says in (
            (done, f"sanitised its drive (certificate {cert}): there is nothing to restart"),
            (running, "is still sanitising: only an ended job can be restarted"),
            (gone, "(serial SIM-UHDD-0001, was"),
        ):
            await cursor_to(pilot, history, job_id)
            await pilot.press("r")
            await wait_for(pilot, noticed(app, says))
            await pilot.pause(0.2)
            assert app.screen is history
    assert len(services.store.jobs()) == 3
    assert all("retried_by" not in j.detail for j in services.store.jobs())


async def test_help_reminds_of_the_phrase_only_where_a_disk_can_be_erased(
    services: Services,
) -> None:
    """The bench (start) and History (restart) say a phrase is asked; Destinations does not."""
    app = make_app(services)
    async with app.run_test(size=(100, 40)) as pilot:
        await bench_ready(pilot, app)

        async def help_of() -> str:
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpModal))
            text = str(app.screen.query_one("#keys").render())
            await pilot.press("escape")
            return text

        bench = await help_of()
        assert "starting asks you to type a phrase" in bench
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        await pilot.press("down")  # out of the search field, where ? would be typed
        history = await help_of()
        assert "restarting asks you to type a phrase" in history
        assert "Start an interrupted, failed or aborted job again" in history
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.bench_screen)
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, DestinationsScreen))
        assert "phrase" not in await help_of()
