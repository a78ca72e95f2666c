"""A label made ready for one printer: laid out at its resolution on the stock it has loaded,
in its language. What `sanitiser.printing` sends, nothing more.

The stock is the address's ``label=`` (the roll loaded: every label goes on it), else the
kind's own: a drive label on 62 mm tape, a device, charger or battery label on 62 x 29 mm, a
consignment label on 4 x 6 in.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen.canvas import Canvas

from sanitiser.labels.address import Language, PrinterAddress
from sanitiser.labels.brother import BrotherMedia, media_for, model_named, raster_job, rotated
from sanitiser.labels.content import Label, LabelKind
from sanitiser.labels.render import Rendered, Stock, dots, render, render_on, stock_named
from sanitiser.labels.zpl import zpl_job

DEFAULT_STOCK = {
    LabelKind.DRIVE: "62",
    LabelKind.DEVICE: "62x29",
    LabelKind.CHARGER: "62x29",
    LabelKind.BATTERY: "62x29",
    LabelKind.CONSIGNMENT: "102x152",
}


@dataclass(frozen=True, slots=True)
class Prepared:
    """What goes to the printer, and how it was laid out."""

    language: Language
    data: bytes
    """Raster job, ZPL, or a PDF for CUPS."""
    stock: Stock
    rendered: Rendered
    """The label as read (before any quarter turn for the printer)."""
    media: BrotherMedia | None = None
    """The Brother roll the printer must have loaded (checked against its status)."""


def stock_for(label: Label, address: PrinterAddress) -> Stock:
    """The stock the label is laid out on at this printer."""
    return stock_named(address.label or DEFAULT_STOCK[label.kind])


def label_pdf(rendered: Rendered, stock: Stock) -> bytes:
    """One PDF page the size of the stock, the rendered label filling it (for CUPS)."""
    buf = io.BytesIO()
    width = rendered.image.width * 25.4 / rendered.dpi
    height = rendered.image.height * 25.4 / rendered.dpi
    canvas = Canvas(buf, pagesize=(width * mm, height * mm))
    canvas.setTitle(f"Label ({stock.name})")
    canvas.drawImage(
        ImageReader(rendered.image.convert("L")), 0, 0, width=width * mm, height=height * mm
    )
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def prepare(label: Label, address: PrinterAddress, copies: int = 1) -> Prepared:
    """The label for the printer at `address`, `copies` times over (CUPS gets one copy: its
    own ``-n`` makes the others).

    Raises:
        LabelError, BrotherError, ZplError: it does not fit, or the printer cannot take it.
    """
    stock = stock_for(label, address)
    if address.language is Language.BROTHER:
        model = model_named(address.options["model"])
        media = media_for(stock.name, model)
        turn = rotated(stock.width_mm, media)
        across, along = media.across, media.along
        if not media.die_cut:
            along = dots(stock.height_mm if not turn else stock.width_mm, 300)
        width, height = (along, across) if turn else (across, along)
        rendered = render(label.qr, label.lines, width, height, 300)
        image = rendered.image.rotate(90, expand=True) if turn else rendered.image
        return Prepared(
            address.language, raster_job(image, model, media, copies), stock, rendered, media
        )
    rendered = render_on(stock, label.qr, label.lines, address.dpi)
    if address.language is Language.ZPL:
        return Prepared(address.language, zpl_job(rendered.image, copies), stock, rendered)
    return Prepared(address.language, label_pdf(rendered, stock), stock, rendered)


def media_option(prepared: Prepared) -> str:
    """The CUPS ``media`` option for the stock (``Custom.62x29mm``)."""
    stock = prepared.stock
    return f"Custom.{stock.width_mm:g}x{stock.height_mm:g}mm"
