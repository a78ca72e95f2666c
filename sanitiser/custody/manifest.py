"""The consignment manifest: what the collector signs off when devices leave our custody.

The manifest is a record like a certificate's (canonical JSON, signed by the station key the
same way, `sign_record`), listing every device of the consignment by certificate id with its
serial, method, outcome, verification and health grade. Two renderings carry it:

- a CSV (RFC 4180, UTF-8, one row per device), whose SHA-256 is inside the signed record, so a
  CSV handed to the collector can be checked against the signed manifest;
- a PDF (A4 landscape, the devices table, a sign-off box for the collector), with the signed
  manifest embedded and a PAdES signature by the station, like the certificates.

The manifest also carries the station's audit-chain head (``audit_anchor``) when it was made: a
signed copy of the chain's state held outside the database.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from sanitiser.certificate.issue import signing_trust
from sanitiser.certificate.keys import DEV_MARKER, StationSigner, common_name, fingerprint
from sanitiser.certificate.pdf import (
    MANIFEST_FIELD,
    manifest_file_name,
    markup,
    sign_pdf,
    visible,
)
from sanitiser.certificate.record import (
    DEVICE_SCHEMA,
    MANIFEST_SCHEMA,
    RECORD_SCHEMA,
    Record,
    check_typed_text,
    utc_text,
)
from sanitiser.certificate.sign import SignedRecord, check_signature, parse_envelope, sign_record
from sanitiser.certificate.style import (
    HEADER_GREY,
    RULE_GREY,
    document_styles,
    font_coverage,
    fonts,
)
from sanitiser.certificate.verify import require_verified
from sanitiser.errors import CertificateError
from sanitiser.routing.items import consignment_line as manifest_item
from sanitiser.store import Store
from sanitiser.store.consignments import (
    ManifestMaterial,
    manifest_files,
    manifest_material,
    save_manifest,
)
from sanitiser.text import spreadsheet_text

__all__ = [
    "CSV_COLUMNS",
    "MANIFEST_FIELD",
    "MANIFEST_SCHEMA",
    "IssuedManifest",
    "build_manifest",
    "csv_of_manifest",
    "issue_manifest",
    "manifest_csv",
    "manifest_file_name",
    "render_manifest_pdf",
    "sign_manifest_pdf",
    "stored_manifest",
]

CSV_COLUMNS = (
    "consignment_id",
    "certificate_id",
    "serial",
    "manufacturer",
    "model",
    "media_kind",
    "capacity_bytes",
    "method",
    "nist_category",
    "technique",
    "outcome",
    "verification",
    "health_grade",
    "simulated",
    "certificate_sha256",
)
"""The CSV header, in order."""


# --- the functional core -------------------------------------------------------------------


def _csv_cell(value: object) -> str:
    """A cell as text; one that a spreadsheet would run as a formula is quoted with ``'``."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return spreadsheet_text(str(value))


