"""Brother QL raster: the printer's own language, written from Brother's "Raster Command
Reference" (QL-500 ... QL-1100 series), and its 32-byte status reply.

A job is: invalidate (200 NULs), initialise (``ESC @``), switch to raster mode (``ESC i a 1``,
on models that have modes), then per page: print information (``ESC i z``: media type, width,
length, raster line count, first page or not), auto cut (``ESC i M``), cut every label
(``ESC i A``), expanded mode (``ESC i K``: cut at end), margin (``ESC i d``), one raster line
per dot row along the feed (``g 0x00 n`` + n bytes, uncompressed; bit 1 = ink, the first byte
at the print head's far edge, so each line is mirrored), and ``FF`` between pages / ``SUB``
after the last.

The status reply (to ``ESC i S``, and unasked when a page is printed or an error occurs) is 32
bytes starting ``80 20 42``: error bits (bytes 8 and 9), the media loaded (width in mm at 10,
type at 11: 0x0A continuous, 0x0B die-cut; length in mm at 17), status type (18: 0 reply,
1 printing completed, 2 error, 5 notification, 6 phase change) and phase (19).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from PIL import Image, ImageOps

from sanitiser.errors import SanitiserError

DPI = 300
INVALIDATE = b"\x00" * 200
INITIALISE = b"\x1b\x40"
STATUS_REQUEST = b"\x1b\x69\x53"
STATUS_LENGTH = 32


class BrotherError(SanitiserError):
    """An unknown model or media, or an image that does not fit the media."""


@dataclass(frozen=True, slots=True)
class BrotherModel:
    """What differs between QL models."""

    name: str
    bytes_per_row: int = 90
    """Dots across the head / 8 (720 dots; 1296 on the wide models)."""
    extra_offset: int = 0
    """Dots added to each media's right offset (the wide models)."""
    mode_switch: bool = True
    """Has ``ESC i a`` (models with a template mode)."""
    cutter: bool = True
    wide: bool = False


_MODELS = (
    BrotherModel("QL-500", mode_switch=False, cutter=False),
    BrotherModel("QL-550", mode_switch=False),
    BrotherModel("QL-560", mode_switch=False),
    BrotherModel("QL-570", mode_switch=False),
    BrotherModel("QL-580N"),
    BrotherModel("QL-650TD"),
    BrotherModel("QL-700", mode_switch=False),
    BrotherModel("QL-710W"),
    BrotherModel("QL-720NW"),
    BrotherModel("QL-800"),
    BrotherModel("QL-810W"),
    BrotherModel("QL-820NWB"),
    BrotherModel("QL-1050", bytes_per_row=162, extra_offset=44, wide=True),
    BrotherModel("QL-1060N", bytes_per_row=162, extra_offset=44, wide=True),
    BrotherModel("QL-1100", bytes_per_row=162, extra_offset=44, wide=True),
    BrotherModel("QL-1110NWB", bytes_per_row=162, extra_offset=44, wide=True),
)
MODELS = {m.name: m for m in _MODELS}


def model_named(name: str) -> BrotherModel:
    """The model called `name` (``QL-820NWB``; case does not matter).

    Raises:
        BrotherError: not a QL model this knows.
    """
    model = MODELS.get(name.upper())
    if model is None:
        raise BrotherError(
            f"unknown Brother model {name!r}; known: {', '.join(MODELS)}", title="Printer"
        )
    return model


@dataclass(frozen=True, slots=True)
class BrotherMedia:
    """A Brother DK roll: its size, the printable dots and where they sit on the head."""

    stock: str
    """The `sanitiser.labels.render.STOCKS` name it carries."""
    width_mm: int
    length_mm: int
    """0 for continuous tape."""
    across: int
    """Printable dots across the head."""
    along: int
    """Printable dots along the feed (for continuous tape: the length we cut at)."""
    right_offset: int
    """Blank dots between the printable area and the head's right edge."""
    wide_only: bool = False
    lengths: tuple[int, ...] = ()
    """Lengths (mm) a printer may report for this roll besides `length_mm`."""

    @property
    def die_cut(self) -> bool:
        """Die-cut labels (the printer reports a length), not continuous tape."""
        return self.length_mm > 0

    @property
    def media_type(self) -> int:
        """The ``ESC i z`` media type: 0x0B die-cut, 0x0A continuous."""
        return 0x0B if self.die_cut else 0x0A

    @property
    def description(self) -> str:
        """``62 x 29 mm die-cut labels`` or ``62 mm continuous tape``."""
        if self.die_cut:
            return f"{self.width_mm} x {self.length_mm} mm die-cut labels"
        return f"{self.width_mm} mm continuous tape"


MEDIA = {
    "62": BrotherMedia("62", 62, 0, 696, 377, 12),
    "62x29": BrotherMedia("62x29", 62, 29, 696, 271, 12),
    "29x90": BrotherMedia("29x90", 29, 90, 306, 991, 6),
    "102x152": BrotherMedia("102x152", 102, 153, 1164, 1660, 12, wide_only=True, lengths=(152,)),
}
"""The rolls for our stocks (DK-22205, DK-11209, DK-11201, DK-11241): dots at 300 dpi."""


