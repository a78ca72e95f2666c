"""Network boot on a real segment with dnsmasq in proxy-DHCP mode, in the QEMU lab (TCG).

The segment is a bridge of the test's own. On it, in a network namespace, an ordinary DHCP
server (a plain dnsmasq) hands out addresses: "the network's own DHCP server", left alone. Our
`NetbootServer` runs dnsmasq in proxy mode on the bridge: it gives no address, only what to
boot. The donor guest is on a tap port of the bridge with QEMU's PXE ROM (iPXE) and no
-kernel: it must get its address from the namespace's server, the boot script by TFTP from our
proxy, the kernel and image over our HTTP, and run the agent's entry point (the self-test).

Needs bridges, veth pairs, network namespaces and tap devices (root, CAP_NET_ADMIN,
/dev/net/tun); where the kernel or container forbids one, the test is skipped with the command
and what it said.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sanitiser.netboot.build import BuildResult
from sanitiser.netboot.serve import AgentEndpoint, NetbootServer
from sanitiser.runner import SubprocessRunner
from tests.lab import donor
from tests.served import served_dir

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

BRIDGE, TAP, VETH, PEER, NETNS = "snbr0", "sntap0", "snv0", "snv1", "snlan"
BENCH_IP, LAN_IP = "10.98.0.1", "10.98.0.2"


def _ip(*args: str, skip: bool = False) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = f"'ip {' '.join(args)}' failed: {result.stderr.strip()}"
        if skip:
            pytest.skip(f"this kernel/container does not allow the test network: {said}")
        raise AssertionError(said)


def _cleanup() -> None:
    for args in (["link", "del", TAP], ["link", "del", VETH], ["link", "del", BRIDGE]):
        subprocess.run(["ip", *args], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)


@pytest.fixture(scope="module")
def segment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bridge, the namespace's DHCP server behind a veth pair, a tap for the guest."""
    work = tmp_path_factory.mktemp("segment")
    _cleanup()
    try:
        _ip("link", "add", BRIDGE, "type", "bridge", skip=True)
        _ip("netns", "add", NETNS, skip=True)
        _ip("tuntap", "add", "dev", TAP, "mode", "tap", skip=True)
        _ip("link", "add", VETH, "type", "veth", "peer", "name", PEER, skip=True)
        _ip("link", "set", PEER, "netns", NETNS, skip=True)
        _ip("addr", "add", f"{BENCH_IP}/24", "dev", BRIDGE)
        for dev in (VETH, TAP):
            _ip("link", "set", dev, "master", BRIDGE)
            _ip("link", "set", dev, "up")
        _ip("link", "set", BRIDGE, "up")
        _ip("-n", NETNS, "addr", "add", f"{LAN_IP}/24", "dev", PEER)
        _ip("-n", NETNS, "link", "set", PEER, "up")
        lan_log = work / "lan-dhcp.log"
        lan = subprocess.Popen(
            [
                *("ip", "netns", "exec", NETNS, "/usr/sbin/dnsmasq", "--keep-in-foreground"),
                *("--port=0", f"--interface={PEER}", "--bind-interfaces", "--pid-file="),
                "--dhcp-range=10.98.0.100,10.98.0.150,255.255.255.0,1h",
                f"--dhcp-leasefile={work / 'leases'}",
                f"--log-facility={lan_log}",
                "--log-dhcp",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield work
        finally:
            lan.terminate()
            lan.wait(60)
    finally:
        _cleanup()


@pytest.fixture(scope="module", params=["ipxe-rom", "uefi-pxe"])
def proxy_boot(
    segment: Path, netboot_image: BuildResult, request: pytest.FixtureRequest
) -> Iterator[tuple[donor.Boot, NetbootServer, str]]:
    """One donor boot through our proxy-DHCP on the bridge: by the card's iPXE ROM (BIOS), or
    by the firmware's own UEFI PXE, which our proxy gives ``ipxe.efi`` to chain through."""
    workdir = segment / f"donor-{request.param}"
    donor.prepare(workdir)
    creds = workdir / "creds"
    creds.mkdir()
    (creds / "session.json").write_text("{}\n")
    with served_dir() as work:
        server = NetbootServer(
            image=netboot_image.kernel.parent,
            work=work,
            endpoint=AgentEndpoint(f"https://{BENCH_IP}:8443", creds),
            runner=SubprocessRunner(),
            interface=BRIDGE,
            port=0,
            kernel_args={"sanitiser.selftest": "inventory"},
        )
        server.start()
        try:
            if request.param == "uefi-pxe":
                argv = donor.donor_argv(
                    workdir, donor.uefi_pxe_tap(TAP), firmware=donor.Firmware.UEFI
                )
            else:
                argv = donor.donor_argv(workdir, donor.pxe_tap(TAP))
            boot = donor.boot(argv, workdir)
            print(f"proxy-DHCP network boot ({request.param}) to powered off: {boot.seconds:.0f} s")
            yield boot, server, request.param
        finally:
            server.stop()


def test_proxy_dhcp_boots_the_donor(proxy_boot: tuple[donor.Boot, NetbootServer, str]) -> None:
    """The donor ran the agent's entry point, which names its serial and both drives."""
    boot, _, _ = proxy_boot
    assert not boot.timed_out, boot.console[-4000:]
    report = boot.selftest()
    assert report["inventory"]["system"]["serial"] == "NB-SN-0042"
    drives = donor.drives_by_serial(report)
    assert {donor.NVME_SERIAL, donor.SATA_SERIAL} <= set(drives)


def test_address_came_from_the_networks_own_server(
    proxy_boot: tuple[donor.Boot, NetbootServer, str], segment: Path
) -> None:
    """Proxy mode handed out no address: the donor's lease is the namespace server's; our
    dnsmasq answered as a proxy and sent the boot script by TFTP."""
    boot, server, how = proxy_boot
    assert re.search(r"network: eth0 10\.98\.0\.1[0-5][0-9]\n", boot.console), boot.console[-3000:]
    assert "DHCPACK" in (segment / "lan-dhcp.log").read_text()
    log = server.dnsmasq_log
    assert "proxy" in log
    assert "sent" in log
    assert "boot.ipxe" in log
    assert "DHCPACK" not in log  # our dnsmasq never leased an address
    if how == "uefi-pxe":  # the firmware's own PXE was given iPXE first, which then asked
        assert "ipxe.efi" in log, log[-3000:]
        assert boot.selftest()["inventory"]["secure_boot"] == "disabled"
    else:  # iPXE from the card's ROM asked for the script at once
        assert "ipxe.efi" not in log, log[-3000:]
