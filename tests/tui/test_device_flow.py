"""A laptop from intake to its signed device certificate, by keys, as a technician does it on the
bench: its tag scanned in, two lab drives linked to it and erased with the typed phrase, graded
on its screen, its certificate issued there (``ctrl+s``); then the files it wrote are checked as
an auditor would, with other tools: the PDF's signature (pdfsig), the label's QR (zbarimg), and
``sanitiser verify`` for the PDF, the record, the URL and the drives' own certificates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Static

from sanitiser.app.devices import DEVICE_CERTIFICATES, DeviceDesk
from sanitiser.app.services import Services
from sanitiser.certificate.sign import parse_envelope
from sanitiser.domain import MediaKind
from sanitiser.routing.destinations import DEVICE_ROUTE_KINDS
from sanitiser.store.audit import entries
from sanitiser.store.consignments import consignment_of
from sanitiser.store.destinations import add_destination
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.screens.consignment import ConsignmentModal
from sanitiser.tui.screens.devices import DeviceDetailScreen, DevicesScreen
from sanitiser.tui.screens.intake import IntakeScreen
from sanitiser.tui.screens.link import LinkModal
from sanitiser.tui.screens.start_erase import StartEraseModal
from tests.cli import run_sanitiser
from tests.tui.helpers import (
    bench_ready,
    go_to,
    make_app,
    noticed,
    pushed,
    sanitise_one,
    wait_for,
)

TAG = "LBC-0420"
DRIVES = ("lab-sata-ssd0", "lab-nvme0")


async def select(pilot: Pilot[None], app: SanitiserApp, names: tuple[str, ...]) -> None:
    for name in names:
        await go_to(pilot, app, name)
        await pilot.press("space")
    assert [r.drive.name for r in app.table.selected()] == list(names)


async def open_device(pilot: Pilot[None], app: SanitiserApp, tag: str) -> DeviceDetailScreen:
    """`d`, the device's row, Enter."""
    listing = await pushed(pilot, app, "d", DevicesScreen)
    await wait_for(pilot, lambda: listing.loaded)
    row = [d.tag for d in listing.devices].index(tag)
    await pilot.press(*["down"] * row)
    assert listing.query_one("#devices", DataTable).cursor_row == row
    screen = await pushed(pilot, app, "enter", DeviceDetailScreen)
    await wait_for(pilot, lambda: screen.report is not None)
    return screen


def certificate_shown(screen: DeviceDetailScreen) -> str:
    return str(screen.query_one("#device-certificate", Static).render())


def tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def verify(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_sanitiser("verify", *args, data=data)


async def test_a_laptop_from_scan_to_its_verified_certificate_by_keys(
    services: Services, tmp_path: Path
) -> None:
    data = services.settings.data_dir
    app = make_app(services)
    async with app.run_test(size=(120, 50)) as pilot:
        await bench_ready(pilot, app)
        intake = await pushed(pilot, app, "i", IntakeScreen)
        await pilot.press(*TAG, "enter")  # as a scanner types it
        await wait_for(pilot, lambda: len(intake.taken) == 1)
        await pilot.press("escape")

        await select(pilot, app, DRIVES)
        await pushed(pilot, app, "l", LinkModal)
        await pilot.press(*TAG, "enter")
        await wait_for(pilot, lambda: app.screen is app.bench_screen)
        await wait_for(pilot, noticed(app, f"SIM-NVME-0001: linked to {TAG}"))

        await select(pilot, app, DRIVES)
        modal = await pushed(pilot, app, "s", StartEraseModal)
        await wait_for(pilot, lambda: modal.plans is not None)
        await pilot.press("tab", *"ERASE 2 DRIVES")
        assert not modal.query_one("#erase", Button).disabled
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: all(app.table.states[n].outcome == "sanitised" for n in DRIVES)
        )

        screen = await open_device(pilot, app, TAG)
        # the grade and checks, then the certificate at once: it waits for them to be recorded
        await pilot.press("A", "s", "k", "t", "h", "ctrl+s")
        await wait_for(
            pilot, lambda: screen.issued is not None or "NOT" in certificate_shown(screen)
        )
        issued = screen.issued
        assert issued is not None, certificate_shown(screen)
        shown = certificate_shown(screen)
        assert f"Issued {issued.certificate_id}" in shown
        assert all(str(p) in shown for p in issued.paths)
        await wait_for(pilot, noticed(app, issued.certificate_id))

        # it leaves in a consignment, by its certificate: `o`, then the only choice (a new
        # consignment for the one destination of the kind its policy routed it to)
        route = str(screen.bench.desk("alice").report(TAG).readiness.destination)
        add_destination(
            services.store,
            name="Partner",
            kind=DEVICE_ROUTE_KINDS[route],
            contact="partner@example.org",
            accepts=[m.value for m in MediaKind],
            station=services.settings.station,
        )
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, ConsignmentModal))
        await pilot.press("enter")
        await wait_for(pilot, lambda: consignment_of(services.store, issued.certificate_id))

    folder = data / DEVICE_CERTIFICATES
    stem = f"{TAG}-{issued.certificate_id}"
    pdf, record, label = (folder / f"{stem}.{ext}" for ext in ("pdf", "json", "png"))
    assert issued.paths == [pdf, record, label]
    assert sorted(folder.iterdir()) == sorted(issued.paths)

    signed = parse_envelope(record.read_bytes()).record
    assert (signed["device"]["tag"], signed["grade"]["cosmetic"]) == (TAG, "A")
    checks = {c: r["result"] for c, r in signed["grade"]["checks"].items()}
    assert checks == dict.fromkeys(("screen", "keyboard", "trackpad", "charger-included"), "pass")
    assert [d["outcome"] for d in signed["drives"]] == ["sanitised", "sanitised"]
    assert signed["operator"]["name"] == "alice"

    assert "Signature Validation: Signature is Valid." in tool("pdfsig", str(pdf)).stdout
    url = tool("zbarimg", "-q", "--raw", str(label)).stdout.strip()
    assert url.startswith("https://")
    for what in (str(pdf), str(record), url):
        out = verify(data, what)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"Asset tag:           {TAG}" in out.stdout

    drives = tmp_path / "drives"
    drives.mkdir()
    ids = [d["certificate_id"] for d in signed["drives"]]
    for cert in ids:
        out = run_sanitiser(
            "cert", "export", cert, "--json", str(drives / f"{cert}.json"), data=data
        )
        assert out.returncode == 0, out.stderr
    checked = verify(data, str(pdf), "--drives", str(drives))
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.count("verifies and is the one named") == 2

    first = drives / f"{ids[0]}.json"
    raw = bytearray(first.read_bytes())
    at = raw.index(b'"sanitised"') + 1
    raw[at] ^= 0x20  # one byte: "sanitised" -> "Sanitised"
    first.write_bytes(bytes(raw))
    altered = verify(data, str(pdf), "--drives", str(drives))
    assert altered.returncode == 1, altered.stdout
    assert f"no valid certificate {ids[0]} given" in altered.stdout

    kinds = [e.kind for e in entries(services.store, subject=f"device:{TAG}")]
    assert kinds[:3] == ["received", "drive-linked", "drive-linked"]
    assert kinds.count("drive-linked") == 2
    assert {"graded", "sanitised"} <= set(kinds)
    assert kinds[-2:] == ["device-certified", "consigned"]
    audit = run_sanitiser("audit", "verify", data=data)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert audit.stdout.startswith("audit log intact")


def laptop_with_a_drive(services: Services, tag: str, drive: str) -> DeviceDesk:
    desk = DeviceDesk(services, "alice")
    desk.intake(kind="laptop", tag=tag)
    desk.link(tag, [drive])
    return desk


async def refused_by_keys(pilot: Pilot[None], app: SanitiserApp, tag: str) -> str:
    """The device's screen, ``ctrl+s``: what the certificate section says of the refusal."""
    screen = await open_device(pilot, app, tag)
    await pilot.press("ctrl+s")
    await wait_for(pilot, lambda: "NOT issued" in certificate_shown(screen))
    assert screen.issued is None
    assert screen.certifying == ""
    return certificate_shown(screen)


def nothing_issued(services: Services, tag: str) -> None:
    assert not (services.settings.data_dir / DEVICE_CERTIFICATES).exists()
    kinds = [e.kind for e in entries(services.store, subject=f"device:{tag}")]
    assert "device-certified" not in kinds


async def test_a_certificate_is_refused_with_why_while_a_drive_has_none(
    services: Services,
) -> None:
    laptop_with_a_drive(services, "LT-9", "lab-sata-hdd0")
    app = make_app(services)
    async with app.run_test(size=(120, 50)) as pilot:
        await bench_ready(pilot, app)
        said = await refused_by_keys(pilot, app, "LT-9")
        assert "no certificate yet for drive(s) SIM-HDD-0001" in said
    nothing_issued(services, "LT-9")


async def test_a_certificate_is_refused_when_a_drive_certificate_does_not_verify(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = laptop_with_a_drive(services, "LT-10", "lab-sata-ssd0")
    app = make_app(services)
    async with app.run_test(size=(120, 50)) as pilot:
        await bench_ready(pilot, app)
        await sanitise_one(pilot, app, "lab-sata-ssd0", "0001")
        [drive] = desk.report("LT-10").device.drives
        kept = services.store.certificate_record(drive.certificate_id)
        assert kept is not None
        altered = kept.replace(b'"sanitised"', b'"sanitized"', 1)  # as if altered in the store
        monkeypatch.setattr(services.store, "certificate_record", lambda _id: altered)
        said = await refused_by_keys(pilot, app, "LT-10")
        assert drive.certificate_id in said
        assert "does not verify" in said
    nothing_issued(services, "LT-10")
