"""`sanitiser verify` on a signed consignment manifest (its PDF and its JSON): a genuine one is
VALID and says what it states (destination, devices, counts); an altered one, one from another
organisation, or one whose embedded record was swapped for a certificate is INVALID."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.pdf import sign_pdf
from sanitiser.certificate.record import Destination
from sanitiser.certificate.samples import (
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.verify import Validity, load_trust, verify_pdf_bytes
from sanitiser.cli.certificates import make_cert_group, verify
from sanitiser.custody.events import record_received, record_sanitised
from sanitiser.custody.manifest import IssuedManifest, issue_manifest, render_manifest_pdf
from sanitiser.domain import HealthGrade, OutcomeStatus
from sanitiser.store import Store
from sanitiser.store.consignments import add_certificates, open_consignment
from sanitiser.store.destinations import add_destination

STATION = "bench-01"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SamplePki:
    """An organisation with station bench-01."""
    return make_pki(tmp_path_factory.mktemp("pki"), station=STATION)


def _issue(store: Store, pki: SamplePki, serial: str, status: OutcomeStatus) -> str:
    drive = dataclasses.replace(
        sample_drive(simulated=True), serial=serial, wwn="", path=f"/dev/{serial.lower()}"
    )
    record_received(store, drive, station=STATION, actor="ana")
    context = dataclasses.replace(sample_context(), destination=Destination(route="destruction"))
    issued = issue_certificate(
        sample_outcome(status), drive, sample_health(HealthGrade.B), context, pki.signer
    )
    store.save_certificate(issued.certificate_id, issued.record_json, serial=serial, pdf=issued.pdf)
    record_sanitised(store, issued.signed.record, station=STATION)
    return issued.certificate_id


@pytest.fixture(scope="module")
def manifest(pki: SamplePki, tmp_path_factory: pytest.TempPathFactory) -> IssuedManifest:
    """A signed manifest of two drives (one sanitised, one failed) handed to ShredCo."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'custody.db'}")
    add_destination(
        store,
        "ShredCo",
        kind="destroy",
        contact="ops@shredco.example",
        accepts=["hdd", "ssd"],
        scheme="ISO/IEC 21964 H-5",
        station=STATION,
    )
    ids = [
        _issue(store, pki, "SSD0001", OutcomeStatus.SANITISED),
        _issue(store, pki, "SSD0002", OutcomeStatus.FAILED),
    ]
    con = open_consignment(store, "ShredCo", station=STATION, operator="ana")
    add_certificates(store, con.id, ids, station=STATION, operator="ana")
    return issue_manifest(store, con.id, pki.signer, station=STATION, operator="ana")


def _verify(path: Path, pki: SamplePki, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(verify, [str(path), "--certs", str(pki.certs), *extra])
    return result.exit_code, result.output


@pytest.mark.parametrize("form", ["pdf", "json"])
def test_a_genuine_manifest_is_valid_and_says_what_it_states(
    manifest: IssuedManifest, pki: SamplePki, tmp_path: Path, form: str
) -> None:
    """The manifest's PDF and its JSON verify (signature, chain, revocation; for the PDF its
    PAdES signature too), and the verdict states the destination, each device and the counts."""
    path = tmp_path / f"m.{form}"
    path.write_bytes(manifest.pdf if form == "pdf" else manifest.envelope)
    code, out = _verify(path, pki)
    assert code == 0, out
    assert out.startswith(f"VALID: {'pdf' if form == 'pdf' else 'record'}")
    for said in (
        f"Consignment:         {manifest.consignment_id}",
        "Destination:         ShredCo (destroy)",
        "Devices:             2",
        "Outcomes:            1 failed, 1 sanitised",
        "[ok ] trust chain: bench-01 <- ",
        "[ok ] revocation: ",
        "SSD0001 (ssd",
        "SSD0002 (ssd",
        "*** SIMULATED ***",
    ):
        assert said in out, said
    if form == "pdf":
        assert "[ok ] pdf signature: intact and valid" in out
    code, out = _verify(path, pki, "--json")
    facts = json.loads(out)["facts"]
    assert (code, facts["record_kind"], facts["count"]) == (0, "manifest", "2")


def test_an_altered_manifest_is_invalid(
    manifest: IssuedManifest, pki: SamplePki, tmp_path: Path
) -> None:
    """A destination changed in the JSON, a byte changed in the PDF's signed content, or
    content appended after signing: INVALID (exit 1), never valid."""
    record = tmp_path / "m.json"
    record.write_bytes(manifest.envelope.replace(b"ShredCo", b"ShredCx"))
    code, out = _verify(record, pki)
    assert (code, out.splitlines()[0]) == (
        1,
        "INVALID: record: the record's signature does not match its contents",
    )
    pdf = tmp_path / "m.pdf"
    at = manifest.pdf.index(b"/Title")
    pdf.write_bytes(manifest.pdf[:at] + b"/Titlf" + manifest.pdf[at + 6 :])
    code, out = _verify(pdf, pki)
    assert code == 1, out
    assert out.startswith("INVALID: pdf")
    pdf.write_bytes(manifest.pdf + b"\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n")
    code, out = _verify(pdf, pki)
    assert code == 1, out


def test_a_manifest_from_another_organisation_is_invalid(
    manifest: IssuedManifest, tmp_path: Path
) -> None:
    """Trusting another organisation's CA, the genuine manifest does not verify (exit 1)."""
    other = make_pki(tmp_path / "other")
    path = tmp_path / "m.pdf"
    path.write_bytes(manifest.pdf)
    code, out = _verify(path, other)
    assert code == 1, out
    assert out.startswith("INVALID: pdf")


def test_a_manifest_signed_as_a_certificate_is_invalid(
    manifest: IssuedManifest, pki: SamplePki
) -> None:
    """The manifest embedded under a certificate's name and signature field (both signed by
    the station) is not taken for either kind: the name must say what the record is."""
    pdf = sign_pdf(render_manifest_pdf(manifest.signed), manifest.signed, pki.signer)
    verdict = verify_pdf_bytes(pdf, load_trust(pki.certs))
    assert verdict.validity is Validity.INVALID
    assert "not of the kind its name says" in verdict.reason


def test_a_manifest_is_not_exported_as_a_certificate(
    manifest: IssuedManifest, pki: SamplePki, tmp_path: Path
) -> None:
    """`cert export` of a manifest says what it is, not that it was altered."""
    path = tmp_path / "m.json"
    path.write_bytes(manifest.envelope)
    result = CliRunner().invoke(
        make_cert_group(),
        ["export", str(path), "--json", str(tmp_path / "out.json"), "--certs", str(pki.certs)],
    )
    assert result.exit_code == 2
    assert "is a consignment manifest, not a drive's certificate" in result.output
    assert not (tmp_path / "out.json").exists()
