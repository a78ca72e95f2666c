"""Label templates rendered at a printer's own resolution: 1-bit images, a whole number of
printer dots per QR module, text beside (or below) the QR and never over it.

A stock is named by its size as read (width x height, mm); ``62`` is 62 mm continuous tape
(cut at 32 mm). `render` lays a `Label` out on an area of printer dots: the QR code takes the
height (landscape) or the width (portrait) less the margins, at the largest whole number of
dots per module that fits; each line of text is fitted to what is left: the bold ones (the
outcome, the serial, SIMULATED, a device's grade and readiness) whole, wrapped at their " · "
parts onto more lines or set smaller (`fit_lines`), the rest ellipsised ("…").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sanitiser.certificate.label import fit_lines
from sanitiser.certificate.qr import qr_matrix
from sanitiser.errors import SanitiserError

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
QUIET = 2
"""Quiet-zone modules around the QR inside the margin (the label's edge is white beyond)."""
MIN_MODULE_DOTS = 2
"""The smallest QR module drawn: two dots (at 203 dpi, 0.25 mm)."""
Box = tuple[int, int, int, int]
"""(left, top, right, bottom) in dots, right and bottom exclusive."""


class LabelError(SanitiserError):
    """A label that cannot be laid out on the stock at this resolution."""


@dataclass(frozen=True, slots=True)
class Stock:
    """A label stock as read: width x height in mm; continuous tape has a chosen length."""

    name: str
    width_mm: float
    height_mm: float
    continuous: bool = False
    description: str = ""

    @property
    def portrait(self) -> bool:
        """Taller than wide: the QR goes on top, the text below."""
        return self.height_mm > self.width_mm


STOCKS = {
    "62": Stock("62", 62, 32, continuous=True, description="62 mm continuous (DK-22205)"),
    "62x29": Stock("62x29", 62, 29, description="62 x 29 mm die-cut (DK-11209)"),
    "29x90": Stock("29x90", 90, 29, description="29 x 90 mm die-cut address (DK-11201)"),
    "102x152": Stock("102x152", 102, 152, description="4 x 6 in shipping (DK-11241)"),
}
"""The stocks labels are laid out for (``4x6`` names ``102x152``)."""
_ALIASES = {"4x6": "102x152", "62mm": "62"}


def stock_named(name: str) -> Stock:
    """The stock called `name`.

    Raises:
        LabelError: no such stock.
    """
    stock = STOCKS.get(_ALIASES.get(name, name))
    if stock is None:
        raise LabelError(
            f"unknown label stock {name!r}; use one of {', '.join([*STOCKS, *_ALIASES])}",
            title="Label",
        )
    return stock


def dots(mm: float, dpi: int) -> int:
    """Millimetres as printer dots (rounded down: a label never grows)."""
    return int(mm * dpi / 25.4)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A label as printer dots, and where its parts are (what tests and previews check)."""

    image: Image.Image
    """Mode ``1``: 0 is ink (black), 255 is paper."""
    dpi: int
    qr_box: Box
    """The QR code with its quiet zone."""
    module: int
    """Dots per QR module."""
    text_boxes: tuple[Box, ...]
    """Each line of text as drawn (its ink's bounding box)."""
    lines: tuple[str, ...]
    """Each line as drawn (ellipsised when it did not fit)."""


@lru_cache(maxsize=64)
def _font(px: int, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _DEJAVU / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    if path.is_file():
        return ImageFont.truetype(str(path), px)
    return ImageFont.load_default(px)


def _width(text: str, px: int, bold: bool) -> float:
    return float(_font(px, bold).getlength(text))


def ellipsise(text: str, width: int, px: int, bold: bool) -> str:
    """`text` as drawn in `width` dots: whole, or cut and ended with "…"."""
    if _width(text, px, bold) <= width:
        return text
    while text and _width(text.rstrip() + "…", px, bold) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _qr_fit(data: str, side: int) -> tuple[list[list[bool]], int]:
    """The QR modules of `data` and the dots per module that fit in `side` dots."""
    matrix = qr_matrix(data)
    n = len(matrix) + 2 * QUIET
    module = side // n
    if module < MIN_MODULE_DOTS:
        raise LabelError(
            f"the QR code ({len(matrix)} modules) needs at least {n * MIN_MODULE_DOTS} dots; "
            f"the label has {side} here: use a larger label or a finer printer",
            title="Label",
        )
    return matrix, module


def _qr_draw(
    draw: ImageDraw.ImageDraw, matrix: list[list[bool]], module: int, x: int, y: int
) -> Box:
    size = module * (len(matrix) + 2 * QUIET)
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                left, top = x + (c + QUIET) * module, y + (r + QUIET) * module
                draw.rectangle((left, top, left + module - 1, top + module - 1), fill=0)
    return (x, y, x + size, y + size)


def render(
    label_qr: str, lines: tuple[tuple[str, bool], ...], width: int, height: int, dpi: int
) -> Rendered:
    """Lay a label out on `width` x `height` printer dots at `dpi` (the area as read).

    Raises:
        LabelError: the QR code or the text does not fit.
    """
    image = Image.new("1", (width, height), 255)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"  # no grey: every dot is ink or paper
    margin = max(2, dots(1.0, dpi))
    gap = max(2, dots(1.5, dpi))
    if height > width:  # portrait: QR on top, centred; text below
        matrix, module = _qr_fit(label_qr, min(width - 2 * margin, (height - 2 * margin) * 3 // 5))
        size = module * (len(matrix) + 2 * QUIET)
        qr_box = _qr_draw(draw, matrix, module, (width - size) // 2, margin)
        area = (margin, qr_box[3] + gap, width - margin, height - margin)
    else:  # landscape: QR on the left, centred in the height; text on the right
        matrix, module = _qr_fit(label_qr, height - 2 * margin)
        size = module * (len(matrix) + 2 * QUIET)
        qr_box = _qr_draw(draw, matrix, module, margin, (height - size) // 2)
        area = (qr_box[2] + gap, margin, width - margin, height - margin)
    boxes, drawn = _text(draw, lines, area, dpi)
    return Rendered(image, dpi, qr_box, module, boxes, drawn)


def _text(
    draw: ImageDraw.ImageDraw, lines: tuple[tuple[str, bool], ...], area: Box, dpi: int
) -> tuple[tuple[Box, ...], tuple[str, ...]]:
    left, top, right, bottom = area
    width, height = right - left, bottom - top
    if not lines:
        return (), ()
    smallest = max(8, round(5 * dpi / 72))  # 5 pt: still readable on a thermal label
    if width < smallest * 4 or height < smallest * len(lines):
        raise LabelError(
            f"no room for {len(lines)} lines of text beside the QR code "
            f"({width} x {height} dots at {dpi} dpi): use a larger label",
            title="Label",
        )
    size, set_lines = fit_lines(  # bold lines whole: wrapped at their parts, or smaller
        lines,
        width,
        height,
        lambda text, at, bold: _width(text, int(at), bold),
        largest=min(height * 10 // (len(lines) * 12), round(16 * dpi / 72)),
        smallest=smallest,
        line_height=1.2,
    )
    px = max(int(size), smallest)
    lines = tuple(set_lines)
    step = height // len(lines)
    boxes: list[Box] = []
    drawn: list[str] = []
    for i, (text, bold) in enumerate(lines):
        size = px  # a long line may shrink to three quarters before it is ellipsised
        natural = _width(text, px, bold)
        if natural > width:
            size = max(smallest, int(px * 3 / 4), min(px, int(px * width / natural)))
        fitted = ellipsise(text, width, size, bold)
        y = top + i * step
        draw.text((left, y), fitted, fill=0, font=_font(size, bold), anchor="la")
        box = draw.textbbox((left, y), fitted, font=_font(size, bold), anchor="la")
        boxes.append((int(box[0]), int(box[1]), int(box[2]), int(box[3])))
        drawn.append(fitted)
    return tuple(boxes), tuple(drawn)


def render_on(
    stock: Stock, label_qr: str, lines: tuple[tuple[str, bool], ...], dpi: int
) -> Rendered:
    """A label laid out on the whole of `stock` at `dpi` (ZPL and CUPS printers)."""
    return render(label_qr, lines, dots(stock.width_mm, dpi), dots(stock.height_mm, dpi), dpi)
