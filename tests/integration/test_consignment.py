"""Handover end to end: destinations, consignments of real signed certificates, the signed
manifest (checked with poppler's pdfsig and pyHanko), closing, and the custody chain; and a lab
job whose drive lied about its sanitize, handed over for destruction by its signed record."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import text

from sanitiser.assets.model import LeftCustodyError, check_intake
from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.pdf import embedded_files
from sanitiser.certificate.record import Destination
from sanitiser.certificate.samples import (
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.sign import check_signature, parse_envelope
from sanitiser.custody.anchors import check_anchors, gather_anchors
from sanitiser.custody.events import drive_seen, record_received, record_sanitised
from sanitiser.custody.manifest import (
    CSV_COLUMNS,
    MANIFEST_FIELD,
    MANIFEST_SCHEMA,
    csv_of_manifest,
    issue_manifest,
    manifest_file_name,
    stored_manifest,
)
from sanitiser.devices.guard import claim as guard_claim
from sanitiser.devices.probing import probe
from sanitiser.domain import HealthGrade, OutcomeStatus, Protection, Transport
from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.jobs.orchestrator import JobDependencies, Orchestrator
from sanitiser.lab.bench import LabBench, LabKind, lab_health
from sanitiser.lab.runner import emulator_for, lab_runner, reset_lab_emulators
from sanitiser.methods.registry import method_for
from sanitiser.policy.loader import load_policy
from sanitiser.policy.select import select_method
from sanitiser.reporting.aggregate import build_report
from sanitiser.reporting.devices import load_devices
from sanitiser.routing.destinations import DestinationError
from sanitiser.runner import SubprocessRunner
from sanitiser.store import Store
from sanitiser.store import devices as records
from sanitiser.store.audit import AuditKind, entries, verify_chain
from sanitiser.store.consignments import (
    ConsignmentError,
    add_certificates,
    cancel_consignment,
    close_consignment,
    consignment_items,
    consignment_of,
    get_consignment,
    list_consignments,
    open_consignment,
)
from sanitiser.store.destinations import add_destination, list_destinations, remove_destination
from tests.cli import run_sanitiser

RUN = SubprocessRunner()
STATION = "bench-01"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SamplePki:
    """An organisation with station bench-01."""
    return make_pki(tmp_path_factory.mktemp("pki"), station=STATION)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store on an SQLite file, with a reuse scheme, a recycler and a destruction provider."""
    s = Store(f"sqlite:///{tmp_path / 'custody.db'}")
    add_destination(
        s,
        "London Device Bank",
        kind="reuse",
        contact="collections@devicebank.example, 020 7946 0001",
        accepts="ssd,hdd,nvme",
        scheme="Reuse programme RP-7",
        station=STATION,
        actor="ana",
    )
    add_destination(
        s,
        "ShredCo",
        kind="destroy",
        contact="ops@shredco.example",
        accepts=["hdd", "ssd", "nvme", "usb-flash"],
        scheme="ISO/IEC 21964 H-5",
        station=STATION,
    )
    add_destination(
        s,
        "GreenCycle",
        kind="recycle",
        contact="pickup@greencycle.example",
        accepts="hdd,ssd,nvme",
        station=STATION,
    )
    return s


def _issue(
    store: Store,
    pki: SamplePki,
    serial: str,
    *,
    transport: Transport = Transport.SATA,
    rotational: bool = False,
    removable: bool = False,
    status: OutcomeStatus = OutcomeStatus.SANITISED,
    grade: HealthGrade = HealthGrade.A,
    route: str = "external-reuse",
    path: str = "",
) -> str:
    """Receive a drive, issue its certificate and keep it, as the bench does."""
    drive = dataclasses.replace(
        sample_drive(simulated=True),
        serial=serial,
        transport=transport,
        rotational=rotational,
        removable=removable,
        wwn="",
        path=path or f"/dev/{serial.lower()}",
    )
    record_received(store, drive, station=STATION, actor="ana")
    context = dataclasses.replace(sample_context(), destination=Destination(route=route))
    issued = issue_certificate(
        sample_outcome(status), drive, sample_health(grade), context, pki.signer
    )
    store.save_certificate(issued.certificate_id, issued.record_json, serial=serial, pdf=issued.pdf)
    record_sanitised(store, issued.signed.record, station=STATION)
    return issued.certificate_id


