"""The trust chain: organisation CA -> station certificate -> signed records.

All keys are ECDSA P-256: PDF validators (poppler's NSS, pyHanko) accept it, and its raw
signature (r||s, 64 bytes) keeps the QR token short.

Files (public material in the certs directory, normally ``certs/`` of the deployment; private
keys under ``<data_dir>/keys/``, created mode 0600 in a 0700 directory, optionally
passphrase-encrypted, never in the repository):

- ``<certs>/org-ca.pem``: the organisation CA certificate (the trust anchor auditors need);
- ``<certs>/station-<name>.pem``: one certificate per bench, signed by the organisation CA;
- ``<certs>/org-ca.crl``: optional revocation list (an X.509 CRL signed by the organisation CA);
- ``<keys>/org-ca.key`` and ``<keys>/station-<name>.key``: PEM PKCS#8 private keys.

A development organisation (made by `make run` on first use) has ``DEVELOPMENT KEY`` in the
organisation name of every certificate, and every record such a key signs says so.

Why one module of ~670 lines: the organisation CA, the station keys, the CRL and revocation
are one trust model; a reader checks who may sign what, until when, in one place.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from sanitiser.errors import CertificateError
from sanitiser.text import text_problem

DEV_MARKER = "DEVELOPMENT KEY"
"""Appended to the organisation name of development certificates."""
ORG_CA_FILE = "org-ca.pem"
ORG_KEY_FILE = "org-ca.key"
CRL_FILE = "org-ca.crl"
STATION_OU = "sanitiser station"

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class StationSigner:
    """A station's private key and certificate chain: what signs records and PDFs."""

    key: PrivateKey
    cert: x509.Certificate
    org_ca: x509.Certificate
    crl_path: Path | None = None
    """The organisation's revocation list, re-read before every signature (a station revoked
    while a bench runs stops signing at once)."""

    def check_usable(self, now: datetime | None = None) -> None:
        """Refuse when this station's certificate is revoked (for any reason) or not valid now.

        Raises:
            CertificateError: the station may not sign.
        """
        crls = [read_crl(self.crl_path)] if self.crl_path and self.crl_path.is_file() else []
        check_chain(self.cert, [self.org_ca], now or datetime.now(UTC), crls)

    @property
    def name(self) -> str:
        """The station name (certificate CN)."""
        return common_name(self.cert)

    @property
    def organisation(self) -> str:
        """The organisation name, without the development marker."""
        return organisation_of(self.cert)

    @property
    def development(self) -> bool:
        """True for a development key: everything it signs says DEVELOPMENT KEY."""
        return is_development(self.cert)


def station_file(name: str) -> str:
    """The certificate file name of station `name` (validated: letters, digits, ``._-``)."""
    check_station_name(name)
    return f"station-{name}.pem"


def check_station_name(name: str) -> None:
    """Raise CertificateError unless `name` is a safe station name (it becomes a file name)."""
    problem = text_problem(name, "station")
    if problem:
        raise CertificateError(f"station name {name!r} {problem}")


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def common_name(cert: x509.Certificate) -> str:
    """The subject CN."""
    return _attr(cert.subject, NameOID.COMMON_NAME)


def is_development(cert: x509.Certificate) -> bool:
    """True when the certificate's organisation says DEVELOPMENT KEY."""
    return DEV_MARKER in _attr(cert.subject, NameOID.ORGANIZATION_NAME)


def organisation_of(cert: x509.Certificate) -> str:
    """The subject organisation, without the development marker."""
    org = _attr(cert.subject, NameOID.ORGANIZATION_NAME)
    return org.replace(f" ({DEV_MARKER})", "").strip()


def key_id(cert: x509.Certificate) -> bytes:
    """Eight bytes naming a certificate: the start of the SHA-256 of its DER form."""
    return cert.fingerprint(hashes.SHA256())[:8]


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of a certificate as colon-free lower-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _org_name(organisation: str, development: bool) -> str:
    if not organisation.strip():
        raise CertificateError("the organisation name is empty")
    return f"{organisation} ({DEV_MARKER})" if development else organisation


