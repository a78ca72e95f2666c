"""The bench's end of the agent channel: an HTTPS server with mutual TLS, per session.

Each session the bench minted (`AgentReceiver.admit`) gets its own TLS context, picked by the
server name the agent asks for (SNI): the session's server certificate, and client certificates
verified against that session's CA only. A connection without a client certificate, or with one
from another session or CA, fails its handshake and is logged as refused (``agent_report``).

Over the connection:

- ``POST /v1/reports``: one report. Its TLS identity must be the session's agent certificate
  and its ``session`` that session; its number must follow the agent's last accepted one
  (`judge_sequence`, judged and moved on in one store transaction); what it says must make
  sense to the bench (`ReportSink.check`: e.g. a job report names an order the bench sent).
  Accepted: 200 and the sink is told. Refused: 403 (forged), 400 (malformed), 409 (replayed or
  out of order, with the number expected) or 422 (not something the bench asked for); every
  refusal is logged with its reason.
- ``GET /v1/orders?agent=ID``: the orders waiting for that agent.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import ssl
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from sanitiser.agent.credentials import AgentSession, session_of_server_name
from sanitiser.agent.protocol import (
    MAX_REPORT_BYTES,
    Order,
    Report,
    ReportError,
    dumps,
    judge_sequence,
    parse_report,
)
from sanitiser.store import Store
from sanitiser.store.agents import accept_report, log_refused

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 60.0
"""How long a connection may take to finish its TLS handshake and send its request."""


class ReportSink(Protocol):
    """What the bench does with reports (the `AgentBench`)."""

    def check(self, session: AgentSession, report: Report) -> str:
        """Why the bench will not take this report ("" when it will). Called before the
        report's number is accepted: nothing is changed."""
        ...

    def accepted(self, session: AgentSession, report: Report) -> None:
        """A report was accepted (its number moved on): act on it. Must not block."""
        ...

    def orders_for(self, session: AgentSession, agent: str) -> Sequence[Order]:
        """The orders waiting for `agent`."""
        ...


def _fingerprint(der: bytes | None) -> str:
    return hashlib.sha256(der).hexdigest() if der else ""