def test_consignment_round_trip(store: Store, pki: SamplePki, tmp_path: Path) -> None:
    """Open -> add -> signed manifest (pdfsig + pyHanko valid, CSV rows) -> close: devices are
    handed over, each drive's custody chain reads received..handed-over, the log verifies."""
    ids = [
        _issue(store, pki, "SSD0001"),
        _issue(store, pki, "HDD0002", rotational=True, grade=HealthGrade.B),
        _issue(store, pki, "NVME0003", transport=Transport.NVME),
    ]
    con = open_consignment(store, "London Device Bank", station=STATION, operator="ana")
    assert con.is_open
    added = add_certificates(store, con.id, ids, station=STATION, operator="ana")
    assert [i.media_kind for i in added] == ["ssd", "hdd", "nvme"]

    manifest = issue_manifest(store, con.id, pki.signer, station=STATION, operator="ana")
    pdf_path = tmp_path / "manifest.pdf"
    pdf_path.write_bytes(manifest.pdf)
    result = RUN.run(["pdfsig", str(pdf_path)])
    assert result.returncode == 0, result.stderr
    assert "Signature Validation: Signature is Valid." in result.stdout
    assert "Total document signed" in result.stdout

    reader = PdfFileReader(io.BytesIO(manifest.pdf))
    (sig,) = reader.embedded_signatures
    assert sig.field_name == MANIFEST_FIELD
    root = asn1_x509.Certificate.load(pki.signer.org_ca.public_bytes(serialization.Encoding.DER))
    status = validate_pdf_signature(sig, ValidationContext(trust_roots=[root]))
    assert status.intact
    assert status.valid
    assert status.trusted
    files = dict(embedded_files(reader))
    assert files == {manifest_file_name(con.id): manifest.envelope}
    signed = parse_envelope(files[manifest_file_name(con.id)])
    check_signature(signed)
    record = signed.record
    assert record["schema"] == MANIFEST_SCHEMA
    assert [i["certificate_id"] for i in record["items"]] == ids
    assert record["destination"]["name"] == "London Device Bank"
    assert record["audit_anchor"]["station"] == STATION

    rows = list(csv.DictReader(io.StringIO(manifest.csv.decode("utf-8"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["certificate_id"] for r in rows] == ids
    assert [r["serial"] for r in rows] == ["SSD0001", "HDD0002", "NVME0003"]
    assert {r["method"] for r in rows} == {"ata-sanitize-crypto-scramble"}
    assert [r["health_grade"] for r in rows] == ["A", "B", "A"]
    assert {r["consignment_id"] for r in rows} == {con.id}
    assert hashlib.sha256(manifest.csv).hexdigest() == record["csv_sha256"]

    text = RUN.run(["pdftotext", "-layout", str(pdf_path), "-"]).stdout
    for fact in ("Consignment manifest", "London Device Bank", "HDD0002", "SIMULATED", ids[0]):
        assert fact in text, fact

    closed = close_consignment(
        store, con.id, collector="Bob Collector", operator="ana", station=STATION
    )
    assert (closed.state, closed.collector, closed.closed_by) == ("closed", "Bob Collector", "ana")
    assert closed.manifest_sha256 == manifest.sha256
    assert all(i.handed_over for i in consignment_items(store, con.id))
    for cert_id in ids:
        item = consignment_of(store, cert_id)
        assert item is not None
        assert item.handed_over
        trail = [e.kind for e in entries(store, subject=item.drive_key)]
        assert trail == ["received", "sanitised", "consigned", "handed-over"]
    (handover,) = entries(store, ref=ids[1], kind=AuditKind.HANDED_OVER)
    assert handover.actor == "ana"
    assert handover.data["collector"] == "Bob Collector"
    assert handover.data["manifest_sha256"] == manifest.sha256
    assert verify_chain(store).ok

    kept = stored_manifest(store, con.id)
    assert kept is not None
    assert (kept.pdf, kept.csv) == (manifest.pdf, manifest.csv)
    assert csv_of_manifest(kept.signed.record) == manifest.csv


def test_a_chain_cut_short_below_a_manifest_is_caught(
    store: Store, pki: SamplePki, tmp_path: Path
) -> None:
    """The signed manifest carries the chain's head when it was made: an insider who deletes
    the newest entries, moves audit_head back and deletes the certificates (which carry no
    chain position here) is still contradicted by the manifest kept in the store."""
    ids = [_issue(store, pki, "SSD0001")]
    con = open_consignment(store, "London Device Bank", station=STATION, operator="ana")
    add_certificates(store, con.id, ids, station=STATION, operator="ana")
    manifest = issue_manifest(store, con.id, pki.signer, station=STATION, operator="ana")
    anchored = manifest.signed.record["audit_anchor"]["seq"]
    assert check_anchors(store, gather_anchors(store, None, tmp_path / "none.jsonl")) == []
    with store.engine.begin() as conn:  # the insider
        conn.execute(text("DELETE FROM audit_entry WHERE seq > 2"))
        conn.execute(
            text(
                "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_entry WHERE seq = 2)"
            )
        )
        conn.execute(text("DELETE FROM certificate"))
    assert verify_chain(store).ok
    problems = check_anchors(store, gather_anchors(store, None, tmp_path / "none.jsonl"))
    assert problems == [
        f"manifest of consignment {con.id} (the store) records station {STATION}'s chain at "
        f"entry {anchored}, but it now ends at entry 2: entries were removed"
    ]


def test_a_certificate_is_added_once_only(store: Store, pki: SamplePki) -> None:
    """The same certificate twice (in one call, again later, or in another consignment) is
    refused with a clear error, and a refused call adds nothing."""
    a, b = _issue(store, pki, "SSD0101"), _issue(store, pki, "SSD0102")
    con = open_consignment(store, "London Device Bank", station=STATION)
    with pytest.raises(ConsignmentError, match="named twice"):
        add_certificates(store, con.id, [a, a], station=STATION)
    add_certificates(store, con.id, [a], station=STATION)
    with pytest.raises(ConsignmentError, match=f"{a} is already in this consignment"):
        add_certificates(store, con.id, [b, a], station=STATION)
    assert [i.certificate_id for i in consignment_items(store, con.id)] == [a]
    other = open_consignment(store, "ShredCo", station=STATION)
    with pytest.raises(ConsignmentError, match=f"already in consignment {con.id}"):
        add_certificates(store, other.id, [a], station=STATION)
    assert len(entries(store, kind=AuditKind.CONSIGNED)) == 1
    assert entries(store, kind=AuditKind.ROUTED) == []


def test_a_closed_consignment_takes_nothing(store: Store, pki: SamplePki) -> None:
    """After closing, adding or closing again is refused."""
    a, b = _issue(store, pki, "SSD0201"), _issue(store, pki, "SSD0202")
    con = open_consignment(store, "London Device Bank", station=STATION)
    add_certificates(store, con.id, [a], station=STATION)
    issue_manifest(store, con.id, pki.signer, station=STATION)
    close_consignment(store, con.id, collector="Bob", operator="ana", station=STATION)
    with pytest.raises(ConsignmentError, match="is closed"):
        add_certificates(store, con.id, [b], station=STATION)
    with pytest.raises(ConsignmentError, match="is closed"):
        close_consignment(store, con.id, collector="Eve", operator="ana", station=STATION)
    view = get_consignment(store, con.id)
    assert view is not None
    assert view.collector == "Bob"


def test_a_device_kind_the_destination_does_not_accept_is_refused(
    store: Store, pki: SamplePki
) -> None:
    """A USB stick cannot go to a scheme that accepts only ssd, hdd and nvme."""
    stick = _issue(
        store, pki, "USB0301", transport=Transport.USB, removable=True, route="destruction"
    )
    con = open_consignment(store, "London Device Bank", station=STATION)
    with pytest.raises(DestinationError, match="does not accept usb-flash devices"):
        add_certificates(store, con.id, [stick], station=STATION)
    shred = open_consignment(store, "ShredCo", station=STATION)
    assert add_certificates(store, shred.id, [stick], station=STATION)


def test_a_failed_device_goes_to_destruction_only(store: Store, pki: SamplePki) -> None:
    """A device whose sanitisation failed is refused by a reuse scheme and by a recycler, taken
    for destruction; its custody says not-sanitised, then consigned."""
    failed = _issue(store, pki, "SSD0401", status=OutcomeStatus.FAILED, route="destruction")
    for name in ("London Device Bank", "GreenCycle"):
        con = open_consignment(store, name, station=STATION)
        with pytest.raises(DestinationError, match="not sanitised"):
            add_certificates(store, con.id, [failed], station=STATION)
    shred = open_consignment(store, "ShredCo", station=STATION)
    (item,) = add_certificates(store, shred.id, [failed], station=STATION)
    assert item.outcome == "failed"
    trail = [e.kind for e in entries(store, subject=item.drive_key)]
    assert trail == ["received", "not-sanitised", "consigned"]


def test_a_sanitised_device_follows_its_recorded_route(store: Store, pki: SamplePki) -> None:
    """A record routed to external reuse may not be sent to a destruction provider."""
    ok = _issue(store, pki, "SSD0501")
    shred = open_consignment(store, "ShredCo", station=STATION)
    with pytest.raises(DestinationError, match="routes the device to external-reuse"):
        add_certificates(store, shred.id, [ok], station=STATION)


def test_close_needs_a_current_manifest(store: Store, pki: SamplePki) -> None:
    """Closing without a manifest, or after adding a device to a manifested consignment, is
    refused until the manifest is made again."""
    a, b = _issue(store, pki, "SSD0601"), _issue(store, pki, "SSD0602")
    con = open_consignment(store, "London Device Bank", station=STATION)
    add_certificates(store, con.id, [a], station=STATION)
    with pytest.raises(ConsignmentError, match="no current manifest"):
        close_consignment(store, con.id, collector="Bob", operator="ana", station=STATION)
    issue_manifest(store, con.id, pki.signer, station=STATION)
    add_certificates(store, con.id, [b], station=STATION)
    with pytest.raises(ConsignmentError, match="no current manifest"):
        close_consignment(store, con.id, collector="Bob", operator="ana", station=STATION)
    again = issue_manifest(store, con.id, pki.signer, station=STATION)
    assert again.signed.record["count"] == 2
    closed = close_consignment(store, con.id, collector="Bob", operator="ana", station=STATION)
    assert closed.items == 2
    with pytest.raises(ConsignmentError, match="collector"):
        close_consignment(store, "x", collector=" ", operator="ana", station=STATION)


def test_unknown_certificates_and_destinations_are_clear_errors(store: Store) -> None:
    """Unknown ids and names say what is missing."""
    with pytest.raises(DestinationError, match="no destination 'Nowhere'"):
        open_consignment(store, "Nowhere", station=STATION)
    con = open_consignment(store, "ShredCo", station=STATION)
    with pytest.raises(ConsignmentError, match=r"no certificate or device .nope. in the store"):
        add_certificates(store, con.id, ["nope"], station=STATION)


def test_destination_registry(store: Store) -> None:
    """Destinations validate their kind and device kinds, cannot be added twice, and cannot
    be removed while a consignment for them is open."""
    with pytest.raises(DestinationError, match="unknown device kind 'floppy'"):
        add_destination(
            store, "X", kind="reuse", contact="c", accepts="hdd,floppy", station=STATION
        )
    with pytest.raises(DestinationError, match="unknown destination kind"):
        add_destination(store, "X", kind="landfill", contact="c", accepts="hdd", station=STATION)
    with pytest.raises(DestinationError, match="exists already"):
        add_destination(
            store, "ShredCo", kind="destroy", contact="c", accepts="hdd", station=STATION
        )
    con = open_consignment(store, "ShredCo", station=STATION)
    with pytest.raises(DestinationError, match=f"open consignment.*{con.id}"):
        remove_destination(store, "ShredCo", station=STATION)
    remove_destination(store, "London Device Bank", station=STATION)
    assert [d.name for d in list_destinations(store)] == ["GreenCycle", "ShredCo"]
    assert len(list_destinations(store, include_removed=True)) == 3
    with pytest.raises(DestinationError, match="removed"):
        open_consignment(store, "London Device Bank", station=STATION)
    kinds = [e.kind for e in entries(store, station=STATION)]
    assert kinds.count("destination-added") == 3
    assert kinds.count("destination-removed") == 1
    assert verify_chain(store).ok


def test_a_drive_wiped_twice_leaves_once_and_is_reported_once(store: Store, pki: SamplePki) -> None:
    """Two certificates of one drive: a consignment takes one of them, and says which it holds
    when given the other (in one call, later, or in another open consignment); the report
    counts the drive once, by its latest certificate."""
    first, second = _issue(store, pki, "SSD0801"), _issue(store, pki, "SSD0801")
    con = open_consignment(store, "London Device Bank", station=STATION)
    with pytest.raises(
        ConsignmentError, match=f"this consignment already holds certificate {first}"
    ):
        add_certificates(store, con.id, [first, second], station=STATION)
    assert consignment_items(store, con.id) == []
    add_certificates(store, con.id, [second], station=STATION)
    said = f"{first}: this consignment already holds certificate {second} of the same drive SSD0801"
    with pytest.raises(ConsignmentError, match=said):
        add_certificates(store, con.id, [first], station=STATION)
    other = open_consignment(store, "GreenCycle", station=STATION)
    with pytest.raises(ConsignmentError, match=f"consignment {con.id} already holds"):
        add_certificates(store, other.id, [first], station=STATION)
    manifest = issue_manifest(store, con.id, pki.signer, station=STATION)
    assert manifest.signed.record["count"] == 1
    report = build_report(load_devices(store), group_by=["station"])
    assert [d.certificate_id for d in report.devices] == [second]
    assert report.totals.devices == 1


@pytest.mark.parametrize("serial", ["", "Not Specified", "000000000000"])
def test_drives_with_no_serial_at_one_path_are_distinct_drives(
    store: Store, pki: SamplePki, serial: str
) -> None:
    """SD cards read through one USB reader share its path and have no serial (or a
    placeholder one): their key names no drive, so each is known by its certificate. One
    consignment takes two of them, and the report counts both."""
    first = _issue(store, pki, serial, path="/dev/sdx")
    second = _issue(store, pki, serial, path="/dev/sdx")
    con = open_consignment(store, "London Device Bank", station=STATION)
    add_certificates(store, con.id, [first, second], station=STATION)
    assert {i.certificate_id for i in consignment_items(store, con.id)} == {first, second}
    with pytest.raises(ConsignmentError, match=f"certificate {first} is already in this"):
        add_certificates(store, con.id, [first], station=STATION)  # a certificate leaves once
    manifest = issue_manifest(store, con.id, pki.signer, station=STATION)
    assert manifest.signed.record["count"] == 2
    report = build_report(load_devices(store), group_by=["station"])
    assert {d.certificate_id for d in report.devices} == {first, second}
    assert report.totals.devices == 2


def test_a_serial_less_drive_after_another_left_from_its_path_can_leave(
    store: Store, pki: SamplePki
) -> None:
    """The first card at /dev/sdx left in a closed consignment; the next card there has not
    left our custody: it can be linked to a device and consigned. The first card's own
    certificate still cannot leave again."""
    first = _issue(store, pki, "", path="/dev/sdx")
    con = open_consignment(store, "London Device Bank", station=STATION)
    add_certificates(store, con.id, [first], station=STATION)
    issue_manifest(store, con.id, pki.signer, station=STATION)
    close_consignment(store, con.id, collector="Bob", operator="ana", station=STATION)

    second = _issue(store, pki, "", path="/dev/sdx")
    records.add_device(
        store,
        check_intake(kind="laptop", tag="LBC-0301", make="Dell"),
        station=STATION,
        actor="ana",
    )
    _, new = records.link_drive(store, "LBC-0301", records.DriveRef("path:/dev/sdx"), actor="ana")
    assert new
    records.require_drive_held(store, "path:/dev/sdx", "drive /dev/sdx", "linked")
    later = open_consignment(store, "London Device Bank", station=STATION)
    add_certificates(store, later.id, [second], station=STATION)
    assert [i.certificate_id for i in consignment_items(store, later.id)] == [second]
    with pytest.raises(ConsignmentError, match=f"certificate {first} is already in consignment"):
        add_certificates(store, later.id, [first], station=STATION)


def test_a_drive_with_a_serial_that_left_is_still_refused(store: Store, pki: SamplePki) -> None:
    """The rule stands for a drive that has an identity: a later certificate of a drive that
    left cannot leave again, nor can the drive be linked."""
    first = _issue(store, pki, "SSD0901")
    con = open_consignment(store, "London Device Bank", station=STATION)
    add_certificates(store, con.id, [first], station=STATION)
    issue_manifest(store, con.id, pki.signer, station=STATION)
    close_consignment(store, con.id, collector="Bob", operator="ana", station=STATION)
    second = _issue(store, pki, "SSD0901")
    later = open_consignment(store, "London Device Bank", station=STATION)
    with pytest.raises(
        LeftCustodyError, match=rf"drive SSD0901 \(certificate {second}\) has left our custody"
    ):
        add_certificates(store, later.id, [second], station=STATION)
    with pytest.raises(LeftCustodyError, match="has left our custody"):
        records.require_drive_held(store, "sata:SSD0901:", "drive SSD0901", "linked")


def test_an_empty_consignment_opened_by_mistake_is_cancelled_and_its_destination_removed(
    store: Store,
) -> None:
    """One mistaken ``consignment open`` no longer blocks removing its destination for ever:
    cancelled (with a reason and who), kept as cancelled in the chain, never deleted."""
    con = open_consignment(store, "GreenCycle", station=STATION, operator="ana")
    with pytest.raises(ConsignmentError, match="is empty; nothing to hand over"):
        close_consignment(store, con.id, collector="Bob", operator="ana", station=STATION)
    with pytest.raises(DestinationError, match="consignment cancel"):
        remove_destination(store, "GreenCycle", station=STATION)
    with pytest.raises(ConsignmentError, match="say why"):
        cancel_consignment(store, con.id, reason=" ", operator="ana", station=STATION)
    cancelled = cancel_consignment(
        store, con.id, reason="opened for the wrong recycler", operator="ana", station=STATION
    )
    assert (cancelled.state, cancelled.closed_by, cancelled.items) == ("cancelled", "ana", 0)
    remove_destination(store, "GreenCycle", station=STATION, actor="ana")
    assert [c.id for c in list_consignments(store, state="cancelled")] == [con.id]
    [entry] = entries(store, kind=AuditKind.CONSIGNMENT_CANCELLED)
    assert (entry.ref, entry.actor, entry.data["reason"]) == (
        con.id,
        "ana",
        "opened for the wrong recycler",
    )
    with pytest.raises(ConsignmentError, match=f"{con.id} was cancelled"):
        cancel_consignment(store, con.id, reason="again", operator="ana", station=STATION)
    assert verify_chain(store).ok


def test_a_cancelled_consignment_releases_its_items_and_takes_nothing_more(
    store: Store, pki: SamplePki
) -> None:
    """Its drives are taken out (``unconsigned``) and can be consigned again; the cancelled
    consignment takes no more, has no manifest, cannot be closed; a closed one cannot be
    cancelled."""
    a, b = _issue(store, pki, "SSD0701"), _issue(store, pki, "SSD0702")
    con = open_consignment(store, "London Device Bank", station=STATION)
    add_certificates(store, con.id, [a, b], station=STATION)
    issue_manifest(store, con.id, pki.signer, station=STATION)
    cancel_consignment(store, con.id, reason="collection off", operator="ana", station=STATION)
    assert consignment_items(store, con.id) == []
    assert consignment_of(store, a) is None
    unconsigned = entries(store, kind=AuditKind.UNCONSIGNED)
    assert sorted(e.ref for e in unconsigned) == sorted([a, b])
    assert {e.data["consignment_id"] for e in unconsigned} == {con.id}
    for step in (
        lambda: add_certificates(store, con.id, [a], station=STATION),
        lambda: issue_manifest(store, con.id, pki.signer, station=STATION),
        lambda: close_consignment(store, con.id, collector="B", operator="ana", station=STATION),
    ):
        with pytest.raises(ConsignmentError, match=f"consignment {con.id} was cancelled"):
            step()
    again = open_consignment(store, "London Device Bank", station=STATION)
    add_certificates(store, again.id, [a, b], station=STATION)
    issue_manifest(store, again.id, pki.signer, station=STATION)
    close_consignment(store, again.id, collector="Bob", operator="ana", station=STATION)
    with pytest.raises(ConsignmentError, match=f"consignment {again.id} is closed"):
        cancel_consignment(store, again.id, reason="too late", operator="ana", station=STATION)
    assert [i.certificate_id for i in consignment_items(store, again.id)] == [a, b]
    trail = [e.kind for e in entries(store, subject=unconsigned[0].subject)]
    assert trail == [
        "received",
        "sanitised",
        "consigned",
        "unconsigned",
        "consigned",
        "handed-over",
    ]
    assert verify_chain(store).ok


def test_consignment_cancel_on_the_command_line(tmp_path: Path) -> None:
    """``sanitiser consignment cancel ID --reason --operator``, then the destination goes."""
    data = tmp_path / "data"

    def run(*args: str) -> str:
        out = run_sanitiser(*args, data=data)
        assert out.returncode == 0, out.stderr
        return out.stdout

    run("destinations", "add", "Oops", "--kind", "recycle", "--contact", "c", "--accepts", "hdd")
    con = run("consignment", "open", "Oops").strip()
    blocked = run_sanitiser("destinations", "remove", "Oops", data=data)
    assert blocked.returncode == 2
    assert "sanitiser consignment cancel ID" in blocked.stderr
    said = run("consignment", "cancel", con, "--reason", "wrong one", "--operator", "ana")
    assert said.startswith(f"cancelled {con}  cancelled Oops ")
    assert said.rstrip().endswith("by ana: nothing left")
    assert run("destinations", "remove", "Oops") == "removed Oops\n"
    assert run("consignment", "list", "--state", "cancelled").startswith(con)
    again = run_sanitiser(
        "consignment", "cancel", con, "--reason", "x", "--operator", "a", data=data
    )
    assert again.returncode == 2
    assert f"consignment {con} was cancelled" in again.stderr


# --- a lab job that did not sanitise, handed over for destruction ----------------------------


@pytest.fixture
def lying_nvme(tmp_path: Path) -> Iterator[tuple[LabBench, NvmeDriveEmulator]]:
    """A lab bench with one NVMe drive whose controller reports a sanitize it never does."""
    lab = LabBench(tmp_path / "labdata", drive_mib=4, kinds=(LabKind.NVME,))
    [drive] = lab.list()
    emulator = emulator_for(drive)
    assert isinstance(emulator, NvmeDriveEmulator)
    emulator.lies = True
    try:
        yield lab, emulator
    finally:
        reset_lab_emulators()


def test_a_lying_drive_is_handed_over_for_destruction_by_its_signed_record(
    store: Store,
    pki: SamplePki,
    lying_nvme: tuple[LabBench, NvmeDriveEmulator],
) -> None:
    """The bench receives a lab NVMe drive that lies about its sanitize; the job fails and ends
    with a signed 'failed' record routed to destruction. That record is refused by the reuse
    scheme and the recycler, consigned to the destruction provider, manifested and handed over:
    the drive's custody reads received, not-sanitised, routed, consigned, handed-over, and the
    audit chain verifies."""
    lab, _ = lying_nvme
    [drive] = lab.list()
    drive_seen(store, drive, lab_health(drive), Protection(False), station=STATION)
    runner = lab_runner(lab)
    deps = JobDependencies(
        claim=guard_claim,
        runner_for=lambda d: runner,
        health_of=lambda d, r: lab_health(d),
        probe=probe,
        load_policy=load_policy,
        select_method=select_method,
        method_for=method_for,
        signer=lambda: pki.signer,
        backend_for=lambda d: lab.backend,
    )
    orch = Orchestrator(store, deps, station=STATION, organisation="Test Org", poll_interval=0.01)
    try:
        [job_id] = orch.start([drive], operator="ana")
        assert orch.wait([job_id], timeout=120)
    finally:
        orch.close()
    job = store.job(job_id)
    assert job is not None
    assert (job.state, job.detail["destination"]) == ("failed", "destroy"), job.detail
    cert_id = job.detail["certificate_id"]

    for name in ("London Device Bank", "GreenCycle"):
        con = open_consignment(store, name, station=STATION, operator="ana")
        with pytest.raises(DestinationError, match=r"not sanitised \(failed\)"):
            add_certificates(store, con.id, [cert_id], station=STATION, operator="ana")
    shred = open_consignment(store, "ShredCo", station=STATION, operator="ana")
    (item,) = add_certificates(store, shred.id, [cert_id], station=STATION, operator="ana")
    assert (item.serial, item.outcome, item.media_kind) == (drive.serial, "failed", "nvme")
    manifest = issue_manifest(store, shred.id, pki.signer, station=STATION, operator="ana")
    (listed,) = manifest.signed.record["items"]
    assert listed["certificate_id"] == cert_id
    closed = close_consignment(
        store, shred.id, collector="Sid Shredder", operator="ana", station=STATION
    )
    assert closed.state == "closed"
    trail = entries(store, subject=item.drive_key)
    assert [e.kind for e in trail] == [
        "received",
        "not-sanitised",
        "routed",
        "consigned",
        "handed-over",
    ]
    assert all(e.ref == cert_id for e in trail[1:])
    assert trail[1].data["status"] == "failed"
    assert trail[2].data["destination_kind"] == "destroy"
    assert trail[3].data["destination"] == trail[4].data["destination"] == "ShredCo"
    assert trail[4].data["collector"] == "Sid Shredder"
    assert verify_chain(store).ok
