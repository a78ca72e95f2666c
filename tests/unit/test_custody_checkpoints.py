"""Signed checkpoints of the custody chain: written every N entries (told by the store after
each commit), kept in the store and a file, vouching for the other stations' heads, and
followed through a fleet bench's offline journal to where the sync put its entries.

Each truncation is done as an insider would: rows deleted and ``audit_head`` moved back with
SQL, leaving a chain that recomputes as whole."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from sanitiser.certificate.keys import StationSigner, ensure_development_identity
from sanitiser.certificate.record import build_record, new_certificate_id
from sanitiser.certificate.samples import (
    make_pki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.sign import parse_envelope, sign_record
from sanitiser.certificate.verify import Validity, load_trust, verify_record_bytes
from sanitiser.custody.anchors import (
    Anchor,
    Checkpointer,
    anchors_of,
    check_anchors,
    read_checkpoints,
    signed_checkpoint,
    stored_checkpoints,
)
from sanitiser.custody.events import drive_seen
from sanitiser.domain import UNKNOWN_HEALTH, Drive, Protection, Transport
from sanitiser.store import Store
from sanitiser.store.audit import AuditKind, append_event, chain_head, verify_chain
from sanitiser.store.checkpoints import Anchored, anchor_found, checkpoint_envelopes
from sanitiser.store.sync import push_journal
from sanitiser.store.tables import SyncLedger


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One development identity per station, made once for the module."""
    return tmp_path_factory.mktemp("keys")


def _signer(keys: Path, station: str) -> StationSigner:
    return ensure_development_identity(keys / "certs", keys / "private", "Test Org", station)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store on an SQLite file (in a fleet: the central database)."""
    return Store(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
def checkpointer(store: Store, keys: Path, tmp_path: Path) -> Iterator[Checkpointer]:
    """Station north's checkpointer, every 5 entries, attached to the store."""
    signer = _signer(keys, "north")
    made = Checkpointer(store, lambda: signer, "north", tmp_path / "checkpoints.jsonl", every=5)
    made.attach()
    yield made
    made.detach()


def _fill(store: Store, station: str, n: int) -> None:
    for i in range(n):
        append_event(store, station=station, kind=AuditKind.DESTINATION_ADDED, data={"i": i})


def _cut(store: Store, station: str, keep: int) -> None:
    """The insider: delete `station`'s entries after `keep` and move its head back."""
    with store.engine.begin() as conn:
        args = {"station": station, "keep": keep}
        conn.execute(text("DELETE FROM audit_entry WHERE station = :station AND seq > :keep"), args)
        conn.execute(
            text(
                "UPDATE audit_head SET seq = :keep, hash = (SELECT hash FROM audit_entry "
                "WHERE station = :station AND seq = :keep) WHERE station = :station"
            ),
            args,
        )


