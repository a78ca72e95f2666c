"""The hash-chained audit log: appends, verification, tampering caught, per-station chains,
concurrent writers (SQLite file; PostgreSQL when the server binaries are installed)."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from sanitiser.custody.events import outcome_kind, record_received, record_sanitised
from sanitiser.domain import Drive, Transport
from sanitiser.errors import RecordStoreError
from sanitiser.store import Store
from sanitiser.store.audit import (
    CUSTODY_KINDS,
    GENESIS,
    AuditKind,
    append_event,
    chain_head,
    entries,
    verify_chain,
)

DRIVE = Drive(
    path="/dev/sdb",
    name="sdb",
    model="M",
    serial="S1",
    size_bytes=10**9,
    transport=Transport.SATA,
    wwn="0x5000",
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store on an SQLite file."""
    return Store(f"sqlite:///{tmp_path / 'audit.db'}")


def _fill(store: Store, station: str, n: int) -> None:
    for i in range(n):
        append_event(
            store,
            station=station,
            kind=AuditKind.RECEIVED,
            subject=f"sata:S{i}:",
            actor="ana",
            data={"i": i, "serial": f"S{i}"},
        )


def _sql(store: Store, statement: str, **params: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_appended_entries_verify_and_hash_as_documented(store: Store) -> None:
    """Entries get seq 1..n; the first hash is SHA-256(32 zero bytes || canonical entry)."""
    _fill(store, "bench-01", 5)
    report = verify_chain(store)
    assert report.ok
    assert report.entries == 5
    assert report.first_broken is None
    log = entries(store, station="bench-01")
    assert [e.seq for e in log] == [1, 2, 3, 4, 5]
    first = log[0]
    body = json.dumps(
        {
            "actor": "ana",
            "at": first.at,
            "data": {"i": 0, "serial": "S0"},
            "kind": "received",
            "ref": "",
            "seq": 1,
            "station": "bench-01",
            "subject": "sata:S0:",
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert first.prev_hash == GENESIS
    assert first.hash == hashlib.sha256(bytes(32) + body).hexdigest()
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(log))
    assert chain_head(store, "bench-01") == (5, log[-1].hash)


def test_edited_payload_is_caught_at_its_seq(store: Store) -> None:
    """Changing one row's data through raw SQL breaks the chain exactly there."""
    _fill(store, "bench-01", 6)
    _sql(
        store,
        "UPDATE audit_entry SET data = :d WHERE station = 'bench-01' AND seq = 4",
        d=json.dumps({"i": 3, "serial": "FORGED"}, separators=(",", ":"), sort_keys=True),
    )
    report = verify_chain(store)
    assert not report.ok
    assert report.first_broken is not None
    assert report.first_broken[:2] == ("bench-01", 4)
    assert "do not match its hash" in report.first_broken.reason


def test_whitespace_only_edit_is_caught(store: Store) -> None:
    """Even an edit that keeps the JSON's meaning (non-canonical spacing) is noticed."""
    _fill(store, "bench-01", 3)
    _sql(store, "UPDATE audit_entry SET data = :d WHERE seq = 2", d='{"i": 1, "serial": "S1"}')
    broken = verify_chain(store).first_broken
    assert broken is not None
    assert broken.seq == 2
    assert "canonical" in broken.reason


def test_edited_actor_or_time_is_caught(store: Store) -> None:
    """Columns outside the payload (who, when) are covered by the hash too."""
    _fill(store, "bench-01", 3)
    _sql(store, "UPDATE audit_entry SET actor = 'mallory' WHERE seq = 3")
    broken = verify_chain(store).first_broken
    assert broken is not None
    assert broken.seq == 3


def test_rehashed_row_breaks_the_next_link(store: Store) -> None:
    """A forger who recomputes the edited row's own hash is caught at the next entry."""
    _fill(store, "bench-01", 4)
    with store.engine.begin() as conn:
        row = conn.execute(text("SELECT at, prev_hash FROM audit_entry WHERE seq = 2")).one()
        data = {"i": 1, "serial": "FORGED"}
        body = json.dumps(
            {
                "actor": "ana",
                "at": row.at,
                "data": data,
                "kind": "received",
                "ref": "",
                "seq": 2,
                "station": "bench-01",
                "subject": "sata:S1:",
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        forged = hashlib.sha256(bytes.fromhex(row.prev_hash) + body).hexdigest()
        conn.execute(
            text("UPDATE audit_entry SET data = :d, hash = :h WHERE seq = 2"),
            {"d": json.dumps(data, sort_keys=True, separators=(",", ":")), "h": forged},
        )
    broken = verify_chain(store).first_broken
    assert broken is not None
    assert broken.seq == 3
    assert "previous-hash link" in broken.reason


def test_deleted_row_is_caught(store: Store) -> None:
    """Deleting an entry from the middle leaves a gap that is reported at its seq."""
    _fill(store, "bench-01", 6)
    _sql(store, "DELETE FROM audit_entry WHERE seq = 3")
    report = verify_chain(store)
    assert report.first_broken is not None
    assert report.first_broken[:2] == ("bench-01", 3)
    assert "missing" in report.first_broken.reason
    assert report.entries == 2


def test_deleted_newest_rows_are_caught_by_the_head(store: Store) -> None:
    """Deleting the last entries is noticed: the recorded head is further on."""
    _fill(store, "bench-01", 5)
    _sql(store, "DELETE FROM audit_entry WHERE seq >= 4")
    broken = verify_chain(store).first_broken
    assert broken is not None
    assert broken.seq == 4
    assert "deleted" in broken.reason


def test_deleted_head_is_caught(store: Store) -> None:
    """Deleting the head record too does not hide a chain."""
    _fill(store, "bench-01", 2)
    _sql(store, "DELETE FROM audit_head")
    broken = verify_chain(store).first_broken
    assert broken is not None
    assert "head" in broken.reason


def test_reordered_rows_are_caught(store: Store) -> None:
    """Swapping the seq of two rows is reported at the first of them."""
    _fill(store, "bench-01", 6)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entry SET seq = -1 WHERE seq = 2"))
        conn.execute(text("UPDATE audit_entry SET seq = 2 WHERE seq = 5"))
        conn.execute(text("UPDATE audit_entry SET seq = 5 WHERE seq = -1"))
    broken = verify_chain(store).first_broken
    assert broken is not None
    assert broken[:2] == ("bench-01", 2)


def test_station_chains_are_independent(store: Store) -> None:
    """Each station has its own seq 1..n; breaking one chain leaves the other verifiable."""
    for i in range(4):
        _fill(store, "bench-01", 1)
        _fill(store, "bench-02", 1 + i % 2)
    assert [e.seq for e in entries(store, station="bench-01")] == [1, 2, 3, 4]
    assert [e.seq for e in entries(store, station="bench-02")] == [1, 2, 3, 4, 5, 6]
    assert dict(verify_chain(store).stations) == {"bench-01": 4, "bench-02": 6}
    _sql(store, "UPDATE audit_entry SET kind = 'routed' WHERE station = 'bench-02' AND seq = 5")
    assert verify_chain(store, "bench-01").ok
    broken = verify_chain(store).first_broken
    assert broken is not None
    assert broken[:2] == ("bench-02", 5)


def test_floats_are_refused(store: Store) -> None:
    """Audit data must be plain JSON without floats (hashes must be reproducible)."""
    with pytest.raises(RecordStoreError, match="floats"):
        append_event(store, station="b", kind="received", data={"x": 1.5})
    assert verify_chain(store).entries == 0


def test_received_is_recorded_once_per_custody(store: Store) -> None:
    """`record_received` appends on the first sighting only, and again after a handover."""
    assert record_received(store, DRIVE, station="bench-01") is not None
    assert record_received(store, DRIVE, station="bench-01") is None
    append_event(store, station="bench-01", kind=AuditKind.HANDED_OVER, subject="sata:S1:0x5000")
    again = record_received(store, DRIVE, station="bench-01")
    assert again is not None
    assert again.seq == 3
    assert again.data["serial"] == "S1"


def _record(cert_id: str, status: str) -> dict[str, object]:
    """The parts of a certificate record the custody log reads."""
    return {
        "certificate_id": cert_id,
        "station": "bench-01",
        "device": {"serial": "S1", "wwn": "0x5000", "transport": "sata"},
        "operator": {"name": "ana"},
        "outcome": {"status": status, "reason": "" if status == "sanitised" else "lied"},
        "sanitisation": {"method": "nvme-sanitize-crypto", "nist_category": "purge"},
        "verification": {"result": "passed" if status == "sanitised" else "failed"},
        "destination": {"route": "recycling" if status == "sanitised" else "destruction"},
        "simulated": True,
    }


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("sanitised", "sanitised"),
        ("failed", "not-sanitised"),
        ("refused", "not-sanitised"),
        ("aborted", "not-sanitised"),
    ],
)
def test_an_issued_record_is_chained_under_the_kind_its_outcome_says(
    store: Store, status: str, kind: str
) -> None:
    """A record is chained once per certificate id: 'sanitised' only when its outcome is,
    'not-sanitised' for any other outcome, with the status, reason and route in its data."""
    assert outcome_kind(_record("c1", status)) == kind
    entry = record_sanitised(store, _record("c1", status))
    assert entry is not None
    assert (entry.kind, entry.ref, entry.subject, entry.actor) == (
        kind,
        "c1",
        "sata:S1:0x5000",
        "ana",
    )
    reason = "" if status == "sanitised" else "lied"
    assert (entry.data["status"], entry.data["reason"]) == (status, reason)
    route = "recycling" if status == "sanitised" else "destruction"
    assert entry.data["destination_route"] == route
    assert record_sanitised(store, _record("c1", status)) is None
    assert record_sanitised(store, _record("c1", "sanitised")) is None, "once per certificate"
    assert [e.kind for e in entries(store)] == [kind]
    assert verify_chain(store).ok


def test_custody_kinds_name_both_outcomes_and_both_routing_steps() -> None:
    """The custody kinds, in their natural order: the routing decision ('routed') comes before
    being put in a consignment ('consigned'), and they are distinct kinds."""
    assert [str(k) for k in CUSTODY_KINDS] == [
        "received",
        "sanitised",
        "not-sanitised",
        "routed",
        "consigned",
        "handed-over",
    ]


def test_a_consigned_drive_is_still_in_custody_until_handed_over(store: Store) -> None:
    """After 'not-sanitised', 'routed' and 'consigned' the drive is still held (no new
    'received'); after 'handed-over' a new sighting starts a new custody."""
    assert record_received(store, DRIVE, station="bench-01") is not None
    record_sanitised(store, _record("c2", "failed"))
    for kind in (AuditKind.ROUTED, AuditKind.CONSIGNED):
        append_event(store, station="bench-01", kind=kind, subject="sata:S1:0x5000", ref="c2")
    assert record_received(store, DRIVE, station="bench-01") is None
    append_event(store, station="bench-01", kind=AuditKind.HANDED_OVER, subject="sata:S1:0x5000")
    assert record_received(store, DRIVE, station="bench-01") is not None


def _hammer(url: str, stations: list[str], per_thread: int, threads: int) -> None:
    errors: list[BaseException] = []
    shared = Store(url)

    def work(n: int) -> None:
        own = shared if n % 2 else Store(url)  # half share an engine, half are like processes
        try:
            for i in range(per_thread):
                append_event(
                    own,
                    station=stations[n % len(stations)],
                    kind=AuditKind.ROUTED,
                    subject=f"t{n}",
                    data={"thread": n, "i": i},
                )
        except Exception as e:  # noqa: BLE001 - surfaced by the assert below
            errors.append(e)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []


def _check_hammered(url: str, stations: list[str], per_thread: int, threads: int) -> None:
    store = Store(url)
    report = verify_chain(store)
    assert report.ok, report.first_broken
    assert report.entries == per_thread * threads
    for station in stations:
        seqs = [e.seq for e in entries(store, station=station)]
        assert seqs == list(range(1, len(seqs) + 1))
        per_station = threads // len(stations)
        assert len(seqs) == per_thread * per_station
    for n in range(threads):
        mine = [e.data["i"] for e in entries(store, subject=f"t{n}")]
        assert sorted(mine) == list(range(per_thread))


def test_concurrent_appends_on_sqlite_keep_the_chain(tmp_path: Path) -> None:
    """8 threads appending at once to one station's chain: intact, seqs contiguous."""
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    _hammer(url, ["bench-01"], per_thread=25, threads=8)
    _check_hammered(url, ["bench-01"], per_thread=25, threads=8)


def test_concurrent_appends_to_two_stations(tmp_path: Path) -> None:
    """Two stations' chains written at once stay separate and intact."""
    url = f"sqlite:///{tmp_path / 'busy2.db'}"
    _hammer(url, ["bench-01", "bench-02"], per_thread=15, threads=8)
    _check_hammered(url, ["bench-01", "bench-02"], per_thread=15, threads=8)


# --- PostgreSQL (the shared server of tests/conftest.py) ---------------------------------


@pytest.mark.postgres
def test_chain_and_tamper_detection_on_postgresql(postgres_url: str) -> None:
    """The same store code on PostgreSQL: concurrent appends stay one intact chain per
    station, and an edited row is caught at its seq."""
    start = time.monotonic()
    _hammer(postgres_url, ["pg-01", "pg-02"], per_thread=20, threads=8)
    _check_hammered(postgres_url, ["pg-01", "pg-02"], per_thread=20, threads=8)
    store = Store(postgres_url)
    _sql(store, "UPDATE audit_entry SET actor = 'mallory' WHERE station = 'pg-02' AND seq = 7")
    broken = verify_chain(store).first_broken
    assert broken is not None
    assert broken[:2] == ("pg-02", 7)
    assert time.monotonic() - start < 120
