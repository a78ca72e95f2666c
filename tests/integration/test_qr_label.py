"""QR codes and labels, read back with real tools: pdftoppm renders, zbarimg decodes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from sanitiser.certificate.issue import IssuedCertificate, issue_certificate
from sanitiser.certificate.label import FORMATS, label_format, labels_pdf, labels_png
from sanitiser.certificate.qr import decode_token, qr_matrix
from sanitiser.certificate.samples import (
    HOSTILE,
    SamplePki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.verify import Trust, Validity, verify_image, verify_input
from sanitiser.errors import CertificateError
from sanitiser.runner import SubprocessRunner
from sanitiser.testing import FakeRunner

RUN = SubprocessRunner()


@pytest.fixture(scope="module")
def issued(pki: SamplePki) -> IssuedCertificate:
    """A certificate with a hostile model name (the label must cope)."""
    return issue_certificate(
        sample_outcome(),
        sample_drive(model=HOSTILE),
        sample_health(),
        sample_context(),
        pki.signer,
    )


@pytest.fixture(scope="module")
def largest(pki: SamplePki) -> IssuedCertificate:
    """The largest token possible: 40-byte serial and make/model, a 24-byte method name."""
    drive = replace(sample_drive(model="M" * 80), serial="S" * 60, vendor="")
    outcome = replace(sample_outcome(), method="vendor-special-erase-method")
    return issue_certificate(outcome, drive, sample_health(), sample_context(), pki.signer)


@pytest.fixture(scope="module")
def typical(pki: SamplePki) -> IssuedCertificate:
    """A typical drive: 15-character serial, 25-character model, a method from the table."""
    outcome = replace(sample_outcome(), method="nvme-sanitize-crypto")
    return issue_certificate(outcome, sample_drive(), sample_health(), sample_context(), pki.signer)


def _zbar(path: Path) -> list[str]:
    result = RUN.run(["zbarimg", "-q", "--raw", str(path)])
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


def _render(pdf: Path, dpi: int = 300) -> list[Path]:
    prefix = pdf.with_suffix("")
    result = RUN.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(prefix)])
    assert result.returncode == 0, result.stderr
    return sorted(pdf.parent.glob(prefix.name + "-*.png"))


def test_qr_on_the_certificate_page_decodes_and_verifies(
    issued: IssuedCertificate, trust: Trust, tmp_path: Path
) -> None:
    """pdftoppm -r 300 + zbarimg read the page's QR: the URL, and it verifies."""
    pdf = tmp_path / "cert.pdf"
    pdf.write_bytes(issued.pdf)
    (page,) = _render(pdf)
    assert _zbar(page) == [issued.url]
    verdict = verify_image(page, trust, RUN)
    assert verdict.validity is Validity.VALID, verdict.reason
    assert verdict.kind == "image"
    assert verdict.fact("certificate_id") == issued.certificate_id
    assert verify_input(str(page), trust, RUN).valid


def test_token_fits_a_small_qr(typical: IssuedCertificate, largest: IssuedCertificate) -> None:
    """A typical v2 URL is a QR of version 11 (61 modules), the largest possible version 13."""
    assert len(typical.token) == 269
    assert len(qr_matrix(typical.url)) == 17 + 4 * 11
    assert len(largest.token) == 372
    assert decode_token(largest.token).method_truncated
    assert len(qr_matrix(largest.url)) == 17 + 4 * 13


@pytest.mark.parametrize("which", ["issued", "largest"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_label_pdf_renders_a_scannable_qr(
    fmt: str, which: str, request: pytest.FixtureRequest, trust: Trust, tmp_path: Path
) -> None:
    """Each label stock's PDF, rendered at printer resolution, scans and verifies, also with
    the largest token (QR version 13)."""
    issued: IssuedCertificate = request.getfixturevalue(which)
    pdf = tmp_path / f"label-{fmt}.pdf"
    pdf.write_bytes(labels_pdf([(issued.signed.record, issued.url)], label_format(fmt)))
    pages = _render(pdf)
    assert len(pages) == 1
    assert _zbar(pages[0]) == [issued.url]
    assert verify_image(pages[0], trust, RUN).valid
    text = RUN.run(["pdftotext", str(pdf), "-"]).stdout
    serial = issued.signed.record["device"]["serial"]
    assert f"S/N {serial}"[:20] in text
    assert "SANITISED" in text


@pytest.mark.parametrize("which", ["issued", "largest"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_label_png_scans(
    fmt: str, which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Each stock's PNG (300 dpi, 1-bit) scans with zbarimg and has the label's size."""
    issued: IssuedCertificate = request.getfixturevalue(which)
    (png,) = labels_png([(issued.signed.record, issued.url)], label_format(fmt))
    path = tmp_path / f"label-{fmt}.png"
    path.write_bytes(png)
    assert _zbar(path) == [issued.url]
    from PIL import Image

    with Image.open(path) as image:
        spec = label_format(fmt)
        assert image.size == (round(spec.page_w / 25.4 * 300), round(spec.page_h / 25.4 * 300))


def test_a4_sheet_holds_21_labels_and_spills_to_a_second_page(
    issued: IssuedCertificate, tmp_path: Path
) -> None:
    """25 labels on A4 L7160 stock make two pages; every QR on the first page scans."""
    items = [(issued.signed.record, issued.url)] * 25
    pdf = tmp_path / "sheet.pdf"
    pdf.write_bytes(labels_pdf(items, label_format("a4")))
    pages = _render(pdf, 200)
    assert len(pages) == 2
    assert _zbar(pages[0]) == [issued.url] * 21
    assert len(labels_png(items, label_format("a4"), dpi=100)) == 2


def test_unknown_label_format_is_refused() -> None:
    """A typo in the format name is an error listing the choices."""
    with pytest.raises(CertificateError, match="62mm"):
        label_format("62")


def test_image_without_qr_is_unusable(trust: Trust, tmp_path: Path) -> None:
    """A picture with no QR code is unusable input (exit 2), via the runner seam."""
    blank = tmp_path / "blank.png"
    Image.new("1", (200, 100), 1).save(blank)
    runner = FakeRunner().reply(["zbarimg"], returncode=4)
    verdict = verify_image(blank, trust, runner)
    assert verdict.validity is Validity.UNUSABLE
    assert runner.calls[0][:3] == ("zbarimg", "-q", "--raw")


def test_an_image_too_large_to_decode_is_not_handed_to_the_decoder(
    trust: Trust, tmp_path: Path
) -> None:
    """A PNG of a few KB that unpacks to 100 megapixels is unusable input, said plainly, and
    never reaches the QR decoder; a file with an image's magic but no image is unusable too."""
    huge = tmp_path / "huge.png"
    Image.new("1", (10_000, 10_000), 1).save(huge)
    assert huge.stat().st_size < 1 << 20
    runner = FakeRunner().reply(["zbarimg"], returncode=4)
    verdict = verify_input(str(huge), trust, runner)
    assert verdict.validity is Validity.UNUSABLE
    assert "has more than 64,000,000 pixels" in verdict.reason
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    verdict = verify_input(str(fake), trust, runner)
    assert verdict.validity is Validity.UNUSABLE
    assert "is not an image that can be read" in verdict.reason
    assert runner.calls == []
