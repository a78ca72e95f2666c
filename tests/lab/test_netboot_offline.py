"""Issue 19 without a network, in the QEMU lab: the donor boots from the USB image (no network
card, no -kernel), finds no bench, and runs the offline agent from the stick; the technician
types each drive's serial at the donor's console to confirm it; the evidence is kept on the
stick, signed with the session's agent key; at the bench `agent import` checks it before
anything is signed, and the certificates say the work was captured off-bench."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sanitiser.agent.evidence import import_evidence
from sanitiser.agent.service import AgentService
from sanitiser.app.services import build_services
from sanitiser.certificate.sign import parse_envelope
from sanitiser.config import Settings
from sanitiser.netboot.build import BuildResult
from sanitiser.testing import FakeDriveSource
from tests.lab import donor
from tests.lab.drivelab import SLACK, ImageVerdict, image_state

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

PARTITION = "@@1M"  # mtools: the FAT partition starts 1 MiB into the image
WAIT_S = 900.0 * SLACK
"""How long the donor may take to boot, erase and finish (TCG on a shared machine)."""


class Console:
    """The donor's serial console, read and typed on through QEMU's UNIX socket."""

    def __init__(self, path: Path) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(str(path))
                break
            except OSError:
                self.sock.close()
                assert time.monotonic() < deadline, "QEMU's console socket did not appear"
                time.sleep(0.2)
        self.sock.settimeout(1.0)
        self.text = ""

    def until(self, *wanted: str) -> str:
        """Read until one of `wanted` is in what was read since the last call; which one."""
        deadline = time.monotonic() + WAIT_S
        start = len(self.text)
        while True:
            found = [w for w in wanted if w in self.text[start:]]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"none of {wanted}; console:\n{self.text[-3000:]}"
            try:
                chunk = self.sock.recv(4096)
            except TimeoutError:
                continue
            assert chunk, f"the console closed; console:\n{self.text[-3000:]}"
            self.text += chunk.decode(errors="replace")

    def line(self, prefix: str) -> str:
        """The whole next console line starting with `prefix` (read until its end)."""
        self.until(prefix)
        while True:
            tail = self.text[self.text.rindex(prefix) :]
            if "\n" in tail:
                return tail.split("\n", 1)[0].strip()
            self.until("\n")

    def type(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r")


def test_offline_on_the_stick_then_imported_at_the_bench(
    netboot_image: BuildResult, tmp_path: Path
) -> None:
    assert netboot_image.usb is not None
    services = build_services(
        Settings(data_dir=tmp_path / "data"), lab=False, real=FakeDriveSource()
    )
    service = AgentService(services)
    workdir = tmp_path / "donor"
    donor.prepare(workdir)
    stick = workdir / "stick.img"
    shutil.copyfile(netboot_image.usb, stick)
    creds = tmp_path / "creds"
    service.mint_session(creds)  # the bench's side kept: only its sessions are imported
    for name in ("ca.pem", "agent.pem", "agent.key", "session.json"):
        subprocess.run(
            ["mcopy", "-o", "-i", f"{stick}{PARTITION}", str(creds / name), f"::/sanitiser/{name}"],
            check=True,
        )
    sock = workdir / "console.sock"
    argv = donor.donor_argv(workdir, donor.usb_stick(stick), console=sock)
    guest = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    typed: list[str] = []
    try:
        console = Console(sock)
        for _ in range(2):  # the NVMe and the SATA drive; never the stick (protected)
            console.until("Type its serial to erase it")
            line = next(ln for ln in reversed(console.text.splitlines()) if " plan: " in ln)
            serial = line.split(" serial ", 1)[1].split()[0]
            assert serial in (donor.NVME_SERIAL, donor.SATA_SERIAL), line
            typed.append(serial)
            console.type(serial)
        exited = console.line("agent exited (rc")
        assert exited == "agent exited (rc 0)", console.text[-3000:]
    finally:
        guest.kill()
        guest.wait()
    assert sorted(typed) == [donor.NVME_SERIAL, donor.SATA_SERIAL]
    for image in ("nvme.img", "sata.img"):
        state = image_state(workdir / image)
        assert state.verdict in (ImageVerdict.ZEROED, ImageVerdict.OVERWRITTEN), (image, state)

    evidence = tmp_path / "evidence"
    subprocess.run(
        ["mcopy", "-s", "-i", f"{stick}{PARTITION}", "::/sanitiser", str(evidence)], check=True
    )
    assert list(evidence.glob("evidence-*.jsonl"))
    try:
        jobs = import_evidence(service, evidence, operator="mia")
        assert len(jobs) == 2
        assert service.jobs.wait(jobs, timeout=600)
    finally:
        service.stop()
    for job_id in jobs:
        view = services.store.job(job_id)
        assert view is not None
        assert view.state == "routed", view.detail
        envelope = services.store.certificate_record(view.detail["certificate_id"])
        assert envelope is not None
        record = parse_envelope(envelope).record
        assert record["sanitisation"]["captured"] == "off-bench"
        assert record["device"]["serial"] in typed
