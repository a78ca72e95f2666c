"""Serve the boot image on the bench's network (shell): an HTTP file server for the large
files, dnsmasq in proxy-DHCP + TFTP mode for the PXE ROMs, and the per-session overlay.

`NetbootServer.start` checks what it needs and fails with one clear sentence (no such interface,
no IPv4 address on it, the port taken, dnsmasq not installed or refusing to start, no image
built), then serves until `stop`. The agent's side (its credentials and the bench URL it dials)
comes in through one value, `AgentEndpoint`: the serve command builds it from the agent
package's session minting and receiver.
"""

from __future__ import annotations

import errno
import http.server
import ipaddress
import json
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sanitiser.errors import SanitiserError
from sanitiser.netboot import cpio, texts
from sanitiser.netboot.spec import CREDENTIALS_DIR
from sanitiser.runner import CommandRunner

IPXE_DIR = Path("/usr/lib/ipxe")
"""Debian's ``ipxe`` package: iPXE for ordinary PXE ROMs (BIOS undionly.kpxe, UEFI ipxe.efi)."""
IPXE_BINARIES = ("undionly.kpxe", "ipxe.efi")
DNSMASQ_START_WAIT = 60.0
"""Seconds to wait for dnsmasq to say it started (or exit with its reason)."""


class ServeError(SanitiserError):
    """Network boot could not be served (the message says what is missing)."""


@dataclass(frozen=True, slots=True)
class AgentEndpoint:
    """The seam to the agent's side: where booted agents report, and their credentials.

    `credentials` is a directory of files (``ca.pem``, ``agent.pem``, ``agent.key``,
    ``session.json``) packed into the per-session initrd at /etc/sanitiser/agent; `bench_url`
    goes on the kernel command line as ``sanitiser.bench=``.
    """

    bench_url: str
    credentials: Path
    stop: Callable[[], None] = field(default=lambda: None)
    """Called once by `NetbootServer.stop` (the receiver's stop)."""


def session_overlay(credentials: Path, epoch: int) -> bytes:
    """The per-session initrd: every file of `credentials` under /etc/sanitiser/agent (keys
    mode 0600), gzip-compressed newc.

    Raises:
        ServeError: the directory is missing or empty.
    """
    if not credentials.is_dir():
        raise ServeError(f"agent credentials: {credentials} is not a directory")
    entries = [
        cpio.regular(
            f"{CREDENTIALS_DIR}/{f.name}",
            f.read_bytes(),
            0o600 if f.name.endswith(".key") else 0o644,
        )
        for f in sorted(credentials.iterdir())
        if f.is_file()
    ]
    if not entries:
        raise ServeError(f"agent credentials: {credentials} holds no files")
    return cpio.gzip_archive(cpio.newc_archive(entries, epoch))


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET/HEAD of the server's few named files; nothing else, no directory listing."""

    server: FileServer

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        path = self.server.files.get(self.path.split("?", 1)[0].lstrip("/"))
        if path is None:
            self.send_error(404)
            return
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if body:
            with path.open("rb") as f:
                shutil.copyfileobj(f, self.wfile, 1 << 16)

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log(f"http {self.client_address[0]}: {format % args}")


