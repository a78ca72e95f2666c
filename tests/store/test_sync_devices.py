"""Devices on a fleet bench that was offline: the device rows, their drive links and their
certificates reach the central database once, and a clash (one tag on two intakes, a drive
linked to two devices, a device that left by two ends) is reported, never merged."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from sanitiser.assets.model import Check, Device, DeviceState, check_intake, device_subject
from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.samples import make_pki
from sanitiser.custody import devices as custody
from sanitiser.store import Store, drive_key
from sanitiser.store import devices as records
from sanitiser.store.audit import AuditKind, entries, verify_chain
from sanitiser.store.consignments import list_consignments
from sanitiser.store.destinations import list_destinations
from sanitiser.store.sync import push_journal
from sanitiser.store.tables import DeviceCertificateRow, DeviceDriveRow, DeviceRow
from tests.pg import Link, PostgresServer
from tests.store.bench_rig import drive, one_device


def _count(store: Store, model: type) -> int:
    with Session(store.central_engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def _intake(store: Store, station: str, tag: str, *, service_tag: str = "") -> Device:
    return records.add_device(
        store,
        check_intake(kind="laptop", tag=tag, service_tag=service_tag, make="Dell"),
        station=station,
        actor="ana",
        also=custody.received(station=station, actor="ana"),
    )


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> StationSigner:
    """A station key for the drives' certificates (a device reads its drives' records)."""
    return make_pki(tmp_path_factory.mktemp("pki")).signer


def _link(store: Store, station: str, tag: str, i: int, signer: StationSigner) -> str:
    """Wipe the `i`-th drive of `station` (job, signed certificate, custody) and link it to
    `tag`; its drive key."""
    one_device(store, station, i, signer=signer)
    d = drive(station, i)
    key = drive_key(d)
    records.link_drive(
        store,
        tag,
        records.DriveRef(key, d.serial, d.model),
        actor="ana",
        also=custody.event(AuditKind.DRIVE_LINKED, station=station, actor="ana"),
    )
    return key


def _certify(store: Store, station: str, tag: str, cert_id: str) -> None:
    records.save_device_certificate(
        store,
        tag,
        cert_id,
        b'{"record": {"device": "' + tag.encode() + b'"}}\n',
        b"%PDF-1.7 test",
        also=custody.event(AuditKind.DEVICE_CERTIFIED, station=station, actor="ana", ref=cert_id),
    )


def _journal(tmp_path: Path, name: str = "journal.db") -> Store:
    return Store(f"sqlite:///{tmp_path / name}")


@pytest.fixture
def link(pg_server: PostgresServer) -> Iterator[tuple[Link, str, str]]:
    """A new central database behind a cuttable link: (link, URL through it, direct URL)."""
    name = pg_server.new_database("devsync")
    proxy = Link(pg_server.port)
    try:
        yield proxy, pg_server.url(name, port=proxy.port), pg_server.url(name)
    finally:
        proxy.close()


@pytest.mark.postgres
def test_a_device_taken_in_offline_reaches_the_fleet_once(
    link: tuple[Link, str, str], tmp_path: Path, signer: StationSigner
) -> None:
    """Online intake, the network drops, a laptop taken in, its drive wiped and linked, graded
    and certified on the journal: one push brings the device, its link and its certificate
    (with their custody entries), a second push adds nothing."""
    proxy, through, direct = link
    bench = Store(through, journal=f"sqlite:///{tmp_path / 'journal.db'}", retry_after=3600)
    central = Store(direct)
    _intake(bench, "bench-01", "LBC-0001")
    proxy.cut()
    _intake(bench, "bench-01", "LBC-0002", service_tag="7XQ2LN2")
    offline = bench.offline  # a local: mypy would keep bench.offline narrowed past the cut
    assert offline
    key = _link(bench, "bench-01", "LBC-0002", 1, signer)
    records.update_device(
        bench,
        "LBC-0002",
        cosmetic="B",
        checks={"screen": Check("pass", "ana", "2026-01-05T10:00:00Z")},
        locks={"bios-password": "cleared"},
        also=custody.event(AuditKind.GRADED, station="bench-01", actor="ana"),
    )
    _certify(bench, "bench-01", "LBC-0002", "dev-cert-0002")
    assert records.get_device(central, "LBC-0002") is None  # only in the journal so far

    proxy.restore()
    local = bench.journal_engine()
    assert local is not None
    first = push_journal(local, central.central_engine)
    assert first.conflicts == ()
    assert (first.devices, first.device_drives, first.device_certificates) == (1, 1, 1)
    assert first.as_json()["pushed"]["devices"] == 1
    device = records.require_device(central, "7xq2ln2")  # found by its service tag centrally
    assert (device.tag, device.cosmetic) == ("LBC-0002", "B")
    assert device.certificate_id == "dev-cert-0002"
    assert dict(device.locks) == {"bios-password": "cleared"}
    assert device.checks["screen"].result == "pass"
    assert [d.drive_key for d in device.drives] == [key]
    assert device.drives[0].certificate_id  # the drive's own certificate came over too
    assert records.device_certificate(central, "dev-cert-0002") == (
        b'{"record": {"device": "LBC-0002"}}\n',
        b"%PDF-1.7 test",
    )
    kinds = [e.kind for e in entries(central, subject=device_subject("LBC-0002"))]
    assert kinds == [
        AuditKind.RECEIVED,
        AuditKind.DRIVE_LINKED,
        AuditKind.GRADED,
        AuditKind.DEVICE_CERTIFIED,
    ]
    assert verify_chain(central).ok

    again = push_journal(local, central.central_engine)
    assert again.total == 0
    assert again.conflicts == ()
    assert (_count(central, DeviceRow), _count(central, DeviceDriveRow)) == (2, 1)
    assert _count(central, DeviceCertificateRow) == 1


def test_one_tag_taken_in_on_two_benches_is_reported_never_merged(
    store_url: str, tmp_path: Path, signer: StationSigner
) -> None:
    """Bench A took LBC-0100 in centrally; bench B, offline, took in another LBC-0100, linked a
    drive and certified it. The push reports each record it keeps back, and again on every
    push; central LBC-0100 stays bench A's, with no drive; the custody entries (evidence of
    what happened at B) are pushed."""
    central = Store(store_url)
    _intake(central, "bench-A", "LBC-0100")
    journal = _journal(tmp_path)
    _intake(journal, "bench-B", "lbc-0100")
    key = _link(journal, "bench-B", "lbc-0100", 7, signer)
    _certify(journal, "bench-B", "lbc-0100", "dev-cert-B")

    for _ in range(2):
        report = push_journal(journal.engine, central.engine)
        assert (report.devices, report.device_drives, report.device_certificates) == (0, 0, 0)
        assert len(report.conflicts) == 3, report.conflicts
        tag, link_, cert = report.conflicts
        assert "device lbc-0100: taken in at bench-A" in tag
        assert "at bench-B" in tag
        assert "one tag on two intakes" in tag
        assert f"drive {drive('bench-B', 7).serial}: linked in the journal" in link_
        assert "device certificate dev-cert-B" in cert
    kept = records.require_device(central, "LBC-0100")
    assert (kept.station, kept.tag, kept.drives) == ("bench-A", "LBC-0100", ())
    assert records.device_of_drive(central, key) is None
    assert records.device_certificate(central, "dev-cert-B") is None
    assert verify_chain(central).ok
    stations = {e.station for e in entries(central, subject=device_subject("LBC-0100"))}
    assert stations == {"bench-A", "bench-B"}


def test_a_tag_that_is_another_devices_service_tag_is_kept_apart(
    store_url: str, tmp_path: Path
) -> None:
    """Tags and service tags are one namespace across the fleet too."""
    central = Store(store_url)
    _intake(central, "bench-A", "LBC-0200", service_tag="7XQ2LN2")
    journal = _journal(tmp_path)
    _intake(journal, "bench-B", "7xq2ln2")
    _intake(journal, "bench-B", "LBC-0201")
    report = push_journal(journal.engine, central.engine)
    assert report.devices == 1
    [clash] = report.conflicts
    assert "device 7xq2ln2" in clash
    assert "central device LBC-0200's" in clash
    assert [d.tag for d in records.list_devices(central)] == ["LBC-0200", "LBC-0201"]


def test_a_drive_linked_to_two_devices_on_two_benches_is_reported(
    store_url: str, tmp_path: Path, signer: StationSigner
) -> None:
    """The same drive went into laptop A at one bench and laptop B at another: B is pushed,
    its link to that drive is not (a drive belongs to one device)."""
    central = Store(store_url)
    _intake(central, "bench-A", "LBC-0300")
    key = _link(central, "bench-A", "LBC-0300", 3, signer)
    journal = _journal(tmp_path)
    _intake(journal, "bench-B", "LBC-0301")
    d = drive("bench-A", 3)
    records.link_drive(journal, "LBC-0301", records.DriveRef(key, d.serial, d.model), actor="bo")
    report = push_journal(journal.engine, central.engine)
    assert (report.devices, report.device_drives) == (1, 0)
    [clash] = report.conflicts
    assert f"drive {d.serial} is linked to device LBC-0300 centrally and to LBC-0301" in clash
    owner = records.device_of_drive(central, key)
    assert owner is not None
    assert owner.tag == "LBC-0300"
    assert records.require_device(central, "LBC-0301").drives == ()


def test_one_device_changed_on_both_sides_merges_forward_only(
    store_url: str, tmp_path: Path
) -> None:
    """A device pushed, then changed centrally (graded, moved on) and in the bench's journal
    copy (locks, facts, a later check): the push keeps both sides' facts, never blanks a
    grade and never moves the state back; a device that left by two ends is a conflict."""
    central = Store(store_url)
    journal = _journal(tmp_path)
    _intake(journal, "bench-B", "LBC-0400")
    assert push_journal(journal.engine, central.engine).devices == 1

    records.update_device(
        central,
        "LBC-0400",
        cosmetic="A",
        checks={"screen": Check("pass", "ana", "2026-01-05T10:00:00Z")},
    )
    records.move_state(central, "LBC-0400", DeviceState.RECEIVED, DeviceState.GRADED)
    records.update_device(
        journal,
        "LBC-0400",
        checks={
            "screen": Check("fail", "bo", "2026-01-05T11:00:00Z"),
            "audio": Check("pass", "bo", "2026-01-05T11:00:00Z"),
        },
        locks={"mdm-enrolment": "present"},
    )
    report = push_journal(journal.engine, central.engine)
    assert (report.devices, report.conflicts) == (1, ())
    merged = records.require_device(central, "LBC-0400")
    assert merged.state is DeviceState.GRADED  # the journal's "received" does not move it back
    assert merged.cosmetic == "A"  # the newer copy had no grade: the older one is kept
    assert {k: c.result for k, c in merged.checks.items()} == {"screen": "fail", "audio": "pass"}
    assert dict(merged.locks) == {"mdm-enrolment": "present"}
    assert push_journal(journal.engine, central.engine).total == 0

    records.move_state(central, "LBC-0400", DeviceState.GRADED, DeviceState.HANDED_OVER)
    records.move_state(journal, "LBC-0400", DeviceState.RECEIVED, DeviceState.DESTROYED)
    clash = push_journal(journal.engine, central.engine)
    assert clash.devices == 0
    [line] = clash.conflicts
    assert "left as handed-over on one side and as destroyed on the other" in line
    assert records.require_device(central, "LBC-0400").state is DeviceState.HANDED_OVER


def test_a_journal_copy_further_on_moves_the_central_device_forward(
    store_url: str, tmp_path: Path
) -> None:
    """The journal's device reached ``ready`` offline: central follows it (forward only)."""
    central = Store(store_url)
    journal = _journal(tmp_path)
    _intake(journal, "bench-B", "LBC-0500")
    push_journal(journal.engine, central.engine)
    records.move_state(journal, "LBC-0500", DeviceState.RECEIVED, DeviceState.READY)
    records.update_device(journal, "LBC-0500", destination="reuse")
    assert push_journal(journal.engine, central.engine).devices == 1
    device = records.require_device(central, "LBC-0500")
    assert (device.state, device.destination) == (DeviceState.READY, "reuse")


