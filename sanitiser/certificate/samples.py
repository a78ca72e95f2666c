"""Sample inputs for certificates: used by the tests and by demos (shipped, like testing.py).

Nothing here is random except the keys callers make; times are fixed so records are repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sanitiser.certificate.keys import StationSigner, init_org, load_station_signer, new_station
from sanitiser.certificate.record import Destination, MediaInfo, Person, RecordContext
from sanitiser.domain import (
    ByteRange,
    CommandRecord,
    Drive,
    Health,
    HealthGrade,
    NistCategory,
    Outcome,
    OutcomeStatus,
    Transport,
    Verification,
)

FINISHED = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
"""When the sample sanitisation finished."""

HOSTILE = (
    'Ünïcödé Ωμέγα Кириллица 日本語 <script>alert("x")</script> & <b>bold</b> '
    ") Tj ET BT /F1 99 Tf (pdf) \x07\x1b[31m \u202eevil\u202c \n\t " + "M" * 400
)
"""A model name that tries everything: unicode, HTML, PDF operators, controls, bidi, length."""


def sample_drive(model: str = "Samsung SSD 860 EVO 500GB", simulated: bool = False) -> Drive:
    """A SATA SSD."""
    return Drive(
        path="/dev/sdb",
        name="sdb",
        model=model,
        serial="S3Z9NB0K123456X",
        size_bytes=500_107_862_016,
        transport=Transport.SATA,
        vendor="Samsung",
        wwn="0x5002538e4000abcd",
        firmware="RVT04B6Q",
        by_id="/dev/disk/by-id/ata-Samsung_SSD_860_EVO_500GB_S3Z9NB0K123456X",
        simulated=simulated,
    )


def sample_health(grade: HealthGrade = HealthGrade.A) -> Health:
    """A healthy drive's SMART summary."""
    return Health(
        grade=grade,
        reasons=("no reallocated or pending sectors",),
        smart_available=True,
        smart_passed=True,
        power_on_hours=12_345,
        reallocated_sectors=0,
        pending_sectors=0,
    )


def sample_outcome(status: OutcomeStatus = OutcomeStatus.SANITISED) -> Outcome:
    """An Outcome with the given status (purge by ATA sanitize crypto scramble)."""
    ok = status is OutcomeStatus.SANITISED
    verification = (
        Verification(
            mode="sampled",
            passed=ok,
            bytes_checked=1_048_576_000,
            samples=1000,
            coverage_ppm=2096,
            canaries_written=16,
            canaries_surviving=0 if ok else 3,
            mismatched=() if ok else (ByteRange(4096, 512),),
            expected="crypto-erased (not the canaries)",
        )
        if status is not OutcomeStatus.REFUSED
        else None
    )
    reasons = {
        OutcomeStatus.SANITISED: "sanitize completed and verification passed",
        OutcomeStatus.FAILED: "3 canaries survived the crypto scramble",
        OutcomeStatus.REFUSED: "the drive is security-frozen; power-cycle and retry",
        OutcomeStatus.ABORTED: "cancelled by the operator",
    }
    return Outcome(
        status=status,
        method="ata-sanitize-crypto-scramble",
        nist_category=NistCategory.PURGE,
        verified=ok,
        reason=reasons[status],
        started_at=FINISHED - timedelta(minutes=7, seconds=3),
        finished_at=FINISHED,
        commands=(
            CommandRecord(
                (
                    "hdparm",
                    "--yes-i-know-what-i-am-doing",
                    "--sanitize-crypto-scramble",
                    "/dev/sdb",
                ),
                0,
                "",
                "",
            ),
        )
        if status is not OutcomeStatus.REFUSED
        else (),
        verification=verification,
        hpa_dco="no HPA (native max = current max); DCO not restricted",
        # The sample's method name is not a `Technique` value, so it says its technique.
        details=(("ause", "0"), ("pattern", "none"), ("technique", "crypto-erase")),
    )


def sample_context(
    organisation: str = "Example Borough Council",
    station: str = "bench-01",
    supersedes: str | None = None,
) -> RecordContext:
    """Operator, policy and destination for the samples."""
    return RecordContext(
        organisation=organisation,
        station=station,
        operator=Person(
            name="Ada Lovelace",
            title="Technician",
            organisation=organisation,
            location="Depot 3, London",
            contact="+44 20 7946 0000",
        ),
        policy_name="nist-800-88-r1-default",
        policy_version="2026.1",
        destination=Destination(route="external-reuse", scheme="London Device Bank"),
        media=MediaInfo(property_number="LBC-004211", source="laptop LBC-L-0199"),
        supersedes=supersedes,
        environment=(("kernel", "6.1.0-31-amd64"), ("hdparm", "9.65")),
    )


@dataclass(frozen=True, slots=True)
class SamplePki:
    """An organisation with one station, in ``<base>/certs`` and ``<base>/keys``."""

    certs: Path
    keys: Path
    signer: StationSigner


def make_pki(
    base: Path,
    organisation: str = "Example Borough Council",
    station: str = "bench-01",
    development: bool = False,
) -> SamplePki:
    """Create an organisation CA and one station under `base` (EC keys: fast)."""
    certs, keys_dir = base / "certs", base / "keys"
    init_org(certs, keys_dir, organisation, development=development)
    new_station(certs, keys_dir, station)
    return SamplePki(certs, keys_dir, load_station_signer(certs, keys_dir, station))
