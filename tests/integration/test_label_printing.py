"""Labels printed on printers reached over real TCP sockets: a Brother QL (raster, status
replies) and a Zebra (ZPL, ``~HS``), each captured job read back into an image (raster lines;
the ``^GF`` field) whose QR code zbarimg decodes to the certificate's own verification URL;
printers offline, refusing, slow, out of paper or loaded with the wrong roll; the queue kept in
the store, sent after a restart, and nothing printed twice unless asked."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from sanitiser.app.labels import LabelDesk
from sanitiser.certificate.qr import decode_token
from sanitiser.labels.address import parse_address
from sanitiser.labels.content import Label, LabelKind
from sanitiser.labels.jobs import prepare
from sanitiser.printing.errors import Fault
from sanitiser.store.printjobs import PrintState
from sanitiser.store.sync import settings_store
from tests.cli import run_sanitiser
from tests.labels.bench import Bench, make_bench
from tests.labels.decoders import decode_zpl
from tests.labels.printers import (
    DK_11201,
    DK_22205,
    BrotherBehaviour,
    BrotherPrinter,
    OfflinePrinter,
    UsbNode,
    ZebraPrinter,
    closed_port,
    wait_for,
)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    """One wiped drive and one certified laptop."""
    return make_bench(tmp_path_factory.mktemp("bench") / "data")


@pytest.fixture
def fresh(bench: Bench, tmp_path: Path) -> Bench:
    """The bench copied, so each test has its own queue."""
    data = tmp_path / "bench"
    subprocess.run(["cp", "-a", str(bench.data), str(data)], check=True)
    return Bench(data, bench.drive_certificate, bench.serial, bench.device_tag,
                 bench.device_certificate)  # fmt: skip


@pytest.fixture
def brother() -> Iterator[BrotherPrinter]:
    printer = BrotherPrinter()
    yield printer
    printer.close()


def desk(bench: Bench, *, timeout: float = 60.0, **printers: object) -> LabelDesk:
    settings = bench.settings(timeout=timeout, **printers)
    return LabelDesk(settings, settings_store(settings), "tester")


def qr_of(image: Image.Image, tmp_path: Path) -> str:
    """What zbarimg reads from the image."""
    path = tmp_path / "read.png"
    image.save(path)
    out = subprocess.run(
        ["zbarimg", "-q", "--raw", str(path)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, f"zbarimg read no QR code: {out.stderr}"
    return out.stdout.strip()


def ink_outside(image: Image.Image, boxes: list[tuple[int, int, int, int]]) -> int:
    """Dots of ink outside every box."""
    mask = Image.new("1", image.size, 0)
    for box in boxes:
        mask.paste(1, box)
    inked = Image.eval(image.convert("L"), lambda v: 255 if v < 128 else 0).convert("1")
    outside = Image.composite(Image.new("1", image.size, 0), inked, mask)
    return sum(outside.convert("L").histogram()[255:])


def test_a_device_label_on_a_brother_ql_over_tcp(
    fresh: Bench, brother: BrotherPrinter, tmp_path: Path
) -> None:
    """The device label, 62 x 29 mm die-cut on a QL-820NWB: the raster lines read back into a
    label whose QR is the device certificate's token (it names the certificate), the text
    right of the QR and inside the label, the long model ellipsised; one page, cut."""
    address = f"brother://127.0.0.1:{brother.port}?model=QL-820NWB&label=62x29"
    [outcome] = desk(fresh).print(fresh.device_tag, printer=address)
    assert outcome.printed, outcome.message
    assert outcome.job.state is PrintState.PRINTED
    [pages] = brother.pages
    [page] = pages
    assert (page.media_type, page.width_mm, page.length_mm) == (0x0B, 62, 29)
    assert page.cut
    assert page.lines_declared == len(page.rows) == 271
    image = page.image()
    url = qr_of(image, tmp_path)
    label = Label.from_json(outcome.job.label_json)
    assert url == label.qr
    assert "#" in url
    verified = run_sanitiser("verify", url, data=fresh.data)
    assert verified.returncode == 0, verified.stdout
    assert fresh.device_certificate in verified.stdout
    # where the layout put the parts is where the ink is: the label sits at the head's
    # printable dots (720 - 696 - 12 = 12 from the left), the text right of the QR
    rendered = prepare(label, parse_address(address)).rendered
    shifted = [(b[0] + 12, b[1], b[2] + 12, b[3]) for b in (rendered.qr_box, *rendered.text_boxes)]
    assert ink_outside(image, shifted) == 0
    qr_right = shifted[0][2]
    assert all(b[0] > qr_right and b[2] <= 12 + 696 for b in shifted[1:])
    assert any(line.endswith("…") for line in rendered.lines)
    assert rendered.lines[0] == fresh.device_tag


def test_copies_and_accessory_labels_link_to_the_device(
    fresh: Bench, brother: BrotherPrinter, tmp_path: Path
) -> None:
    """--copies 2 prints two pages; the charger and battery labels carry the device's QR."""
    address = f"brother://127.0.0.1:{brother.port}?model=QL-820NWB&label=62x29"
    outcomes = desk(fresh).print(
        fresh.device_tag,
        printer=address,
        copies=2,
        accessories=[LabelKind.CHARGER, LabelKind.BATTERY],
    )
    assert [o.printed for o in outcomes] == [True, True, True]
    assert [len(p) for p in brother.pages] == [2, 2, 2]
    urls = {qr_of(pages[1].image(), tmp_path) for pages in brother.pages}
    assert len(urls) == 1  # one device, one certificate, one token on all three
    assert [o.job.kind for o in outcomes] == ["device", "charger", "battery"]
    assert Label.from_json(outcomes[1].job.label_json).lines[0] == (
        f"CHARGER of {fresh.device_tag}",
        True,
    )


