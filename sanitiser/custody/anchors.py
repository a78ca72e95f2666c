"""Anchors that make a cut-short custody chain visible.

The hash chain (`sanitiser.store.audit`) catches any edited, deleted or reordered entry, but
someone with write access to the store could delete the newest entries and move
``audit_head`` back to the new tail: what is left is a valid chain. So the chain's head is also
written down, signed with the station key, where such an edit does not reach it all:

- every certificate records the head at its issuance (``custody``: station, seq, hash); the
  certificate is signed and handed out, so it outlives any edit of the store;
- the station signs a checkpoint of its head at every certificate issuance and every
  `CHECKPOINT_EVERY` entries (`Checkpointer`). Each is kept twice: in the store
  (``audit_checkpoint``; in a fleet, the central database) and appended to a file beside the
  store (``<data_dir>/custody-checkpoints.jsonl``), so deleting rows alone is not enough;
- in a fleet, a checkpoint also records the heads of the other stations' chains as the
  central database showed them (``witnessed``): every bench's file then holds signed heads of
  every station, and a chain cut short centrally is caught from any bench.

`check_anchors` compares such anchors with the chain: an anchored entry that is missing, or
whose hash differs, means the chain was cut short or rewritten. What it cannot see: entries
appended after the last anchor it is given, if they are removed before any certificate or
checkpoint records them; and a chain rewritten by someone who also holds the station key.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine, make_url

from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.record import record_digest, utc_text
from sanitiser.certificate.sign import SignedRecord, check_signature, parse_envelope, sign_record
from sanitiser.errors import CertificateError, SanitiserError
from sanitiser.store import Store
from sanitiser.store.audit import GENESIS, chain_head, chain_heads, unwatch_appends, watch_appends
from sanitiser.store.checkpoints import (
    Anchored,
    anchor_found,
    checkpoint_envelopes,
    last_checkpoint_seq,
    save_checkpoint,
)
from sanitiser.store.consignments import manifest_envelopes

log = logging.getLogger(__name__)

CHECKPOINT_SCHEMA = "sanitiser.custody-checkpoint/1"
CHECKPOINTS_FILE = "custody-checkpoints.jsonl"
"""The signed checkpoints file, in the data directory."""
CHECKPOINT_EVERY = 25
"""A station signs a checkpoint when its chain has grown this many entries past the last."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """A signed statement that `station`'s chain had entry `seq` with `hash`."""

    station: str
    seq: int
    hash: str
    source: str
    """Where it was read: ``certificate <id> (...)`` or ``checkpoint of <station> at <time>``."""
    statement: str = ""
    """The SHA-256 of the signed record it came from: copies of one record (the store's and
    a file's) are one statement, reported once."""


def _position(block: object, source: str, statement: str) -> Anchor | None:
    if not isinstance(block, Mapping):
        return None
    station, seq, head = block.get("station"), block.get("seq"), block.get("hash")
    if not isinstance(station, str) or not isinstance(seq, int) or not isinstance(head, str):
        return None
    return Anchor(station, seq, head, source, statement)


def anchors_of(record: Mapping[str, Any], source: str) -> list[Anchor]:
    """The custody anchors a signed record carries: a certificate's ``custody`` block, a
    consignment manifest's ``audit_anchor``, or a checkpoint's own head and the heads it
    ``witnessed`` of other stations; none for a record made before anchors existed."""
    statement = record_digest(dict(record)).hex()
    if record.get("schema") != CHECKPOINT_SCHEMA:
        block = record.get("custody") or record.get("audit_anchor")  # a manifest's
        found = _position(block, source, statement)
        return [] if found is None else [found]
    own = _position(record, source, statement)
    witnessed = record.get("witnessed")
    others = [
        _position(w, f"{source}, which also signed {w.get('station')}'s head,", statement)
        for w in (witnessed if isinstance(witnessed, list) else [])
        if isinstance(w, Mapping)
    ]
    return [a for a in [own, *others] if a is not None]


def anchor_of(record: Mapping[str, Any], source: str) -> Anchor | None:
    """The anchor of the record's own station (see `anchors_of`), or None."""
    return next(iter(anchors_of(record, source)), None)


