"""The agent's end of the channel: reports numbered and delivered in order, to the bench over
mutual TLS (`BenchLink`) or to signed evidence on the stick (`EvidenceFile`).

`Reporter` keeps an outbox drained by one thread. A report is sent until the bench has it: a
lost connection pauses delivery (the report waits and is tried again; the agent goes on with
its work), a report is never dropped, reordered or made up. The bench's "replayed" answer to a
report it already has (its reply was lost on the way back) counts as delivered.
"""

from __future__ import annotations

import http.client
import logging
import os
import ssl
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec

from sanitiser.agent.credentials import AgentCredentials, server_name
from sanitiser.agent.protocol import Order, Report, ReportKind, loads, order_from_json, sign_line
from sanitiser.errors import SanitiserError

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 60.0
"""Seconds one request to the bench may take before the connection counts as lost."""
RETRY_S = 1.0
"""First pause before a report is tried again; doubled up to `RETRY_MAX_S`."""
RETRY_MAX_S = 10.0


class ChannelDown(SanitiserError):
    """The bench cannot be reached now (the report waits)."""


class ReportRefused(SanitiserError):
    """The bench refused a report (it says why); the agent stops reporting on that channel."""


class Channel(Protocol):
    """Where reports go."""

    def deliver(self, report: Report) -> None:
        """Hand over one report. Raises `ChannelDown` (try again) or `ReportRefused`."""
        ...


def new_agent_id() -> str:
    """The id of this boot of the agent (a new one every start)."""
    return uuid.uuid4().hex


class _SessionConnection(http.client.HTTPSConnection):
    """HTTPS that asks for the session's server name (SNI) and checks the bench by it."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, sni: str) -> None:
        super().__init__(host, port, timeout=REQUEST_TIMEOUT_S, context=context)
        self._sni = sni
        self._ctx = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._ctx.wrap_socket(self.sock, server_hostname=self._sni)


class BenchLink:
    """HTTPS with mutual TLS to the bench that booted us (a `Channel`, and the orders).

    Args:
        url: ``https://HOST:PORT`` of the bench's receiver.
        credentials: the session's credentials (``--credentials DIR``).
    """

    def __init__(self, url: str, credentials: AgentCredentials) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise SanitiserError(f"the bench URL must be https://HOST:PORT, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 443
        self.credentials = credentials
        self._context = credentials.client_context()
        self._sni = server_name(credentials.session_id)

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
        conn = _SessionConnection(self.host, self.port, self._context, self._sni)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise ChannelDown(
                f"the bench at {self.host}:{self.port} is not reachable: {exc}"
            ) from exc
        finally:
            conn.close()
        return response.status, loads(data, "the bench's reply") if data else {}

    def deliver(self, report: Report) -> None:
        """POST the report; delivered, or `ChannelDown` / `ReportRefused`."""
        status, reply = self._request("POST", "/v1/reports", report.encode())
        if status == 200:
            return
        refused = str(reply.get("refused", "")) if isinstance(reply, Mapping) else ""
        expected = reply.get("expected") if isinstance(reply, Mapping) else None
        if status == 409 and isinstance(expected, int) and expected > report.seq:
            return  # the bench has it already: its reply to us was lost
        raise ReportRefused(f"the bench refused report {report.seq}: {refused or status}")

    def orders(self, agent: str) -> list[Order]:
        """The orders waiting for this agent."""
        status, reply = self._request("GET", f"/v1/orders?agent={agent}")
        if status != 200 or not isinstance(reply, list):
            raise ChannelDown(f"the bench did not give the orders (HTTP {status})")
        return [order_from_json(o) for o in reply]


class EvidenceFile:
    """Offline: each report a signed line appended to a file on the stick (fsync'd), so the
    bench can check at import that nothing was altered, dropped or reordered."""

    def __init__(self, path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        self.path = path
        self._key = key
        self._lock = threading.Lock()

    def deliver(self, report: Report) -> None:
        """Append the report's signed line and sync it to the stick."""
        line = sign_line(report, self._key)
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise ChannelDown(f"the evidence cannot be written to {self.path}: {exc}") from exc


class Reporter:
    """Numbers reports (from 1) and delivers them in order through `channel` (see the module).

    Args:
        channel: the bench, or the stick.
        session: the session id.
        agent: this boot's agent id.
    """

    def __init__(self, channel: Channel, session: str, agent: str) -> None:
        self.channel = channel
        self.session = session
        self.agent = agent
        self._lock = threading.Condition()
        self._outbox: deque[Report] = deque()
        self._next = 1
        self._delivered = 0
        self._stopped = False
        self.refused = ""
        """Why the bench refused a report ("" while none was): reporting has stopped."""
        self.paused = ""
        """Why delivery is paused now ("" while it flows)."""
        self._thread = threading.Thread(target=self._drain, name="agent-reporter", daemon=True)
        self._thread.start()

    def report(self, kind: ReportKind, body: Mapping[str, Any]) -> int:
        """Queue a report; its number."""
        with self._lock:
            seq = self._next
            self._next += 1
            self._outbox.append(Report(self.session, self.agent, seq, kind, dict(body)))
            self._lock.notify_all()
            return seq

    def wait_delivered(self, seq: int, timeout: float | None = None) -> bool:
        """Wait until report `seq` is delivered (True), or the timeout / a refusal (False)."""
        with self._lock:
            return (
                self._lock.wait_for(
                    lambda: self._delivered >= seq or bool(self.refused) or self._stopped, timeout
                )
                and self._delivered >= seq
            )

    def _drain(self) -> None:
        pause = RETRY_S
        while True:
            with self._lock:
                self._lock.wait_for(lambda: bool(self._outbox) or self._stopped)
                if self._stopped:
                    return
                report = self._outbox[0]
            try:
                self.channel.deliver(report)
            except ChannelDown as exc:
                self.paused = exc.msg
                log.warning("reporting paused: %s", exc.msg)
                with self._lock:
                    self._lock.wait_for(lambda: self._stopped, pause)
                pause = min(pause * 2, RETRY_MAX_S)
                continue
            except ReportRefused as exc:
                log.error("%s: reporting stops", exc.msg)
                with self._lock:
                    self.refused = exc.msg
                    self._lock.notify_all()
                return
            pause = RETRY_S
            with self._lock:
                self.paused = ""
                self._outbox.popleft()
                self._delivered = report.seq
                self._lock.notify_all()

    def close(self) -> None:
        """Stop delivering (what is still queued is not sent)."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._thread.join()