def test_device_pushes_raced_add_each_record_once(
    store_url: str, tmp_path: Path, signer: StationSigner
) -> None:
    """Three pushes of one journal at once: each device, link and certificate arrives once and
    the race is never mistaken for a conflict."""
    central = Store(store_url)
    journal = _journal(tmp_path)
    for i in range(4):
        tag = f"LBC-06{i:02d}"
        _intake(journal, "bench-C", tag)
        _link(journal, "bench-C", tag, 60 + i, signer)
        _certify(journal, "bench-C", tag, f"dev-cert-06{i:02d}")
    conflicts: list[str] = []
    errors: list[BaseException] = []

    def push() -> None:
        try:
            conflicts.extend(push_journal(journal.engine, central.engine).conflicts)
        except Exception as e:  # noqa: BLE001 - surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=push) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (errors, conflicts) == ([], [])
    assert _count(central, DeviceRow) == 4
    assert _count(central, DeviceDriveRow) == 4
    assert _count(central, DeviceCertificateRow) == 4
    assert verify_chain(central).ok
    assert push_journal(journal.engine, central.engine).total == 0


def _offline(store: Store) -> bool:
    return store.offline


@pytest.mark.postgres
def test_reads_on_a_bench_whose_link_just_dropped_go_to_its_journal(
    link: tuple[Link, str, str], tmp_path: Path
) -> None:
    """The first read after the network drops (a device list, one device, the destinations,
    the consignments, the custody chain) finds the central database unreachable and is answered
    from the bench's journal, as writes are, instead of failing."""
    proxy, through, _ = link
    bench = Store(through, journal=f"sqlite:///{tmp_path / 'journal.db'}", retry_after=3600)
    _intake(bench, "bench-01", "LBC-0001")
    proxy.cut()
    assert not _offline(bench)  # nothing has touched the database since the cut
    assert records.list_devices(bench) == []  # the journal holds nothing yet
    assert _offline(bench)
    _intake(bench, "bench-01", "LBC-0002")
    assert [d.tag for d in records.list_devices(bench)] == ["LBC-0002"]
    assert records.get_device(bench, "LBC-0002") is not None
    assert list_destinations(bench) == []
    assert list_consignments(bench) == []
    assert [e.subject for e in entries(bench)] == [device_subject("LBC-0002")]