def check_anchors(store: Store, anchors: Iterable[Anchor]) -> list[str]:
    """Each anchor the chain contradicts, as a sentence (empty when the chain agrees)."""
    problems = []
    statements: dict[tuple[str, int, str, str], list[Anchor]] = {}
    for a in anchors:
        statements.setdefault((a.station, a.seq, a.hash, a.statement or a.source), []).append(a)
    for copies in statements.values():
        a = copies[0]
        if a.seq == 0:
            continue  # anchored before the station's first entry: nothing to find
        found = anchor_found(store, a.station, a.seq, a.hash)
        also = f" (the same signed record is also in {len(copies) - 1} other place(s))"
        also = also if len(copies) > 1 else ""
        if found is Anchored.MISSING:
            head = chain_head(store, a.station)
            now = f"it now ends at entry {head[0]}" if head else "it is now empty"
            problems.append(
                f"{a.source} records station {a.station}'s chain at entry {a.seq}, but {now}: "
                f"entries were removed{also}"
            )
        elif found is Anchored.DIFFERENT:
            problems.append(
                f"{a.source} records station {a.station}'s entry {a.seq} with another hash: "
                f"the chain was rewritten{also}"
            )
    return problems


def signed_checkpoint(store: Store, signer: StationSigner, station: str) -> SignedRecord:
    """The station's chain head now, signed with its key, with the heads of the other
    stations' chains in the same store (``witnessed``; none outside a fleet).

    Raises:
        CertificateError: the station may not sign (revoked) or the record cannot be signed.
        RecordStoreError: the store cannot be read.
    """
    heads = chain_heads(store)
    seq, head = heads.get(station) or (0, GENESIS)
    record: dict[str, Any] = {
        "schema": CHECKPOINT_SCHEMA,
        "station": station,
        "seq": seq,
        "hash": head,
        "issued_at": utc_text(datetime.now(UTC)),
        "development_key": signer.development,
    }
    others = [
        {"station": name, "seq": s, "hash": h}
        for name, (s, h) in sorted(heads.items())
        if name != station
    ]
    if others:
        record["witnessed"] = others
    return sign_record(record, signer)


def keep_checkpoint(store: Store, signed: SignedRecord, path: Path | None) -> None:
    """Keep a signed checkpoint in the store, then append it to the file at `path`.

    Raises:
        RecordStoreError: the store cannot be written (the file is not written either).
        OSError: the file cannot be written.
    """
    record = signed.record
    envelope = signed.to_bytes()
    save_checkpoint(
        store,
        station=str(record["station"]),
        seq=int(record["seq"]),
        head=str(record["hash"]),
        issued_at=str(record["issued_at"]),
        envelope=envelope,
    )
    if path is not None:
        append_checkpoint(path, signed)


class Checkpointer:
    """Signs and keeps checkpoints of one station's chain head (`keep_checkpoint`).

    `checkpoint` writes one now (at each certificate issuance); once `attach`ed, one is also
    written whenever the station's chain has grown `every` entries past the last checkpoint
    (told by the store after each commit: `watch_appends`). Failures are logged, never
    raised: a checkpoint is extra evidence, its absence is what ``audit verify`` cannot see.
    """

    def __init__(
        self,
        store: Store,
        signer: Callable[[], StationSigner],
        station: str,
        path: Path | None,
        *,
        every: int = CHECKPOINT_EVERY,
    ) -> None:
        self.store = store
        self.signer = signer
        self.station = station
        self.path = path
        self.every = every
        self._last: int | None = None
        self._lock = threading.Lock()

    def attach(self) -> None:
        """Write a checkpoint every `every` entries from now on."""
        watch_appends(self)

    def detach(self) -> None:
        """Stop checkpointing on appends."""
        unwatch_appends(self)

    def checkpoint(self) -> bool:
        """Sign and keep a checkpoint of the head now; False (logged) when it could not be."""
        with self._lock:
            return self._write()

    def appended(self, engine: Engine, heads: Mapping[str, int]) -> None:
        """The store committed appends: checkpoint when this station's chain is due."""
        seq = heads.get(self.station)
        if seq is None or not self._ours(engine):
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread is writing one now
        try:
            if self._last is None:
                self._last = last_checkpoint_seq(self.store, self.station)
            if seq - self._last >= self.every:
                self._write()
        except SanitiserError as e:
            log.warning("no custody checkpoint written: %s", e.msg)
        finally:
            self._lock.release()

    def _ours(self, engine: Engine) -> bool:
        if engine is self.store.central_engine:
            return True
        journal = self.store.journal_url
        return journal is not None and engine.url == make_url(journal)

    def _write(self) -> bool:
        try:
            signed = signed_checkpoint(self.store, self.signer(), self.station)
            keep_checkpoint(self.store, signed, self.path)
        except SanitiserError as e:
            log.warning("no custody checkpoint written: %s", e.msg)
            return False
        except OSError as e:
            log.warning("custody checkpoint not written to %s: %s", self.path, e)
            return False
        self._last = int(signed.record["seq"])
        return True


