"""A fleet: bench processes writing to one PostgreSQL at once, one of them cut off mid-batch
and synced afterwards with ``sanitiser sync``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, select

from sanitiser.store import Store
from sanitiser.store.audit import chain_head, entries, verify_chain
from sanitiser.store.tables import CertificateRow, Job, JobEvent
from tests.cli import run_sanitiser
from tests.pg import Link, PostgresServer

pytestmark = pytest.mark.postgres

RIG = Path(__file__).resolve().parents[1] / "store" / "bench_rig.py"
SANITISER = Path(sys.executable).with_name("sanitiser")
EVENTS_PER_DEVICE = 5


def _env(tmp_path: Path, station: str, url: str) -> dict[str, str]:
    data = tmp_path / station
    config = tmp_path / f"{station}.toml"
    config.touch()
    return {
        **os.environ,
        "SANITISER_CONFIG_FILE": str(config),
        "SANITISER_DATA_DIR": str(data),
        "SANITISER_STATION": station,
        "SANITISER_DATABASE_URL": url,
    }


def _bench(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(RIG), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def _sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`sanitiser sync` as the bench's operator runs it."""
    return subprocess.run(
        [str(SANITISER), "sync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _count(store: Store, model: type) -> int:
    with Session(store.engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _check(store: Store, stations: dict[str, int]) -> None:
    total = sum(stations.values())
    assert _count(store, Job) == total
    assert _count(store, CertificateRow) == total
    assert _count(store, JobEvent) == total * EVENTS_PER_DEVICE
    report = verify_chain(store)
    assert report.ok, report.first_broken
    assert dict(report.stations) == {s: 2 * n for s, n in stations.items()}
    for station, n in stations.items():
        seqs = [e.seq for e in entries(store, station=station)]
        assert seqs == list(range(1, 2 * n + 1))


def test_two_benches_write_one_database_at_once(pg_server: PostgresServer, tmp_path: Path) -> None:
    """Two bench processes recording 25 devices each at the same time: every job, event,
    certificate and custody entry arrives, ids never collide, each station's chain is whole."""
    url = pg_server.url(pg_server.new_database("fleet"))
    Store(url)  # the fleet's database exists before the benches start
    benches = [_bench(_env(tmp_path, s, url), "--count", "25") for s in ("north-1", "south-1")]
    results = [_result(p) for p in benches]
    certs = [c for r in results for c in r["certificates"]]
    jobs = [j for r in results for j in r["jobs"]]
    assert len(set(certs)) == len(certs) == 50
    assert len(set(jobs)) == len(jobs) == 50
    assert not any(r["offline"] for r in results)
    store = Store(url)
    _check(store, {"north-1": 25, "south-1": 25})
    assert not (tmp_path / "north-1" / "journal.db").exists()  # never needed its journal


def test_a_bench_cut_off_mid_batch_syncs_afterwards(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """A bench loses the network after 6 of 16 devices while another bench keeps writing: it
    finishes on its local journal; once the network is back `sanitiser sync` brings every
    record over with both chains intact, and a second sync adds nothing."""
    name = pg_server.new_database("fleet")
    direct = pg_server.url(name)
    Store(direct)
    link = Link(pg_server.port)
    try:
        cut_env = _env(tmp_path, "east-1", pg_server.url(name, port=link.port))
        paused, go = tmp_path / "paused", tmp_path / "go"
        cut = _bench(
            cut_env, "--count", "16", "--pause-at", "6", "--paused", str(paused), "--go", str(go)
        )
        other = _bench(_env(tmp_path, "west-1", direct), "--count", "16")
        deadline = time.monotonic() + 120
        while not paused.exists():
            assert cut.poll() is None, cut.communicate()[1]
            assert time.monotonic() < deadline, "the bench never reached the pause"
            time.sleep(0.05)
        link.cut()  # the network goes down with the bench's connections open
        go.touch()
        east, west = _result(cut), _result(other)
        assert east["offline"]
        assert not west["offline"]
        store = Store(direct)
        assert _count(store, Job) == 16 + 6  # east's last 10 devices are only in its journal
        assert (tmp_path / "east-1" / "journal.db").is_file()

        down = _sync(cut_env)
        assert down.returncode == 2  # the central database is still unreachable
        assert "cannot open the store" in down.stderr

        link.restore()
        synced = _sync(cut_env, "--json")
        assert synced.returncode == 0, synced.stderr
        pushed = json.loads(synced.stdout)
        assert pushed["pushed"]["certificates"] == 10
        assert pushed["pushed"]["audit_entries"] == 20
        assert pushed["conflicts"] == []
        _check(store, {"east-1": 16, "west-1": 16})
        with Session(store.engine) as s:
            central_ids = set(s.exec(select(CertificateRow.id)).all())
        assert central_ids == set(east["certificates"]) | set(west["certificates"])
        assert {j.state for j in store.jobs()} == {"done"}
        again = _sync(cut_env, "--json")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["total"] == 0
        _check(store, {"east-1": 16, "west-1": 16})
    finally:
        link.close()


def _station_cli(
    tmp_path: Path, station: str, url: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """`sanitiser ARGS` on `station`'s bench (its own data directory and keys, the fleet's
    database)."""
    env = _env(tmp_path, station, url)
    return run_sanitiser(
        *args,
        data=tmp_path / station,
        env={
            k: env[k]
            for k in ("SANITISER_CONFIG_FILE", "SANITISER_STATION", "SANITISER_DATABASE_URL")
        },
    )


def _verify(tmp_path: Path, station: str, url: str) -> dict[str, Any]:
    out = _station_cli(tmp_path, station, url, "audit", "verify", "--json")
    assert out.returncode in (0, 1), out.stderr
    return dict(json.loads(out.stdout))


def test_a_station_chain_cut_short_centrally_is_caught_across_the_fleet(
    pg_server: PostgresServer, tmp_path: Path
) -> None:
    """An insider with write access to the fleet's database cuts south-1's chain short (rows
    deleted, audit_head moved back) and deletes the certificates: the signed heads kept
    centrally tell any auditor. Then the central checkpoints and south-1's own file go too:
    north-1's checkpoint file, which signed south-1's head as the fleet showed it, still tells
    from north-1's bench."""
    url = pg_server.url(pg_server.new_database("custody"))
    Store(url)
    for station in ("south-1", "north-1"):  # north-1 checkpoints after seeing south-1's head
        out = _station_cli(tmp_path, station, url, "wipe", "--lab", "lab-usb-hdd0", "--yes")
        assert out.returncode == 0, out.stderr
    for station in ("north-1", "south-1", "auditor"):
        intact = _verify(tmp_path, station, url)
        assert intact["ok"], intact
        assert intact["anchor_problems"] == []
    south_head = chain_head(Store(url), "south-1")
    assert south_head is not None

    keep = 1
    store = Store(url)
    with store.engine.begin() as conn:  # the insider, with SQL
        conn.execute(
            text("DELETE FROM audit_entry WHERE station = 'south-1' AND seq > :keep"),
            {"keep": keep},
        )
        conn.execute(
            text(
                "UPDATE audit_head SET seq = :keep, hash = (SELECT hash FROM audit_entry "
                "WHERE station = 'south-1' AND seq = :keep) WHERE station = 'south-1'"
            ),
            {"keep": keep},
        )
        conn.execute(text("DELETE FROM certificate"))
    assert verify_chain(store).ok  # what is left recomputes as whole chains

    auditor = _verify(tmp_path, "auditor", url)  # no checkpoint file: the central heads
    assert not auditor["ok"]
    assert auditor["first_broken"] is None
    cut = f"station south-1's chain at entry {south_head[0]}, but it now ends at entry {keep}"
    assert any(
        p.startswith("checkpoint of south-1 at ") and "(the store)" in p and cut in p
        for p in auditor["anchor_problems"]
    ), auditor
    assert any(
        p.startswith("checkpoint of north-1 at ")
        and "which also signed south-1's head" in p
        and cut in p
        for p in auditor["anchor_problems"]
    ), auditor

    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoint"))
    (tmp_path / "south-1" / "custody-checkpoints.jsonl").unlink()
    blind = _verify(tmp_path, "auditor", url)
    assert blind["ok"]  # the limit: nothing signed about south-1 is left where it looks
    north = _verify(tmp_path, "north-1", url)
    assert not north["ok"]
    [problem] = north["anchor_problems"]
    assert problem.startswith("checkpoint of north-1 at ")
    assert "custody-checkpoints.jsonl), which also signed south-1's head," in problem
    assert cut in problem
