"""Issuing a certificate: record -> signature -> token -> signed PDF, in one call for the jobs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.pdf import certificate_pdf
from sanitiser.certificate.qr import DEFAULT_BASE_URL, make_token, token_url
from sanitiser.certificate.record import RecordContext, build_record, new_certificate_id
from sanitiser.certificate.sign import SignedRecord, sign_record
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


def sign_and_render(
    signed: SignedRecord, signer: StationSigner, base_url: str = DEFAULT_BASE_URL
) -> IssuedCertificate:
    """Token and signed PDF for an already signed record (also used to re-export)."""
    token = make_token(signed.record, signer)
    url = token_url(token, base_url)
    return IssuedCertificate(
        signed=signed, token=token, url=url, pdf=certificate_pdf(signed, signer, url)
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