def make_org_ca(
    organisation: str,
    *,
    development: bool = False,
    now: datetime | None = None,
    years: int = 20,
) -> tuple[PrivateKey, x509.Certificate]:
    """A new organisation CA key and self-signed certificate (no files touched)."""
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    org = _org_name(organisation, development)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"{org} sanitisation CA"[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org[:64]),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_station_cert(
    org_key: PrivateKey,
    org_ca: x509.Certificate,
    station: str,
    *,
    now: datetime | None = None,
    years: int = 5,
) -> tuple[PrivateKey, x509.Certificate]:
    """A new station key and certificate signed by the organisation CA (no files touched)."""
    check_station_name(station)
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    org = _attr(org_ca.subject, NameOID.ORGANIZATION_NAME)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, station),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, STATION_OU),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )
    ca_ski = org_ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    not_after = min(now + timedelta(days=365 * years), org_ca.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(org_ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(org_key, hashes.SHA256())
    )
    return key, cert


RETIRED: Final = "retired"
COMPROMISED: Final = "compromised"
REVOCATION_REASONS: Final = {
    RETIRED: x509.ReasonFlags.cessation_of_operation,
    COMPROMISED: x509.ReasonFlags.key_compromise,
}
"""The two uses of revocation: a station retired (its key destroyed; what it signed before
stays valid) or its key compromised (nothing it signed can be trusted)."""
_RETIREMENT_FLAGS: Final = frozenset(
    {
        x509.ReasonFlags.cessation_of_operation,
        x509.ReasonFlags.superseded,
        x509.ReasonFlags.affiliation_changed,
    }
)


@dataclass(frozen=True, slots=True)
class Revocation:
    """One station certificate on the revocation list."""

    serial: int
    at: datetime
    """When the station stopped being allowed to sign."""
    reason: str = COMPROMISED
    """`RETIRED` or `COMPROMISED` (a CRL entry with no or another reason counts as compromised)."""


def revocations_of(crl: x509.CertificateRevocationList) -> list[Revocation]:
    """The entries of a CRL as `Revocation` values."""
    found = []
    for entry in crl:
        try:
            flag = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            flag = x509.ReasonFlags.unspecified
        reason = RETIRED if flag in _RETIREMENT_FLAGS else COMPROMISED
        found.append(Revocation(entry.serial_number, entry.revocation_date_utc, reason))
    return found


def make_crl(
    org_key: PrivateKey,
    org_ca: x509.Certificate,
    revoked: list[Revocation],
    *,
    now: datetime | None = None,
    days: int = 365,
) -> x509.CertificateRevocationList:
    """A CRL signed by the organisation CA listing `revoked` (one entry per serial, the first
    given for a serial kept), each with its date and reason."""
    now = now or datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(org_ca.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=days))
    )
    seen: set[int] = set()
    for item in revoked:
        if item.serial in seen:
            continue
        seen.add(item.serial)
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(item.serial)
            .revocation_date(item.at)
            .add_extension(x509.CRLReason(REVOCATION_REASONS[item.reason]), critical=False)
            .build()
        )
    return builder.sign(org_key, hashes.SHA256())


# --- checks -----------------------------------------------------------------------------------


P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
"""The order n of the P-256 group: a signature's s must lie in 1..n/2 (low-s form)."""