def test_a_drive_label_on_continuous_tape_and_on_29x90(fresh: Bench, tmp_path: Path) -> None:
    """The drive label on 62 mm tape (its default) and, reprinted, on a 29 x 90 mm label
    (turned a quarter to run through the head): both read back to the drive certificate's
    token."""
    tape = BrotherPrinter(BrotherBehaviour(media=DK_22205))
    narrow = BrotherPrinter(BrotherBehaviour(media=DK_11201))
    try:
        d = desk(fresh)
        [o1] = d.print(
            fresh.drive_certificate, printer=f"brother://127.0.0.1:{tape.port}?model=QL-710W"
        )
        [o2] = d.print(
            fresh.drive_certificate,
            printer=f"brother://127.0.0.1:{narrow.port}?model=QL-700&label=29x90",
            reprint=True,  # the same label again, elsewhere: asked for
        )
        assert o1.printed, o1.message
        assert o2.printed, o2.message
        for printer, media in ((tape, (0x0A, 62, 0)), (narrow, (0x0B, 29, 90))):
            [[page]] = printer.pages
            assert (page.media_type, page.width_mm, page.length_mm) == media
            token = decode_token(qr_of(page.image(), tmp_path))
            assert token.certificate_id == fresh.drive_certificate
            assert token.serial == fresh.serial
    finally:
        tape.close()
        narrow.close()


def test_a_consignment_label_on_a_zebra_over_tcp(fresh: Bench, tmp_path: Path) -> None:
    """A 4 x 6 in consignment label in ZPL: the ^GF field reads back to the rendered label
    dot for dot, its QR the consignment id."""
    out = run_sanitiser("destinations", "add", "WEEE Ltd", "--kind", "recycle",
                        "--contact", "collections@weee.example", "--accepts", "ssd",
                        data=fresh.data)  # fmt: skip
    assert out.returncode == 0, out.stderr
    opened = run_sanitiser("consignment", "open", "WEEE Ltd", "--json", data=fresh.data)
    assert opened.returncode == 0, opened.stderr
    consignment = json.loads(opened.stdout)["id"]
    zebra = ZebraPrinter()
    try:
        [o] = desk(fresh).print(consignment, printer=f"zpl://127.0.0.1:{zebra.port}")
        assert o.printed, o.message
        wait_for(lambda: len(zebra.jobs) == 1, "the ZPL job")
        [image] = decode_zpl(zebra.jobs[0].decode("ascii"))
        rendered = prepare(Label.from_json(o.job.label_json), parse_address(o.job.printer)).rendered
        assert image.crop((0, 0, *rendered.image.size)).tobytes() == rendered.image.tobytes()
        assert image.size[1] == int(152 * 203 / 25.4)
        assert qr_of(image, tmp_path) == consignment
        assert Label.from_json(o.job.label_json).lines[1] == ("To WEEE Ltd", True)
    finally:
        zebra.close()


@pytest.mark.root  # the stand-in node is linked into /dev/usb
def test_labels_on_usb_nodes_brother_and_zebra(fresh: Bench, tmp_path: Path) -> None:
    """``brother:///dev/usb/lpN`` and ``zpl:///dev/usb/lpN``: the same conversations through a
    character device (a raw pty stands in for usblp's node): status first, then the job, whose
    QR decodes to the certificate's own URL."""
    brother_printer = BrotherPrinter()
    brother = UsbNode(brother_printer)
    try:
        [o] = desk(fresh).print(
            fresh.device_tag, printer=f"brother://{brother.path}?model=QL-820NWB&label=62x29"
        )
        assert o.printed, o.message
        wait_for(lambda: len(brother_printer.pages) == 1, "the Brother job")
        [page] = brother_printer.pages[0]
        assert qr_of(page.image(), tmp_path) == Label.from_json(o.job.label_json).qr
    finally:
        brother.close()
    zebra = UsbNode(ZebraPrinter())
    try:
        [o] = desk(fresh).print(
            fresh.drive_certificate, printer=f"zpl://{zebra.path}", reprint=True
        )
        assert o.printed, o.message
        zebra.unplug()
        assert len(zebra.printer.jobs) == 1
        [image] = decode_zpl(zebra.printer.jobs[0].decode("ascii"))
        assert qr_of(image, tmp_path) == Label.from_json(o.job.label_json).qr
    finally:
        zebra.close()


