"""Drive labels with the verification QR code: PDF and PNG, for common label printers.

Formats (width x height, mm):

- ``62mm``: 62 x 32 from 62 mm continuous rolls (Brother DK-22205 and similar);
- ``29x90``: 90 x 29 die-cut address labels (Brother DK-11201);
- ``62x29``: 62 x 29 die-cut labels (Brother DK-11209): the device label;
- ``a4``: A4 sheets of 3 x 7 labels of 63.5 x 38.1 mm (Avery L7160 layout).

One layout (`label_lines`, `fit_lines` and `_cell`) drives both renderers, so the PDF and PNG
agree; the printer templates (`sanitiser.labels.render`) fit their text with `fit_lines` too.
A bold line states what the label is for (the outcome, the serial, SIMULATED, a device's
grade and readiness): it is never cut, only wrapped at its " · " parts or set smaller.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from sanitiser.certificate.pdf import visible
from sanitiser.certificate.qr import qr_matrix
from sanitiser.certificate.record import DEVICE_SCHEMA, Record
from sanitiser.certificate.style import fonts
from sanitiser.errors import CertificateError

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@dataclass(frozen=True, slots=True)
class LabelFormat:
    """A label stock: page size, label size and the grid of labels on a page (all mm)."""

    name: str
    page_w: float
    page_h: float
    label_w: float
    label_h: float
    columns: int = 1
    rows: int = 1
    left: float = 0.0
    top: float = 0.0
    pitch_x: float = 0.0
    pitch_y: float = 0.0

    @property
    def per_page(self) -> int:
        """Labels on one page."""
        return self.columns * self.rows


FORMATS = {
    "62mm": LabelFormat("62mm", 62, 32, 62, 32),
    "29x90": LabelFormat("29x90", 90, 29, 90, 29),
    "62x29": LabelFormat("62x29", 62, 29, 62, 29),
    "a4": LabelFormat(
        "a4",
        210,
        297,
        63.5,
        38.1,
        columns=3,
        rows=7,
        left=7.2,
        top=15.1,
        pitch_x=66.0,
        pitch_y=38.1,
    ),
}


def label_format(name: str) -> LabelFormat:
    """The format called `name` (``62mm``, ``29x90`` or ``a4``)."""
    try:
        return FORMATS[name]
    except KeyError as e:
        raise CertificateError(
            f"unknown label format {name!r}; use one of {', '.join(FORMATS)}"
        ) from e


def _make_model(device: dict[str, object]) -> str:
    make, model = str(device.get("manufacturer") or ""), str(device.get("model") or "")
    if make and not model.lower().startswith(make.lower()):
        return f"{make} {model}".strip()
    return model


def _device_lines(record: Record) -> list[tuple[str, bool]]:
    """A device label: tag, make and model, grade and destination, its drives, its id."""
    dev, grade = record.get("device") or {}, record.get("grade") or {}
    ready = record.get("readiness") or {}
    drives = record.get("drives") or []
    route = str((record.get("destination") or {}).get("route") or "undecided")
    state = "READY" if ready.get("ready") else "not ready"
    if not dev.get("holds_data"):
        erased = "no data media"
    else:
        done = sum(1 for d in drives if d.get("outcome") == "sanitised")
        erased = f"{done}/{len(drives)} drives sanitised"
    return [
        (visible(dev.get("tag"), 40), True),
        (visible(" ".join(str(dev.get(k) or "") for k in ("make", "model")).strip(), 80), False),
        (f"Grade {grade.get('cosmetic') or '-'} · {state} · {route}", True),
        (erased, False),
        (f"ID {visible(record.get('certificate_id'), 40)}", False),
    ]


Measure = Callable[[str, float, bool], float]
"""The width of a text at a size, bold or not (in the units of the width it must fit)."""
SEPARATOR = " · "


def _wrap(text: str, fits: Callable[[str], bool]) -> list[str] | None:
    """`text` as few lines as fit, broken only between its " · " parts (None: a part alone
    does not fit)."""
    out: list[str] = []
    for part in text.split(SEPARATOR):
        if out and fits(out[-1] + SEPARATOR + part):
            out[-1] += SEPARATOR + part
        elif fits(part):
            out.append(part)
        else:
            return None
    return out


def _fits(text: str, *, measure: Measure, size: float, width: float) -> bool:
    return measure(text, size, True) <= width


def fit_lines(
    lines: Sequence[tuple[str, bool]],
    width: float,
    height: float,
    measure: Measure,
    *,
    largest: float,
    smallest: float,
    line_height: float,
) -> tuple[float, list[tuple[str, bool]]]:
    """The size to set a label's text at, and its lines as set: the largest size (from
    `largest` down to `smallest`) at which every bold line fits whole in `width`, wrapped at
    its " · " parts onto more lines when needed, and all the lines fit in `height` (a line
    takes ``size * line_height``). Other lines stay one line each (the renderer ellipsises
    them). Pure.
    """
    size = largest
    while True:
        out: list[tuple[str, bool]] = []
        whole = True
        for text, bold in lines:
            if not bold:
                out.append((text, False))
                continue
            wrapped = _wrap(text, partial(_fits, measure=measure, size=size, width=width))
            whole = whole and wrapped is not None
            out += [(t, True) for t in wrapped or [text]]
        if (whole and len(out) * size * line_height <= height) or size <= smallest:
            return size, out
        size = max(smallest, size * 0.92)


def label_lines(record: Record) -> list[tuple[str, bool]]:
    """The text of a label, top to bottom, as (text, bold)."""
    if record.get("schema") == DEVICE_SCHEMA:
        return _with_flags(record, _device_lines(record))
    dev = record.get("device") or {}
    san = record.get("sanitisation") or {}
    out = record.get("outcome") or {}
    lines = [
        (
            f"{str(out.get('status', '?')).upper()} · {str(san.get('nist_category', '')).upper()}",
            True,
        ),
        (f"S/N {visible(dev.get('serial'), 60)}", True),
        (visible(_make_model(dev), 80), False),
        (f"{str(san.get('finished_at', ''))[:10]} {visible(san.get('technique'), 30)}", False),
        (f"ID {visible(record.get('certificate_id'), 40)}", False),
    ]
    return _with_flags(record, lines)


def _with_flags(record: Record, lines: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    flags = [
        t for k, t in (("simulated", "SIMULATED"), ("development_key", "DEV KEY")) if record.get(k)
    ]
    return [*lines, (" · ".join(flags), True)] if flags else lines


class _Painter:
    """What a renderer must do, in mm from the label's top-left corner."""

    def text(self, x: float, y: float, text: str, size: float, bold: bool) -> None:
        raise NotImplementedError

    def square(self, x: float, y: float, side: float) -> None:
        raise NotImplementedError