def media_for(stock: str, model: BrotherModel) -> BrotherMedia:
    """The roll that carries `stock` on `model`.

    Raises:
        BrotherError: no such roll, or a wide roll on a narrow printer.
    """
    media = MEDIA.get(stock)
    if media is None:
        raise BrotherError(
            f"no Brother roll for label {stock!r}; use one of {', '.join(MEDIA)}", title="Printer"
        )
    if media.wide_only and not model.wide:
        raise BrotherError(
            f"{media.description} need a wide printer (QL-1050/1060N/1100), not {model.name}",
            title="Printer",
        )
    return media


def rotated(stock_width_mm: float, media: BrotherMedia) -> bool:
    """Whether a label laid out as read must turn a quarter to run through the printer (a
    29 x 90 mm label is read 90 mm wide; 29 mm of it goes across the head)."""
    return round(stock_width_mm) != media.width_mm


def _lines(image: Image.Image, model: BrotherModel, media: BrotherMedia) -> list[bytes]:
    """Raster lines: each dot row across the head, mirrored, bit 1 = ink."""
    head = model.bytes_per_row * 8
    full = Image.new("1", (head, image.height), 255)
    full.paste(image, (head - image.width - media.right_offset - model.extra_offset, 0))
    inked = ImageOps.invert(full.convert("L")).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    data = inked.convert("1", dither=Image.Dither.NONE).tobytes()
    row = model.bytes_per_row
    return [data[i : i + row] for i in range(0, len(data), row)]


def raster_job(
    image: Image.Image, model: BrotherModel, media: BrotherMedia, copies: int = 1
) -> bytes:
    """The raster job printing `image` (head-oriented: `media.across` dots wide, one row per
    dot along the feed) `copies` times, each label cut.

    Raises:
        BrotherError: the image is not the printable width, too long, or copies < 1.
    """
    if image.width != media.across:
        raise BrotherError(
            f"a {media.description} label is {media.across} dots across, not {image.width}"
        )
    if media.die_cut and image.height != media.along:
        raise BrotherError(
            f"a {media.description} label is {media.along} dots long, not {image.height}"
        )
    if not 1 <= copies <= 999:
        raise BrotherError(f"copies must be 1 to 999, not {copies}")
    lines = _lines(image.convert("1", dither=Image.Dither.NONE), model, media)
    out = bytearray(INVALIDATE + INITIALISE)
    if model.mode_switch:
        out += b"\x1b\x69\x61\x01"
    for page in range(copies):
        valid = 0x80 | 0x02 | 0x04 | 0x08 | 0x40  # recover, type, width, length, quality
        out += b"\x1b\x69\x7a" + bytes([valid, media.media_type, media.width_mm, media.length_mm])
        out += struct.pack("<IBB", len(lines), 0 if page == 0 else 1, 0)
        if model.cutter:
            out += b"\x1b\x69\x4d\x40"  # auto cut
            out += b"\x1b\x69\x41\x01"  # every label
            out += b"\x1b\x69\x4b\x08"  # cut at end
        out += b"\x1b\x69\x64" + struct.pack("<H", 0 if media.die_cut else 35)
        for line in lines:
            out += b"\x67\x00" + bytes([len(line)]) + line
        out += b"\x1a" if page == copies - 1 else b"\x0c"
    return bytes(out)


_ERRORS_1 = {
    0: "no media",
    1: "end of media",
    2: "cutter jam",
    4: "printer in use",
    5: "printer turned off",
    7: "fan error",
}
_ERRORS_2 = {
    0: "wrong media (replace media)",
    1: "expansion buffer full",
    2: "communication error",
    4: "cover open",
    5: "cancel key",
    6: "media cannot be fed",
    7: "system error",
}


@dataclass(frozen=True, slots=True)
class BrotherStatus:
    """A decoded 32-byte status reply."""

    errors: tuple[str, ...]
    media_width_mm: int
    media_type: int
    """0 none, 0x0A continuous, 0x0B die-cut (other codes as reported)."""
    media_length_mm: int
    status_type: int
    phase: int

    @property
    def completed(self) -> bool:
        """A page was printed."""
        return self.status_type == 0x01

    @property
    def failed(self) -> bool:
        """An error reply, or any error bit set."""
        return self.status_type == 0x02 or bool(self.errors)

    @property
    def media_text(self) -> str:
        """What is loaded, for people: ``62 mm continuous tape``, ``no media``."""
        if self.media_type == 0x0A:
            return f"{self.media_width_mm} mm continuous tape"
        if self.media_type == 0x0B:
            return f"{self.media_width_mm} x {self.media_length_mm} mm die-cut labels"
        return "no media" if self.media_type == 0 else f"media type 0x{self.media_type:02X}"

    def fits(self, media: BrotherMedia) -> bool:
        """Whether the roll loaded is the one the label is laid out for."""
        if self.media_type != media.media_type or self.media_width_mm != media.width_mm:
            return False
        return not media.die_cut or self.media_length_mm in (media.length_mm, *media.lengths)


def parse_status(data: bytes) -> BrotherStatus:
    """Decode one status reply.

    Raises:
        BrotherError: not 32 bytes starting 80 20 42 (not a Brother QL status).
    """
    if len(data) != STATUS_LENGTH or data[:3] != b"\x80\x20\x42":
        raise BrotherError(
            f"the printer's reply is not a Brother QL status ({len(data)} bytes: "
            f"{data[:8].hex(' ')}...)",
            title="Printer",
        )
    errors = tuple(
        [text for bit, text in _ERRORS_1.items() if data[8] & (1 << bit)]
        + [text for bit, text in _ERRORS_2.items() if data[9] & (1 << bit)]
    )
    return BrotherStatus(errors, data[10], data[11], data[17], data[18], data[19])
