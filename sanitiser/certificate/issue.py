"""Issuing a certificate: record -> signature -> token -> signed PDF, in one call for the jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sanitiser.certificate.keys import StationSigner, read_crl
from sanitiser.certificate.pdf import certificate_pdf
from sanitiser.certificate.qr import DEFAULT_BASE_URL, make_token, token_url
from sanitiser.certificate.record import RecordContext, build_record, new_certificate_id
from sanitiser.certificate.sign import SignedRecord, VerifiedRecord, sign_record
from sanitiser.certificate.verify import Trust, require_verified
from sanitiser.domain import Drive, Health, Outcome


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """Everything issued for one drive."""

    signed: SignedRecord
    token: str
    url: str
    pdf: bytes

    @property
    def certificate_id(self) -> str:
        """The record's globally unique id."""
        return self.signed.certificate_id

    @property
    def record_json(self) -> bytes:
        """The signed record envelope (canonical JSON + newline): what the store keeps."""
        return self.signed.to_bytes()


def signing_trust(signer: StationSigner) -> Trust:
    """What a record must chain to before this station signs anything derived from it: the
    station's own organisation CA, with the organisation's revocation list."""
    crls = (read_crl(signer.crl_path),) if signer.crl_path and signer.crl_path.is_file() else ()
    return Trust(org_cas=(signer.org_ca,), crls=crls)


def _token_and_url(
    verified: VerifiedRecord, signer: StationSigner, base_url: str
) -> tuple[str, str]:
    token = make_token(verified, signer)
    return token, token_url(token, base_url)


def token_for(
    signed: SignedRecord,
    signer: StationSigner,
    base_url: str = DEFAULT_BASE_URL,
    *,
    certificate_id: str | None = None,
) -> tuple[str, str]:
    """A fresh QR token and its URL for a signed record, once the record verifies.

    Args:
        signed: the record as read.
        signer: the station that signs the token.
        base_url: the verification page's URL.
        certificate_id: the id the record was looked up by in the store (checked).

    Raises:
        CertificateError: the record does not verify (see `require_verified`); nothing signed.
    """
    verified = require_verified(signed, signing_trust(signer), certificate_id=certificate_id)
    return _token_and_url(verified, signer, base_url)


def sign_and_render(
    signed: SignedRecord,
    signer: StationSigner,
    base_url: str = DEFAULT_BASE_URL,
    *,
    certificate_id: str | None = None,
) -> IssuedCertificate:
    """Token and signed PDF for a signed record (also used to re-export), once it verifies.

    Raises:
        CertificateError: the record does not verify; nothing was signed.
    """
    verified = require_verified(signed, signing_trust(signer), certificate_id=certificate_id)
    token, url = _token_and_url(verified, signer, base_url)
    return IssuedCertificate(
        signed=signed, token=token, url=url, pdf=certificate_pdf(verified, signer, url)
    )


def issue_certificate(
    outcome: Outcome,
    drive: Drive,
    health_before: Health | None,
    context: RecordContext,
    signer: StationSigner,
    *,
    health_after: Health | None = None,
    base_url: str = DEFAULT_BASE_URL,
    now: datetime | None = None,
    certificate_id: str | None = None,
) -> IssuedCertificate:
    """Build, sign and render the certificate for one Outcome.

    The record says DEVELOPMENT KEY exactly when `signer` is a development key, and SIMULATED
    when the drive is simulated.

    Raises:
        CertificateError: the record cannot be built or signed.
    """
    record = build_record(
        outcome,
        drive,
        health_before,
        context,
        certificate_id=certificate_id or new_certificate_id(),
        issued_at=now or datetime.now(UTC),
        health_after=health_after,
        development=signer.development,
    )
    return sign_and_render(sign_record(record, signer), signer, base_url)
