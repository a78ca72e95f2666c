"""Labels printed through a real CUPS scheduler (started by the test on a private port) to a
file-backed Zebra ZPL queue: CUPS's own filters (pdftopdf, gstoraster, rastertolabel) turn the
label into ZPL, which is read back into an image whose QR zbarimg decodes to the certificate's
token; a queue that does not exist, one refusing jobs, and a job CUPS cannot finish."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sanitiser.config import Settings
from sanitiser.labels.content import Label
from sanitiser.store.printjobs import PrintState, print_job
from sanitiser.store.sync import settings_store
from tests.cli import run_sanitiser
from tests.labels.bench import Bench, make_bench
from tests.labels.cupsd import Cupsd, cups_installed
from tests.labels.decoders import decode_zpl
from tests.labels.printers import wait_for

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not cups_installed(), reason="CUPS is not installed (install-system.sh)"),
]
ZEBRA = "drv:///sample.drv/zebra.ppd"


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Bench:
    """One wiped drive and one certified laptop."""
    return make_bench(tmp_path_factory.mktemp("bench") / "data")


@pytest.fixture
def cupsd() -> Iterator[Cupsd]:
    """A scheduler of the test's own."""
    server = Cupsd()
    yield server
    server.stop()


def test_a_device_label_through_cups_reads_back_to_its_token(
    bench: Bench, cupsd: Cupsd, tmp_path: Path
) -> None:
    """'label print TAG --printer cups://zebra?...': the job completes; the ZPL CUPS wrote
    reads back to a label whose QR is the queued label's (the device certificate's token,
    which 'verify' accepts and which names that certificate)."""
    out_file = cupsd.root / "out" / "zebra.zpl"
    cupsd.add_queue("zebra", f"file://{out_file}", ZEBRA)
    address = f"cups://zebra?server={cupsd.server}&dpi=203"
    printed = run_sanitiser("label", "print", bench.device_tag, "--printer", address, "--json",
                            data=bench.data)  # fmt: skip
    assert printed.returncode == 0, printed.stdout + printed.stderr + cupsd.log()
    assert "CUPS job zebra-1 completed" in printed.stdout
    assert "a phone scanning a printed label reaches nothing" in printed.stderr  # unset URL
    wait_for(lambda: out_file.exists() and b"^XZ" in out_file.read_bytes(), "the ZPL file")
    [image] = decode_zpl(out_file.read_text("ascii"))
    path = tmp_path / "cups.png"
    image.save(path)
    read = subprocess.run(["zbarimg", "-q", "--raw", str(path)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert read.returncode == 0, read.stderr
    url = read.stdout.strip()
    queue = run_sanitiser("label", "queue", "--json", data=bench.data)
    [job] = json.loads(queue.stdout)
    assert job["state"] == PrintState.PRINTED.value
    verified = run_sanitiser("verify", url, data=bench.data)
    assert verified.returncode == 0, verified.stdout
    assert bench.device_certificate in verified.stdout
    stored = print_job(settings_store(Settings(data_dir=bench.data)), job["id"])
    assert stored is not None
    assert Label.from_json(stored.label_json).qr == url


def test_cups_faults_are_clear_and_leave_the_label_queued(bench: Bench, cupsd: Cupsd) -> None:
    """A queue that does not exist; a queue rejecting jobs; a job CUPS cannot write (its
    device is a file in a missing folder), cancelled when the wait is over: each a clear
    message, exit 1, the label failed and waiting; nothing left in CUPS to print later."""
    cupsd.add_queue("stopped", f"file://{cupsd.root}/missing/x.zpl", ZEBRA)
    cupsd.add_queue("closed", f"file://{cupsd.root}/out/closed.zpl", ZEBRA)
    assert cupsd.lp("cupsreject", "closed").returncode == 0
    env = {"SANITISER_PRINTERS__CUPS_WAIT": "3", "SANITISER_PRINTERS__TIMEOUT": "30"}
    cases = {
        "nowhere": "does not exist",
        "closed": "not accepting jobs",
        "stopped": "cancelled, so it cannot print later",
    }
    for queue, said in cases.items():
        out = run_sanitiser("label", "print", bench.drive_certificate, "--reprint",
                            "--printer", f"cups://{queue}?server={cupsd.server}",
                            data=bench.data, env=env)  # fmt: skip
        assert out.returncode == 1, out.stdout + out.stderr
        assert said in out.stdout, out.stdout
        assert "FAILED" in out.stdout
    waiting = cupsd.lp("lpstat", "-o")
    assert waiting.stdout.strip() == "", waiting.stdout
