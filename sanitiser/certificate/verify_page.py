"""The static verification page a charity opens by scanning the QR code on a drive label.

One self-contained HTML file (inline CSS and JavaScript, no external resources, no server) with
the organisation's public trust material built in. The token sits in the URL fragment
(``<base_url>#<token>``), which browsers never send to the server, so the page can be hosted
anywhere static (any HTTPS web host, an intranet share) and the check runs on the phone.

The page trusts only what it was built with, never anything in the token: the station public
keys (each checked here, at build time, to be signed by the organisation CA), their validity
windows, revocations from ``org-ca.crl`` and whether each is a DEVELOPMENT key. In the browser it
mirrors `sanitiser.certificate.verify.verify_token_text` step by step: strict decoding of token
versions 1 and 2 (`sanitiser.certificate.qr` has the layouts), signer lookup by key id, ECDSA
P-256 / SHA-256 signature (WebCrypto takes the raw r||s form the token carries), no date in the
future, the station certificate valid when it signed, not revoked, and
the DEVELOPMENT KEY marker matching the signer. It then shows what the token carries: serial,
result, NIST category and dates, and from version 2 also the make and model, the capacity (in
decimal units), the method by name and the destination; the code tables and their labels come
from `sanitiser.certificate.qr` through the built-in JSON, so the two cannot drift apart.

WebCrypto needs a secure context: host the page on HTTPS (``file://`` and ``http://localhost``
also count in Chromium and Firefox). Every value the page shows is set with ``textContent``, and
a Content-Security-Policy allows only the page's own script and style (by hash).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sanitiser.certificate.device_token import DEVICE_ROUTES
from sanitiser.certificate.device_token import GRADES as DEVICE_GRADES
from sanitiser.certificate.keys import (
    CRL_FILE,
    LOW_S_SINCE,
    ORG_CA_FILE,
    common_name,
    fingerprint,
    is_development,
    issued_by,
    key_id,
    organisation_of,
    read_certificates,
    read_crl,
    revocations_of,
)
from sanitiser.certificate.qr import (
    CATEGORIES,
    DESTINATIONS,
    METHODS,
    STATUSES,
    TOKEN_VERSION,
    destination_label,
)
from sanitiser.errors import CertificateError

PAGE_FILE = "index.html"
"""The file name written when ``--out`` is a directory (so ``<base_url>/`` serves it)."""
PAGE_FORMAT = 2
"""Version of the built-in trust JSON the page's script reads."""
_PLACEHOLDER = re.compile(r"\{\{(csp|style|script|trust)\}\}")


@dataclass(frozen=True, slots=True)
class PageStation:
    """One station key built into the page."""

    name: str
    key_id: str
    """Hex of the 8-byte key id tokens carry (start of the certificate's SHA-256)."""
    public_key: str
    """Base64 of the uncompressed P-256 point (65 bytes), for WebCrypto ``importKey("raw")``."""
    not_before: int
    """Seconds since the epoch: the later of the station's and the CA's start of validity."""
    not_after: int
    """Seconds since the epoch: the earlier of the station's and the CA's end of validity."""
    development: bool
    fingerprint: str
    """SHA-256 of the station certificate (hex)."""
    revoked_at: int | None = None
    """Seconds since the epoch when the organisation's CRL revoked it."""
    revoked_for: str = ""
    """``retired`` (tokens signed before `revoked_at` stay valid) or ``compromised`` (none do)."""


@dataclass(frozen=True, slots=True)
class PageTrust:
    """What the page trusts: the organisation and its station keys."""

    organisation: str
    development: bool
    """True when the organisation CA is a DEVELOPMENT KEY (the page says so at the top)."""
    ca_fingerprint: str
    stations: tuple[PageStation, ...]
    built_at: str
    """When the page was built (UTC, ISO 8601)."""
    skipped: tuple[str, ...] = ()
    """Why some certificates in the directory were left out (for the operator)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON the page's script reads: the trust, and the code tables tokens use (status,
        category, method and destination orders, with the human labels of methods and
        destinations), so the page and `sanitiser.certificate.qr` cannot disagree."""
        return {
            "format": PAGE_FORMAT,
            "tokenVersion": TOKEN_VERSION,
            "lowSSince": int(LOW_S_SINCE.timestamp()),
            "organisation": self.organisation,
            "development": self.development,
            "caFingerprint": self.ca_fingerprint,
            "builtAt": self.built_at,
            "statuses": [str(s) for s in STATUSES],
            "categories": [str(c) for c in CATEGORIES],
            "methods": [[m, label] for m, label in METHODS],
            "destinations": [[d, destination_label(d)] for d in DESTINATIONS],
            "deviceRoutes": list(DEVICE_ROUTES),
            "grades": list(DEVICE_GRADES),
            "stations": [
                {
                    "name": s.name,
                    "keyId": s.key_id,
                    "publicKey": s.public_key,
                    "notBefore": s.not_before,
                    "notAfter": s.not_after,
                    "development": s.development,
                    "fingerprint": s.fingerprint,
                    "revokedAt": s.revoked_at,
                    "revokedFor": s.revoked_for,
                }
                for s in self.stations
            ],
        }