class FileServer(http.server.ThreadingHTTPServer):
    """A threaded HTTP server of a fixed name -> file mapping."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], files: Mapping[str, Path], log: Callable[[str], None]
    ) -> None:
        self.files = dict(files)
        self.log = log
        super().__init__(address, _Handler)


def interface_address(runner: CommandRunner, interface: str) -> str:
    """The first IPv4 address of `interface` with its prefix (``ip -j -4 addr``).

    Raises:
        ServeError: no such interface, or it has no IPv4 address.
    """
    result = runner.run(("ip", "-j", "-4", "addr", "show", "dev", interface), timeout=30)
    if result.returncode == 127:
        raise ServeError("the ip command (iproute2) is not installed")
    if not result.ok:
        raise ServeError(f"interface {interface!r}: no such network interface")
    try:
        found = json.loads(result.stdout or "[]")
        infos = [a for link in found for a in link.get("addr_info", [])]
        first = next(a for a in infos if a.get("family") == "inet")
        return str(ipaddress.IPv4Interface(f"{first['local']}/{first['prefixlen']}"))
    except StopIteration:
        raise ServeError(f"interface {interface!r} has no IPv4 address") from None
    except (ValueError, KeyError, TypeError) as e:
        raise ServeError(f"ip -j addr: output not understood ({e})") from e


@dataclass(slots=True)
class NetbootServer:
    """One serve session: files in `work`, HTTP on `port`, dnsmasq on `interface`.

    With `interface` None no DHCP/TFTP daemon runs (QEMU's user networking answers DHCP and
    TFTP itself in the lab); `advertise` is the address the donor reaches the HTTP server at
    (default: the interface's address).
    """

    image: Path
    work: Path
    endpoint: AgentEndpoint
    runner: CommandRunner
    interface: str | None = None
    port: int = 8080
    bind: str = ""
    advertise: str = ""
    dnsmasq: str = "dnsmasq"
    dhcp_port: int = 67
    epoch: int = 0
    kernel_args: Mapping[str, str] = field(default_factory=dict)
    """More ``key=value`` kernel arguments (e.g. ``sanitiser.selftest=inventory``)."""
    log: Callable[[str], None] = lambda _msg: None
    _http: FileServer | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _dnsmasq_result: list[Any] = field(default_factory=list)
    _endpoint_stopped: bool = False

    @property
    def tftp_root(self) -> Path:
        """The directory dnsmasq (or QEMU's built-in TFTP) serves."""
        return self.work / "tftp"

    @property
    def url(self) -> str:
        """The HTTP base URL the donor fetches from."""
        return f"http://{self.advertise}:{self.port}"

    def start(self) -> None:
        """Check, prepare the files, start HTTP and dnsmasq (see the module's docstring)."""
        files = {name: self.image / name for name in (texts.KERNEL_FILE, texts.INITRD_FILE)}
        for name, path in files.items():
            if not path.is_file():
                raise ServeError(
                    f"no {name} in {self.image}: build the image first (sanitiser agent build)"
                )
        address = interface_address(self.runner, self.interface) if self.interface else None
        if address is not None:
            self.advertise = self.advertise or address.split("/")[0]
        if not self.advertise:
            raise ServeError("no address to advertise: give an interface or an address")
        self.work.mkdir(parents=True, exist_ok=True)
        self.tftp_root.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o755)
        self.tftp_root.chmod(0o755)
        session = self.work / texts.SESSION_FILE
        session.write_bytes(session_overlay(self.endpoint.credentials, self.epoch))
        files[texts.SESSION_FILE] = session
        try:
            self._http = FileServer((self.bind or "0.0.0.0", self.port), files, self.log)  # noqa: S104 - the bench's boot network
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ServeError(
                    f"HTTP port {self.port} is in use (choose another with --port)"
                ) from e
            raise ServeError(f"HTTP server on {self.bind or '*'}:{self.port}: {e.strerror}") from e
        self.port = self._http.server_address[1]
        cmdline = texts.kernel_cmdline(
            {"sanitiser.bench": self.endpoint.bench_url, **self.kernel_args}
        )
        script = texts.ipxe_script(self.url, cmdline, (texts.INITRD_FILE, texts.SESSION_FILE))
        (self.tftp_root / texts.BOOT_SCRIPT).write_text(script)
        (self.tftp_root / texts.BOOT_SCRIPT).chmod(0o644)
        self._http.files[texts.BOOT_SCRIPT] = self.tftp_root / texts.BOOT_SCRIPT
        thread = threading.Thread(target=self._http.serve_forever, name="netboot-http", daemon=True)
        thread.start()
        self._threads.append(thread)
        self.log(f"HTTP: {self.url}/ ({', '.join(sorted(self._http.files))})")
        if self.interface is not None and address is not None:
            try:
                self._start_dnsmasq(self.interface, address)
            except ServeError:
                self.stop()
                raise

    def _start_dnsmasq(self, interface: str, address: str) -> None:
        which = getattr(self.runner, "which", None)
        if which is not None and which(self.dnsmasq) is None:
            raise ServeError(
                f"{self.dnsmasq} is not installed (scripts/install-system.sh installs dnsmasq-base)"
            )
        for name in IPXE_BINARIES:
            if (IPXE_DIR / name).exists():
                shutil.copyfile(IPXE_DIR / name, self.tftp_root / name)
                (self.tftp_root / name).chmod(0o644)
        log_file = self.work / "dnsmasq.log"
        log_file.write_text("")
        log_file.chmod(0o666)
        conf = self.work / "dnsmasq.conf"
        conf.write_text(
            texts.dnsmasq_config(
                texts.ProxyDhcp(
                    interface,
                    address,
                    str(self.tftp_root),
                    str(log_file),
                    self.dhcp_port,
                )
            )
        )

        def run() -> None:
            self._dnsmasq_result.append(
                self.runner.run(
                    (self.dnsmasq, f"--conf-file={conf}", "--pid-file="),
                    cancelled=self._stop.is_set,
                )
            )

        thread = threading.Thread(target=run, name="netboot-dnsmasq", daemon=True)
        thread.start()
        self._threads.append(thread)
        deadline = time.monotonic() + DNSMASQ_START_WAIT
        while time.monotonic() < deadline:
            if "started, version" in log_file.read_text(errors="replace"):
                self.log(f"dnsmasq: proxy-DHCP + TFTP on {self.interface} ({address})")
                return
            if not thread.is_alive():
                break
            time.sleep(0.1)
        thread.join(5)
        said = log_file.read_text(errors="replace")
        if self._dnsmasq_result:
            said += self._dnsmasq_result[0].stderr
        tail = " / ".join(line.strip() for line in said.strip().splitlines()[-3:])
        raise ServeError(f"dnsmasq did not start on {self.interface}: {tail or 'no output'}")

    @property
    def dnsmasq_log(self) -> str:
        """What dnsmasq logged so far (DHCP and TFTP requests)."""
        path = self.work / "dnsmasq.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Stop dnsmasq, the HTTP server and the agent's endpoint; idempotent."""
        self._stop.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        for thread in self._threads:
            thread.join(30)
        self._threads.clear()
        if not self._endpoint_stopped:
            self._endpoint_stopped = True
            self.endpoint.stop()
