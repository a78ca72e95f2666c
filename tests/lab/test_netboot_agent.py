"""Issue 19's whole path in the QEMU lab (TCG): a donor laptop with no -kernel/-initrd boots
over the network from what the bench serves (`AgentServing`: the receiver's credentials packed
into the session's initrd, iPXE chaining to HTTP), its agent reports over mutual TLS, the bench
finds the device taken in by its firmware serial and records its facts, the technician's go
wipes both drives on the computer, the backing files prove the erase, the bench alone signs,
and each certificate names the device. Then the guest is powered off mid-life: nothing more is
invented for it.
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


@pytest.fixture
def donor_running(
    netboot_image: BuildResult, services: Services, tmp_path: Path
) -> Iterator[tuple[AgentServing, Path, list[str]]]:
    """The bench serving (user networking: QEMU's DHCP and TFTP, the host at 10.0.2.2) and the
    donor booting from it in the background; powered off and stopped afterwards."""
    workdir = tmp_path / "donor"
    donor.prepare(workdir)
    console: list[str] = []
    with served_dir() as work:
        serving = AgentServing(
            services,
            image=netboot_image.kernel.parent,
            work=work,
            runner=SubprocessRunner(),
            advertise="10.0.2.2",  # QEMU's user networking takes it to the host's loopback
            bind="127.0.0.1",
            http_port=0,
            agent_port=0,
        )
        serving.start()
        assert serving.server is not None
        argv = donor.donor_argv(workdir, donor.pxe_user_net(serving.server.tftp_root, "boot.ipxe"))
        guest = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        try:
            yield serving, workdir, console
        finally:
            guest.kill()
            guest.wait()
            console.append((workdir / "console.log").read_text(errors="replace"))
            serving.stop()


def test_a_donor_boots_is_found_wiped_on_the_go_and_certified(
    donor_running: tuple[AgentServing, Path, list[str]], services: Services
) -> None:
    serving, workdir, _console = donor_running
    service = serving.service
    assert service is not None
    desk = DeviceDesk(services, "mia")
    desk.intake(kind="laptop", tag="NB-0042", serial="NB-SN-0042", make="SanitiserLab")

    def console_tail() -> str:
        return (workdir / "console.log").read_text(errors="replace")[-3000:]

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
