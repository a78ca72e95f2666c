"""Zebra ZPL II: a label as one ``^GF`` graphic field (the whole label at the printer's dots,
so the QR keeps its whole dots per module and the text is where the layout put it), and the
printer's host status (``~HS``).

A job is ``^XA``, print width (``^PW``), label length (``^LL``), home (``^LH0,0``), the graphic
at the origin (``^FO0,0^GFA,total,total,row,HEX^FS``: uncompressed ASCII hex, bit 1 = ink, the
first bit at the left), the quantity (``^PQ``) and ``^XZ``.

``~HS`` answers three lines, each ``STX ... ETX CR LF``: the first ``aaa,b,c,dddd,eee,f,g,h,
iii,j,k,l`` (b paper out, c paused, f buffer full, k/l head under/over temperature), the second
``mmm,n,o,p,q,r,s,t,uuuuuuuu,v,www`` (o head open, p ribbon out), the third ``xxxx,y``.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageOps

from sanitiser.errors import SanitiserError

HOST_STATUS = b"~HS\r\n"
"""The host status query."""
STX, ETX = 0x02, 0x03


class ZplError(SanitiserError):
    """A ZPL job that cannot be made, or a status reply that cannot be read."""


def graphic_field(image: Image.Image) -> str:
    """``^GFA`` of a 1-bit image (0 = ink) at the printer's dots, uncompressed hex."""
    inked = ImageOps.invert(image.convert("L")).convert("1", dither=Image.Dither.NONE)
    row = (image.width + 7) // 8
    data = inked.tobytes()
    total = row * image.height
    return f"^GFA,{total},{total},{row},{data.hex().upper()}"


def zpl_job(image: Image.Image, copies: int = 1) -> bytes:
    """The ZPL printing `image` (the whole label, as read, at the printer's dots) `copies` times.

    Raises:
        ZplError: copies out of range.
    """
    if not 1 <= copies <= 99_999_999:
        raise ZplError(f"copies must be 1 to 99999999, not {copies}")
    return (
        f"^XA\n^PW{image.width}\n^LL{image.height}\n^LH0,0\n"
        f"^FO0,0{graphic_field(image)}^FS\n^PQ{copies},0,1,Y\n^XZ\n"
    ).encode("ascii")


@dataclass(frozen=True, slots=True)
class ZebraStatus:
    """What ``~HS`` says matters before a label is sent."""

    paper_out: bool
    paused: bool
    head_open: bool
    ribbon_out: bool
    buffer_full: bool

    @property
    def problems(self) -> tuple[str, ...]:
        """Each reason the printer cannot print now, for people."""
        named = (
            (self.paper_out, "paper out"),
            (self.head_open, "print head open"),
            (self.ribbon_out, "ribbon out"),
            (self.paused, "paused"),
            (self.buffer_full, "receive buffer full"),
        )
        return tuple(text for flag, text in named if flag)


def status_strings(data: bytes) -> list[list[str]]:
    """The comma-separated fields of each ``STX ... ETX`` string in `data` (complete ones)."""
    out: list[list[str]] = []
    start = data.find(bytes([STX]))
    while start >= 0:
        end = data.find(bytes([ETX]), start)
        if end < 0:
            break
        out.append(data[start + 1 : end].decode("ascii", "replace").split(","))
        start = data.find(bytes([STX]), end)
    return out


def parse_host_status(data: bytes) -> ZebraStatus:
    """Decode a ``~HS`` reply.

    Raises:
        ZplError: not the three strings ``~HS`` answers with.
    """
    strings = status_strings(data)
    if len(strings) < 3 or len(strings[0]) < 12 or len(strings[1]) < 11:
        raise ZplError(
            f"the printer's reply to ~HS is not a Zebra host status: {data[:60]!r}",
            title="Printer",
        )
    first, second = strings[0], strings[1]

    def flag(value: str) -> bool:
        if value not in ("0", "1"):
            raise ZplError(f"the printer's host status has {value!r} for a flag", title="Printer")
        return value == "1"

    return ZebraStatus(
        paper_out=flag(first[1]),
        paused=flag(first[2]),
        head_open=flag(second[2]),
        ribbon_out=flag(second[3]),
        buffer_full=flag(first[5]),
    )
