"""The one-page PDF certificate: laid out with reportlab, the signed record embedded as a file,
then signed (PAdES baseline B, ECDSA P-256) with pyHanko using the station key and chain.

Every string from the record is made safe before it is drawn: control and format characters are
shown as ``\\xNN``/``\\uNNNN`` escapes, Paragraph markup characters are XML-escaped, and very
long values are shortened (the embedded record keeps them whole). Text is set in DejaVu Sans
when installed (``fonts-dejavu-core``), so non-Latin text prints as itself.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pyhanko.pdf_utils import embed, generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    Image,
    KeepInFrame,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from sanitiser.certificate.keys import (
    DEV_MARKER,
    StationSigner,
    common_name,
    ecdsa_sign,
    fingerprint,
)
from sanitiser.certificate.qr import qr_png
from sanitiser.certificate.record import Record, is_caveat, record_caveats
from sanitiser.certificate.sign import SignedRecord, VerifiedRecord
from sanitiser.certificate.style import RULE_GREY, document_styles, font_coverage, fonts
from sanitiser.errors import CertificateError

SIGNATURE_FIELD = "SanitisationRecord"
"""The PDF signature field of a certificate (a drive's or a device's)."""
MANIFEST_FIELD = "ConsignmentManifest"
"""The PDF signature field of a consignment manifest."""
MANIFEST_FILE_PREFIX = "consignment-manifest-"
"""How the name of the signed manifest embedded in a manifest PDF begins."""
_MAX_VALUE = 160
_UNCUT = 4000
"""The limit for text that qualifies the claim (caveats, the downgrade, the outcome's reason):
longer than any a method or plan writes, so it is printed whole (the page shrinks to fit)."""
_LONGER_VALUES = {"Downgraded": _UNCUT, "Reason": _UNCUT}
"""Rows whose value may run past `_MAX_VALUE` before it is cut (a downgrade reason ends with
what the plan downgraded to; an outcome's reason says why it is not sanitised)."""


def record_file_name(certificate_id: str) -> str:
    """The name of the embedded record file inside the PDF."""
    safe = "".join(c for c in certificate_id if c.isalnum() or c == "-")[:64]
    return f"sanitisation-record-{safe}.json"


def manifest_file_name(consignment_id: str) -> str:
    """The name of the signed manifest embedded in a manifest PDF."""
    safe = "".join(c for c in consignment_id if c.isalnum() or c == "-")[:64]
    return f"{MANIFEST_FILE_PREFIX}{safe}.json"


def visible(
    value: object, limit: int = _MAX_VALUE, covered: Callable[[str], bool] | None = None
) -> str:
    """A value as safe plain text: control/format characters escaped, shortened to `limit`.

    Args:
        value: any record value (None prints as an em dash).
        limit: the longest text kept; longer text ends in "… (shortened)".
        covered: which characters the font can draw; others print as ``\\uNNNN``.
    """
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    out: list[str] = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif covered is not None and not ch.isspace() and not covered(ch):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    safe = "".join(out)
    if len(safe) > limit:
        safe = safe[: limit - 14] + "… (shortened)"
    return safe


def markup(
    value: object, limit: int = _MAX_VALUE, covered: Callable[[str], bool] | None = None
) -> str:
    """`visible` text XML-escaped for a reportlab Paragraph."""
    return escape(visible(value, limit, covered))


def _capacity(n: object) -> str:
    if not isinstance(n, int) or isinstance(n, bool):
        return "—"
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    value, unit = n, 0
    while value >= 1000 and unit < len(units) - 1:
        value //= 1000
        unit += 1
    return f"{n:,} bytes ({value} {units[unit]})" if unit else f"{n:,} bytes"


def _ppm(value: object) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        return "—"
    return f"{value // 10000}.{value % 10000:04d} %"


def _health_text(h: Any) -> str:
    if not isinstance(h, dict):
        return "not read"
    parts = [f"grade {h.get('grade', '?')}"]
    if h.get("smart_passed") is not None:
        parts.append("SMART passed" if h.get("smart_passed") else "SMART FAILED")
    for key, label in (
        ("power_on_hours", "power-on h"),
        ("reallocated_sectors", "reallocated"),
        ("pending_sectors", "pending"),
        ("media_errors", "media errors"),
        ("percentage_used", "% used"),
    ):
        if h.get(key) is not None:
            parts.append(f"{label} {h[key]}")
    reasons = h.get("reasons") or []
    if reasons:
        parts.append("; ".join(str(r) for r in reasons))
    return ", ".join(parts)


def certificate_sections(record: Record) -> list[tuple[str, list[tuple[str, object]]]]:
    """The printed sections (NIST SP 800-88 App. G order) as (heading, [(label, value)])."""
    g = record.get
    dev, san = g("device") or {}, g("sanitisation") or {}
    ver, out = g("verification") or {}, g("outcome") or {}
    op, val = g("operator") or {}, g("validator") or {}
    dest, tool, pol = g("destination") or {}, g("tool") or {}, g("policy") or {}
    health, cls, backup = g("health") or {}, g("classification") or {}, g("backup") or {}
    details = san.get("details") or {}
    commands = san.get("commands") or []
    cmd_text = "; ".join(" ".join(str(a) for a in c.get("argv", [])) for c in commands[:4])
    if len(commands) > 4:
        cmd_text += f"; … {len(commands) - 4} more in the embedded record"
    return [
        (
            "Person performing sanitisation",
            [
                ("Name", op.get("name")),
                ("Title", op.get("title")),
                ("Organisation", op.get("organisation") or g("organisation")),
                ("Location", op.get("location")),
                ("Contact", op.get("contact")),
                ("Station", g("station")),
            ],
        ),
        (
            "Media information",
            [
                ("Manufacturer", dev.get("manufacturer")),
                ("Model", dev.get("model")),
                ("Serial number", dev.get("serial")),
                ("WWN", dev.get("wwn")),
                ("Firmware", dev.get("firmware")),
                ("Capacity", _capacity(dev.get("capacity_bytes"))),
                (
                    "Media type",
                    f"{dev.get('media_type', '?')} ({dev.get('media_kind', '?')}, "
                    f"{dev.get('transport', '?')})",
                ),
                ("Property number", dev.get("property_number")),
                ("Source", dev.get("source")),
                ("Classification", cls.get("before")),
                (
                    "Data backed up",
                    f"{backup.get('data_backed_up', 'unknown')} "
                    f"{backup.get('location') or ''}".strip(),
                ),
                ("Health before", _health_text(health.get("before"))),
                ("Health after", _health_text(health.get("after"))),
            ],
        ),
        (
            "Sanitisation details",
            [
                ("Method type", str(san.get("nist_category", "")).upper()),
                *([("Downgraded", san.get("downgrade"))] if "downgrade" in san else []),
                *([("Captured", _captured_text(san.get("captured")))] if "captured" in san else []),
                ("Method used", san.get("technique")),
                ("Method", san.get("method")),
                (
                    "Method details",
                    ", ".join(f"{k}={v}" for k, v in details.items() if not is_caveat(str(k))),
                ),
                ("Commands", cmd_text),
                ("HPA/DCO", san.get("hpa_dco")),
                ("Standard", san.get("standard")),
                ("Tool used", f"{tool.get('name', '')} {tool.get('version', '')}"),
                ("Policy", f"{pol.get('name', '')} {pol.get('version', '')}"),
                ("Started (UTC)", san.get("started_at")),
                ("Finished (UTC)", san.get("finished_at")),
                ("Post-sanitisation classification", cls.get("after")),
            ],
        ),
        (
            "Verification and outcome",
            [
                ("Verification method", ver.get("mode")),
                ("Verification result", str(ver.get("result", "")).upper()),
                ("Coverage", _ppm(ver.get("coverage_ppm"))),
                (
                    "Samples / bytes checked",
                    f"{ver.get('samples', 0)} / {ver.get('bytes_checked', 0)}",
                ),
                (
                    "Canaries surviving",
                    f"{ver.get('canaries_surviving', 0)} of {ver.get('canaries_written', 0)}",
                ),
                ("Outcome", str(out.get("status", "")).upper()),
                ("Reason", out.get("reason")),
            ],
        ),
        (
            "Media destination",
            [
                ("Destination", dest.get("route")),
                ("Scheme / facility", dest.get("scheme")),
                ("Details", dest.get("details")),
                ("Notes", g("notes")),
            ],
        ),
        (
            "Validation",
            [
                ("Name", val.get("name")),
                ("Title", val.get("title")),
                ("Organisation", val.get("organisation")),
                ("Contact", val.get("contact")),
            ],
        ),
    ]


def _banner_text(record: Record) -> list[str]:
    banners = []
    if record.get("simulated"):
        banners.append("SIMULATED — lab drive, not a real sanitisation")
    if record.get("development_key"):
        banners.append(f"{DEV_MARKER} — not valid as proof for an organisation")
    if record.get("supersedes"):
        banners.append(f"Supersedes certificate {visible(record['supersedes'], 64)}")
    return banners


def _rows_table(cells: list[list[Paragraph]], *, caveat: bool = False) -> Table:
    """A section's label/value rows (a caveat's framed, so it reads as one)."""
    table = Table(cells, colWidths=[45 * mm, 137 * mm])
    style: list[Any] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE_GREY),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]
    if caveat:
        style.append(("BOX", (0, 0), (-1, -1), 0.75, RULE_GREY))
    table.setStyle(TableStyle(style))
    return table


