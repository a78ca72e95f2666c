"""Per-session credentials of the agent channel: a CA made for one serve session, the bench's
server certificate and the agent's client certificate, both signed by it.

`mint_session` makes them. The CA's private key lives only in memory while the two certificates
are signed, then is dropped: nobody, the bench included, can mint another identity for that
session afterwards, so the bench accepts exactly the agents it booted. The agent's directory gets
``ca.pem``, ``agent.pem``, ``agent.key`` and ``session.json`` (packed into the session's initrd
overlay, or written to a USB stick); the bench keeps ``ca.pem``, ``server.pem``, ``server.key``,
``agent.pem`` and ``session.json`` in its own directory, to serve and to check offline evidence
after a restart.

Both ends pin the session's CA: the agent trusts no other CA for the bench, the bench no other
CA for the agent, and each certificate carries its extended key usage (server or client), so the
agent's certificate cannot serve and the bench's cannot report.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sanitiser.certificate.keys import fingerprint, pem, read_private_key, write_private_key
from sanitiser.errors import SanitiserError

SESSION_FILE: Final = "session.json"
CA_FILE: Final = "ca.pem"
AGENT_CERT: Final = "agent.pem"
AGENT_KEY: Final = "agent.key"
SERVER_CERT: Final = "server.pem"
SERVER_KEY: Final = "server.key"
SESSION_DAYS: Final = 30
"""How long a session's credentials are valid: a device that resumes a week later still can."""
_SERVER_NAME_SUFFIX: Final = ".session.sanitiser-agent"


class CredentialError(SanitiserError):
    """A session's credentials are missing, unreadable or do not belong together."""


def server_name(session_id: str) -> str:
    """The TLS server name (SNI) an agent of `session_id` asks for: the bench picks the session's
    own certificate and CA by it."""
    return f"{session_id}{_SERVER_NAME_SUFFIX}"


def session_of_server_name(name: str | None) -> str:
    """The session id in an SNI name ("" when it is not one of ours)."""
    if not name or not name.endswith(_SERVER_NAME_SUFFIX):
        return ""
    return name.removesuffix(_SERVER_NAME_SUFFIX)


def _name(common: str, session_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"agent session {session_id}"),
        ]
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        key_cert_sign=ca,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    *,
    common: str,
    session_id: str,
    usage: x509.ObjectIdentifier,
    now: datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common, session_id))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(ca.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(server_name(session_id))]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True, slots=True)
class AgentSession:
    """One serve session's channel identity, as the bench holds it (no CA key: see the module).

    Attributes are PEM bytes so the value can be written, read back and handed between threads.
    """

    session_id: str
    """Random, 32 hex digits; in every report, the SNI name and every certificate's OU."""
    created: str
    """ISO-8601 UTC."""
    ca_pem: bytes
    server_pem: bytes
    server_key_pem: bytes
    agent_pem: bytes
    """The one agent certificate of the session (every device booted in it presents it)."""

    @property
    def agent_fingerprint(self) -> str:
        """SHA-256 of the agent certificate: a report's TLS identity must be exactly this."""
        return fingerprint(x509.load_pem_x509_certificate(self.agent_pem))

    @property
    def ca(self) -> x509.Certificate:
        """The session's CA certificate."""
        return x509.load_pem_x509_certificate(self.ca_pem)

    @property
    def agent_certificate(self) -> x509.Certificate:
        """The agent's certificate (it verifies offline evidence signatures)."""
        return x509.load_pem_x509_certificate(self.agent_pem)

    def server_context(self, scratch: Path) -> ssl.SSLContext:
        """A TLS server context for this session: its certificate, and client certificates
        required and verified against its CA only. `scratch` is a private directory for the
        key file ``ssl`` insists on reading from disk."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=self.ca_pem.decode("ascii"))
        scratch.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert = scratch / f"{self.session_id}-{SERVER_CERT}"
        key = scratch / f"{self.session_id}-{SERVER_KEY}"
        cert.write_bytes(self.server_pem)
        if not key.exists():
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(self.server_key_pem)
        ctx.load_cert_chain(cert, key)
        return ctx

    def save(self, directory: Path) -> None:
        """Keep the bench's side in `directory` (the server key mode 0600)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        (directory / CA_FILE).write_bytes(self.ca_pem)
        (directory / SERVER_CERT).write_bytes(self.server_pem)
        (directory / AGENT_CERT).write_bytes(self.agent_pem)
        key = serialization.load_pem_private_key(self.server_key_pem, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)  # noqa: S101 - we made it
        write_private_key(directory / SERVER_KEY, key)
        (directory / SESSION_FILE).write_text(
            json.dumps({"session": self.session_id, "created": self.created}, indent=2) + "\n"
        )

    @classmethod
    def load(cls, directory: Path) -> AgentSession:
        """A session the bench kept with `save`.

        Raises:
            CredentialError: a file is missing or unreadable.
        """
        try:
            meta = json.loads((directory / SESSION_FILE).read_text())
            key = read_private_key(directory / SERVER_KEY)
            return cls(
                session_id=str(meta["session"]),
                created=str(meta["created"]),
                ca_pem=(directory / CA_FILE).read_bytes(),
                server_pem=(directory / SERVER_CERT).read_bytes(),
                server_key_pem=key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
                agent_pem=(directory / AGENT_CERT).read_bytes(),
            )
        except (OSError, KeyError, ValueError, SanitiserError) as exc:
            raise CredentialError(
                f"the agent session in {directory} cannot be read: {exc}"
            ) from exc


