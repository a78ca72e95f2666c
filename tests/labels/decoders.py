"""Printer languages read back into images, written from the printers' manuals (not from the
encoders under test): Brother QL raster lines, and ZPL graphics (``^GFA`` hex, and ``~DG``
downloads in ZPL's compressed hex, as CUPS's rastertolabel writes them, recalled by ``^XG``)."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

from PIL import Image


@dataclass
class BrotherPage:
    """One page of a Brother raster job."""

    media_type: int
    width_mm: int
    length_mm: int
    lines_declared: int
    rows: list[bytes] = field(default_factory=list)
    cut: bool = False

    def image(self, bytes_per_row: int = 90) -> Image.Image:
        """The page as printed, as read from the head's left (mode 1: 0 = ink)."""
        width = bytes_per_row * 8
        img = Image.new("1", (width, len(self.rows)), 255)
        px = img.load()
        assert px is not None
        for y, row in enumerate(self.rows):
            for i, byte in enumerate(row):
                for bit in range(8):
                    if byte & (0x80 >> bit):
                        # the first byte is the head's far (right) edge: mirror back
                        px[width - 1 - (i * 8 + bit), y] = 0
        return img


def decode_brother(data: bytes) -> list[BrotherPage]:
    """Every page of a raster job; fails on any byte the command reference does not define."""
    pages: list[BrotherPage] = []
    page: BrotherPage | None = None
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x00:
            i += 1
        elif data.startswith(b"\x1b\x40", i):
            i += 2
        elif data.startswith(b"\x1b\x69\x53", i):
            i += 3
        elif data.startswith(b"\x1b\x69\x61", i):
            i += 4
        elif data.startswith(b"\x1b\x69\x7a", i):
            _valid, mtype, width, length, lines, _start, _ = struct.unpack_from(
                "<BBBBIBB", data, i + 3
            )
            page = BrotherPage(mtype, width, length, lines)
            i += 13
        elif data.startswith(b"\x1b\x69\x4d", i):
            assert page is not None
            page.cut = bool(data[i + 3] & 0x40)
            i += 4
        elif data.startswith((b"\x1b\x69\x41", b"\x1b\x69\x4b"), i):
            i += 4
        elif data.startswith(b"\x1b\x69\x64", i):
            i += 5
        elif b == 0x4D:  # compression mode
            assert data[i + 1] == 0, "compressed raster is not expected"
            i += 2
        elif b == 0x67:
            assert page is not None, "raster before print information"
            n = data[i + 2]
            page.rows.append(data[i + 3 : i + 3 + n])
            i += 3 + n
        elif b in (0x0C, 0x1A):
            assert page is not None
            pages.append(page)
            page = None
            i += 1
            if b == 0x1A:
                assert i == len(data), "bytes after the end of the job"
        else:
            raise AssertionError(f"unknown Brother command at {i}: {data[i : i + 4].hex(' ')}")
    return pages


_COUNTS = {chr(ord("G") + k): k + 1 for k in range(19)} | {
    chr(ord("g") + k): 20 * (k + 1) for k in range(20)
}


def zpl_hex_rows(data: str, row_bytes: int, total: int) -> bytes:
    """ZPL graphic data (plain or compressed ASCII hex) as bytes."""
    width = row_bytes * 2
    rows: list[str] = []
    line = ""
    count = 0
    for ch in re.sub(r"\s", "", data):
        if ch in _COUNTS:
            count += _COUNTS[ch]
            continue
        if ch == ",":
            line = line.ljust(width, "0")
        elif ch == "!":
            line = line.ljust(width, "F")
        elif ch == ":":
            line = rows[-1] if rows else "0" * width
        else:
            line += ch * (count or 1)
        count = 0
        while len(line) >= width:
            rows.append(line[:width])
            line = line[width:]
    if line:
        rows.append(line.ljust(width, "0"))
    raw = bytes.fromhex("".join(rows))
    assert len(raw) >= total, f"graphic data short: {len(raw)} of {total} bytes"
    return raw[:total]


def _image(raw: bytes, row_bytes: int) -> Image.Image:
    height = len(raw) // row_bytes
    inked = Image.frombytes("1", (row_bytes * 8, height), raw)
    out = Image.new("1", inked.size, 255)
    out.paste(0, mask=inked)
    return out


def decode_zpl(text: str) -> list[Image.Image]:
    """Each label (``^XA ... ^XZ`` with a graphic) as an image, ``^PO I`` turned back."""
    stored: dict[str, Image.Image] = {}
    for name, total, row, body in re.findall(r"~DG([^,]+),(\d+),(\d+),([^~^]*)", text):
        stored[name] = _image(zpl_hex_rows(body, int(row), int(total)), int(row))
    labels: list[Image.Image] = []
    for fmt in re.findall(r"\^XA(.*?)\^XZ", text, flags=re.S):
        image: Image.Image | None = None
        found = re.search(r"\^GFA,(\d+),(\d+),(\d+),([^^]*)", fmt)
        if found:
            total, row = int(found.group(2)), int(found.group(3))
            image = _image(zpl_hex_rows(found.group(4), row, total), row)
        recalled = re.search(r"\^XG([^,^]+)", fmt)
        if recalled:
            image = stored[recalled.group(1)]
        if image is None:
            continue
        if re.search(r"\^POI", fmt):
            image = image.rotate(180)
        labels.append(image)
    return labels