def manifest_csv(consignment_id: str, items: Sequence[Mapping[str, Any]]) -> bytes:
    """The CSV rendering of manifest lines (header first, CRLF line ends, UTF-8)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        row = {"consignment_id": consignment_id, **item}
        writer.writerow([_csv_cell(row.get(c, "")) for c in CSV_COLUMNS])
    return buf.getvalue().encode("utf-8")


def csv_of_manifest(record: Mapping[str, Any]) -> bytes:
    """The CSV of a (signed) manifest record, byte for byte as issued."""
    return manifest_csv(str(record.get("consignment_id", "")), record.get("items") or [])


def build_manifest(
    material: ManifestMaterial,
    records: Sequence[Mapping[str, Any]],
    *,
    organisation: str,
    station: str,
    operator: str,
    issued_at: datetime,
    development: bool,
) -> Record:
    """The manifest record of a consignment (facts only; signed by the caller).

    Args:
        material: the consignment, its destination and the audit head.
        records: the devices' certificate records, in the consignment's order.
        organisation: the organisation handing the devices over.
        station: the station issuing the manifest.
        operator: who made it.
        issued_at: when (timezone-aware).
        development: True when a development key will sign it.

    Raises:
        CertificateError: a typed field carries text a record may not (`check_typed_text`).
    """
    consignment = material.consignment
    check_typed_text(
        (
            ("organisation", organisation, "organisation"),
            ("station", station, "station"),
            ("operator", operator, "operator"),
            ("opened_by", consignment.opened_by, "operator"),
        )
    )
    items = [manifest_item(r) for r in records]
    anchor = material.audit_anchor
    return {
        "schema": MANIFEST_SCHEMA,
        "consignment_id": consignment.id,
        "issued_at": utc_text(issued_at),
        "organisation": organisation,
        "station": station,
        "operator": operator,
        "development_key": development,
        "simulated": any(i["simulated"] for i in items),
        "destination": {
            k: v for k, v in material.destination.as_json().items() if k not in ("active", "notes")
        },
        "opened_at": utc_text(consignment.opened_at),
        "opened_by": consignment.opened_by,
        "count": len(items),
        "items": items,
        "csv_sha256": hashlib.sha256(manifest_csv(consignment.id, items)).hexdigest(),
        "audit_anchor": None
        if anchor is None
        else {"station": anchor[0], "seq": anchor[1], "hash": anchor[2]},
    }


# --- the PDF -------------------------------------------------------------------------------

_ITEM_COLUMNS = (
    ("#", 8),
    ("Certificate id", 60),
    ("Serial", 36),
    ("Model", 40),
    ("Media", 16),
    ("Method", 42),
    ("NIST", 14),
    ("Outcome", 20),
    ("Verif.", 14),
    ("Grade", 13),
)


def render_manifest_pdf(signed: SignedRecord) -> bytes:
    """Lay the manifest out (unsigned, record not yet embedded): header, destination, devices,
    totals, and the sign-off box the collector signs."""
    record = signed.record
    font, bold = fonts()
    covered = font_coverage(font)
    st = document_styles(
        font,
        bold,
        size=7.4,
        leading=9,
        heading=(10, 13, 4),
        title_leading=20,
        centred_banner=False,
        prefix="m-",
    )
    base, label, heading, title = st.base, st.label, st.heading, st.title
    banner, small, ident = st.banner, st.small, st.ident

    def p(value: object, style: ParagraphStyle = base, limit: int = 120) -> Paragraph:
        return Paragraph(markup(value, limit, covered), style)

    dest = record.get("destination") or {}
    items = record.get("items") or []
    story: list[Flowable] = [
        p("Consignment manifest — devices handed over", title),
        p(record.get("organisation"), heading, 100),
    ]
    if record.get("simulated"):
        story += [Spacer(1, 2 * mm), p("SIMULATED — lab devices, not real media", banner)]
    if record.get("development_key"):
        story += [Spacer(1, 2 * mm), p(f"{DEV_MARKER} — not valid for an organisation", banner)]
    facts = [
        ("Consignment", record.get("consignment_id")),
        ("Destination", f"{dest.get('name', '')} ({dest.get('kind', '')})"),
        ("Contact", dest.get("contact")),
        ("Scheme / accreditation", dest.get("scheme")),
        ("Accepts", ", ".join(str(k) for k in dest.get("accepts") or [])),
        ("Station", record.get("station")),
        ("Opened (UTC)", f"{record.get('opened_at', '')} by {record.get('opened_by') or '—'}"),
        ("Manifest issued (UTC)", f"{record.get('issued_at', '')} by {record.get('operator')}"),
    ]
    table = Table([[p(k, label), p(v)] for k, v in facts], colWidths=[45 * mm, 220 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [Spacer(1, 2 * mm), table, p(f"Devices ({len(items)})", heading)]
    rows: list[list[Paragraph]] = [[p(name, label) for name, _ in _ITEM_COLUMNS]]
    for n, item in enumerate(items, 1):
        rows.append(
            [
                p(n),
                p(item.get("certificate_id"), ident, 64),
                p(item.get("serial"), base, 64),
                p(item.get("model"), base, 80),
                p(item.get("media_kind")),
                p(item.get("method"), base, 64),
                p(str(item.get("nist_category", "")).upper()),
                p(str(item.get("outcome", "")).upper()),
                p(str(item.get("verification", "")).upper()),
                p(item.get("health_grade")),
            ]
        )
    devices = Table(rows, colWidths=[w * mm for _, w in _ITEM_COLUMNS], repeatRows=1)
    devices.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE_GREY),
                ("BACKGROUND", (0, 0), (-1, 0), HEADER_GREY),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    story.append(devices)
    kinds = Counter(str(i.get("media_kind", "")) for i in items)
    outcomes = Counter(str(i.get("outcome", "")) for i in items)
    story.append(
        p(
            "Totals: "
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            + "; "
            + ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items())),
            base,
            400,
        )
    )
    anchor = record.get("audit_anchor") or {}
    signer = signed.signer
    closing: list[Flowable] = [
        p("Sign-off", heading),
        p(
            f"I received the {len(items)} device(s) listed above, identified by serial "
            "number, on behalf of the destination named.",
            base,
            400,
        ),
    ]
    sign_off = Table(
        [
            [p("Collected by (name)", label), "", p("Signature", label), ""],
            [p("Organisation", label), "", p("Date and time", label), ""],
            [p("Handed over by (name)", label), "", p("Signature", label), ""],
        ],
        colWidths=[40 * mm, 90 * mm, 35 * mm, 100 * mm],
        rowHeights=[11 * mm] * 3,
    )
    sign_off.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    closing += [
        sign_off,
        Spacer(1, 2 * mm),
        p(
            f"This manifest is digitally signed by station {common_name(signer)} "
            f"({signer.subject.rfc4514_string()}), certificate SHA-256 {fingerprint(signer)}. "
            f"Manifest SHA-256 {signed.digest.hex()}; CSV SHA-256 "
            f"{record.get('csv_sha256', '')}. The signed manifest is embedded in this PDF as "
            f"{manifest_file_name(str(record.get('consignment_id', '')))}. Audit chain of "
            f"{visible(anchor.get('station'), 64)} at entry {anchor.get('seq', '—')}, hash "
            f"{anchor.get('hash', '—')}.",
            small,
            2000,
        ),
    ]
    story.append(KeepTogether(closing))  # the sign-off box and what it signs stay on one page
    cid = visible(record.get("consignment_id"), 64)

    def footer(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(14 * mm, 7 * mm, f"Consignment {cid} — page {doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=landscape(A4),
        leftMargin=14 * mm,
        rightMargin=14 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=f"Consignment manifest {cid}",
        author="sanitiser",
        subject="Devices handed over",
        creator="sanitiser",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


# --- the imperative shell ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedManifest:
    """A consignment's signed manifest and its renderings."""

    signed: SignedRecord
    csv: bytes
    pdf: bytes

    @property
    def consignment_id(self) -> str:
        """The consignment the manifest lists."""
        return str(self.signed.record.get("consignment_id", ""))

    @property
    def envelope(self) -> bytes:
        """The signed manifest envelope (canonical JSON + newline)."""
        return self.signed.to_bytes()

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical manifest record (what the audit log and close cite)."""
        return self.signed.digest.hex()


def _records(envelopes: Sequence[bytes], signer: StationSigner) -> list[Record]:
    """The records of the certificates, each verified before the manifest signs a claim on it."""
    trust = signing_trust(signer)
    records = []
    for data in envelopes:
        signed = parse_envelope(data)
        kind = DEVICE_SCHEMA if signed.record.get("schema") == DEVICE_SCHEMA else RECORD_SCHEMA
        require_verified(signed, trust, schema=kind)
        records.append(signed.record)
    return records


def sign_manifest_pdf(signed: SignedRecord, signer: StationSigner) -> bytes:
    """Render the manifest and sign the PDF (PAdES, the signed manifest embedded)."""
    return sign_pdf(
        render_manifest_pdf(signed),
        signed,
        signer,
        file_name=manifest_file_name(str(signed.record.get("consignment_id", ""))),
        description="Signed consignment manifest (canonical JSON)",
        field_name=MANIFEST_FIELD,
        reason="Consignment manifest: devices handed over",
    )


def issue_manifest(
    store: Store,
    consignment_id: str,
    signer: StationSigner,
    *,
    station: str,
    operator: str = "",
    now: datetime | None = None,
) -> IssuedManifest:
    """Build, sign and keep the manifest of an open consignment (replacing an older one).

    Raises:
        ConsignmentError: the consignment is unknown, closed, empty, or changed meanwhile.
        CertificateError: a certificate in it does not verify, or signing failed.
    """
    material = manifest_material(store, consignment_id)
    record = build_manifest(
        material,
        _records(material.envelopes, signer),
        organisation=signer.organisation,
        station=signer.name,
        operator=operator,
        issued_at=now or datetime.now(UTC),
        development=signer.development,
    )
    signed = sign_record(record, signer)
    issued = IssuedManifest(signed, csv_of_manifest(record), sign_manifest_pdf(signed, signer))
    save_manifest(
        store,
        consignment_id,
        manifest_sha256=issued.sha256,
        certificate_ids=[i["certificate_id"] for i in record["items"]],
        envelope=issued.envelope,
        pdf=issued.pdf,
        station=station,
        operator=operator,
    )
    return issued


def stored_manifest(store: Store, consignment_id: str) -> IssuedManifest | None:
    """The manifest kept for a consignment (open or closed), or None when there is none.

    Raises:
        CertificateError: the kept manifest no longer verifies (the store was edited).
    """
    files = manifest_files(store, consignment_id)
    if files is None:
        return None
    envelope, pdf = files
    signed = parse_envelope(envelope)
    check_signature(signed)
    if signed.record.get("schema") != MANIFEST_SCHEMA:
        raise CertificateError(f"the manifest kept for {consignment_id} is not a manifest")
    return IssuedManifest(signed, csv_of_manifest(signed.record), pdf)