def mint_session(directory: Path, *, now: datetime | None = None) -> AgentSession:
    """Make a fresh session: its CA, the bench's server and the agent's client credentials.

    Writes the agent's side into `directory` (``ca.pem``, ``agent.pem``, ``agent.key`` mode 0600,
    ``session.json``); returns the bench's side (keep it with `AgentSession.save` to check
    offline evidence or resume after a restart). The CA's key is not kept anywhere.

    Raises:
        CredentialError: `directory` already holds an agent key (never overwritten).
    """
    now = now or datetime.now(UTC)
    session_id = secrets.token_hex(16)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"sanitiser agent session CA {session_id[:12]}", session_id)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SESSION_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key, server = _leaf(
        ca_key,
        ca,
        common="sanitiser bench",
        session_id=session_id,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        now=now,
    )
    agent_key, agent = _leaf(
        ca_key,
        ca,
        common="sanitiser agent",
        session_id=session_id,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        now=now,
    )
    del ca_key
    created = now.isoformat(timespec="seconds")
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / AGENT_KEY).exists():
        raise CredentialError(f"{directory} already holds agent credentials; not overwritten")
    (directory / CA_FILE).write_bytes(pem(ca))
    (directory / AGENT_CERT).write_bytes(pem(agent))
    write_private_key(directory / AGENT_KEY, agent_key)
    (directory / SESSION_FILE).write_text(
        json.dumps({"session": session_id, "created": created}, indent=2) + "\n"
    )
    return AgentSession(
        session_id=session_id,
        created=created,
        ca_pem=pem(ca),
        server_pem=pem(server),
        server_key_pem=server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        agent_pem=pem(agent),
    )


@dataclass(frozen=True, slots=True)
class AgentCredentials:
    """What the agent was given: the session id and the paths of its PEM files."""

    session_id: str
    ca: Path
    certificate: Path
    key: Path

    @classmethod
    def load(cls, directory: Path) -> AgentCredentials:
        """The credentials in `directory` (``--credentials DIR``).

        Raises:
            CredentialError: a file is missing, or the certificate is not the session's.
        """
        paths = [directory / n for n in (SESSION_FILE, CA_FILE, AGENT_CERT, AGENT_KEY)]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            raise CredentialError(f"{directory} lacks {', '.join(missing)}: not agent credentials")
        try:
            session_id = str(json.loads(paths[0].read_text())["session"])
            cert = x509.load_pem_x509_certificate(paths[2].read_bytes())
        except (OSError, KeyError, ValueError) as exc:
            raise CredentialError(f"the agent credentials in {directory}: {exc}") from exc
        unit = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if not unit or unit[0].value != f"agent session {session_id}":
            raise CredentialError(f"{paths[2]} is not the certificate of session {session_id}")
        return cls(session_id, paths[1], paths[2], paths[3])

    def client_context(self) -> ssl.SSLContext:
        """TLS to the bench: our certificate presented, the bench's verified against the
        session's CA only (the name checked is the session's SNI name)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(cafile=str(self.ca))
        ctx.load_cert_chain(str(self.certificate), str(self.key))
        return ctx

    def signing_key(self) -> ec.EllipticCurvePrivateKey:
        """The agent's private key (it signs offline evidence)."""
        return read_private_key(self.key)

    @property
    def certificate_pem(self) -> bytes:
        """The agent's certificate."""
        return self.certificate.read_bytes()