def render_pdf(signed: SignedRecord, url: str) -> bytes:
    """Lay out the one-page certificate (unsigned, record not yet embedded).

    Args:
        signed: the signed record to print.
        url: the verification URL the QR code carries.
    """
    record = signed.record
    font, bold = fonts()
    covered = font_coverage(font)
    st = document_styles(font, bold)
    base, label, heading, title, banner, small = (
        st.base,
        st.label,
        st.heading,
        st.title,
        st.banner,
        st.small,
    )
    status_style = st.status

    def p(value: object, style: ParagraphStyle = base, limit: int = _MAX_VALUE) -> Paragraph:
        return Paragraph(markup(value, limit, covered), style)

    out = record.get("outcome") or {}
    san = record.get("sanitisation") or {}
    status = str(out.get("status", "?")).upper()
    colour = "#1b5e20" if status == "SANITISED" else "#b00020"
    category = str(san.get("nist_category", "")).upper()
    status_line = Paragraph(
        f'<font color="{colour}">{markup(status, 40, covered)}</font>'
        f" — NIST {markup(category, 20, covered)} ({markup(san.get('technique'), 40, covered)})",
        status_style,
    )
    head_left: list[Flowable] = [
        p("Certificate of Sanitization", title),
        p(record.get("organisation"), heading, 100),
        status_line,
        p(f"Certificate id {record.get('certificate_id', '')}", base, 80),
        p(f"Issued {record.get('issued_at', '')} (UTC)", base, 60),
    ]
    qr = Image(io.BytesIO(qr_png(url, box_size=8, border=2)), width=38 * mm, height=38 * mm)
    header = Table([[head_left, [qr, p("Scan to verify", small)]]], colWidths=[140 * mm, 42 * mm])
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story: list[Flowable] = [header]
    for text in _banner_text(record):
        story += [Spacer(1, 2 * mm), p(text, banner, 120)]
    caveats = record_caveats(record)
    if caveats:  # what qualifies the claim above: printed in full, never cut
        story.append(p("Caveats", heading))
        story.append(
            _rows_table([[p(k, label), p(v, base, _UNCUT)] for k, v in caveats], caveat=True)
        )
    for name, rows in certificate_sections(record):
        story.append(p(name, heading))
        cells = [[p(k, label), p(v, base, _LONGER_VALUES.get(k, _MAX_VALUE))] for k, v in rows]
        story.append(_rows_table(cells))
    signer = signed.signer
    story += [
        p("Digital signature", heading),
        p(
            f"This record is digitally signed by station {common_name(signer)} "
            f"({signer.subject.rfc4514_string()}), certificate SHA-256 {fingerprint(signer)}. "
            f"Record SHA-256 {signed.digest.hex()}. The signed record is embedded in this PDF as "
            f"{record_file_name(signed.certificate_id)}; verify it with "
            "'sanitiser verify' and the organisation's CA certificate. The digital signature "
            "proves the record's integrity and origin, not a person's handwritten signature.",
            small,
            2000,
        ),
    ]
    return one_page(
        story,
        title=f"Certificate of Sanitization {visible(signed.certificate_id, 64)}",
        subject="NIST SP 800-88 certificate of sanitization",
    )


