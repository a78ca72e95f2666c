"""The device certificate's record and token: built from verified drive records only, signed,
and checked as strictly as a drive's; a device record is never taken for a drive's (nor the
other way round); every byte of a device token is covered by its signature."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from sanitiser.assets.model import Device, DeviceState, LinkedDrive, check_intake
from sanitiser.assets.readiness import assess
from sanitiser.assets.record import build_device_record, drive_entry
from sanitiser.certificate.device_token import decode_device_token, make_device_token
from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.label import label_format, labels_png
from sanitiser.certificate.qr import encode_token, token_bytes, token_url
from sanitiser.certificate.record import DEVICE_SCHEMA, RECORD_SCHEMA, Record
from sanitiser.certificate.samples import (
    SamplePki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.sign import SignedRecord, VerifiedRecord, sign_record
from sanitiser.certificate.verify import (
    Trust,
    Validity,
    require_verified,
    verify_record_bytes,
    verify_token_text,
)
from sanitiser.errors import CertificateError
from sanitiser.policy.loader import load_policy
from sanitiser.runner import SubprocessRunner

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
"""When the records are issued and checked: set by `_now_in_the_pkis_life` to a minute into the
life of the module's PKI. (A fixed time here was a time bomb: the PKI is made when the tests run,
valid from five minutes before, so on the day of the fixed time, from its hour on, every record
"issued" then was refused as issued before its CA existed.)"""


@pytest.fixture(autouse=True)
def _now_in_the_pkis_life(pki: SamplePki) -> None:
    global NOW  # noqa: PLW0603 - the module's helpers read it
    NOW = pki.signer.cert.not_valid_before_utc + timedelta(minutes=1)


@pytest.fixture(scope="module")
def drive_record(pki: SamplePki) -> Record:
    issued = issue_certificate(
        sample_outcome(), sample_drive(), sample_health(), sample_context(), pki.signer
    )
    return dict(issued.signed.record)


def _device(record: Record) -> Device:
    entry = drive_entry(record)
    linked = LinkedDrive(
        drive_key="sata:x:",
        serial=entry["serial"],
        model=entry["model"],
        linked_at=NOW,
        linked_by="ana",
        certificate_id=entry["certificate_id"],
        record_sha256=entry["record_sha256"],
        outcome=entry["outcome"],
        capacity_bytes=entry["capacity_bytes"],
    )
    return Device(
        intake=check_intake(kind="laptop", tag="LBC-0199", make="Dell", model="Latitude 7490"),
        state=DeviceState.GRADED,
        received_at=NOW,
        received_by="ana",
        station="bench-01",
        cosmetic="B",
        drives=(linked,),
    )


def _signed(pki: SamplePki, record: Record, device: Device | None = None) -> SignedRecord:
    device = device or _device(record)
    readiness = assess(device, load_policy("digital-inclusion").devices, today=date(2026, 12, 4))
    built = build_device_record(
        device,
        readiness,
        [record],
        certificate_id="01a23fee-34d7-7c71-884d-f279935b5561",
        organisation=pki.signer.organisation,
        station=pki.signer.name,
        operator="ana",
        issued_at=NOW,
        development=pki.signer.development,
        custody=(7, "ab" * 32),
        tool_version="test",
    )
    return sign_record(built, pki.signer)


def test_the_record_names_each_drive_by_id_and_sha256(pki: SamplePki, drive_record: Record) -> None:
    signed = _signed(pki, drive_record)
    record = signed.record
    assert record["schema"] == DEVICE_SCHEMA
    [drive] = record["drives"]
    assert drive["certificate_id"] == drive_record["certificate_id"]
    assert drive["record_sha256"] == drive_entry(drive_record)["record_sha256"]
    assert record["custody"] == {"station": pki.signer.name, "seq": 7, "hash": "ab" * 32}
    assert record["destination"]["route"] == record["readiness"]["destination"]


def test_drive_records_that_are_not_the_devices_are_refused(
    pki: SamplePki, drive_record: Record
) -> None:
    other = dict(drive_record, certificate_id="01a23fee-0000-7000-8000-000000000000")
    with pytest.raises(CertificateError, match="are not its drives' certificates"):
        _signed(pki, other, _device(drive_record))


def test_a_device_record_is_never_taken_for_a_drives(
    pki: SamplePki, trust: Trust, drive_record: Record
) -> None:
    device = _signed(pki, drive_record)
    assert verify_record_bytes(device.to_bytes(), trust).validity is Validity.VALID
    require_verified(device, trust, schema=DEVICE_SCHEMA)
    with pytest.raises(
        CertificateError, match="is a device certificate, not a drive's certificate"
    ):
        require_verified(device, trust)  # where a drive's record is expected
    drive = sign_record(drive_record, pki.signer)
    assert drive_record["schema"] == RECORD_SCHEMA
    with pytest.raises(
        CertificateError, match="is a drive's certificate, not a device certificate"
    ):
        require_verified(drive, trust, schema=DEVICE_SCHEMA)


def test_the_device_token_round_trips_and_every_byte_is_signed(
    pki: SamplePki, trust: Trust, drive_record: Record
) -> None:
    signed = _signed(pki, drive_record)
    token = make_device_token(VerifiedRecord(signed), pki.signer, NOW)
    verdict = verify_token_text(token, trust, now=NOW)
    assert verdict.validity is Validity.VALID, verdict.reason
    facts = dict(verdict.facts)
    assert (facts["tag"], facts["make_model"], facts["cosmetic_grade"]) == (
        "LBC-0199",
        "Dell Latitude 7490",
        "B",
    )
    decoded = decode_device_token(token_bytes(token))
    assert decoded.certificate_id == signed.certificate_id
    assert [d.status for d in decoded.drives] == ["sanitised"]
    raw = token_bytes(token)
    for i in range(len(raw)):  # flip each byte in turn: never VALID
        changed = raw[:i] + bytes((raw[i] ^ 0x01,)) + raw[i + 1 :]
        assert verify_token_text(encode_token(changed), trust, now=NOW).validity is not (
            Validity.VALID
        ), i
    assert base64.b32decode(token + "=" * (-len(token) % 8))[0] == 3


def test_the_device_label_carries_the_token(
    pki: SamplePki, trust: Trust, drive_record: Record, tmp_path: Path
) -> None:
    """The 62 x 29 mm label at 300 dpi: zbarimg reads the token back, and it verifies."""
    signed = _signed(pki, drive_record)
    url = token_url(make_device_token(VerifiedRecord(signed), pki.signer, NOW))
    [png] = labels_png([(signed.record, url)], label_format("62x29"))
    path = tmp_path / "label.png"
    path.write_bytes(png)
    read = SubprocessRunner().run(["zbarimg", "-q", "--raw", str(path)])
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip() == url
    assert verify_token_text(read.stdout.strip(), trust, now=NOW).validity is Validity.VALID