def _fit(text: str, width_mm: float, size: float, font: str) -> str:
    """`text` ellipsised to `width_mm` at `size` points."""
    if stringWidth(text, font, size) <= width_mm * mm:
        return text
    while text and stringWidth(text + "…", font, size) > width_mm * mm:
        text = text[:-1]
    return text + "…"


def _cell(paint: _Painter, fmt: LabelFormat, record: Record, url: str) -> None:
    """Lay out one label: QR on the left, text on the right."""
    margin = 1.5
    side = fmt.label_h - 2 * margin
    matrix = qr_matrix(url)
    quiet = 2
    n = len(matrix) + 2 * quiet
    module = side / n
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                paint.square(margin + (c + quiet) * module, margin + (r + quiet) * module, module)
    x = margin + side + 1.0
    size, lines = cell_lines(fmt, record)
    y = margin
    for text, bold in lines:
        y += size * _LINE_MM
        paint.text(x, y, text, size, bold)


_LINE_MM = 0.3528 * 1.25
"""A line's height in mm per point of text."""


def cell_lines(fmt: LabelFormat, record: Record) -> tuple[float, list[tuple[str, bool]]]:
    """The size (points) and the lines of text exactly as a label of `fmt` prints them: bold
    lines whole (wrapped or smaller, `fit_lines`), others ellipsised to the width."""
    margin = 1.5
    width = fmt.label_w - (margin + fmt.label_h - 2 * margin + 1.0) - margin
    font, bold_font = fonts()

    def measure(text: str, size: float, bold: bool) -> float:
        return float(stringWidth(text, bold_font if bold else font, size)) / mm

    size, lines = fit_lines(
        label_lines(record),
        width,
        fmt.label_h - 2 * margin,
        measure,
        largest=8.0,
        smallest=4.0,
        line_height=_LINE_MM,
    )
    return size, [(_fit(t, width, size, bold_font if b else font), b) for t, b in lines]


