"""Devices in the store (SQLite and PostgreSQL): a step and its custody entry are kept
together or not at all; a drive belongs to one device; tags compare without case."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import Session

from sanitiser.assets.model import Device, DeviceError, DeviceState, check_intake, device_subject
from sanitiser.certificate.record import build_record, new_certificate_id
from sanitiser.certificate.samples import (
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.sign import sign_record
from sanitiser.custody import devices as custody
from sanitiser.errors import SanitiserError
from sanitiser.store import Store
from sanitiser.store import devices as records
from sanitiser.store.audit import AuditKind, entries, verify_chain
from sanitiser.store.tables import CertificateRow, Job

STATION = "bench-1"


def _store(url: str) -> Store:
    return Store(url)


def test_intake_appends_received_in_the_same_transaction(store_url: str) -> None:
    store = _store(store_url)
    device = records.add_device(
        store,
        check_intake(kind="laptop", tag="LBC-0199", make="Dell", serial="4XQ2LN2"),
        station=STATION,
        actor="ana",
        also=custody.received(station=STATION, actor="ana"),
    )
    assert device.state == "received"
    [entry] = entries(store, subject=device_subject("lbc-0199"))
    assert (entry.kind, entry.actor, entry.data["tag"], entry.data["serial"]) == (
        AuditKind.RECEIVED,
        "ana",
        "LBC-0199",
        "4XQ2LN2",
    )
    assert records.get_device(store, "lbc-0199") == device


def test_a_crash_mid_intake_leaves_neither_the_device_nor_its_entry(store_url: str) -> None:
    """The custody append fails (a power cut, a full disk): the device is not half-kept."""
    store = _store(store_url)

    def cut(session: Session, device: Device) -> None:
        custody.received(station=STATION, actor="ana")(session, device)
        raise SanitiserError("power cut after the custody entry, before the commit")

    with pytest.raises(SanitiserError, match="power cut"):
        records.add_device(
            store, check_intake(kind="laptop", tag="T1"), station=STATION, actor="ana", also=cut
        )
    assert records.get_device(store, "T1") is None
    assert entries(store) == []
    again = records.add_device(
        store,
        check_intake(kind="laptop", tag="T1"),
        station=STATION,
        actor="ana",
        also=custody.received(station=STATION, actor="ana"),
    )
    assert again.tag == "T1"
    assert verify_chain(store).ok


def test_tags_and_service_tags_are_one_namespace_without_case(store_url: str) -> None:
    store = _store(store_url)
    records.add_device(
        store,
        check_intake(kind="laptop", tag="A-1", service_tag="7XQ2LN2"),
        station=STATION,
        actor="",
    )
    for tag, service in (("a-1", ""), ("B-2", "7xq2ln2"), ("7XQ2LN2", "")):
        with pytest.raises(DeviceError, match="already device 'A-1'"):
            records.add_device(
                store,
                check_intake(kind="desktop", tag=tag, service_tag=service),
                station=STATION,
                actor="",
            )
    assert records.require_device(store, "7xq2ln2").tag == "A-1"  # found by its service tag
    assert [d.tag for d in records.list_devices(store)] == ["A-1"]


def test_a_drive_belongs_to_one_device(store_url: str) -> None:
    store = _store(store_url)
    for tag in ("L1", "L2"):
        records.add_device(store, check_intake(kind="laptop", tag=tag), station=STATION, actor="")
    records.add_device(store, check_intake(kind="monitor", tag="M1"), station=STATION, actor="")
    ref = records.DriveRef("sata:S1:", "S1", "SSD")
    _, new = records.link_drive(store, "L1", ref, actor="ana")
    assert new
    _, again = records.link_drive(store, "l1", ref, actor="ana")
    assert not again
    with pytest.raises(DeviceError, match="already linked to device 'L1'"):
        records.link_drive(store, "L2", ref, actor="ana")
    with pytest.raises(DeviceError, match="monitor: it holds no data-bearing media"):
        records.link_drive(store, "M1", records.DriveRef("sata:S2:"), actor="ana")
    with pytest.raises(DeviceError, match="no device has the tag 'NOPE'"):
        records.link_drive(store, "NOPE", records.DriveRef("sata:S3:"), actor="ana")
    assert [d.serial for d in records.require_device(store, "L1").drives] == ["S1"]
    assert records.require_device(store, "L2").drives == ()
    device = records.device_of_drive(store, "sata:S1:")
    assert device is not None
    assert device.tag == "L1"


def test_a_state_step_is_taken_once_however_many_try_at_once(store_url: str) -> None:
    """Two jobs of one laptop end together and both move it on: one ``sanitised`` entry."""
    store = _store(store_url)
    records.add_device(store, check_intake(kind="laptop", tag="L1"), station=STATION, actor="")
    start = threading.Barrier(6)
    moved: list[Device | None] = []

    def step() -> None:
        start.wait()
        moved.append(
            records.move_state(
                store,
                "L1",
                DeviceState.RECEIVED,
                DeviceState.SANITISED,
                also=custody.event(AuditKind.SANITISED, station=STATION, actor="job"),
            )
        )

    threads = [threading.Thread(target=step) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(m is not None for m in moved) == 1
    assert [e.kind for e in entries(store, subject="device:L1")] == [AuditKind.SANITISED]
    assert records.require_device(store, "L1").state is DeviceState.SANITISED
    assert verify_chain(store).ok


def _certify(store: Store, pki: SamplePki, key: str, serial: str, at: datetime) -> str:
    """A job and a signed certificate for the drive `key`, issued at `at`; its id."""
    drive = replace(sample_drive(simulated=True), serial=serial)
    cert_id = new_certificate_id()
    record = build_record(
        sample_outcome(), drive, sample_health(), sample_context(),
        certificate_id=cert_id, issued_at=at,
    )  # fmt: skip
    job = f"job-{cert_id}"
    with Session(store.engine) as s:
        s.add(Job(id=job, drive_key=key, serial=serial, state="done", station=STATION,
                  created_at=at, updated_at=at))  # fmt: skip
        s.add(CertificateRow(id=cert_id, job_id=job, serial=serial, issued_at=at,
                             record_json=sign_record(record, pki.signer).to_bytes()))  # fmt: skip
        s.commit()
    return cert_id


def test_a_long_device_list_is_read_in_a_few_queries_with_each_drives_latest_certificate(
    store_url: str, tmp_path: Path
) -> None:
    """Listing 40 laptops of two drives each takes the same few queries as listing one (it took
    one per device and two per drive), and each drive shows its latest certificate."""
    store = _store(store_url)
    pki = make_pki(tmp_path / "pki")
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    latest: dict[str, str] = {}
    for i in range(40):
        records.add_device(store, check_intake(kind="laptop", tag=f"L{i:02d}"), station=STATION,
                           actor="")  # fmt: skip
        for d in range(2):
            serial = f"S{i:02d}{d}"
            ref = records.DriveRef(f"nvme:{serial}:", serial, "SSD")
            records.link_drive(store, f"L{i:02d}", ref, actor="ana")
    for serial in ("S000", "S010"):  # wiped twice: the second certificate is the one shown
        _certify(store, pki, f"nvme:{serial}:", serial, start)
        latest[serial] = _certify(store, pki, f"nvme:{serial}:", serial, start + timedelta(1))
    statements: list[str] = []

    def seen(_c: object, _cur: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        listed = records.list_devices(store)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert len(listed) == 40
    assert len(statements) <= 4, statements
    shown = {d.serial: d.certificate_id for dev in listed for d in dev.drives}
    assert len(shown) == 80
    assert {s: c for s, c in shown.items() if c} == latest
    assert listed == [records.require_device(store, f"L{i:02d}") for i in range(40)]
