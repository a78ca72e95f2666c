"""The same store code on both engines: an SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import json
import threading

import pytest

from sanitiser.custody.events import drive_seen
from sanitiser.domain import UNKNOWN_HEALTH, Protection
from sanitiser.errors import RecordStoreError
from sanitiser.store import StaleJobStateError, Store
from sanitiser.store.audit import entries, verify_chain
from tests.store.bench_rig import certificate, drive, one_device


def test_drives_jobs_events_and_journal_round_trip(store_url: str) -> None:
    """Drives seen, a journalled job, its method journal and events read back as written."""
    store = Store(store_url)
    d = drive("bench-01", 1)
    drive_seen(store, d, UNKNOWN_HEALTH, Protection(False), station="bench-01")
    drive_seen(store, d, UNKNOWN_HEALTH, Protection(False), station="bench-01")
    (seen,) = store.drives()
    assert seen.serial == d.serial
    assert seen.first_seen <= seen.last_seen
    assert seen.last_seen.tzinfo is not None
    job = store.create_job_record(d, station="bench-01", operator="ana", detail={"plan": "x"})
    store.transition_job(job, {"queued"}, "sanitising", event={"why": "go"}, technique="t")
    store.save_job_journal(job, {"seed": "abc"})
    store.append_job_event(job, "progress", {"bytes_done": 5})
    view = store.job(job)
    assert view is not None
    assert (view.state, view.detail) == ("sanitising", {"plan": "x", "technique": "t"})
    assert store.job_journal(job) == {"seed": "abc"}
    events = store.job_events(job)
    assert [(e.kind, e.state) for e in events] == [
        ("transition", "queued"),
        ("transition", "sanitising"),
        ("progress", "sanitising"),
    ]
    assert events[1].data == {"from": "queued", "to": "sanitising", "why": "go"}
    with pytest.raises(StaleJobStateError):
        store.transition_job(job, {"queued"}, "done")
    # only the one custody entry: the second sighting is the same custody
    assert [e.kind for e in entries(store, station="bench-01")] == ["received"]


def test_certificates_are_kept_once_per_job_and_never_replaced(store_url: str) -> None:
    """The first certificate of a job wins; an id is never written twice."""
    store = Store(store_url)
    d = drive("bench-01", 2)
    job = store.create_job_record(d, station="bench-01")
    first, envelope, _ = certificate("bench-01", d)
    second, other, _ = certificate("bench-01", d)
    assert store.save_job_certificate(job, first, envelope) == first
    assert store.save_job_certificate(job, second, other) == first
    assert store.certificate_record(first) == envelope
    assert store.certificate_record(second) is None
    with pytest.raises(RecordStoreError, match="never edited"):
        store.save_certificate(first, other)


def test_concurrent_job_updates_lose_nothing(store_url: str) -> None:
    """Eight writers (half on their own engine, like processes) merging facts into one job
    at once: every fact lands (the compare-and-set retries)."""
    shared = Store(store_url)
    job = shared.create_job_record(drive("bench-01", 3), station="bench-01")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        own = shared if n % 2 else Store(store_url)
        try:
            for i in range(10):
                own.update_job_detail(job, **{f"w{n}_{i}": i})
        except Exception as e:  # noqa: BLE001 - surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    view = shared.job(job)
    assert view is not None
    assert len(view.detail) == 80


def test_a_bench_batch_is_recorded_whole(store_url: str) -> None:
    """A batch of devices: one job, one certificate and two custody entries per device; the
    station's chain verifies."""
    store = Store(store_url)
    done = [one_device(store, "bench-07", i) for i in range(5)]
    assert len({cert for _, cert in done}) == 5
    assert {j.state for j in store.jobs()} == {"done"}
    kinds = [e.kind for e in entries(store, station="bench-07")]
    assert kinds.count("received") == 5
    assert (kinds.count("sanitised"), kinds.count("not-sanitised")) == (4, 1)  # device 3 failed
    report = verify_chain(store)
    assert report.ok
    assert dict(report.stations) == {"bench-07": 10}
    record = json.loads(store.certificate_record(done[0][1]) or b"{}")
    assert record["record"]["station"] == "bench-07"