def test_a_printer_with_the_wrong_roll_or_an_error_prints_nothing(fresh: Bench) -> None:
    """Continuous tape loaded for a die-cut label, or no media: refused before any label data
    is sent, the message says what is loaded and what is needed; the label waits (failed) and
    prints once the right roll is in."""
    printer = BrotherPrinter(BrotherBehaviour(media=DK_22205))
    try:
        d = desk(fresh)
        address = f"brother://127.0.0.1:{printer.port}?model=QL-820NWB&label=62x29"
        [o] = d.print(fresh.device_tag, printer=address)
        assert not o.printed
        assert "62 mm continuous tape loaded" in o.message
        assert "62 x 29 mm die-cut labels" in o.message
        assert o.job.state is PrintState.FAILED
        assert printer.jobs == []
        printer.behaviour.media = None
        printer.behaviour.error_1 = 0x01
        [again] = d.retry()
        assert not again.printed
        assert "no media" in again.message
        printer.behaviour = BrotherBehaviour()
        [last] = d.retry()
        assert last.printed
        assert len(printer.jobs) == 1
        assert last.job.attempts == 3
    finally:
        printer.close()


def test_a_zebra_out_of_paper_prints_nothing() -> None:
    """~HS says paper out: nothing but the query is sent."""
    from sanitiser.labels.address import parse_address
    from sanitiser.printing.errors import PrinterError
    from sanitiser.printing.send import Timeouts, print_label
    from sanitiser.runner import SubprocessRunner

    zebra = ZebraPrinter(paper_out=True)
    try:
        label = Label(LabelKind.DRIVE, "x", "HELLO", (("A", True),))
        with pytest.raises(PrinterError, match="paper out") as caught:
            print_label(label, parse_address(f"zpl://127.0.0.1:{zebra.port}?label=62x29"), 1,
                        SubprocessRunner(), Timeouts(answer=60))  # fmt: skip
        assert caught.value.fault is Fault.NOT_READY
        assert not caught.value.delivered
        wait_for(lambda: zebra.connections == 1, "the query")
    finally:
        zebra.close()
    assert zebra.jobs == []


@pytest.mark.parametrize("fault", ["refusing", "offline", "slow"])
def test_offline_refusing_and_slow_printers_leave_the_label_queued(
    fresh: Bench, fault: str
) -> None:
    """Connection refused, a connection never answered, a printer that never answers its
    status request: a clear message, nothing sent, the label waiting in the queue."""
    offline = OfflinePrinter() if fault == "offline" else None
    slow = BrotherPrinter(BrotherBehaviour(answers=False)) if fault == "slow" else None
    port = offline.port if offline else slow.port if slow else closed_port()
    try:
        d = desk(fresh, timeout=1.0)
        [o] = d.print(fresh.device_tag, printer=f"brother://127.0.0.1:{port}?model=QL-820NWB")
        assert not o.printed
        expected = {
            "refusing": "refused the connection",
            "offline": "did not answer within 1 s (offline?)",
            "slow": "did not answer the status request within 1 s",
        }[fault]
        assert expected in o.message
        assert o.job.state is PrintState.FAILED
        assert [j.id for j in d.pending()] == [o.job.id]
    finally:
        for p in (offline, slow):
            if p is not None:
                p.close()


def test_a_slow_printer_within_the_timeout_prints(fresh: Bench, tmp_path: Path) -> None:
    """A printer that takes a while to answer (but less than the timeout) prints."""
    printer = BrotherPrinter(BrotherBehaviour(answer_after=0.5))
    try:
        [o] = desk(fresh, timeout=60).print(
            fresh.device_tag,
            printer=f"brother://127.0.0.1:{printer.port}?model=QL-820NWB&label=62x29",
        )
        assert o.printed, o.message
    finally:
        printer.close()


