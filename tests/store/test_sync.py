"""Offline operation: a fleet bench cut off from the central database keeps working on its local
journal, and every journal record reaches the central database exactly once afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, select

from sanitiser.custody.events import drive_seen, record_sanitised
from sanitiser.domain import UNKNOWN_HEALTH, Protection
from sanitiser.store import Store
from sanitiser.store.audit import entries, verify_chain
from sanitiser.store.consignments import (
    ConsignmentError,
    cancel_consignment,
    list_consignments,
    open_consignment,
)
from sanitiser.store.destinations import add_destination
from sanitiser.store.sync import push_journal
from sanitiser.store.tables import AuditEntry, CertificateRow, Job, JobEvent, SyncLedger
from tests.pg import Link, PostgresServer
from tests.store.bench_rig import certificate, drive, one_device

EVENTS_PER_DEVICE = 5
"""queued, sanitising, progress, certifying, done."""


def _count(store: Store, model: type) -> int:
    with Session(store.central_engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _journal(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journal.db'}"


@pytest.fixture
def link(pg_server: PostgresServer) -> Iterator[tuple[Link, str, str]]:
    """A new central database, reached through a cuttable link: (link, URL through the link,
    direct URL)."""
    name = pg_server.new_database("sync")
    proxy = Link(pg_server.port)
    try:
        yield proxy, pg_server.url(name, port=proxy.port), pg_server.url(name)
    finally:
        proxy.close()


def _check_central(central: Store, station: str, devices: int) -> None:
    assert _count(central, Job) == devices
    assert _count(central, CertificateRow) == devices
    assert _count(central, JobEvent) == devices * EVENTS_PER_DEVICE
    assert {j.state for j in central.jobs()} == {"done"}
    report = verify_chain(central)
    assert report.ok, report.first_broken
    kinds = [e.kind for e in entries(central, station=station)]
    outcomes = kinds.count("sanitised") + kinds.count("not-sanitised")  # one per record
    assert (kinds.count("received"), outcomes) == (devices, devices)
    assert [e.seq for e in entries(central, station=station)] == list(range(1, 2 * devices + 1))


@pytest.mark.postgres
def test_cut_off_mid_batch_the_bench_carries_on_and_syncs_once(
    link: tuple[Link, str, str], tmp_path: Path
) -> None:
    """Four devices online, a job in flight when the network drops, four devices offline: the
    bench never stops; afterwards one push brings every record over (the in-flight job
    carried on from its central state), a second push adds nothing."""
    proxy, through, direct = link
    bench = Store(through, journal=_journal(tmp_path), retry_after=3600)
    central = Store(direct)
    for i in range(4):
        one_device(bench, "bench-01", i)
    d = drive("bench-01", 4)
    drive_seen(bench, d, UNKNOWN_HEALTH, Protection(False), station="bench-01")
    job = bench.create_job_record(d, station="bench-01")
    bench.transition_job(job, {"queued"}, "sanitising")
    bench.save_job_journal(job, {"seed": "42"})
    online = not bench.offline  # a local: mypy would keep bench.offline narrowed past the cut
    assert online

    proxy.cut()
    bench.append_job_event(job, "progress", {"bytes_done": 1})
    assert bench.offline
    assert bench.job_journal(job) == {"seed": "42"}
    bench.transition_job(job, {"sanitising"}, "certifying")
    cert_id, envelope, record = certificate("bench-01", d)
    bench.save_job_certificate(job, cert_id, envelope, serial=d.serial)
    record_sanitised(bench, record, station="bench-01")
    bench.transition_job(job, {"certifying"}, "done")
    for i in range(5, 9):
        one_device(bench, "bench-01", i)
    assert _count(central, Job) == 5  # the offline work is only in the journal
    assert verify_chain(bench).ok  # the journal's own chain

    proxy.restore()
    local = bench.journal_engine()
    assert local is not None
    first = push_journal(local, central.central_engine)
    assert first.conflicts == ()
    assert (first.certificates, first.audit_entries) == (5, 9)
    _check_central(central, "bench-01", 9)
    again = push_journal(local, central.central_engine)
    assert again.total == 0
    _check_central(central, "bench-01", 9)
    with Session(central.central_engine) as s:
        links = s.exec(select(SyncLedger).where(SyncLedger.kind == "audit")).all()
    assert sorted(r.local_seq for r in links) == list(range(1, 10))
    assert all(r.central_id > 9 for r in links)  # appended after the online entries


@pytest.mark.postgres
def test_a_connection_left_mid_command_when_the_link_is_cut_is_not_reused(
    link: tuple[Link, str, str], tmp_path: Path
) -> None:
    """The flake from CI, made deterministic: a pooled connection is in the middle of a command
    (psycopg status ACTIVE) when the link is cut. The next unit of work must not crash with
    "can't change 'autocommit' now": the pool drops that connection and the bench goes to its
    journal, then syncs once the link is back."""
    proxy, through, direct = link
    bench = Store(through, journal=_journal(tmp_path), retry_after=3600)
    one_device(bench, "bench-04", 0)
    raw = bench.central_engine.raw_connection()
    stuck = raw.driver_connection
    assert stuck is not None
    raw.close()  # back in the pool, idle
    stuck.pgconn.send_query(b"SELECT pg_sleep(30)")  # ... and now mid-command, in the pool
    proxy.cut()
    one_device(bench, "bench-04", 1)
    assert bench.offline
    proxy.restore()
    local = bench.journal_engine()
    assert local is not None
    assert push_journal(local, Store(direct).central_engine).conflicts == ()
    _check_central(Store(direct), "bench-04", 2)


@pytest.mark.postgres
def test_the_store_goes_back_to_the_central_database_by_itself(
    link: tuple[Link, str, str], tmp_path: Path
) -> None:
    """Offline writes are pushed by the store itself once the central database answers
    again, and work goes back to it."""
    proxy, through, direct = link
    bench = Store(through, journal=_journal(tmp_path), retry_after=0.2)
    one_device(bench, "bench-02", 0)
    proxy.cut()
    one_device(bench, "bench-02", 1)
    one_device(bench, "bench-02", 2)
    offline = bench.offline  # a local: mypy would keep bench.offline narrowed past the restore
    assert offline
    proxy.restore()
    time.sleep(0.3)
    one_device(bench, "bench-02", 3)
    assert not bench.offline
    _check_central(Store(direct), "bench-02", 4)


def test_a_bench_that_starts_offline_works_on_its_journal(tmp_path: Path) -> None:
    """With the central database unreachable from the start, the store opens on the journal."""
    bench = Store(
        "postgresql+psycopg://bench:secret@127.0.0.1:1/fleet?connect_timeout=2",
        journal=_journal(tmp_path),
        retry_after=3600,
    )
    assert bench.offline
    one_device(bench, "bench-03", 0)
    assert len(bench.jobs()) == 1
    assert verify_chain(bench).ok
    assert (tmp_path / "journal.db").is_file()


def _offline_journal(tmp_path: Path, station: str, devices: int) -> Store:
    """A journal written as a bench does while offline."""
    local = Store(_journal(tmp_path))
    for i in range(devices):
        one_device(local, station, 100 + i)
    return local


def test_pushes_raced_and_repeated_add_each_record_once(store_url: str, tmp_path: Path) -> None:
    """Three pushes of one journal at once, then one more: each record arrives once, after
    the station's online entries, and the central chain verifies (both engines)."""
    central = Store(store_url)
    for i in range(3):
        one_device(central, "bench-04", i)  # written online before the bench went offline
    local = _offline_journal(tmp_path, "bench-04", 6)
    errors: list[BaseException] = []

    def push() -> None:
        try:
            push_journal(local.engine, central.engine)
        except Exception as e:  # noqa: BLE001 - surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=push) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _check_central(central, "bench-04", 9)
    assert push_journal(local.engine, central.engine).total == 0