@pytest.mark.postgres
@pytest.mark.parametrize("first", ["device", "destinations", "consignments", "chain"])
def test_each_read_alone_falls_back_after_a_cut(
    link: tuple[Link, str, str], tmp_path: Path, first: str
) -> None:
    """Whichever read comes first after the cut, it is answered (from the journal)."""
    proxy, through, _ = link
    bench = Store(through, journal=f"sqlite:///{tmp_path / 'journal.db'}", retry_after=3600)
    _intake(bench, "bench-01", "LBC-0001")
    proxy.cut()
    read: Callable[[], object] = {
        "device": lambda: records.get_device(bench, "LBC-0001"),
        "destinations": lambda: list_destinations(bench),
        "consignments": lambda: list_consignments(bench),
        "chain": lambda: entries(bench),
    }[first]
    assert not read()
    assert bench.offline


def test_a_nested_read_never_waits_for_a_switch_it_holds_up(tmp_path: Path) -> None:
    """A read inside a store session on the same thread (the custody checkpoint writer reads
    the chain right after an append) goes ahead while a reconnect is switching back: the switch
    waits for that outer session to end, so waiting here would stall both (for the switch's
    60 s, then the reconnect gave up)."""
    bench = Store(
        "postgresql+psycopg://nobody@127.0.0.1:1/none",  # nothing listens: offline at once
        journal=f"sqlite:///{tmp_path / 'journal.db'}",
        retry_after=3600,
    )
    assert bench.offline
    read: list[object] = []

    def work() -> None:
        with bench._session():
            with bench._gate:
                bench._switching = True  # a reconnect, waiting for open sessions to end
            try:
                read.append(entries(bench))
            finally:
                with bench._gate:
                    bench._switching = False
                    bench._gate.notify_all()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the nested read waited for the switch"
    assert read == [[]]
