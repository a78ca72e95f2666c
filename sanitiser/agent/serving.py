"""One serve session on the bench: the agent receiver and the network boot, together.

`AgentServing` mints the session's credentials (`AgentService.mint_session`), starts the
mutual-TLS receiver on the bench network's address, and serves the boot image with those
credentials packed into the session's initrd (`sanitiser.netboot.serve.NetbootServer`, dnsmasq
in proxy-DHCP + TFTP mode, iPXE chaining to HTTP). The bench's TUI shows the computers that boot
(``sanitiser tui --serve-agents IF``); stopping the session stops both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sanitiser.agent.service import AgentService
from sanitiser.app.services import Services
from sanitiser.netboot.serve import AgentEndpoint, NetbootServer, interface_address
from sanitiser.runner import CommandRunner

AGENT_PORT = 8443
"""The receiver's port on the bench network (the boot files are on HTTP 8080)."""


@dataclass(slots=True)
class AgentServing:
    """The receiver and network boot of one serve session (see the module's docstring).

    Args:
        services: the bench's services (its store, signing identity, policies).
        image: the built boot image (``sanitiser agent build``).
        work: the session's files (TFTP root, dnsmasq's configuration, the credentials).
        runner: runs ``ip`` and dnsmasq.
        interface: the bench's boot network interface; None with `advertise` for QEMU's user
            networking (which answers DHCP and TFTP itself).
        advertise: the address donors reach the bench at (default: the interface's).
        bind: the address the receiver listens on (default: `advertise`).
    """

    services: Services
    image: Path
    work: Path
    runner: CommandRunner
    interface: str | None = None
    advertise: str = ""
    bind: str = ""
    http_port: int = 8080
    agent_port: int = AGENT_PORT
    service: AgentService | None = None
    server: NetbootServer | None = None
    log_lines: list[str] = field(default_factory=list)
    _endpoint: AgentEndpoint | None = None

    def start(self) -> AgentService:
        """Mint the session, start the receiver and the network boot; the agent service.

        Raises:
            ServeError: the interface, the port, dnsmasq or the image is missing (the
                message says which); nothing is left running.
        """
        if self.interface is not None and not self.advertise:
            self.advertise = interface_address(self.runner, self.interface).split("/")[0]
        address = self.bind or self.advertise or "127.0.0.1"
        service = AgentService(self.services, host=address, port=self.agent_port)
        credentials = self.work / "credentials"
        service.mint_session(credentials)
        service.start()
        port = service.url.rsplit(":", 1)[1]
        self.service = service
        # the receiver outlives the network boot: `pause` stops booting new computers while
        # the ones booted go on reporting; `stop` ends both
        self._endpoint = AgentEndpoint(f"https://{self.advertise or address}:{port}", credentials)
        try:
            self.resume()
        except BaseException:
            self.stop()
            raise
        return service

    @property
    def booting(self) -> bool:
        """True while computers can network-boot from this session."""
        return self.server is not None

    def resume(self) -> None:
        """Serve the network boot (again), with the session's credentials.

        Raises:
            ServeError: as `start`; the receiver goes on.
        """
        if self.server is not None or self._endpoint is None:
            return
        server = NetbootServer(
            image=self.image,
            work=self.work,
            endpoint=self._endpoint,
            runner=self.runner,
            interface=self.interface,
            port=self.http_port,
            advertise=self.advertise,
            log=self.log_lines.append,
        )
        server.start()
        self.server = server

    def pause(self) -> None:
        """Stop the network boot (dnsmasq, HTTP); the computers booted go on reporting."""
        server, self.server = self.server, None
        if server is not None:
            server.stop()

    def stop(self) -> None:
        """Stop the network boot and the receiver (idempotent)."""
        self.pause()
        service, self.service = self.service, None
        if service is not None:
            service.stop()