def test_a_tampered_journal_chain_is_not_pushed(store_url: str, tmp_path: Path) -> None:
    """An edited entry in the journal's chain is reported; none of that chain is pushed, the
    other records are."""
    central = Store(store_url)
    local = _offline_journal(tmp_path, "bench-05", 3)
    with local.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2"))
    report = push_journal(local.engine, central.engine)
    assert report.audit_entries == 0
    assert report.certificates == 3
    assert any("bench-05 is broken at seq 2" in c for c in report.conflicts)
    assert _count(central, AuditEntry) == 0


def test_a_certificate_id_clash_is_reported_never_overwritten(
    store_url: str, tmp_path: Path
) -> None:
    """A central certificate with the journal's id but other bytes stays as it is."""
    central = Store(store_url)
    local = _offline_journal(tmp_path, "bench-06", 1)
    (job,) = local.jobs()
    cert_id = local.certificate_for_job(job.id)
    assert cert_id is not None
    central.save_certificate(cert_id, b'{"other": true}\n')
    report = push_journal(local.engine, central.engine)
    assert any(cert_id in c for c in report.conflicts)
    assert central.certificate_record(cert_id) == b'{"other": true}\n'


def test_a_consignment_is_not_cancelled_in_the_journal(tmp_path: Path) -> None:
    """A push carries rows, not their removal: a cancel made while the central database is
    away would leave its items consigned centrally, so it is refused there with why; the
    consignment stays open."""
    bench = Store(
        "postgresql+psycopg://bench:secret@127.0.0.1:1/fleet?connect_timeout=2",
        journal=_journal(tmp_path),
        retry_after=3600,
    )
    assert bench.offline
    add_destination(bench, "Device Bank", kind="reuse", contact="c@x", accepts=["ssd"],
                    station="bench-05")  # fmt: skip
    opened = open_consignment(bench, "Device Bank", station="bench-05", operator="ana")
    with pytest.raises(ConsignmentError, match="cancel once the link is back"):
        cancel_consignment(bench, opened.id, reason="mistake", operator="ana", station="bench-05")
    assert [c.state for c in list_consignments(bench)] == ["open"]
