"""The device certificate as a PDF: a page per device (what it is, its facts, grade and checks,
readiness with each condition, its drives with their certificates), with the signed device
record embedded and a PAdES signature by the station, like the drive certificates; the QR code
carries the device token (`sanitiser.certificate.device_token`).

Renders a signed record only; what it says was decided and verified before it was signed.
"""

from __future__ import annotations

import io
from typing import Any

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    Image,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from sanitiser.certificate.keys import StationSigner, common_name, fingerprint
from sanitiser.certificate.pdf import markup, one_page, sign_pdf, visible
from sanitiser.certificate.qr import capacity_text, method_label, qr_png
from sanitiser.certificate.sign import SignedRecord, VerifiedRecord
from sanitiser.certificate.style import (
    HEADER_GREY,
    RULE_GREY,
    document_styles,
    font_coverage,
    fonts,
)


def device_file_name(certificate_id: str) -> str:
    """The embedded signed record's file name."""
    return f"device-{visible(certificate_id, 64)}.json"


def _rows(table: list[list[Flowable]], widths: list[float], header: bool = False) -> Table:
    t = Table(table, colWidths=widths)
    style: list[Any] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE_GREY),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_GREY))
    t.setStyle(TableStyle(style))
    return t


def _capacity(value: object) -> str:
    return capacity_text(value if isinstance(value, int) else None)


def render_device_pdf(signed: SignedRecord, url: str) -> bytes:
    """Lay out the device certificate (unsigned, record not yet embedded)."""
    record = signed.record
    font, bold = fonts()
    covered = font_coverage(font)
    st = document_styles(font, bold)

    def p(value: object, style: ParagraphStyle = st.base, limit: int = 200) -> Paragraph:
        return Paragraph(markup(value, limit, covered), style)

    dev, grade = record.get("device") or {}, record.get("grade") or {}
    ready, facts = record.get("readiness") or {}, record.get("facts") or {}
    route = (record.get("destination") or {}).get("route", "undecided")
    verdict = "READY FOR REUSE" if ready.get("ready") else "NOT READY"
    colour = "#1b5e20" if ready.get("ready") else "#b00020"
    head: list[Flowable] = [
        p("Device Certificate", st.title),
        p(record.get("organisation"), st.heading, 100),
        Paragraph(
            f'<font color="{colour}">{verdict}</font> — destination {markup(route, 20, covered)}',
            st.status,
        ),
        p(f"{dev.get('kind', '')} {dev.get('make', '')} {dev.get('model', '')}", st.base, 200),
        p(f"Tag {dev.get('tag', '')}   Serial {dev.get('serial') or '-'}", st.base, 120),
        p(f"Certificate id {record.get('certificate_id', '')}", st.base, 80),
        p(f"Issued {record.get('issued_at', '')} (UTC)", st.base, 60),
    ]
    qr = Image(io.BytesIO(qr_png(url, box_size=6, border=2)), width=40 * mm, height=40 * mm)
    header = Table([[head, [qr, p("Scan to verify", st.small)]]], colWidths=[138 * mm, 44 * mm])
    header.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story: list[Flowable] = [header]
    for key, text in (
        ("simulated", "SIMULATED LAB DRIVES"),
        ("development_key", "DEVELOPMENT KEY"),
    ):
        if record.get(key):
            story += [Spacer(1, 2 * mm), p(f"{text}: not proof for an organisation", st.banner)]

    def section(title: str, rows: list[tuple[object, object]]) -> None:
        story.append(p(title, st.heading))
        cells: list[list[Flowable]] = [[p(k, st.label), p(v)] for k, v in rows]
        story.append(_rows(cells, [45 * mm, 137 * mm]))

    section(
        "Device",
        [
            ("Asset tag", dev.get("tag")),
            ("Service tag", dev.get("service_tag") or "-"),
            ("Kind", dev.get("kind")),
            ("Lot", dev.get("lot") or "-"),
            ("Received", f"{dev.get('received_at')} by {dev.get('received_by')}"),
        ],
    )
    lines = facts.get("lines") or []
    section(
        f"Specification ({facts.get('source', 'not recorded')})",
        [(label, value) for label, value in lines] or [("Facts", "not recorded")],
    )
    checks = grade.get("checks") or {}
    section(
        "Grade and checks",
        [("Cosmetic grade", grade.get("cosmetic") or "not graded")]
        + [
            (name, f"{c.get('result')} ({c.get('operator')}, {c.get('at')})")
            for name, c in checks.items()
        ]
        + [(f"lock {k}", v) for k, v in (grade.get("locks") or {}).items()],
    )
    win = ready.get("windows11") or {}
    section(
        f"Readiness ({ready.get('policy', '')})",
        [(c[0], f"{'held' if c[1] else 'NOT held'}: {c[2]}") for c in ready.get("conditions") or []]
        + ([("Windows 11", win.get("text"))] if win else [])
        + [("Decision", f"{route}: {ready.get('reason', '')}")]
        + [("Note", n) for n in ready.get("notes") or []],
    )
    drives = record.get("drives") or []
    story.append(p("Drives", st.heading))
    if not dev.get("holds_data"):
        story.append(p("This device holds no data-bearing media: nothing was erased."))
    elif not drives:
        story.append(p("No drive was linked to this device."))
    else:
        cells: list[list[Flowable]] = [
            [p(h, st.label) for h in ("Drive", "Outcome", "Method", "Certificate")]
        ]
        for d in drives:
            cells.append(
                [
                    p(f"{d.get('serial')} {d.get('model')}", limit=300),
                    p(
                        f"{d.get('outcome')} ({d.get('nist_category')}), verification "
                        f"{d.get('verification')}"
                    ),
                    p(
                        f"{method_label(str(d.get('method') or d.get('technique') or ''))}; "
                        f"{_capacity(d.get('capacity_bytes'))}"
                    ),
                    p(f"{d.get('certificate_id')}<br/>SHA-256 {d.get('record_sha256')}", st.small),
                ]
            )
        story.append(_rows(cells, [46 * mm, 36 * mm, 40 * mm, 60 * mm], header=True))
    signer = signed.signer
    story += [
        p("Digital signature", st.heading),
        p(
            f"Signed by station {common_name(signer)} ({signer.subject.rfc4514_string()}), "
            f"certificate SHA-256 {fingerprint(signer)}. Record SHA-256 {signed.digest.hex()}. "
            f"The signed record is embedded as {device_file_name(signed.certificate_id)}; verify "
            "it with 'sanitiser verify', and each drive with its own certificate (the SHA-256 "
            "above is of that certificate's signed record).",
            st.small,
            2000,
        ),
    ]
    return one_page(
        story,
        title=f"Device Certificate {visible(signed.certificate_id, 64)}",
        subject="Device certificate: inventory, grade, readiness and sanitised drives",
    )


def device_certificate_pdf(verified: VerifiedRecord, signer: StationSigner, url: str) -> bytes:
    """Render, embed and sign: the finished device certificate PDF of a verified record."""
    signed = verified.signed
    return sign_pdf(
        render_device_pdf(signed, url),
        signed,
        signer,
        file_name=device_file_name(signed.certificate_id),
        description="Signed device certificate record (canonical JSON)",
        # the field every certificate PDF carries (`verify` pins it): one kind of signature
        reason="Device certificate: inventory, grade, readiness, sanitised drives",
    )
