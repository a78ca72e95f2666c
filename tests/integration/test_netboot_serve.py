"""Serving the boot image: the HTTP file server over real sockets, the per-session overlay
unpacked by GNU cpio, dnsmasq really started (proxy-DHCP + TFTP) on a bridge of its own and its
TFTP answered to busybox's client, and the clear errors (no interface, no address, port taken,
dnsmasq missing or refusing, no image)."""

from __future__ import annotations

import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from sanitiser.netboot.serve import AgentEndpoint, NetbootServer, ServeError, session_overlay
from sanitiser.runner import SubprocessRunner
from tests.cli import run_sanitiser
from tests.served import served_dir

DUMMY = "sntnb0"


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A stand-in image directory (the files are served as bytes; nothing boots here)."""
    d = tmp_path / "image"
    d.mkdir()
    (d / "vmlinuz").write_bytes(b"KERNEL" * 1000)
    (d / "initrd.gz").write_bytes(b"INITRD" * 1000)
    return d


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    """A stand-in directory of the agent's credential files."""
    d = tmp_path / "creds"
    d.mkdir()
    for name in ("ca.pem", "agent.pem", "agent.key", "session.json"):
        (d / name).write_text(f"stand-in {name}\n")
    return d


MakeServer = Callable[..., NetbootServer]


@pytest.fixture
def make_server() -> Iterator[MakeServer]:
    """Servers over the given image and credentials, each in a session directory of its own
    (all removed afterwards); HTTP on a free port of 127.0.0.1 unless told otherwise."""
    with ExitStack() as stack:

        def make(image: Path, credentials: Path, **kw: object) -> NetbootServer:
            defaults: dict[str, object] = {
                "port": 0,
                "bind": "127.0.0.1",
                "advertise": "127.0.0.1",
            }
            return NetbootServer(
                image=image,
                work=stack.enter_context(served_dir()),
                endpoint=AgentEndpoint("https://10.0.2.2:8443", credentials),
                runner=SubprocessRunner(),
                **(defaults | kw),  # type: ignore[arg-type]
            )

        yield make


def test_session_overlay_unpacks_the_credentials(credentials: Path, tmp_path: Path) -> None:
    """Every credential file lands in /etc/sanitiser/agent; the key is readable by root only."""
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(
        ["sh", "-c", "gzip -dc | cpio -id --quiet"],
        input=session_overlay(credentials, 0),
        cwd=out,
        check=True,
    )
    agent = out / "etc/sanitiser/agent"
    assert sorted(p.name for p in agent.iterdir()) == [
        "agent.key",
        "agent.pem",
        "ca.pem",
        "session.json",
    ]
    assert (agent / "agent.key").stat().st_mode & 0o777 == 0o600
    assert (agent / "ca.pem").read_text() == "stand-in ca.pem\n"


def test_session_overlay_refuses_an_empty_directory(tmp_path: Path) -> None:
    """No credentials is an error, never an overlay with nothing in it."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(ServeError, match="holds no files"):
        session_overlay(tmp_path / "empty", 0)
    with pytest.raises(ServeError, match="not a directory"):
        session_overlay(tmp_path / "missing", 0)


def test_http_serves_the_named_files_only(
    make_server: MakeServer, image: Path, credentials: Path
) -> None:
    """The kernel, initramfs, session overlay and script over HTTP; anything else is 404;
    after stop the port is closed."""
    server = make_server(image, credentials)
    server.start()
    try:
        base = server.url
        with urllib.request.urlopen(f"{base}/vmlinuz", timeout=60) as r:
            assert r.read() == b"KERNEL" * 1000
        with urllib.request.urlopen(f"{base}/boot.ipxe", timeout=60) as r:
            script = r.read().decode()
        assert script == (server.tftp_root / "boot.ipxe").read_text()
        assert f"kernel {base}/vmlinuz" in script
        assert "sanitiser.bench=https://10.0.2.2:8443" in script
        with urllib.request.urlopen(f"{base}/session.cpio.gz", timeout=60) as r:
            assert r.read()[:2] == b"\x1f\x8b"
        for path in ("/etc/passwd", "/../image/vmlinuz", "/nothing"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + path, timeout=60)
            assert e.value.code == 404
    finally:
        server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{base}/vmlinuz", timeout=60)


def test_port_in_use_is_a_clear_error(
    make_server: MakeServer, image: Path, credentials: Path
) -> None:
    """A taken HTTP port says so and names --port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ServeError, match=f"HTTP port {port} is in use"):
            make_server(image, credentials, port=port).start()