def test_a_label_sent_but_not_confirmed_is_never_sent_again_on_its_own(fresh: Bench) -> None:
    """The printer takes the job and never confirms it (or reports a fault while printing):
    'unconfirmed', not retried; printing it again needs --reprint."""
    printer = BrotherPrinter(BrotherBehaviour(confirms=False))
    try:
        d = desk(fresh, timeout=1.0)
        address = f"brother://127.0.0.1:{printer.port}?model=QL-820NWB&label=62x29"
        [o] = d.print(fresh.device_tag, printer=address)
        assert o.job.state is PrintState.UNCONFIRMED
        assert "did not confirm printing" in o.message
        assert d.retry() == []
        with pytest.raises(Exception, match="ask for a reprint"):
            d.print(fresh.device_tag, printer=address)
        printer.behaviour = BrotherBehaviour(fails_printing=True)
        [again] = desk(fresh, timeout=60).print(fresh.device_tag, printer=address, reprint=True)
        assert again.job.state is PrintState.UNCONFIRMED
        assert "cover open" in again.message
        wait_for(lambda: len(printer.jobs) == 2, "both jobs")
    finally:
        printer.close()


def test_a_queued_label_prints_after_a_restart_once(fresh: Bench, tmp_path: Path) -> None:
    """'label print' while the printer is off (exit 1, the label queued), then - in new
    processes, each with its own store - 'label queue' lists it and 'label retry' prints it
    once; another 'label retry' has nothing to send; 'label print' again is refused without
    --reprint."""
    port = closed_port()
    env = {"SANITISER_PRINTERS__TIMEOUT": "1"}
    address = f"brother://127.0.0.1:{port}?model=QL-820NWB&label=62x29"
    first = run_sanitiser("label", "print", fresh.device_tag, "--printer", address,
                          data=fresh.data, env=env)  # fmt: skip
    assert first.returncode == 1, first.stderr
    assert "FAILED" in first.stdout
    assert "refused the connection" in first.stdout
    listed = run_sanitiser("label", "queue", data=fresh.data)
    assert "failed" in listed.stdout
    assert fresh.device_tag in listed.stdout
    printer = BrotherPrinter()
    printer.sock.close()  # serve on the port the queued label names
    import socket
    import threading

    printer.sock = socket.socket()
    printer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    printer.sock.bind(("127.0.0.1", port))
    printer.sock.listen(8)
    threading.Thread(target=printer._serve, daemon=True).start()
    try:
        retried = run_sanitiser("label", "retry", data=fresh.data, env=env)
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert f"device {fresh.device_tag}" in retried.stdout
        assert "printed" in retried.stdout
        assert len(printer.jobs) == 1
        nothing = run_sanitiser("label", "retry", data=fresh.data, env=env)
        assert "No labels waiting." in nothing.stdout
        again = run_sanitiser("label", "print", fresh.device_tag, "--printer", address,
                              data=fresh.data, env=env)  # fmt: skip
        assert again.returncode == 2
        assert "ask for a reprint" in again.stderr
        assert len(printer.jobs) == 1
    finally:
        printer.close()


def test_printers_by_name_and_bad_addresses(fresh: Bench) -> None:
    """A name from the settings, the default; an unknown name or a bad address is an error
    naming it, and nothing is queued."""
    d = desk(fresh, named={"desk": "brother://h?model=QL-9"}, default="")
    with pytest.raises(Exception, match=r"printer 'desk' in the settings: .*unknown Brother model"):
        d.printer("desk")
    with pytest.raises(Exception, match="no printer named and no default"):
        d.printer()
    with pytest.raises(Exception, match="no printer named 'front'"):
        d.printer("front")
    with pytest.raises(Exception, match="bad printer address 'zpl://h:70000'"):
        d.print(fresh.device_tag, printer="zpl://h:70000")
    assert d.queue() == []
    named = desk(fresh, named={"desk": "zpl://printer.example:9101?dpi=300"}, default="desk")
    chosen = named.printer()
    assert (chosen.name, chosen.address.host, chosen.address.port, chosen.address.dpi) == (
        "desk",
        "printer.example",
        9101,
        300,
    )


def test_auto_print_never_fails_or_holds_a_job(fresh: Bench) -> None:
    """'wipe' with auto_print on and the default printer refusing: the wipe succeeds (exit
    0), stderr says the label is not printed and waits; the queue holds it for 'label retry'."""
    env = {
        "SANITISER_PRINTERS__AUTO_PRINT": "true",
        "SANITISER_PRINTERS__DEFAULT": f"zpl://127.0.0.1:{closed_port()}",
        "SANITISER_PRINTERS__TIMEOUT": "1",
    }
    out = run_sanitiser("--lab", "wipe", "SIM-NVME-0001", "--yes", data=fresh.data, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "refused the connection" in out.stderr
    assert "'sanitiser label retry'" in out.stderr
    pending = desk(fresh).pending()
    assert [(j.kind, j.state) for j in pending] == [("drive", PrintState.FAILED)]
    assert pending[0].subject != fresh.drive_certificate  # the new job's certificate
