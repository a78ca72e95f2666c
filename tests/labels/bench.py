"""A bench with certificates to print labels for: a lab drive wiped (its certificate), and a
laptop with that drive, graded and certified (its device certificate). Made once per module
through the real CLI."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from sanitiser.certificate.sign import parse_envelope
from sanitiser.config import PrinterSettings, Settings
from sanitiser.store.sync import settings_store
from tests.cli import run_sanitiser


@dataclass(frozen=True)
class Bench:
    """The data directory and what was issued in it."""

    data: Path
    drive_certificate: str
    serial: str
    device_tag: str
    device_certificate: str

    def settings(self, **printers: object) -> Settings:
        """Settings for this bench, with `printers` options."""
        return Settings(data_dir=self.data, printers=PrinterSettings(**printers))


def _ok(data: Path, *args: str) -> str:
    out: subprocess.CompletedProcess[str] = run_sanitiser("--lab", *args, data=data)
    assert out.returncode == 0, f"{args}: {out.stdout}{out.stderr}"
    return out.stdout


def make_bench(data: Path) -> Bench:
    """Wipe one lab drive and certify the laptop it came out of."""
    tag = "LBC-7"
    _ok(data, "device", "add", "--kind", "laptop", "--tag", tag, "--make", "Lenovo",
        "--model", "ThinkPad T480 Carbon Special Edition with a long model name")  # fmt: skip
    _ok(data, "device", "link", tag, "SIM-SSD-0001")
    _ok(data, "wipe", "SIM-SSD-0001", "--yes")
    _ok(data, "device", "grade", tag, "--cosmetic", "B")
    issued = _ok(data, "device", "certificate", tag)
    device_cert = issued.split("device certificate ", 1)[1].split()[0]
    store = settings_store(Settings(data_dir=data))
    [record] = [parse_envelope(raw).record for raw in store.certificate_records()]
    return Bench(data, record["certificate_id"], record["device"]["serial"], tag, device_cert)