@dataclass
class _Connection:
    """What the TLS layer established for one connection."""

    session: AgentSession | None = None
    asked: str = ""
    """The server name the client asked for."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: AgentReceiver

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(HANDSHAKE_TIMEOUT_S)
        wrapped = self.receiver.base_context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        receiver = self.receiver
        conn = _Connection()
        receiver.connections[id(request)] = conn
        try:
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                receiver.refuse_connection(conn, client_address, exc)
                return
            super().finish_request(request, client_address)
        finally:
            receiver.connections.pop(id(request), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("agent channel: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("agent channel %s: " + format, self.client_address, *args)

    def _reply(self, status: HTTPStatus, doc: Mapping[str, Any] | Sequence[Any]) -> None:
        data = dumps(doc)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _identity(self) -> tuple[AgentSession, str] | str:
        """The session and client fingerprint of this connection, or why it is refused."""
        receiver = self.server.receiver
        conn = receiver.connections.get(id(self.connection))
        der = self.connection.getpeercert(binary_form=True)
        print_ = _fingerprint(der)
        if conn is None or conn.session is None:
            return "forged: the connection named no session of this bench"
        if print_ != conn.session.agent_fingerprint:
            return "forged: the TLS client certificate is not the session's agent certificate"
        return conn.session, print_

    def do_POST(self) -> None:
        receiver = self.server.receiver
        peer = f"{self.client_address[0]}"
        if urlsplit(self.path).path != "/v1/reports":
            self._reply(HTTPStatus.NOT_FOUND, {"refused": "no such endpoint"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_REPORT_BYTES:
            receiver.refuse(peer, f"malformed: a report of {length} bytes")
            self._reply(HTTPStatus.BAD_REQUEST, {"refused": "bad length"})
            return
        data = self.rfile.read(length)
        identity = self._identity()
        if isinstance(identity, str):
            receiver.refuse(peer, identity, body=data)
            self._reply(HTTPStatus.FORBIDDEN, {"refused": identity})
            return
        session, print_ = identity
        status, reply = receiver.take(session, data, f"{peer} {print_[:16]}")
        self._reply(status, reply)

    def do_GET(self) -> None:
        receiver = self.server.receiver
        url = urlsplit(self.path)
        if url.path != "/v1/orders":
            self._reply(HTTPStatus.NOT_FOUND, {"refused": "no such endpoint"})
            return
        identity = self._identity()
        if isinstance(identity, str):
            receiver.refuse(self.client_address[0], identity)
            self._reply(HTTPStatus.FORBIDDEN, {"refused": identity})
            return
        agent = (parse_qs(url.query).get("agent") or [""])[0]
        orders = receiver.sink.orders_for(identity[0], agent)
        self._reply(HTTPStatus.OK, [o.to_json() for o in orders])


class AgentReceiver:
    """The bench's HTTPS receiver of agent reports (see the module).

    Args:
        store: where every report is logged and each agent's number kept.
        station: this bench's name (in the log).
        sink: what the bench does with accepted reports.
        host: the address to listen on.
        port: the port (0: any free one; `url` says which).
    """

    def __init__(
        self,
        store: Store,
        station: str,
        sink: ReportSink,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.store = store
        self.station = station
        self.sink = sink
        self.host = host
        self.port = port
        self.sessions: dict[str, AgentSession] = {}
        self.connections: dict[int, _Connection] = {}
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._scratch = tempfile.TemporaryDirectory(prefix="sanitiser-agent-tls-")
        self.base_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.base_context.minimum_version = ssl.TLSVersion.TLSv1_2
        # OpenSSL keeps the verify mode of the context a connection started on when the SNI
        # callback switches it: ask for a client certificate here; the CA store that verifies
        # it is the chosen session's (this context trusts no CA at all).
        self.base_context.verify_mode = ssl.CERT_REQUIRED
        self.base_context.sni_callback = self._pick
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def admit(self, session: AgentSession) -> None:
        """Accept reports from `session`'s agent from now on (a session this bench minted)."""
        self._contexts[session.session_id] = session.server_context(Path(self._scratch.name))
        self.sessions[session.session_id] = session

    def _pick(self, sock: Any, name: str | None, _ctx: ssl.SSLContext) -> int | None:
        session_id = session_of_server_name(name)
        conn = self.connections.get(id(sock))
        if conn is not None:
            conn.asked = name or ""
        chosen = self._contexts.get(session_id)
        if chosen is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sock.context = chosen
        if conn is not None:
            conn.session = self.sessions[session_id]
        return None

    @property
    def url(self) -> str:
        """``https://HOST:PORT`` (the port once started)."""
        host = self.host or "127.0.0.1"
        return f"https://{host}:{self.port}"

    def start(self) -> None:
        """Listen (in a thread) until `stop`."""
        if self._server is not None:
            return
        server = _Server((self.host, self.port), _Handler)
        server.receiver = self
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="agent-receiver", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with contextlib.suppress(OSError):
            self._scratch.cleanup()

    def __enter__(self) -> AgentReceiver:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- judgement, each refusal logged ---

    def refuse(self, peer: str, reason: str, *, body: bytes = b"", session: str = "") -> None:
        """Log a refused report or connection."""
        log.warning("agent channel: refused from %s: %s", peer, reason)
        log_refused(
            self.store,
            station=self.station,
            reason=reason,
            peer=peer,
            session=session,
            body=body.decode("utf-8", "replace"),
        )

    def refuse_connection(self, conn: _Connection, address: Any, exc: BaseException) -> None:
        """A TLS handshake that failed: no client certificate, or not the session's."""
        why = getattr(exc, "reason", None) or str(exc)
        if conn.session is None:
            reason = f"forged: TLS refused, the connection named no session of this bench ({why})"
        else:
            reason = (
                "forged: TLS refused, the client certificate is not this session's agent "
                f"certificate ({why})"
            )
        session = conn.session.session_id if conn.session is not None else ""
        self.refuse(str(address[0]), reason, session=session)

    def take(self, session: AgentSession, data: bytes, peer: str) -> tuple[HTTPStatus, Any]:
        """Judge one report that came over `session`'s TLS identity; the reply to send."""
        text = data.decode("utf-8", "replace")
        try:
            report = parse_report(data)
        except ReportError as exc:
            self.refuse(peer, f"malformed: {exc.msg}", body=data, session=session.session_id)
            return HTTPStatus.BAD_REQUEST, {"refused": exc.msg}
        if report.session != session.session_id:
            reason = (
                f"forged: the report names session {report.session}, but its TLS identity is "
                f"session {session.session_id}"
            )
            self.refuse(peer, reason, body=data, session=session.session_id)
            return HTTPStatus.FORBIDDEN, {"refused": reason}
        unwanted = self.sink.check(session, report)
        if unwanted:
            log_refused(
                self.store,
                station=self.station,
                reason=unwanted,
                peer=peer,
                session=report.session,
                agent=report.agent,
                seq=report.seq,
                kind=report.kind.value,
                body=text,
            )
            return HTTPStatus.UNPROCESSABLE_ENTITY, {"refused": unwanted}

        def judge(seq: int, last: int) -> tuple[bool, str]:
            verdict = judge_sequence(seq, last)
            return verdict.accepted, verdict.reason

        accepted, reason, last = accept_report(
            self.store,
            station=self.station,
            session=report.session,
            agent=report.agent,
            seq=report.seq,
            kind=report.kind.value,
            body=text,
            peer=peer,
            judge=judge,
        )
        if not accepted:
            log.warning("agent channel: refused report from %s: %s", peer, reason)
            return HTTPStatus.CONFLICT, {"refused": reason, "expected": last + 1}
        self.sink.accepted(session, report)
        return HTTPStatus.OK, {"accepted": report.seq}
