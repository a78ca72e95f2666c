"""A fleet report as CSV, JSON or PDF (pure: values in, bytes out)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from sanitiser.reporting.aggregate import DeviceRow, GroupRow, Report
from sanitiser.text import spreadsheet_text

DEVICE_COLUMNS = (
    "certificate_id",
    "issued_at",
    "station",
    "outcome",
    "method",
    "nist_category",
    "destination",
    "route",
    "media_kind",
    "model",
    "serial",
    "capacity_bytes",
    "simulated",
    "device_tag",
    "device_kind",
)
COUNT_COLUMNS = ("devices", "sanitised", "not_sanitised", "capacity_bytes", "simulated")


def _cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula is quoted with a leading '."""
    if isinstance(value, str):
        return spreadsheet_text(value)
    return "yes" if value is True else "no" if value is False else str(value)


def _counts(g: GroupRow) -> list[object]:
    return [g.devices, g.sanitised, g.not_sanitised, g.capacity_bytes, g.simulated]


def _period(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat()


def report_csv(report: Report, *, devices: bool = False) -> bytes:
    """The report as CSV (UTF-8, CRLF): one line per group (with a total line), or with
    `devices` one line per device."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if devices:
        writer.writerow(DEVICE_COLUMNS)
        for row in report.devices:
            facts = row.as_json()
            writer.writerow([_cell(facts[c]) for c in DEVICE_COLUMNS])
        return buf.getvalue().encode("utf-8")
    writer.writerow([*report.group_by, *COUNT_COLUMNS])
    for g in report.groups:
        writer.writerow([*(_cell(k) for k in g.key), *_counts(g)])
    writer.writerow(["total", *([""] * (len(report.group_by) - 1)), *_counts(report.totals)])
    return buf.getvalue().encode("utf-8")


def _group_json(group_by: tuple[str, ...], g: GroupRow) -> dict[str, Any]:
    return {
        **dict(zip(group_by, g.key, strict=True)),
        "devices": g.devices,
        "sanitised": g.sanitised,
        "not_sanitised": g.not_sanitised,
        "capacity_bytes": g.capacity_bytes,
        "simulated": g.simulated,
    }


def report_json(report: Report) -> dict[str, Any]:
    """The report as a JSON object: period, groups, totals and every device."""
    return {
        "generated_at": report.generated_at.isoformat(),
        "from": _period(report.start) or None,
        "to": _period(report.end) or None,
        "group_by": list(report.group_by),
        "groups": [_group_json(report.group_by, g) for g in report.groups],
        "totals": _group_json((), report.totals),
        "devices": [d.as_json() for d in report.devices],
    }


def _size(n: int) -> str:
    from sanitiser.units import human_size  # noqa: PLC0415 - tiny, keeps this module pure

    return human_size(n) if n else "—"


def report_pdf(report: Report, *, organisation: str = "", max_devices: int = 2000) -> bytes:
    """The report as a PDF (A4 landscape): summary table, then the devices (at most
    `max_devices`; the CSV/JSON have them all)."""
    from reportlab.lib import colors  # noqa: PLC0415 - reportlab only when a PDF is asked for
    from reportlab.lib.pagesizes import A4, landscape  # noqa: PLC0415
    from reportlab.lib.styles import ParagraphStyle  # noqa: PLC0415
    from reportlab.lib.units import mm  # noqa: PLC0415
    from reportlab.platypus import (  # noqa: PLC0415
        LongTable,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )

    from sanitiser.certificate.pdf import markup  # noqa: PLC0415 - pyHanko is heavy
    from sanitiser.certificate.style import HEADER_GREY, document_styles, fonts  # noqa: PLC0415

    regular, bold = fonts()
    st = document_styles(regular, bold, size=8, leading=10, heading=(10, 13, 0), prefix="r-")
    base, sub = st.base, st.heading
    head = ParagraphStyle("r-head", parent=st.title, fontSize=14, leading=18)

    def p(value: object, style: ParagraphStyle = base) -> Paragraph:
        return Paragraph(markup(value, 200), style)

    period = f"{_period(report.start) or 'the beginning'} to {_period(report.end) or 'now'}"
    story: list[Any] = [
        p(f"Sanitisation report{f' — {organisation}' if organisation else ''}", head),
        p(
            f"Devices certified from {period} (end exclusive); generated "
            f"{report.generated_at.isoformat()}"
        ),
        Spacer(1, 4 * mm),
        p(f"By {', '.join(report.group_by)}", sub),
    ]
    style = TableStyle(
        [
            ("FONT", (0, 0), (-1, 0), bold, 8),
            ("BACKGROUND", (0, 0), (-1, 0), HEADER_GREY),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("REPEATROWS", (0, 0), (-1, 0)),
        ]
    )
    summary = [[p(h) for h in (*report.group_by, *COUNT_COLUMNS)]]
    for g in (*report.groups, report.totals):
        key = g.key or ("total", *([""] * (len(report.group_by) - 1)))
        summary.append(
            [
                *(p(k) for k in key),
                *(p(v) for v in _counts(g)[:3]),
                p(_size(g.capacity_bytes)),
                p(g.simulated),
            ]
        )
    story += [LongTable(summary, repeatRows=1, style=style), Spacer(1, 6 * mm)]
    shown: tuple[DeviceRow, ...] = report.devices[:max_devices]
    story.append(p(f"Devices ({len(report.devices)})", sub))
    columns = (
        "issued_at",
        "station",
        "model",
        "serial",
        "media_kind",
        "method",
        "outcome",
        "destination",
        "certificate_id",
    )
    lines = [[p(c) for c in columns]]
    for d in shown:
        facts = d.as_json()
        facts["issued_at"] = d.issued_at.strftime("%Y-%m-%d %H:%M")
        lines.append([p(facts[c]) for c in columns])
    story.append(LongTable(lines, repeatRows=1, style=style))
    if len(report.devices) > len(shown):
        story.append(p(f"… and {len(report.devices) - len(shown)} more (see the CSV or JSON)."))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title="Sanitisation report",
        invariant=True,
    )
    doc.build(story)
    return buf.getvalue()