def append_checkpoint(path: Path, signed: SignedRecord) -> None:
    """Append one signed checkpoint line to `path` and make it durable (fsync)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, signed.to_bytes())  # canonical JSON: one line
        os.fsync(fd)
    finally:
        os.close(fd)


def read_checkpoints(path: Path) -> list[Anchor]:
    """The anchors of every checkpoint in `path` whose signature verifies.

    Raises:
        CertificateError: a line is damaged or its signature does not verify (the file was
            edited: it says so rather than skipping the line).
    """
    if not path.is_file():
        return []
    anchors = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            signed = parse_envelope(line.encode("utf-8"))
            check_signature(signed)
        except SanitiserError as e:
            reason = e.msg
            raise CertificateError(f"{path} line {number} is damaged: {reason}") from e
        anchors.extend(anchors_of(signed.record, checkpoint_source(signed, str(path))))
    return anchors


def checkpoint_source(signed: SignedRecord, where: str) -> str:
    """How a report names a checkpoint: its station, time and where it was read."""
    record = signed.record
    return f"checkpoint of {record.get('station')} at {record.get('issued_at')} ({where})"


def stored_checkpoints(store: Store) -> list[Anchor]:
    """The anchors of every checkpoint kept in the store.

    Raises:
        CertificateError: a kept checkpoint is damaged or its signature does not verify.
    """
    anchors = []
    for envelope in checkpoint_envelopes(store):
        try:
            signed = parse_envelope(envelope)
            check_signature(signed)
        except SanitiserError as e:
            digest = hashlib.sha256(envelope).hexdigest()[:16]
            raise CertificateError(f"the store's checkpoint {digest}... is damaged: {e.msg}") from e
        anchors.extend(anchors_of(signed.record, checkpoint_source(signed, "the store")))
    return anchors


def gather_anchors(store: Store, certs_dir: Path | None, checkpoints: Path) -> list[Anchor]:
    """Every custody anchor to check: the store's certificates and consignment manifests, the
    certificates and manifests (.json, .pdf) and copies of checkpoints files (.jsonl) in
    `certs_dir`, the checkpoints kept in the store and those in the `checkpoints` file.

    A certificate whose signature does not verify anchors nothing (``verify`` says why); a
    damaged checkpoint is an error (someone edited it).
    """
    from sanitiser.certificate.verify import embedded_record  # noqa: PLC0415 - pyHanko costs ~1 s

    sources: list[tuple[str, bytes]] = [("the store", e) for e in store.certificate_records()]
    sources += [("the store", e) for e in manifest_envelopes(store)]
    copies: list[Anchor] = []
    if certs_dir is not None:
        for path in sorted(certs_dir.iterdir()):
            if path.suffix.lower() in (".json", ".pdf") and path.is_file():
                sources.append((str(path), path.read_bytes()))
            elif path.suffix.lower() == ".jsonl" and path.is_file():
                copies += read_checkpoints(path)  # a copy of a bench's checkpoints file
    found: list[Anchor] = []
    for source, data in sources:
        try:
            signed = parse_envelope(embedded_record(data) if data.startswith(b"%PDF-") else data)
            check_signature(signed)
        except Exception:  # noqa: BLE001, S112 - a damaged file anchors nothing; verify says why
            continue
        consignment = signed.record.get("consignment_id")
        what = (
            f"manifest of consignment {consignment}"
            if consignment and not signed.certificate_id
            else f"certificate {signed.certificate_id}"
        )
        found.extend(anchors_of(signed.record, f"{what} ({source})"))
    return found + stored_checkpoints(store) + read_checkpoints(checkpoints) + copies
