"""Labels from the TUI: a job's certificate auto-prints its label on the default printer (a
Brother QL on a real TCP socket) when ``[printers] auto_print`` is on; ``p`` on the bench asks
for the drive's label again, which is refused as already printed, and sends the labels still
waiting; the help names the key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sanitiser.app.services import Services, build_services
from sanitiser.certificate.qr import decode_token
from sanitiser.config import load_settings
from sanitiser.devices.guard import BlockDevice, SystemState
from sanitiser.store.printjobs import PrintState, print_jobs
from sanitiser.testing import FakeDriveSource, FakeRunner
from sanitiser.tui.screens.help import HelpModal
from tests.labels.printers import DK_22205, BrotherBehaviour, BrotherPrinter
from tests.tui.helpers import SYSTEM, bench_ready, make_app, noticed, sanitise_one, wait_for


def _services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, printer: BrotherPrinter) -> Services:
    monkeypatch.setenv("SANITISER_CERTS_DIR", str(tmp_path / "certs"))
    monkeypatch.setenv(
        "SANITISER_PRINTERS__DEFAULT", f"brother://127.0.0.1:{printer.port}?model=QL-820NWB"
    )
    monkeypatch.setenv("SANITISER_PRINTERS__AUTO_PRINT", "true")
    monkeypatch.setenv("SANITISER_PRINTERS__TIMEOUT", "60")
    state = SystemState(
        blocks={"sdz": BlockDevice("sdz", "65:144")},
        system_disks={"sdz": ("holds the root filesystem /",)},
    )
    svc = build_services(
        load_settings(), lab=True, runner=FakeRunner(), real=FakeDriveSource([SYSTEM])
    )
    svc.system_state = lambda: state
    return svc


async def test_a_finished_job_prints_its_label_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Auto-print: the label reaches the printer, its QR the job's certificate; 'p' does not
    print it a second time (it says so)."""
    printer = BrotherPrinter(BrotherBehaviour(media=DK_22205))
    try:
        services = _services(tmp_path, monkeypatch, printer)
        app = make_app(services, operator="alice")
        async with app.run_test(size=(160, 40)) as pilot:
            await bench_ready(pilot, app)
            await sanitise_one(pilot, app, "lab-nvme0", "0001")
            cert = app.table.states["lab-nvme0"].certificate_id
            await wait_for(pilot, lambda: len(printer.pages) == 1)
            await wait_for(pilot, noticed(app, "printed 1 on 62 mm continuous tape"))
            await pilot.press("p")
            await wait_for(pilot, noticed(app, "ask for a reprint"))
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpModal)
            assert "Print the drive's label" in str(app.screen.query_one("#keys").render())
        [[page]] = printer.pages
        png = tmp_path / "label.png"
        page.image().save(png)
        read = subprocess.run(["zbarimg", "-q", "--raw", str(png)], capture_output=True,
                              text=True, check=False)  # fmt: skip
        assert decode_token(read.stdout.strip()).certificate_id == cert
        [job] = print_jobs(services.store)
        assert (job.subject, job.state) == (cert, PrintState.PRINTED)
    finally:
        printer.close()
