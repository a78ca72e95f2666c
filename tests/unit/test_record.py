"""The sanitisation record: contents from the Outcome, canonical JSON, strict parsing."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime

import pytest

from sanitiser.certificate.record import (
    METHOD_TECHNIQUES,
    RECORD_SCHEMA,
    TECHNIQUE_WORDS,
    Destination,
    Record,
    RecordContext,
    UnusableInputError,
    build_record,
    canonical_json,
    new_certificate_id,
    parse_canonical,
    parse_json,
    record_digest,
    technique_of,
)
from sanitiser.certificate.samples import (
    FINISHED,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.domain import OutcomeStatus
from sanitiser.errors import CertificateError

CID = "0195a5b0-1111-7aaa-8bbb-cccccccccccc"


def _record(
    status: OutcomeStatus = OutcomeStatus.SANITISED,
    *,
    simulated: bool = False,
    context: RecordContext | None = None,
    development: bool = False,
) -> Record:
    return build_record(
        sample_outcome(status),
        sample_drive(simulated=simulated),
        sample_health(),
        sample_context() if context is None else context,
        certificate_id=CID,
        issued_at=FINISHED,
        development=development,
    )


def test_canonical_json_is_sorted_compact_utf8() -> None:
    """Keys are sorted, there is no whitespace, and non-ASCII is written as UTF-8."""
    assert (
        canonical_json({"b": 1, "a": ["é", None, True]}) == '{"a":["é",null,true],"b":1}'.encode()
    )


@pytest.mark.parametrize(
    "value",
    [{"x": 1.5}, {"x": (1, 2)}, {1: "a"}, {"x": "\ud800"}, {"x": b"bytes"}],
    ids=["float", "tuple", "int-key", "lone-surrogate", "bytes"],
)
def test_canonical_json_rejects_non_json_values(value: object) -> None:
    """Floats, tuples, non-string keys, lone surrogates and bytes cannot be signed."""
    with pytest.raises(CertificateError):
        canonical_json(value)


def test_parse_canonical_rejects_edited_json() -> None:
    """Same meaning but different bytes (whitespace, key order) is refused as edited."""
    assert parse_canonical(b'{"a":1,"b":2}\n') == {"a": 1, "b": 2}
    for edited in (b'{"a": 1,"b":2}', b'{"b":2,"a":1}', b'{"a":1,"b":2}\n\n'):
        with pytest.raises(CertificateError, match="canonical"):
            parse_canonical(edited)


@pytest.mark.parametrize(
    "data", [b'{"a":1,"a":2}', b'{"a":1.0}', b'{"a":NaN}', b"\xff", b"{"], ids=str
)
def test_parse_json_refuses_ambiguous_input(data: bytes) -> None:
    """Duplicate keys, floats, NaN, bad UTF-8 and broken JSON are unusable input."""
    with pytest.raises(UnusableInputError):
        parse_json(data)


def test_certificate_ids_are_unique_time_ordered_uuid7() -> None:
    """Ids are RFC 9562 version-7 UUIDs, unique, and sort by creation time."""
    ids = [new_certificate_id() for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert new_certificate_id(now_ms=1) < new_certificate_id(now_ms=2)


def test_record_has_every_nist_sample_certificate_field() -> None:
    """The record carries the NIST App. G fields and STANDARDS.md §7 additions."""
    r = _record()
    dev = r["device"]
    assert isinstance(dev, dict)
    assert dev["manufacturer"] == "Samsung"
    assert dev["model"] == "Samsung SSD 860 EVO 500GB"
    assert dev["serial"] == "S3Z9NB0K123456X"
    assert dev["wwn"] == "0x5002538e4000abcd"
    assert dev["firmware"] == "RVT04B6Q"
    assert dev["capacity_bytes"] == 500_107_862_016
    assert (dev["transport"], dev["media_kind"], dev["media_type"]) == ("sata", "ssd", "flash")
    assert dev["property_number"] == "LBC-004211"
    assert dev["source"] == "laptop LBC-L-0199"
    san = r["sanitisation"]
    assert isinstance(san, dict)
    assert san["nist_category"] == "purge"
    assert san["technique"] == "crypto-erase"
    assert san["method"] == "ata-sanitize-crypto-scramble"
    assert san["commands"][0]["argv"][-1] == "/dev/sdb"
    assert san["hpa_dco"].startswith("no HPA")
    assert (san["started_at"], san["finished_at"]) == (
        "2025-03-14T15:02:23Z",
        "2025-03-14T15:09:26Z",
    )
    assert san["duration_seconds"] == 423
    assert san["standard"] == "NIST SP 800-88 Rev. 1"
    assert r["verification"]["mode"] == "sampled"
    assert r["verification"]["result"] == "pass"
    assert r["verification"]["coverage_ppm"] == 2096
    assert r["health"]["before"]["grade"] == "A"
    assert r["operator"]["name"] == "Ada Lovelace"
    assert r["tool"]["name"] == "sanitiser"
    assert r["tool"]["version"]
    assert r["policy"] == {"name": "nist-800-88-r1-default", "version": "2026.1"}
    assert r["destination"] == {
        "route": "external-reuse",
        "scheme": "London Device Bank",
        "details": "",
    }
    assert r["outcome"]["status"] == "sanitised"
    assert (r["simulated"], r["development_key"], r["supersedes"]) == (False, False, None)
    assert r["organisation"] == "Example Borough Council"
    assert r["station"] == "bench-01"
    assert r["certificate_id"] == CID
    assert r["issued_at"] == "2025-03-14T15:09:26Z"


@pytest.mark.parametrize("status", list(OutcomeStatus))
def test_record_states_the_outcome_and_verification(status: OutcomeStatus) -> None:
    """Failed and refused outcomes are recorded as such, with their reasons."""
    r = _record(status)
    assert r["outcome"]["status"] == status.value
    expected = {
        "sanitised": "pass",
        "failed": "fail",
        "refused": "unverifiable",
        "aborted": "fail",
    }[status.value]
    assert r["verification"]["result"] == expected
    assert r["outcome"]["reason"]


def test_record_marks_simulated_development_and_supersedes() -> None:
    """Lab drives say SIMULATED; development keys and corrections are recorded."""
    r = _record(
        simulated=True,
        development=True,
        context=sample_context(supersedes="0195a5b0-0000-7000-8000-000000000000"),
    )
    assert r["simulated"] is True
    assert r["development_key"] is True
    assert r["supersedes"] == "0195a5b0-0000-7000-8000-000000000000"


def test_record_is_canonical_and_digest_stable() -> None:
    """The same inputs give the same canonical bytes and digest; no float sneaks in."""
    a, b = _record(), _record()
    assert canonical_json(a) == canonical_json(b)
    assert record_digest(a) == record_digest(b)
    assert parse_canonical(canonical_json(a)) == json.loads(canonical_json(a))


def test_record_refuses_naive_times_and_unknown_destination() -> None:
    """Times must be timezone-aware; the destination route must be a known one."""
    with pytest.raises(CertificateError, match="timezone"):
        build_record(
            sample_outcome(),
            sample_drive(),
            None,
            sample_context(),
            certificate_id=CID,
            issued_at=datetime(2026, 1, 1),
        )
    ctx = sample_context()
    bad = dataclasses.replace(ctx, destination=Destination(route="landfill"))
    with pytest.raises(CertificateError, match="destination"):
        build_record(
            sample_outcome(),
            sample_drive(),
            None,
            bad,
            certificate_id=CID,
            issued_at=datetime.now(UTC),
        )


@pytest.mark.parametrize(
    ("method", "technique"),
    [
        ("ata-sanitize-crypto", "crypto-erase"),
        ("ata-sanitize-block", "block-erase"),
        ("ata-sanitize-overwrite", "overwrite"),
        ("ata-security-erase-enhanced", "overwrite"),
        ("ata-security-erase", "overwrite"),
        ("nvme-sanitize-crypto", "crypto-erase"),
        ("nvme-sanitize-block", "block-erase"),
        ("nvme-sanitize-overwrite", "overwrite"),
        ("nvme-format-crypto", "crypto-erase"),
        ("nvme-format-user-data", "other"),
        ("scsi-sanitize-crypto", "crypto-erase"),
        ("scsi-sanitize-block", "block-erase"),
        ("scsi-sanitize-overwrite", "overwrite"),
        ("scsi-format-unit", "other"),
        ("host-overwrite", "overwrite"),
        ("destroy", "other"),
    ],
)
def test_technique_is_what_the_method_does(method: str, technique: str) -> None:
    """NIST "Method Used" is what the command's standard says it does, per method: ATA
    SECURITY ERASE UNIT overwrites (ACS-3), Format NVM SES=1 and SCSI FORMAT UNIT name no
    technique (their content afterwards is indeterminate / vendor-specific)."""
    outcome = dataclasses.replace(sample_outcome(), method=method, details=())
    assert technique_of(outcome) == technique
    record = build_record(
        outcome,
        sample_drive(),
        None,
        sample_context(),
        certificate_id=CID,
        issued_at=FINISHED,
    )
    assert record["sanitisation"]["technique"] == technique


def test_every_technique_has_a_technique_word() -> None:
    """The table covers every `Technique` and ``destroy``, with App. G's words only."""
    from sanitiser.probe.capabilities import Technique

    assert set(METHOD_TECHNIQUES) == {t.value for t in Technique} | {"destroy"}
    assert set(METHOD_TECHNIQUES.values()) <= set(TECHNIQUE_WORDS)
    assert TECHNIQUE_WORDS == ("overwrite", "block-erase", "crypto-erase", "degauss", "other")