def _positions(fmt: LabelFormat) -> list[tuple[float, float]]:
    return [
        (fmt.left + c * fmt.pitch_x, fmt.top + r * fmt.pitch_y)
        for r in range(fmt.rows)
        for c in range(fmt.columns)
    ]


class _PdfPainter(_Painter):
    def __init__(self, canvas: Canvas, fmt: LabelFormat, ox: float, oy: float) -> None:
        self.c, self.fmt, self.ox, self.oy = canvas, fmt, ox, oy
        self.font, self.bold = fonts()

    def text(self, x: float, y: float, text: str, size: float, bold: bool) -> None:
        self.c.setFont(self.bold if bold else self.font, size)
        self.c.drawString((self.ox + x) * mm, (self.fmt.page_h - self.oy - y) * mm, text)

    def square(self, x: float, y: float, side: float) -> None:
        top = self.fmt.page_h - self.oy - y
        self.c.rect((self.ox + x) * mm, (top - side) * mm, side * mm, side * mm, stroke=0, fill=1)


def labels_pdf(items: Sequence[tuple[Record, str]], fmt: LabelFormat) -> bytes:
    """A PDF of labels for (record, verification URL) pairs: one per page, or sheets for A4."""
    if not items:
        raise CertificateError("no labels to print")
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=(fmt.page_w * mm, fmt.page_h * mm))
    canvas.setTitle("Sanitisation labels")
    slots = _positions(fmt)
    for i, (record, url) in enumerate(items):
        slot = i % fmt.per_page
        if i and slot == 0:
            canvas.showPage()
        ox, oy = slots[slot]
        _cell(_PdfPainter(canvas, fmt, ox, oy), fmt, record, url)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


class _PngPainter(_Painter):
    def __init__(
        self,
        draw: ImageDraw.ImageDraw,
        dpi: int,
        ox: float,
        oy: float,
        font: Callable[[float, bool], ImageFont.FreeTypeFont | ImageFont.ImageFont],
    ) -> None:
        self.d, self.k, self.ox, self.oy, self.font = draw, dpi / 25.4, ox, oy, font

    def text(self, x: float, y: float, text: str, size: float, bold: bool) -> None:
        self.d.text(
            ((self.ox + x) * self.k, (self.oy + y) * self.k),
            text,
            fill=0,
            font=self.font(size, bold),
            anchor="ls",
        )

    def square(self, x: float, y: float, side: float) -> None:
        x0, y0 = round((self.ox + x) * self.k), round((self.oy + y) * self.k)
        x1 = round((self.ox + x + side) * self.k)
        y1 = round((self.oy + y + side) * self.k)
        self.d.rectangle((x0, y0, x1 - 1, y1 - 1), fill=0)


def _pil_font(dpi: int) -> Callable[[float, bool], ImageFont.FreeTypeFont | ImageFont.ImageFont]:
    def font(size_pt: float, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        px = max(6, round(size_pt * dpi / 72))
        path = _DEJAVU / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
        if path.is_file():
            return ImageFont.truetype(str(path), px)
        return ImageFont.load_default(px)

    return font


def labels_png(
    items: Sequence[tuple[Record, str]], fmt: LabelFormat, dpi: int = 300
) -> list[bytes]:
    """PNG pages of labels (one image per page), 1-bit, at `dpi`."""
    if not items:
        raise CertificateError("no labels to print")
    pages: list[bytes] = []
    slots = _positions(fmt)
    font = _pil_font(dpi)
    size = (round(fmt.page_w / 25.4 * dpi), round(fmt.page_h / 25.4 * dpi))
    for start in range(0, len(items), fmt.per_page):
        image = Image.new("L", size, 255)
        draw = ImageDraw.Draw(image)
        for slot, (record, url) in enumerate(items[start : start + fmt.per_page]):
            ox, oy = slots[slot]
            _cell(_PngPainter(draw, dpi, ox, oy, font), fmt, record, url)
        buf = io.BytesIO()
        image.convert("1", dither=Image.Dither.NONE).save(buf, format="PNG", dpi=(dpi, dpi))
        pages.append(buf.getvalue())
    return pages