def test_missing_interface_is_a_clear_error(
    make_server: MakeServer, image: Path, credentials: Path
) -> None:
    """An interface that does not exist is named (the real ip command says so)."""
    with pytest.raises(ServeError, match="'nosuchnic9': no such network interface"):
        make_server(image, credentials, interface="nosuchnic9").start()


def test_missing_dnsmasq_is_a_clear_error(
    make_server: MakeServer, image: Path, credentials: Path
) -> None:
    """dnsmasq not installed: the error says how to install it; HTTP is stopped again."""
    server = make_server(image, credentials, interface="lo", dnsmasq="dnsmasq-not-installed")
    with pytest.raises(ServeError, match="dnsmasq-not-installed is not installed"):
        server.start()
    assert server._http is None


def test_missing_image_is_a_clear_error(
    make_server: MakeServer, tmp_path: Path, credentials: Path
) -> None:
    """No image built: the error says to build it."""
    with pytest.raises(ServeError, match="sanitiser agent build"):
        make_server(tmp_path, credentials).start()


def test_cli_serve_errors_are_one_line(image: Path, credentials: Path, tmp_path: Path) -> None:
    """`sanitiser agent serve` with no such interface, and without the agent's side, exits 2
    with one line (no traceback)."""
    r = run_sanitiser(
        "agent", "serve", "--interface", "nosuchnic9", "--image", str(image),
        "--bench", "https://10.0.2.2:8443", "--credentials", str(credentials),
        "--work", str(tmp_path / "w"),
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "sanitiser: interface 'nosuchnic9': no such network interface"
    r = run_sanitiser("agent", "serve", "--interface", "lo", "--image", str(image))
    assert r.returncode == 2
    assert "give --bench URL and --credentials DIR" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.fixture
def dummy_interface() -> Iterator[str]:
    """A network interface of our own (an empty bridge: this kernel has no dummy driver),
    removed afterwards (root)."""
    subprocess.run(["ip", "link", "del", DUMMY], capture_output=True, check=False)
    subprocess.run(["ip", "link", "add", DUMMY, "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "link", "set", DUMMY, "up"], check=True)
        yield DUMMY
    finally:
        subprocess.run(["ip", "link", "del", DUMMY], check=False)


@pytest.mark.root
@pytest.mark.serial
def test_interface_without_ipv4_is_a_clear_error(
    make_server: MakeServer, image: Path, credentials: Path, dummy_interface: str
) -> None:
    """An interface with no IPv4 address cannot serve proxy-DHCP: said so."""
    with pytest.raises(ServeError, match=f"'{dummy_interface}' has no IPv4 address"):
        make_server(image, credentials, interface=dummy_interface).start()


@pytest.mark.root
@pytest.mark.serial
def test_dnsmasq_serves_tftp_in_proxy_mode(
    make_server: MakeServer, image: Path, credentials: Path, dummy_interface: str
) -> None:
    """dnsmasq starts in proxy-DHCP mode on the interface; its TFTP hands busybox's client the
    same iPXE script HTTP serves; after stop the TFTP port is free again, and with it taken
    dnsmasq's own reason is the error."""
    subprocess.run(["ip", "addr", "add", "10.99.0.1/24", "dev", dummy_interface], check=True)
    kw: dict[str, object] = {"interface": dummy_interface, "bind": "10.99.0.1", "advertise": ""}
    ports: dict[str, object] = {"dhcp_port": 16767}
    server = make_server(image, credentials, **kw, **ports)
    server.start()
    try:
        assert server.url.startswith("http://10.99.0.1:")
        log = server.dnsmasq_log
        assert "started, version" in log
        assert "DNS disabled" in log
        assert "proxy on subnet 10.99.0.0" in log
        out = server.work / "fetched.ipxe"
        subprocess.run(
            ["busybox", "tftp", "-g", "-r", "boot.ipxe", "-l", str(out), "10.99.0.1"],
            check=True,
            timeout=60,
        )
        assert out.read_text() == (server.tftp_root / "boot.ipxe").read_text()
        assert "#!ipxe" in out.read_text()
    finally:
        server.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("10.99.0.1", 69))  # free again after stop; now taken by someone else
        clash = make_server(image, credentials, **kw, **ports)
        try:
            with pytest.raises(
                ServeError, match=r"dnsmasq did not start on sntnb0: .*Address already in use"
            ):
                clash.start()
            assert clash._http is None
        finally:
            clash.stop()