@pytest.mark.parametrize("method", ["ata-secure-erase", "overwrite-zeros", "mystery", ""])
def test_an_unknown_method_is_refused_not_guessed(method: str) -> None:
    """A method outside the table that gives no technique is a clear error, not a guess by
    its name (``ata-secure-erase`` used to become block-erase, ``mystery`` other)."""
    outcome = dataclasses.replace(sample_outcome(), method=method, details=())
    with pytest.raises(CertificateError, match="no known technique for method"):
        technique_of(outcome)
    with pytest.raises(CertificateError, match="will not guess"):
        build_record(
            outcome,
            sample_drive(),
            None,
            sample_context(),
            certificate_id=CID,
            issued_at=FINISHED,
        )


def test_a_technique_the_method_gives_is_kept() -> None:
    """The method's own ``technique`` detail wins over the table; a word outside App. G's
    vocabulary is refused."""
    given = dataclasses.replace(
        sample_outcome(), method="nvme-format-user-data", details=(("technique", "crypto-erase"),)
    )
    assert technique_of(given) == "crypto-erase"
    assert technique_of(sample_outcome()) == "crypto-erase"  # its method is not in the table
    wrong = dataclasses.replace(
        sample_outcome(), method="host-overwrite", details=(("technique", "shredded"),)
    )
    with pytest.raises(CertificateError, match="gave technique 'shredded'"):
        technique_of(wrong)


def test_a_downgrade_is_on_the_record_and_absent_without_one() -> None:
    """The plan's downgrade reason is signed into the record (``sanitisation.downgrade``);
    a record without a downgrade has no such key, so it is shaped as records were before."""
    reason = (
        "no usable purge technique (none listed); downgraded to host-overwrite (clear) as "
        "policy nist-800-88 allows"
    )
    downgraded = _record(context=dataclasses.replace(sample_context(), downgrade=reason))
    assert downgraded["sanitisation"]["downgrade"] == reason
    assert "downgrade" not in _record()["sanitisation"]
    assert downgraded["schema"] == RECORD_SCHEMA == "sanitiser.record/1"
    assert parse_canonical(canonical_json(downgraded)) == downgraded
