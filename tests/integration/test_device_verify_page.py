"""What a charity sees when it scans a laptop's label: the static verification page, in real
headless Chromium, verifies a device token (version 3) offline and shows the device, its
specification, grade, destination and each drive sanitised by which method; an altered token
shows NOT VALID."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sanitiser.assets.model import Device, DeviceState, LinkedDrive, check_intake
from sanitiser.assets.readiness import assess
from sanitiser.assets.record import build_device_record, drive_entry
from sanitiser.certificate.device_token import make_device_token
from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.qr import encode_token, token_bytes
from sanitiser.certificate.samples import (
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_outcome,
)
from sanitiser.certificate.sign import VerifiedRecord, sign_record
from sanitiser.certificate.verify_page import write_page
from sanitiser.inventory.dmi import parse_dmidecode
from sanitiser.inventory.model import inventory_from_dmi
from sanitiser.policy.loader import load_policy
from tests.integration.test_verify_page import browser, open_page, resign

ORG = "Example Borough Council"
T480 = Path(__file__).parents[1] / "data/real/dmidecode/lenovo-thinkpad-t480-20l5.txt"


@pytest.fixture
def pki(tmp_path: Path) -> SamplePki:
    return make_pki(tmp_path / "org", ORG)


def device_token(pki: SamplePki) -> str:
    outcome = replace(sample_outcome(), method="nvme-sanitize-crypto")
    issued = issue_certificate(outcome, sample_drive(), None, sample_context(), pki.signer)
    record = dict(issued.signed.record)
    entry = drive_entry(record)
    now = datetime.now(UTC)
    device = Device(
        intake=check_intake(kind="laptop", tag="LBC-0199", make="Lenovo", model="ThinkPad T480"),
        state=DeviceState.GRADED,
        received_at=now,
        received_by="ana",
        station="bench-01",
        cosmetic="B",
        inventory=inventory_from_dmi(parse_dmidecode(T480.read_text(encoding="utf-8"))),
        inventory_source="dmidecode",
        drives=(
            LinkedDrive(
                drive_key="nvme:x:",
                serial=entry["serial"],
                model=entry["model"],
                linked_at=now,
                linked_by="ana",
                certificate_id=entry["certificate_id"],
                record_sha256=entry["record_sha256"],
                outcome=entry["outcome"],
                capacity_bytes=entry["capacity_bytes"],
            ),
        ),
    )
    readiness = assess(device, load_policy("digital-inclusion").devices, today=date.today())
    built = build_device_record(
        device,
        readiness,
        [record],
        certificate_id="01a23fee-34d7-7c71-884d-f279935b5561",
        organisation=ORG,
        station="bench-01",
        operator="ana",
        issued_at=now,
        development=False,
        custody=None,
        tool_version="test",
    )
    return make_device_token(VerifiedRecord(sign_record(built, pki.signer)), pki.signer)


@browser
def test_a_device_label_shows_the_device_verified(pki: SamplePki, tmp_path: Path) -> None:
    page, _ = write_page(pki.certs, tmp_path / "www" / "verify.html")
    token = device_token(pki)
    dom = open_page(page, token, tmp_path)
    assert dom.state == "valid", dom.text("verdict-reason")
    facts = dom.facts()
    assert facts["Asset tag"] == "LBC-0199"
    assert facts["Make and model"] == "Lenovo ThinkPad T480"
    assert facts["Processor"] == "Intel(R) Core(TM) i7-8550U CPU @ 1.80GHz"
    assert facts["Memory"] == "32 GB"
    assert facts["Storage"] == "500 GB"
    assert facts["Cosmetic grade"] == "B"
    assert facts["Drive 1"] == "Sanitised: NVMe Sanitize (crypto erase) (Purge (NIST SP 800-88))"
    assert facts["Certificate ID"] == "01a23fee-34d7-7c71-884d-f279935b5561"
    assert dom.text("outcome-title") == "Every drive sanitised"

    raw = token_bytes(token)
    body = raw[:-64]
    graded_a = body[:2] + bytes(((1 << 4) | (body[2] & 0xF),)) + body[3:]  # B -> A, unsigned
    assert graded_a != body
    forged = encode_token(graded_a + raw[-64:])
    dom = open_page(page, forged, tmp_path)
    assert dom.state == "invalid"
    assert "signature does not match" in dom.text("verdict-reason")
    other = make_pki(tmp_path / "rogue", ORG)
    dom = open_page(page, resign(graded_a, other), tmp_path)
    assert dom.state == "invalid"
