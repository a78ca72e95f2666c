"""The store: drives seen and jobs, on SQLite files (the embedded default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.domain import UNKNOWN_HEALTH, Drive, Health, HealthGrade, Protection, Transport
from sanitiser.errors import RecordStoreError
from sanitiser.store import Store, drive_key

DISK = Drive(
    path="/dev/sdb",
    name="sdb",
    model="M",
    serial="S1",
    size_bytes=10**9,
    transport=Transport.SATA,
    wwn="0x5000",
)


def test_drive_seen_is_recorded_and_refreshed(tmp_path: Path) -> None:
    """Seeing a drive twice keeps one row with the newest facts."""
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.record_drive_seen(DISK, UNKNOWN_HEALTH, Protection(False))
    store.record_drive_seen(
        DISK, Health(grade=HealthGrade.B), Protection(True, ("partition sdb1 is mounted at /x",))
    )
    (view,) = store.drives()
    assert view.key == drive_key(DISK)
    assert (view.health_grade, view.protected) == ("B", True)
    assert view.protected_reason == "partition sdb1 is mounted at /x"
    assert view.first_seen <= view.last_seen


def test_records_survive_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    """A restart (new Store on the same file) sees every record written before."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    job = Store(url).create_job(DISK, station="bench-1", operator="ana")
    Store(url).set_job_state(job, "failed", reason="drive removed")
    (view,) = Store(url).jobs()
    assert (view.id, view.state, view.operator) == (job, "failed", "ana")
    assert view.detail == {"reason": "drive removed"}


def test_serialless_drives_are_keyed_by_path() -> None:
    """A loop device without serial or WWN is keyed by its path."""
    loop = Drive(
        path="/dev/loop3", name="loop3", model="", serial="", size_bytes=1, transport=Transport.LOOP
    )
    assert drive_key(loop) == "path:/dev/loop3"


def test_unknown_job_is_a_store_error(tmp_path: Path) -> None:
    """Updating a job that does not exist raises RecordStoreError."""
    with pytest.raises(RecordStoreError, match="no job"):
        Store(f"sqlite:///{tmp_path / 's.db'}").set_job_state("nope", "failed")


def test_unreachable_database_is_a_clear_error() -> None:
    """A database that cannot be opened gives RecordStoreError without the password."""
    with pytest.raises(RecordStoreError) as e:
        Store("postgresql+psycopg://user:secret@127.0.0.1:1/none?connect_timeout=2")
    assert "secret" not in str(e.value)
