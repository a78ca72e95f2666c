"""A donor boots over the network from files our code serves, in the QEMU lab (TCG).

The guest has firmware identity, an NVMe and a SATA drive, and no -kernel/-initrd: QEMU's PXE
ROM (iPXE, pxe-e1000.rom) gets an address and the boot file name from user networking's DHCP,
fetches our iPXE script from its TFTP (our `NetbootServer`'s TFTP root), and the script chains
to our HTTP server at 10.0.2.2 for the kernel, the image and the per-session overlay. The image's
/init brings up DHCP and runs ``python3 -m sanitiser agent inventory`` (the self-test, until the
agent's ``run`` joins it): the report must name the -smbios serial and both drives.
"""

from __future__ import annotations

from typing import Any

import pytest

from sanitiser.netboot.build import BuildResult
from sanitiser.netboot.serve import AgentEndpoint, NetbootServer
from sanitiser.runner import SubprocessRunner
from tests.lab import donor
from tests.served import served_dir

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]


@pytest.fixture(scope="module", params=[donor.Firmware.BIOS, donor.Firmware.UEFI])
def pxe_boot(
    netboot_image: BuildResult,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> tuple[donor.Boot, list[str], donor.Firmware]:
    """One network boot of the donor per firmware (BIOS, and UEFI: OVMF with iPXE's UEFI
    driver for the card); the HTTP requests our server saw."""
    firmware: donor.Firmware = request.param
    workdir = tmp_path_factory.mktemp(f"pxe-{firmware.value}")
    donor.prepare(workdir)
    creds = workdir / "creds"
    creds.mkdir()
    for name in ("ca.pem", "agent.pem", "agent.key", "session.json"):
        (creds / name).write_text(f"stand-in {name}\n")
    requests: list[str] = []
    with served_dir() as work:
        server = NetbootServer(
            image=netboot_image.kernel.parent,
            work=work,
            endpoint=AgentEndpoint("https://10.0.2.2:8443", creds),
            runner=SubprocessRunner(),
            port=0,
            bind="127.0.0.1",  # QEMU's user networking takes 10.0.2.2 to the host's loopback
            advertise="10.0.2.2",
            kernel_args={"sanitiser.selftest": "inventory"},
            log=requests.append,
        )
        server.start()
        try:
            net = donor.pxe_user_net(server.tftp_root, "boot.ipxe", firmware)
            boot = donor.boot(donor.donor_argv(workdir, net, firmware=firmware), workdir)
        finally:
            server.stop()
    print(f"network boot ({firmware.value}) to powered off: {boot.seconds:.0f} s")
    assert not boot.timed_out, boot.console[-4000:]
    return boot, requests, firmware


def test_donor_boots_from_our_files_over_http(
    pxe_boot: tuple[donor.Boot, list[str], donor.Firmware],
) -> None:
    """iPXE fetched the kernel, the image and the session overlay from our HTTP server."""
    _, requests, _ = pxe_boot
    for name in ("vmlinuz", "initrd.gz", "session.cpio.gz"):
        assert any(f'"GET /{name} HTTP/1.1" 200' in r for r in requests), requests


def test_agent_entry_point_reports_the_donor(
    pxe_boot: tuple[donor.Boot, list[str], donor.Firmware],
) -> None:
    """Inside the guest, ``python3 -m sanitiser agent inventory`` names the firmware serial and
    both drives (by the serials QEMU gave them)."""
    boot, _, _ = pxe_boot
    report: dict[str, Any] = boot.selftest()
    system = report["inventory"]["system"]
    assert (system["vendor"], system["product"], system["serial"]) == (
        "SanitiserLab",
        "NetBook 13",
        "NB-SN-0042",
    )
    drives = donor.drives_by_serial(report)
    assert drives[donor.NVME_SERIAL]["transport"] == "nvme"
    assert drives[donor.NVME_SERIAL]["size_bytes"] == 64 << 20
    assert drives[donor.SATA_SERIAL]["transport"] == "sata"
    assert drives[donor.SATA_SERIAL]["size_bytes"] == 48 << 20


def test_guest_got_dhcp_and_the_session_credentials(
    pxe_boot: tuple[donor.Boot, list[str], donor.Firmware],
) -> None:
    """/init got a lease on the card that booted, and the overlay's credentials are in place."""
    boot, _, _ = pxe_boot
    assert "network: eth0 10.0.2.15" in boot.console
    assert "credentials: agent.key agent.pem ca.pem session.json" in boot.console


def test_the_firmware_is_the_one_asked(
    pxe_boot: tuple[donor.Boot, list[str], donor.Firmware],
) -> None:
    """The report's Secure Boot state is the firmware's: no UEFI under BIOS; UEFI with Secure
    Boot off (iPXE's UEFI driver is not signed by Microsoft: a computer with Secure Boot on
    boots the USB stick, whose loaders are)."""
    boot, _, firmware = pxe_boot
    expected = {donor.Firmware.BIOS: "unsupported", donor.Firmware.UEFI: "disabled"}
    assert boot.selftest()["inventory"]["secure_boot"] == expected[firmware]