def _delete_checkpoints(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_checkpoint"))


def _seqs(store: Store) -> list[int]:
    return [a.seq for a in stored_checkpoints(store)]


def test_a_checkpoint_is_signed_every_n_entries(
    store: Store, checkpointer: Checkpointer, tmp_path: Path
) -> None:
    """Appends committed by the audit functions and by the store's own sessions (a drive
    first seen) both count: a checkpoint every 5 entries, in the store and in the file."""
    _fill(store, "north", 4)
    assert _seqs(store) == []
    _fill(store, "north", 1)
    assert _seqs(store) == [5]
    for i in range(
        5
    ):  # each new drive chains ``received`` with its sighting (custody.events.drive_seen)
        drive = Drive(
            path=f"/dev/sd{i}",
            name=f"sd{i}",
            model="M",
            serial=f"S{i}",
            size_bytes=10**9,
            transport=Transport.SATA,
        )
        drive_seen(store, drive, UNKNOWN_HEALTH, Protection(False), station="north")
    _fill(store, "south", 12)  # another station's entries are not north's to count
    assert _seqs(store) == [5, 10]
    in_file = [a.seq for a in read_checkpoints(tmp_path / "checkpoints.jsonl")]
    assert in_file == [5, 10]
    checkpointer.detach()
    _fill(store, "north", 10)
    assert _seqs(store) == [5, 10]


def test_a_rolled_back_append_is_not_announced(store: Store, checkpointer: Checkpointer) -> None:
    """Only committed appends count towards the next checkpoint."""
    _fill(store, "north", 4)
    with Session(store.engine) as s:
        append_event(s, station="north", kind=AuditKind.DESTINATION_ADDED)
        s.rollback()
    assert _seqs(store) == []
    _fill(store, "north", 1)
    assert _seqs(store) == [5]


def test_a_chain_cut_short_after_a_counted_checkpoint_is_caught(
    store: Store, checkpointer: Checkpointer, tmp_path: Path
) -> None:
    """No certificate was issued: the checkpoint written by count alone catches the cut,
    from the store, or from the file when the store's checkpoints are deleted too."""
    _fill(store, "north", 7)
    _cut(store, "north", 3)
    assert verify_chain(store).ok  # what is left recomputes as a whole chain
    [problem] = check_anchors(store, stored_checkpoints(store))
    assert "records station north's chain at entry 5, but it now ends at entry 3" in problem
    _delete_checkpoints(store)
    assert check_anchors(store, stored_checkpoints(store)) == []
    [problem] = check_anchors(store, read_checkpoints(tmp_path / "checkpoints.jsonl"))
    assert "entry 5, but it now ends at entry 3: entries were removed" in problem


def test_one_checkpoint_vouches_for_every_station(store: Store, keys: Path, tmp_path: Path) -> None:
    """In a fleet's store, north's checkpoint also signs south's head: south's chain cut
    short, its certificates and the central checkpoints deleted, north's file still tells."""
    _fill(store, "south", 6)
    _fill(store, "north", 2)
    signed = signed_checkpoint(store, _signer(keys, "north"), "north")
    south = chain_head(store, "south")
    assert south is not None
    assert signed.record["witnessed"] == [{"station": "south", "seq": 6, "hash": south[1]}]
    path = tmp_path / "north.jsonl"
    Checkpointer(store, lambda: _signer(keys, "north"), "north", path).checkpoint()
    _cut(store, "south", 4)
    _delete_checkpoints(store)
    [problem] = check_anchors(store, read_checkpoints(path))
    assert problem.startswith("checkpoint of north at ")
    assert "which also signed south's head, records station south's chain at entry 6" in problem
    assert problem.endswith("it now ends at entry 4: entries were removed")


def _journal_and_central(tmp_path: Path) -> tuple[Store, Store]:
    central = Store(f"sqlite:///{tmp_path / 'central.db'}")
    journal = Store(f"sqlite:///{tmp_path / 'journal.db'}")
    return journal, central


def test_an_anchor_made_offline_is_found_where_the_sync_put_it(tmp_path: Path, keys: Path) -> None:
    """A certificate or checkpoint signed while the bench was offline names a position in its
    journal's chain; after the sync that entry sits further along the central chain, and is
    found there (not reported as a rewrite). The checkpoint itself is pushed too."""
    journal, central = _journal_and_central(tmp_path)
    _fill(central, "north", 3)  # north's entries made while it was online
    _fill(journal, "north", 4)  # then four more while offline: journal seq 1-4
    offline = signed_checkpoint(journal, _signer(keys, "north"), "north")
    Checkpointer(journal, lambda: _signer(keys, "north"), "north", None).checkpoint()
    anchor = Anchor("north", 4, str(offline.record["hash"]), "certificate offline")
    report = push_journal(journal.engine, central.engine)
    assert (report.audit_entries, report.checkpoints) == (4, 1)
    assert anchor_found(central, "north", 4, anchor.hash) is Anchored.FOUND
    assert check_anchors(central, [anchor, *stored_checkpoints(central)]) == []
    assert len(checkpoint_envelopes(central)) == 1

    _cut(central, "north", 5)  # the offline entries are central 4-7
    problems = check_anchors(central, [anchor])
    assert problems == [
        "certificate offline records station north's entry 4 with another hash: "
        "the chain was rewritten"
    ]


def test_a_forged_ledger_row_does_not_vouch_for_a_cut_chain(tmp_path: Path) -> None:
    """The sync ledger is in the insider's reach too: a row pointing an offline anchor at an
    entry that is still there does not pass, the entry's contents must hash to the anchor."""
    journal, central = _journal_and_central(tmp_path)
    _fill(central, "north", 2)
    _fill(journal, "north", 3)
    head = chain_head(journal, "north")
    assert head is not None
    push_journal(journal.engine, central.engine)
    _cut(central, "north", 2)  # every offline entry gone
    with Session(central.engine) as s:
        s.connection().execute(text("DELETE FROM sync_ledger"))
        first = chain_head(central, "north")
        assert first is not None
        for local_seq, local_hash in ((2, "0" * 63 + "1"), (3, head[1])):
            s.add(
                SyncLedger(
                    journal="forged",
                    kind="audit",
                    local_id=local_seq,
                    station="north",
                    local_seq=local_seq,
                    local_hash=local_hash,
                    central_id=first[0],
                    central_hash=first[1],
                    synced_at=datetime.now(UTC),
                )
            )
        s.commit()
    assert anchor_found(central, "north", 3, head[1]) is Anchored.MISSING


def test_a_checkpoint_read_back_is_the_envelope_signed(store: Store, keys: Path) -> None:
    """The store keeps a checkpoint byte for byte, once however often it is kept."""
    checkpointer = Checkpointer(store, lambda: _signer(keys, "north"), "north", None)
    _fill(store, "north", 1)
    assert checkpointer.checkpoint()
    [envelope] = checkpoint_envelopes(store)
    record = json.loads(envelope)["record"]
    assert (record["station"], record["seq"]) == ("north", 1)


def test_a_record_without_a_chain_position_stays_verifiable(tmp_path: Path) -> None:
    """Records made before certificates carried a chain position (no ``custody`` block) still
    verify and anchor nothing; one made with it signs the position and anchors it."""
    pki = make_pki(tmp_path, station="north")
    made = []
    for custody in (None, (3, "ab" * 32)):
        context = dataclasses.replace(sample_context(station="north"), custody=custody)
        record = build_record(
            sample_outcome(),
            sample_drive(),
            sample_health(),
            context,
            certificate_id=new_certificate_id(),
            issued_at=datetime.now(UTC),
        )
        envelope = sign_record(record, pki.signer).to_bytes()
        verdict = verify_record_bytes(envelope, load_trust(pki.certs))
        assert verdict.validity is Validity.VALID, verdict.reason
        made.append(anchors_of(parse_envelope(envelope).record, "certificate"))
    old, new = made
    assert old == []
    assert [(a.station, a.seq, a.hash) for a in new] == [("north", 3, "ab" * 32)]