def _station_problem(cert: x509.Certificate, cas: list[x509.Certificate]) -> str:
    """Why `cert` cannot sign tokens for the organisation ("" when it can)."""
    if not any(issued_by(cert, ca) for ca in cas):
        return "not issued by the organisation CA"
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return "lacks the station extensions"
    if constraints.ca or not usage.digital_signature:
        return "is not a station signing certificate"
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        return "its key is not ECDSA P-256"
    return ""


def _page_station(
    cert: x509.Certificate,
    cas: list[x509.Certificate],
    crls: list[x509.CertificateRevocationList],
) -> PageStation:
    issuer = next(ca for ca in cas if issued_by(cert, ca))
    raw = cert.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    revoked_at: int | None = None
    revoked_for = ""
    for crl in crls:
        if crl.issuer != issuer.subject:
            continue
        for entry in revocations_of(crl):
            if entry.serial == cert.serial_number:
                revoked_at, revoked_for = int(entry.at.timestamp()), entry.reason
    return PageStation(
        name=common_name(cert),
        key_id=key_id(cert).hex(),
        public_key=base64.b64encode(raw).decode("ascii"),
        not_before=int(max(cert.not_valid_before_utc, issuer.not_valid_before_utc).timestamp()),
        not_after=int(min(cert.not_valid_after_utc, issuer.not_valid_after_utc).timestamp()),
        development=is_development(cert),
        fingerprint=fingerprint(cert),
        revoked_at=revoked_at,
        revoked_for=revoked_for,
    )


def page_trust(certs_dir: Path, now: datetime | None = None) -> PageTrust:
    """The trust material for the page from a certs directory.

    Reads ``org-ca.pem``, every ``station-*.pem`` and ``org-ca.crl`` when present. Station
    certificates the CA did not sign (or that are not signing certificates) are left out and
    listed in `PageTrust.skipped`; revoked ones are kept, marked revoked, so the page can say so.

    Raises:
        CertificateError: no organisation CA, a CRL whose signature does not verify, or no
            usable station certificate at all.
    """
    ca_path = certs_dir / ORG_CA_FILE
    if not ca_path.is_file():
        raise CertificateError(f"{ca_path} not found: create the organisation CA first")
    cas = read_certificates(ca_path)
    crls: list[x509.CertificateRevocationList] = []
    if (certs_dir / CRL_FILE).is_file():
        crl = read_crl(certs_dir / CRL_FILE)
        if not any(
            crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
            for ca in cas
        ):
            raise CertificateError(f"{certs_dir / CRL_FILE} was not signed by the organisation CA")
        crls.append(crl)
    stations: list[PageStation] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for path in sorted(certs_dir.glob("station-*.pem")):
        for cert in read_certificates(path):
            problem = _station_problem(cert, cas)
            if problem:
                skipped.append(f"{path.name} ({common_name(cert)!r}): {problem}")
                continue
            station = _page_station(cert, cas, crls)
            if station.key_id not in seen:
                seen.add(station.key_id)
                stations.append(station)
    if not stations:
        raise CertificateError(
            f"no station certificate signed by the organisation CA in {certs_dir}"
        )
    built = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return PageTrust(
        organisation=organisation_of(cas[0]),
        development=is_development(cas[0]),
        ca_fingerprint=fingerprint(cas[0]),
        stations=tuple(stations),
        built_at=built,
        skipped=tuple(skipped),
    )


def _asset(name: str) -> str:
    return resources.files("sanitiser.certificate").joinpath(name).read_text(encoding="utf-8")


def page_script() -> str:
    """The page's JavaScript (also used by tests that drive its checks directly)."""
    return _asset("verify_page.js")


def script_json(value: Any) -> str:
    """JSON safe to place inside an HTML ``<script>`` element (no ``<``, ``>``, ``&``)."""
    text = json.dumps(value, ensure_ascii=True, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _csp_hash(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def render_page(trust: PageTrust) -> str:
    """The complete HTML page with `trust` built in."""
    style, script = _asset("verify_page.css"), page_script()
    csp = (
        "default-src 'none'; "
        f"script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    parts = {"csp": csp, "style": style, "script": script, "trust": script_json(trust.to_json())}
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], _asset("verify_page.html"))


def page_path(out: Path) -> Path:
    """Where to write: `out` itself when it names an ``.html`` file, else ``out/index.html``."""
    return out if out.suffix.lower() in (".html", ".htm") else out / PAGE_FILE


def write_page(certs_dir: Path, out: Path, now: datetime | None = None) -> tuple[Path, PageTrust]:
    """Build the page from `certs_dir` and write it (atomically) to `out` (file or directory).

    Returns:
        (the file written, the trust built in).

    Raises:
        CertificateError: see `page_trust`; or the file cannot be written.
    """
    trust = page_trust(certs_dir, now)
    path = page_path(out)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(render_page(trust), encoding="utf-8")
        tmp.replace(path)
    except OSError as e:
        raise CertificateError(f"cannot write {path}: {e.strerror}") from e
    return path, trust


__all__ = [
    "PAGE_FILE",
    "PageStation",
    "PageTrust",
    "page_path",
    "page_script",
    "page_trust",
    "render_page",
    "script_json",
    "write_page",
]