def ecdsa_sign(signer: StationSigner, data: bytes) -> tuple[int, int]:
    """Sign `data` with the station key; ``(r, s)`` in the canonical low-s form.

    ECDSA signatures are malleable: ``(r, n - s)`` verifies as well as ``(r, s)``, so anyone
    could make a second, different signature of the same record. Only the low-s one is ever
    made, and `check_low_s` refuses the other.

    Raises:
        CertificateError: the station may no longer sign (its certificate was revoked).
    """
    signer.check_usable()
    r, s = decode_dss_signature(signer.key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r, (P256_ORDER - s if s > P256_ORDER // 2 else s)


LOW_S_SINCE: Final = datetime(2026, 12, 4, tzinfo=UTC)
"""From this time on every signature is made in low-s form, and a high-s one is refused.
Signatures made earlier (by versions that did not normalise s) are accepted in either form:
their twin covers exactly the same signed bytes, so accepting it claims nothing new."""


def check_low_s(s: int, what: str, signed_at: datetime | None) -> None:
    """Refuse the high-s twin of a signature made on or after `LOW_S_SINCE` (see `ecdsa_sign`).

    Args:
        s: the signature's s.
        what: the signature, for the message.
        signed_at: when the signature claims to be made (None when unknown: judged as new).

    Raises:
        CertificateError: `s` is outside 1..n/2 and the signature is not older than the rule.
    """
    if s > P256_ORDER // 2 and (signed_at is None or signed_at >= LOW_S_SINCE):
        raise CertificateError(
            f"{what} is not in canonical (low-s) form: a second signature made from the "
            "original, not one the station made"
        )


def check_der_signature(signature: bytes, what: str, signed_at: datetime | None) -> None:
    """Refuse a DER ECDSA signature that is not the one form the station makes: canonical DER
    and low s (`check_low_s`). Every signature over a record, a token's record or a PDF is
    checked here before its mathematics, so no signature has a second valid spelling.

    Raises:
        CertificateError: not DER, not canonical DER, or high s.
    """
    try:
        r, s = decode_dss_signature(signature)
    except ValueError as e:
        raise CertificateError(f"{what} is not a DER ECDSA signature") from e
    if encode_dss_signature(r, s) != signature:
        raise CertificateError(f"{what} is not in canonical DER")
    check_low_s(s, what, signed_at)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when `issuer` signed `cert` (names match and the signature verifies)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def check_chain(
    station: x509.Certificate,
    org_cas: list[x509.Certificate],
    at: datetime,
    crls: list[x509.CertificateRevocationList] = (),  # type: ignore[assignment]
) -> x509.Certificate:
    """Check a station certificate against trusted organisation CAs at time `at`.

    A station on the CA's revocation list for key compromise fails whatever `at` is; a retired
    station fails only from its revocation time on (what it signed before stays valid).

    Returns:
        The organisation CA that issued it.

    Raises:
        CertificateError: not issued by a trusted CA, not valid at `at`, not a station
            certificate, or revoked by a CRL that the CA signed.
    """
    issuer = next((ca for ca in org_cas if issued_by(station, ca)), None)
    if issuer is None:
        raise CertificateError(
            f"the signer {common_name(station)!r} ({station.issuer.rfc4514_string()}) was not "
            "issued by a trusted organisation CA"
        )
    for cert, what in ((issuer, "organisation CA"), (station, "station certificate")):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise CertificateError(
                f"the {what} {common_name(cert)!r} was not valid at {at:%Y-%m-%d %H:%M}Z "
                f"(valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                f"{cert.not_valid_after_utc:%Y-%m-%d})"
            )
    try:
        constraints = station.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = station.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as e:
        raise CertificateError("the signer certificate lacks station extensions") from e
    if constraints.ca or not usage.digital_signature:
        raise CertificateError("the signer certificate is not a station signing certificate")
    for crl in crls:
        if crl.issuer != issuer.subject:
            continue
        if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
            raise CertificateError("the revocation list's signature does not verify")
        for item in revocations_of(crl):
            if item.serial != station.serial_number:
                continue
            name = common_name(station)
            if item.reason == COMPROMISED:
                raise CertificateError(
                    f"the station certificate {name!r} was revoked for key compromise on "
                    f"{item.at:%Y-%m-%d %H:%M}Z: nothing it signed can be trusted"
                )
            if at >= item.at:
                raise CertificateError(
                    f"the station {name!r} was retired (revoked) on {item.at:%Y-%m-%d %H:%M}Z "
                    "and may sign nothing after that"
                )
    return issuer


# --- files ------------------------------------------------------------------------------------


def write_private_key(path: Path, key: PrivateKey, passphrase: bytes | None = None) -> None:
    """Write a PEM private key, created mode 0600 (never overwriting) in a 0700 directory."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise CertificateError(f"{path} exists; refusing to overwrite a private key") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    except BaseException:
        path.unlink(missing_ok=True)  # ours (O_EXCL), and no whole key: a full disk must not
        raise  # leave a stub that blocks the next attempt ("refusing to overwrite")


def _write_key_and_certificate(
    key_path: Path, key: PrivateKey, passphrase: bytes | None, cert_path: Path, cert: bytes
) -> None:
    """Write a new private key, then its certificate; the key is removed again when the
    certificate cannot be written (a full disk), so the next attempt starts clean."""
    write_private_key(key_path, key, passphrase)
    try:
        write_public(cert_path, cert, force=True)
    except BaseException:
        key_path.unlink(missing_ok=True)
        raise


def read_private_key(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    """Read a PEM private key (ECDSA P-256), decrypting it with `passphrase` when needed."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CertificateError(f"cannot read private key {path}: {e.strerror}") from e
    try:
        key = serialization.load_pem_private_key(data, passphrase or None)
    except TypeError as e:
        raise CertificateError(f"{path} is encrypted: a passphrase is needed") from e
    except ValueError as e:
        raise CertificateError(f"cannot load private key {path} (wrong passphrase?)") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise CertificateError(f"{path} is not an ECDSA P-256 key")
    return key


def write_public(path: Path, data: bytes, force: bool = False) -> None:
    """Write public material (certificate, CRL), refusing to replace it unless `force`."""
    if path.exists() and not force:
        raise CertificateError(f"{path} exists; use --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def pem(cert: x509.Certificate) -> bytes:
    """A certificate in PEM form."""
    return cert.public_bytes(serialization.Encoding.PEM)


def read_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a bundle is fine)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CertificateError(f"cannot read {path}: {e.strerror}") from e
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise CertificateError(f"{path} holds no PEM certificate") from e


def init_org(
    certs_dir: Path,
    keys_dir: Path,
    organisation: str,
    *,
    development: bool = False,
    passphrase: bytes | None = None,
    force: bool = False,
) -> tuple[Path, Path]:
    """Create the organisation CA: ``<certs>/org-ca.pem`` and ``<keys>/org-ca.key`` (0600).

    Returns:
        (certificate path, private key path).
    """
    cert_path, key_path = certs_dir / ORG_CA_FILE, keys_dir / ORG_KEY_FILE
    if cert_path.exists() and not force:
        raise CertificateError(f"{cert_path} exists; use --force to make a new organisation CA")
    key, cert = make_org_ca(organisation, development=development)
    if force and key_path.exists():
        key_path.unlink()
    _write_key_and_certificate(key_path, key, passphrase, cert_path, pem(cert))
    return cert_path, key_path


def load_org(
    certs_dir: Path, keys_dir: Path, passphrase: bytes | None = None
) -> tuple[PrivateKey, x509.Certificate]:
    """The organisation CA key and certificate, checked to belong together."""
    cert = read_certificates(certs_dir / ORG_CA_FILE)[0]
    key = read_private_key(keys_dir / ORG_KEY_FILE, passphrase)
    if key.public_key() != cert.public_key():
        raise CertificateError(f"{keys_dir / ORG_KEY_FILE} does not match {ORG_CA_FILE}")
    return key, cert


def new_station(
    certs_dir: Path,
    keys_dir: Path,
    station: str,
    *,
    org_passphrase: bytes | None = None,
    passphrase: bytes | None = None,
    force: bool = False,
) -> tuple[Path, Path]:
    """Create a station key (0600) and certificate signed by the organisation CA.

    Returns:
        (certificate path, private key path).
    """
    cert_path = certs_dir / station_file(station)
    key_path = keys_dir / f"station-{station}.key"
    if cert_path.exists() and not force:
        raise CertificateError(f"{cert_path} exists; use --force to replace it")
    org_key, org_ca = load_org(certs_dir, keys_dir, org_passphrase)
    key, cert = make_station_cert(org_key, org_ca, station)
    if force and key_path.exists():
        key_path.unlink()
    _write_key_and_certificate(key_path, key, passphrase, cert_path, pem(cert))
    return cert_path, key_path


def revoke_station(
    certs_dir: Path,
    keys_dir: Path,
    station: str,
    *,
    reason: str = COMPROMISED,
    at: datetime | None = None,
    org_passphrase: bytes | None = None,
) -> Path:
    """Add a station's certificate to ``<certs>/org-ca.crl`` (created when absent), keeping the
    date and reason of every earlier entry.

    Args:
        reason: `RETIRED` (records signed before `at` stay valid) or `COMPROMISED` (none do).
        at: when the station stopped being allowed to sign (now by default; not in the future).

    Raises:
        CertificateError: unknown reason, a future time, or the station is already revoked.
    """
    if reason not in REVOCATION_REASONS:
        raise CertificateError(f"unknown revocation reason {reason!r}: retired or compromised")
    now = datetime.now(UTC)
    when = at or now
    if when > now:
        raise CertificateError("a revocation cannot take effect in the future")
    org_key, org_ca = load_org(certs_dir, keys_dir, org_passphrase)
    station_cert = read_certificates(certs_dir / station_file(station))[0]
    crl_path = certs_dir / CRL_FILE
    earlier = revocations_of(read_crl(crl_path)) if crl_path.exists() else []
    if any(r.serial == station_cert.serial_number for r in earlier):
        raise CertificateError(f"station {station!r} is already revoked")
    entries = [*earlier, Revocation(station_cert.serial_number, when, reason)]
    write_public(
        crl_path,
        make_crl(org_key, org_ca, entries, now=now).public_bytes(serialization.Encoding.PEM),
        force=True,
    )
    return crl_path


def read_crl(path: Path) -> x509.CertificateRevocationList:
    """A PEM or DER CRL."""
    data = path.read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as e:
        raise CertificateError(f"{path} is not a revocation list") from e


def load_station_signer(
    certs_dir: Path, keys_dir: Path, station: str, passphrase: bytes | None = None
) -> StationSigner:
    """The signer of `station`: its key, its certificate and the organisation CA."""
    cert = read_certificates(certs_dir / station_file(station))[0]
    org_ca = read_certificates(certs_dir / ORG_CA_FILE)[0]
    key = read_private_key(keys_dir / f"station-{station}.key", passphrase)
    if key.public_key() != cert.public_key():
        raise CertificateError(f"the key of station {station!r} does not match its certificate")
    signer = StationSigner(key=key, cert=cert, org_ca=org_ca, crl_path=certs_dir / CRL_FILE)
    signer.check_usable()
    return signer


def ensure_development_identity(
    certs_dir: Path, keys_dir: Path, organisation: str, station: str
) -> StationSigner:
    """The station signer, making a DEVELOPMENT organisation and station on first use.

    Used by `make run`: when no organisation CA exists yet, a development one is created
    (unencrypted keys, ``DEVELOPMENT KEY`` in every name); when the station has no certificate
    yet and the organisation key is here, one is issued. Processes starting together on a
    fresh bench (two ``wipe`` commands, the TUI and a command) make it once: the making is
    held under a lock file beside the keys, and whoever waited finds it made.
    """
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # as its private keys
    fd = os.open(keys_dir / ".identity.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not (certs_dir / ORG_CA_FILE).exists():
            init_org(certs_dir, keys_dir, organisation, development=True)
        if not (certs_dir / station_file(station)).exists():
            new_station(certs_dir, keys_dir, station)
    finally:
        os.close(fd)  # closing the descriptor releases the lock
    return load_station_signer(certs_dir, keys_dir, station)
