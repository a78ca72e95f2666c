"""The bench's functional core: selection rules, confirmation phrases, formatting, search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sanitiser.app.confirm import confirmation_phrase, phrase_matches
from sanitiser.app.services import DriveStatus
from sanitiser.certificate.qr import qr_matrix
from sanitiser.domain import Drive, Health, HealthGrade, Protection, Transport
from sanitiser.jobs.events import JobOutcome, JobPhase, JobProgress
from sanitiser.store import JobView
from sanitiser.tui.model import (
    RowState,
    apply_event,
    duration,
    elapsed,
    job_matches,
    progress_bar,
    qr_lines,
    search_jobs,
)

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def drive(name: str, serial: str = "") -> Drive:
    """A SATA drive with this name and serial."""
    return Drive(
        path=f"/dev/{name}",
        name=name,
        model="M",
        serial=serial,
        size_bytes=10**9,
        transport=Transport.SATA,
    )


def status(d: Drive, protected: str = "") -> DriveStatus:
    """The drive, healthy, protected with `protected` as reason when given."""
    reasons = (protected,) if protected else ()
    return DriveStatus(d, Health(HealthGrade.A), Protection(bool(protected), reasons))


def view(job_id: str, serial: str, operator: str, cert: str, at: datetime) -> JobView:
    """A routed job as the store returns it."""
    return JobView(
        job_id,
        f"sata:{serial}:",
        serial,
        "routed",
        "auto",
        "bench-1",
        operator,
        False,
        at,
        at,
        {"certificate_id": cert, "technique": "ata-sanitize-crypto"},
    )


def test_one_drive_phrase_names_the_end_of_its_serial() -> None:
    """Erasing one drive asks for the last four characters of its serial."""
    assert confirmation_phrase([drive("sdb", "WD-WCC4N1234567")]) == "ERASE 4567"


def test_drive_without_serial_is_named_by_kernel_name() -> None:
    """No serial: the end of the kernel name is used instead."""
    assert confirmation_phrase([drive("nvme0n1")]) == "ERASE e0n1"


def test_several_drives_phrase_names_the_count() -> None:
    """Several drives: the phrase says how many will be destroyed."""
    drives = [drive("sdb", "A1"), drive("sdc", "B2"), drive("sdd", "C3")]
    assert confirmation_phrase(drives) == "ERASE 3 DRIVES"


def test_phrase_needs_a_drive() -> None:
    """There is no phrase for nothing."""
    with pytest.raises(ValueError, match="no drive"):
        confirmation_phrase([])


@pytest.mark.parametrize(
    ("typed", "ok"),
    [
        ("ERASE 2 DRIVES", True),
        ("  erase 2   drives ", True),
        ("ERASE 3 DRIVES", False),
        ("ERASE 2", False),
        ("", False),
        ("y", False),
    ],
)
def test_phrase_must_be_typed_exactly(typed: str, ok: bool) -> None:
    """Only the phrase itself (case and spacing aside) confirms."""
    assert phrase_matches(typed, "ERASE 2 DRIVES") is ok


def test_protected_and_busy_drives_are_not_eligible() -> None:
    """A protected drive, or one with a running job, may not be selected; a free one may."""
    free = RowState(status(drive("sdb", "S1")))
    assert free.eligible
    protected = RowState(status(drive("sda", "S0"), "holds the root filesystem /"))
    assert not protected.eligible
    assert protected.status.protection.reason == "holds the root filesystem /"
    busy = apply_event(free, JobPhase("j1", "/dev/sdb", "sanitising", at=T0))
    assert busy.busy
    assert not busy.eligible


def test_events_move_a_row_through_its_job() -> None:
    """Phase, progress and outcome events give the row its state, bar, ETA and certificate."""
    row = RowState(status(drive("sdb", "S1")), selected=True)
    row = apply_event(row, JobPhase("j1", "/dev/sdb", "queued", at=T0))
    assert row.job_id == "j1"
    assert row.state == "queued"
    assert not row.selected
    row = apply_event(row, JobPhase("j1", "/dev/sdb", "sanitising", at=T0 + timedelta(1)))
    assert row.started_at == T0
    row = apply_event(row, JobProgress("j1", "/dev/sdb", "overwrite", 50, 200, 80.0, 90.0))
    assert row.fraction == 0.25
    assert row.eta_s == 90.0
    assert row.mbps == 80.0
    assert elapsed(row, T0 + timedelta(seconds=75)) == 75.0
    end = T0 + timedelta(seconds=100)
    row = apply_event(
        row,
        JobOutcome(
            "j1",
            "/dev/sdb",
            "S1",
            "sanitised",
            "routed",
            method="host-overwrite",
            certificate_id="c-1",
            finished_at=end,
        ),
    )
    assert (row.outcome, row.certificate_id, row.method) == ("sanitised", "c-1", "host-overwrite")
    assert not row.busy
    assert row.eligible
    assert elapsed(row, end + timedelta(hours=1)) == 100.0


def test_a_new_job_resets_the_row() -> None:
    """A second job on the same drive starts from a clean row."""
    row = RowState(status(drive("sdb", "S1")), job_id="j1", state="failed", reason="boom")
    row = apply_event(row, JobPhase("j2", "/dev/sdb", "queued", at=T0))
    assert (row.job_id, row.state, row.reason, row.outcome) == ("j2", "queued", "", "")


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(None, ""), (0.0, "░░░░░░░░░░   0%"), (0.5, "█████░░░░░  50%"), (1.0, "██████████ 100%")],
)
def test_progress_bar(fraction: float | None, text: str) -> None:
    """The bar fills in tenths and shows the percentage."""
    assert progress_bar(fraction) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, ""), (-1, ""), (0, "0:00"), (75, "1:15"), (3725, "1:02:05")]
)
def test_duration(seconds: float | None, text: str) -> None:
    """Durations read as M:SS, or H:MM:SS past an hour."""
    assert duration(seconds) == text


def test_search_by_serial_certificate_date_and_operator() -> None:
    """Every word must match one of the job's facts; an empty search finds everything."""
    a = view("job-a", "WD-111", "alice", "cert-aaa", T0)
    b = view("job-b", "ST-222", "bob", "cert-bbb", T0 + timedelta(days=1))
    assert search_jobs([a, b], "") == [a, b]
    assert search_jobs([a, b], "st-222") == [b]
    assert search_jobs([a, b], "cert-aaa") == [a]
    assert search_jobs([a, b], "2025-03-05") == [b]
    assert search_jobs([a, b], "alice 2025-03-04") == [a]
    assert search_jobs([a, b], "alice 2025-03-05") == []
    assert not job_matches(a, "carol")


def test_qr_lines_keep_every_module() -> None:
    """Two modules per line with the quiet zone: dark modules are the blank parts."""
    matrix = qr_matrix("https://example.org/v#ABC")
    lines = qr_lines(matrix, quiet=2)
    size = len(matrix) + 4
    assert len(lines) == (size + 1) // 2
    assert all(len(line) == size for line in lines)
    top_left_dark = matrix[0][0]
    assert top_left_dark  # finder pattern
    # Row 2-3 of the padded image (matrix rows 0-1), column 2 (matrix column 0): both dark.
    assert lines[1][2] == " "
    assert lines[0] == "█" * size  # the quiet zone is light