def one_page(story: list[Flowable], *, title: str, subject: str) -> bytes:
    """An A4 page holding `story` (shrunk to fit), with the document's metadata."""
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=title,
        author="sanitiser",
        subject=subject,
        creator="sanitiser",
    )
    frame_w, frame_h = A4[0] - 28 * mm, A4[1] - 24 * mm
    doc.build([KeepInFrame(frame_w, frame_h, story, mode="shrink")])
    return buf.getvalue()


def _asn1_cert(cert: Any) -> Any:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class _StationPdfSigner(signers.SimpleSigner):
    """pyHanko's signer with the raw signature made by `ecdsa_sign`: the station's one signing
    primitive (refuses once revoked; low-s only, so the PDF signature has no second form)."""

    def __init__(self, station: StationSigner, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.station = station

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """The DER ECDSA signature of `data` (SHA-256 only, as the metadata asks)."""
        if digest_algorithm != "sha256":
            raise CertificateError(f"station PDFs are signed with SHA-256, not {digest_algorithm}")
        r, s = ecdsa_sign(self.station, data)
        return encode_dss_signature(r, s)


def sign_pdf(
    pdf: bytes,
    signed: SignedRecord,
    signer: StationSigner,
    *,
    file_name: str | None = None,
    description: str = "Signed sanitisation record (canonical JSON)",
    field_name: str = SIGNATURE_FIELD,
    reason: str = "NIST SP 800-88 certificate of sanitization",
) -> bytes:
    """Embed the signed record in the PDF and sign it (PAdES B-B) with the station key.

    The signature is a certification signature that allows no further changes, so any later
    edit of the file shows in every validator. The keyword arguments let other signed
    documents (consignment manifests) reuse this with their own embedded file name,
    description, signature field and reason.
    """
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    name = file_name or record_file_name(signed.certificate_id)
    data = signed.to_bytes()
    ef = embed.EmbeddedFileObject.from_file_data(
        writer,
        data=data,
        mime_type="application/json",
        params=embed.EmbeddedFileParams(
            embed_size=True, embed_checksum=True, modification_date=datetime.now(UTC)
        ),
    )
    embed.embed_file(
        writer,
        embed.FileSpec(
            file_spec_string=name,
            file_name=name,
            embedded_data=ef,
            description=description,
            af_relationship=generic.pdf_name("/Source"),
        ),
    )
    signer.check_usable()  # a revoked station signs nothing, not even a PDF
    key_der = signer.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pdf_signer = _StationPdfSigner(
        signer,
        signing_cert=_asn1_cert(signer.cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [_asn1_cert(signer.org_ca)]
        ),
    )
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=visible(signer.name, 64),
        name=visible(f"{signer.name} ({signer.organisation})", 128),
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
    )
    try:
        out = signers.sign_pdf(writer, meta, signer=pdf_signer)
    except Exception as e:  # pyHanko raises many types; one clear error for the caller
        raise CertificateError(f"could not sign the PDF: {e}") from e
    result: bytes = out.getvalue()
    return result


def certificate_pdf(verified: VerifiedRecord, signer: StationSigner, url: str) -> bytes:
    """Render, embed and sign: the finished PDF certificate of a verified record."""
    return sign_pdf(render_pdf(verified.signed, url), verified.signed, signer)


def embedded_files(reader: Any) -> Iterable[tuple[str, bytes]]:
    """(name, data) of every file embedded at the document level of a pyHanko reader."""
    try:
        tree = reader.root["/Names"]["/EmbeddedFiles"]
        names = tree["/Names"]
    except KeyError:
        return
    for i in range(0, len(names) - 1, 2):
        spec = names[i + 1]
        ef = spec.get("/EF")
        if ef is None or "/F" not in ef:
            continue
        yield str(names[i]), ef["/F"].data


def _captured_text(captured: object) -> str:
    """Where the work was done, in words (the record's ``sanitisation.captured``)."""
    return {
        "on-device": "on the computer itself, by the network agent, reported live to the bench",
        "off-bench": (
            "OFF-BENCH: on the computer with no bench in reach; signed evidence checked at import"
        ),
    }.get(str(captured), str(captured))
