"""Issue 19's whole path in the QEMU lab (TCG): a donor laptop with no -kernel/-initrd boots
over the network from what the bench serves (`AgentServing`: the receiver's credentials packed
into the session's initrd, iPXE chaining to HTTP), its agent reports over mutual TLS, the bench
finds the device taken in by its firmware serial and records its facts, the technician's go
wipes both drives on the computer, the backing files prove the erase, the bench alone signs,
and each certificate names the device. A donor powered off mid-erase gets no outcome invented,
and when it boots again its job is recorded interrupted, with no certificate.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sanitiser.agent.serving import AgentServing
from sanitiser.app.devices import DeviceDesk
from sanitiser.app.services import Services, build_services
from sanitiser.assets.model import DeviceState
from sanitiser.certificate.sign import parse_envelope
from sanitiser.config import Settings
from sanitiser.netboot.build import BuildResult
from sanitiser.runner import SubprocessRunner
from sanitiser.testing import FakeDriveSource
from tests.integration.agent_rig import wait_until
from tests.lab import donor
from tests.lab.drivelab import SLACK, ImageVerdict, image_state
from tests.served import served_dir

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

BOOTED_S = 900.0
"""How long the donor may take to boot and say hello (TCG on a shared machine)."""


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return build_services(Settings(data_dir=tmp_path / "data"), lab=False, real=FakeDriveSource())


class Donor:
    """The donor guest, booted (again) from what the bench serves, in the background."""

    def __init__(self, serving: AgentServing, workdir: Path, sata_bps: int = 0) -> None:
        self.serving = serving
        self.workdir = workdir
        self.sata_bps = sata_bps
        self.guest: subprocess.Popen[bytes] | None = None

    def power_on(self) -> None:
        """Boot it over the network (its drives keep what the last boot left)."""
        assert self.serving.server is not None
        boot = donor.pxe_user_net(self.serving.server.tftp_root, "boot.ipxe")
        argv = donor.donor_argv(self.workdir, boot, sata_bps=self.sata_bps)
        self.guest = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )

    def power_off(self) -> None:
        """Pull the plug (QEMU killed: no shutdown, no last report)."""
        if self.guest is not None:
            self.guest.kill()
            self.guest.wait()
            self.guest = None

    def console_tail(self) -> str:
        return (self.workdir / "console.log").read_text(errors="replace")[-3000:]


@pytest.fixture
def serving(netboot_image: BuildResult, services: Services) -> Iterator[AgentServing]:
    """The bench serving on QEMU's user networking (its DHCP and TFTP; the host is 10.0.2.2)."""
    with served_dir() as work:
        bench = AgentServing(
            services,
            image=netboot_image.kernel.parent,
            work=work,
            runner=SubprocessRunner(),
            advertise="10.0.2.2",  # QEMU's user networking takes it to the host's loopback
            bind="127.0.0.1",
            http_port=0,
            agent_port=0,
        )
        bench.start()
        try:
            yield bench
        finally:
            bench.stop()


def test_a_donor_powered_off_mid_erase_gets_no_outcome_and_is_interrupted_at_its_next_boot(
    serving: AgentServing, services: Services, tmp_path: Path
) -> None:
    """The SATA drive's writes are capped (1 MiB/s: its 48 MiB overwrite takes a minute), the
    plug is pulled once the erase has started, the job stays without an outcome; the donor
    boots again and the job is recorded interrupted, with no certificate."""
    service = serving.service
    assert service is not None
    workdir = tmp_path / "donor"
    donor.prepare(workdir)
    laptop = Donor(serving, workdir, sata_bps=1 << 20)
    laptop.power_on()
    try:
        wait_until(lambda: len(service.bench.drives()) == 2, "the donor's hello", BOOTED_S)
        [sata] = [r for r in service.bench.drives() if r.drive.serial == donor.SATA_SERIAL]
        [job_id] = service.bench.start(
            [sata.drive.path], operator="mia", confirmed={sata.drive.path: sata.shown}
        )
        wait_until(
            lambda: (v := services.store.job(job_id)) is not None and v.state == "sanitising",
            "the erase started",
            BOOTED_S,
        )
        laptop.power_off()
        view = services.store.job(job_id)
        assert view is not None
        assert view.state == "sanitising"  # nothing invented for it
        assert services.store.certificate_for_job(job_id) is None
        assert image_state(workdir / "sata.img").verdict is not ImageVerdict.ZEROED
        laptop.power_on()
        wait_until(
            lambda: (v := services.store.job(job_id)) is not None and v.state == "interrupted",
            "the job recorded interrupted",
            BOOTED_S,
        )
    except BaseException:
        print(laptop.console_tail())
        raise
    finally:
        laptop.power_off()
    view = services.store.job(job_id)
    assert view is not None
    assert view.state == "interrupted"
    assert services.store.certificate_for_job(job_id) is None


@pytest.fixture
def donor_running(serving: AgentServing, tmp_path: Path) -> Iterator[Donor]:
    """The donor booting from what the bench serves, in the background; powered off after."""
    workdir = tmp_path / "donor"
    donor.prepare(workdir)
    laptop = Donor(serving, workdir)
    laptop.power_on()
    try:
        yield laptop
    finally:
        laptop.power_off()


def test_a_donor_boots_is_found_wiped_on_the_go_and_certified(
    donor_running: Donor, serving: AgentServing, services: Services
) -> None:
    workdir = donor_running.workdir
    console_tail = donor_running.console_tail
    service = serving.service
    assert service is not None
    desk = DeviceDesk(services, "mia")
    desk.intake(kind="laptop", tag="NB-0042", serial="NB-SN-0042", make="SanitiserLab")

    def both_drives_planned() -> bool:
        drives = service.bench.drives()
        return len(drives) == 2 and all(d.shown for d in drives)

    try:
        wait_until(both_drives_planned, "the donor's hello with two planned drives", BOOTED_S)
        wait_until(lambda: service.computers()[0].attachment is not None, "its device found")
    except BaseException:
        print(console_tail())
        raise
    [host] = service.computers()
    assert host.tag == "NB-0042", host.attachment
    device = desk.report("NB-0042").device
    assert device.inventory_source == "agent"
    assert device.inventory is not None
    assert device.inventory.system.serial == "NB-SN-0042"
    assert sorted(d.serial for d in device.drives) == [donor.NVME_SERIAL, donor.SATA_SERIAL]

    remotes = service.bench.drives()
    assert not any(r.protected for r in remotes)
    jobs = service.bench.start(
        [r.drive.path for r in remotes],
        operator="mia",
        confirmed={r.drive.path: r.shown for r in remotes},
    )
    ok = service.jobs.wait(jobs, timeout=BOOTED_S * SLACK)
    assert ok, console_tail()
    certificates = []
    for job_id in jobs:
        view = services.store.job(job_id)
        assert view is not None
        assert view.state == "routed", (view.detail, console_tail())
        envelope = services.store.certificate_record(view.detail["certificate_id"])
        assert envelope is not None
        certificates.append(parse_envelope(envelope).record)
    for record in certificates:
        assert record["device"]["property_number"] == "NB-0042"
        assert record["sanitisation"]["captured"] == "on-device"
        assert record["outcome"]["status"] == "sanitised"
    # the backing files prove it: no block of the lab's pattern is left on either drive
    for image in ("nvme.img", "sata.img"):
        state = image_state(workdir / image)
        assert state.verdict in (ImageVerdict.ZEROED, ImageVerdict.OVERWRITTEN), (image, state)
    wait_until(
        lambda: desk.report("NB-0042").device.state is DeviceState.SANITISED,
        "the device sanitised",
    )
