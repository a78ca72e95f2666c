"""Anchors that make a cut-short custody chain visible.

The hash chain (`sanitiser.store.audit`) catches any edited, deleted or reordered entry, but
someone with write access to the store could delete the newest entries and move
``audit_head`` back to the new tail: what is left is a valid chain. So the chain's head is also
written down, signed with the station key, where such an edit cannot reach it:

- every certificate records the head at its issuance (``custody``: station, seq, hash); the
  certificate is signed and handed out, so it outlives any edit of the store;
- after every job the station appends a signed checkpoint of its head to a file beside the
  store (``<data_dir>/custody-checkpoints.jsonl``), which a database insider cannot edit.

`check_anchors` compares such anchors with the chain: an anchored entry that is missing, or
whose hash differs, means the chain was cut short or rewritten. What it cannot see: entries
appended after the last anchor, if they are removed before any certificate or checkpoint
records them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.record import utc_text
from sanitiser.certificate.sign import SignedRecord, check_signature, parse_envelope, sign_record
from sanitiser.errors import CertificateError, SanitiserError
from sanitiser.store import Store
from sanitiser.store.audit import GENESIS, chain_head, entry_hash_at

CHECKPOINT_SCHEMA = "sanitiser.custody-checkpoint/1"
CHECKPOINTS_FILE = "custody-checkpoints.jsonl"
"""The signed checkpoints file, in the data directory."""


@dataclass(frozen=True, slots=True)
class Anchor:
    """A signed statement that `station`'s chain had entry `seq` with `hash`."""

    station: str
    seq: int
    hash: str
    source: str
    """Where it was read: ``certificate <id>`` or ``checkpoint of <time>``."""


def anchor_of(record: Mapping[str, Any], source: str) -> Anchor | None:
    """The custody anchor a signed record carries (a certificate's ``custody`` block or a
    checkpoint), or None for a record without one (made before anchors existed)."""
    block = record.get("custody") if record.get("schema") != CHECKPOINT_SCHEMA else record
    if not isinstance(block, Mapping):
        return None
    station, seq, head = block.get("station"), block.get("seq"), block.get("hash")
    if not isinstance(station, str) or not isinstance(seq, int) or not isinstance(head, str):
        return None
    return Anchor(station, seq, head, source)


def check_anchors(store: Store, anchors: Iterable[Anchor]) -> list[str]:
    """Each anchor the chain contradicts, as a sentence (empty when the chain agrees)."""
    problems = []
    for a in anchors:
        if a.seq == 0:
            continue  # anchored before the station's first entry: nothing to find
        found = entry_hash_at(store, a.station, a.seq)
        if found is None:
            head = chain_head(store, a.station)
            now = f"it now ends at entry {head[0]}" if head else "it is now empty"
            problems.append(
                f"{a.source} records station {a.station}'s chain at entry {a.seq}, but {now}: "
                "entries were removed"
            )
        elif found != a.hash:
            problems.append(
                f"{a.source} records station {a.station}'s entry {a.seq} with another hash: "
                "the chain was rewritten"
            )
    return problems


def signed_checkpoint(store: Store, signer: StationSigner, station: str) -> SignedRecord:
    """The station's chain head now, signed with its key.

    Raises:
        CertificateError: the station may not sign (revoked) or the record cannot be signed.
    """
    seq, head = chain_head(store, station) or (0, GENESIS)
    record = {
        "schema": CHECKPOINT_SCHEMA,
        "station": station,
        "seq": seq,
        "hash": head,
        "issued_at": utc_text(datetime.now(UTC)),
        "development_key": signer.development,
    }
    return sign_record(record, signer)


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
        anchor = anchor_of(signed.record, f"checkpoint of {signed.record.get('issued_at')}")
        if anchor is not None:
            anchors.append(anchor)
    return anchors
