"""A bench's record-keeping without hardware: a batch of drives seen, journalled jobs,
certificates and custody events, written through the real store (in-process or as a process).

As a program (for the fleet tests: several benches are several processes)::

    python bench_rig.py --count N [--first I] [--pause-at K --paused FILE --go FILE]

writes N devices through `open_store(load_settings())` (so ``SANITISER_DATABASE_URL``,
``SANITISER_DATA_DIR`` and ``SANITISER_STATION`` decide where), optionally stopping after K
devices until FILE ``--go`` exists (the test cuts the network meanwhile), and prints one JSON
line: the station, the certificate and job ids written, and whether it ended offline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.record import build_record, canonical_json, new_certificate_id
from sanitiser.certificate.samples import sample_context, sample_health, sample_outcome
from sanitiser.certificate.sign import sign_record
from sanitiser.custody.events import drive_seen, record_sanitised
from sanitiser.domain import UNKNOWN_HEALTH, Drive, OutcomeStatus, Protection, Transport
from sanitiser.store import Store


def drive(station: str, i: int) -> Drive:
    """The `i`-th test drive of `station` (unique serial across the fleet)."""
    return Drive(
        path=f"/dev/sd{chr(ord('a') + i % 26)}",
        name=f"sd{i}",
        model="Fleet SSD 256GB",
        serial=f"{station}-S{i:05d}",
        size_bytes=256 * 10**9,
        transport=Transport.SATA,
        wwn=f"0x5{i:015x}",
    )


def certificate(
    station: str, d: Drive, *, failed: bool = False, signer: StationSigner | None = None
) -> tuple[str, bytes, dict[str, Any]]:
    """A certificate id, an envelope as the store keeps it, and the record (unsigned without
    `signer`: the store does not check signatures; a device reads its drives' records, so a
    drive linked to a device needs a signed one)."""
    cert_id = new_certificate_id()
    outcome = sample_outcome(OutcomeStatus.FAILED if failed else OutcomeStatus.SANITISED)
    record = build_record(
        outcome,
        d,
        sample_health(),
        sample_context(station=station),
        certificate_id=cert_id,
        issued_at=datetime.now(UTC),
    )
    if signer is not None:
        return cert_id, sign_record(record, signer).to_bytes(), record
    return cert_id, canonical_json({"record": record}) + b"\n", record


def one_device(
    store: Store, station: str, i: int, *, signer: StationSigner | None = None
) -> tuple[str, str]:
    """Everything a bench records for one device; (job id, certificate id)."""
    d = drive(station, i)
    drive_seen(store, d, UNKNOWN_HEALTH, Protection(False), station=station)
    job = store.create_job_record(d, station=station, operator="ana", detail={"i": i})
    store.transition_job(job, {"queued"}, "sanitising", event={"why": "start"})
    store.save_job_journal(job, {"seed": f"{i:08x}"})
    store.append_job_event(job, "progress", {"bytes_done": i})
    store.transition_job(job, {"sanitising"}, "certifying")
    cert_id, envelope, record = certificate(station, d, failed=i % 7 == 3, signer=signer)
    kept = store.save_job_certificate(job, cert_id, envelope, serial=d.serial)
    record_sanitised(store, record, station=station)
    store.transition_job(job, {"certifying"}, "done", certificate=kept)
    return job, kept


def run_batch(
    store: Store,
    station: str,
    count: int,
    *,
    first: int = 0,
    pause_at: int | None = None,
    paused: Path | None = None,
    go: Path | None = None,
) -> dict[str, Any]:
    """Write `count` devices; optionally pause after `pause_at` of them until `go` exists."""
    jobs, certs = [], []
    for n in range(count):
        if pause_at is not None and n == pause_at and paused is not None and go is not None:
            paused.touch()
            deadline = time.monotonic() + 120
            while not go.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("never told to go on")
                time.sleep(0.02)
        job, cert = one_device(store, station, first + n)
        jobs.append(job)
        certs.append(cert)
    return {"station": station, "jobs": jobs, "certificates": certs, "offline": store.offline}


def main(argv: list[str]) -> int:
    """Run one bench's batch as a process (see the module docstring)."""
    from sanitiser.config import load_settings
    from sanitiser.store.sync import open_store

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--pause-at", type=int)
    parser.add_argument("--paused", type=Path)
    parser.add_argument("--go", type=Path)
    parser.add_argument("--retry-after", type=float, default=3600.0)
    args = parser.parse_args(argv)
    settings = load_settings()
    store = open_store(settings, retry_after=args.retry_after)
    result = run_batch(
        store,
        settings.station,
        args.count,
        first=args.first,
        pause_at=args.pause_at,
        paused=args.paused,
        go=args.go,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
