"""A display's facts from its EDID bytes (pure), as ``/sys/class/drm/card*-*/edid`` holds them.

`parse_edid` checks the header and every block's checksum (each 128-byte block sums to 0 mod
256) and reads the base block: the PNP manufacturer id, product code, serial number (the
Display Product Serial Number descriptor, else the 32-bit number when not 0), the year made,
the physical size (the first detailed timing's mm, else the basic cm), the preferred timing's
resolution, and the Display Product Name (else the last alphanumeric string, where laptop panels
put their part number). `edid_from_hex` reads the hex dump that ``edid-decode`` (and hw-probe)
print first.
"""

from __future__ import annotations

import math
import re

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.model import Display

TOOL = "edid"
BLOCK = 128
HEADER = bytes((0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00))
_DESCRIPTORS = (54, 72, 90, 108)
_NAME, _SERIAL, _TEXT = 0xFC, 0xFF, 0xFE
_HEX_LINE = re.compile(r"^\s*((?:[0-9a-fA-F]{2}\s+)*[0-9a-fA-F]{2})\s*$")


def edid_from_hex(text: str) -> bytes:
    """The bytes of the first hex dump in `text` (consecutive lines of hex pairs; blank lines
    between 128-byte blocks are allowed; the dump ends at the first other line)."""
    out = bytearray()
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _HEX_LINE.match(line)
        if m is None:
            if out:
                break
            continue
        out.extend(bytes.fromhex(m.group(1).replace(" ", "").replace("\t", "")))
    if not out:
        raise ToolOutputError(TOOL, "no hex dump found", text)
    return bytes(out)


def _text(descriptor: bytes) -> str | None:
    raw = descriptor[5:18].split(b"\x0a", 1)[0]
    chars = "".join(chr(b) if 0x20 <= b < 0x7F else " " for b in raw)
    text = " ".join(chars.split())
    return text or None


def _pnp(data: bytes) -> str:
    word = (data[8] << 8) | data[9]
    letters = [(word >> shift) & 0x1F for shift in (10, 5, 0)]
    if not all(1 <= n <= 26 for n in letters):
        raise ToolOutputError(TOOL, f"manufacturer id {word:#06x} is not three letters", data.hex())
    return "".join(chr(64 + n) for n in letters)


def parse_edid(data: bytes, connector: str | None = None) -> Display:
    """The `Display` an EDID describes; ToolOutputError for a bad header, checksum or length.
    Bytes past the last block the base block announces are ignored."""
    if len(data) < BLOCK:
        raise ToolOutputError(TOOL, f"{len(data)} bytes, an EDID has at least 128", data.hex())
    if data[:8] != HEADER:
        raise ToolOutputError(TOOL, "no EDID header (00 FF FF FF FF FF FF 00)", data.hex())
    blocks = 1 + data[126]
    if len(data) < blocks * BLOCK:
        raise ToolOutputError(
            TOOL,
            f"{len(data)} bytes, but the EDID announces {blocks} blocks: cut short",
            data.hex(),
        )
    for n in range(blocks):
        if sum(data[n * BLOCK : (n + 1) * BLOCK]) % 256:
            raise ToolOutputError(TOOL, f"block {n} checksum does not add up", data.hex())
    name = serial_text = None
    strings: list[str] = []
    size_mm: tuple[int, int] | None = None
    resolution: tuple[int, int] | None = None
    for offset in _DESCRIPTORS:
        d = data[offset : offset + 18]
        if d[0] or d[1]:  # a detailed timing (pixel clock not 0)
            if resolution is None:
                resolution = (d[2] | (d[4] & 0xF0) << 4, d[5] | (d[7] & 0xF0) << 4)
                width, height = d[12] | (d[14] & 0xF0) << 4, d[13] | (d[14] & 0x0F) << 8
                if width and height:
                    size_mm = (width, height)
            continue
        tag = d[3]
        if tag == _NAME:
            name = _text(d)
        elif tag == _SERIAL:
            serial_text = _text(d)
        elif tag == _TEXT and (text := _text(d)):
            strings.append(text)
    if size_mm is None and data[21] and data[22]:
        size_mm = (data[21] * 10, data[22] * 10)
    number = int.from_bytes(data[12:16], "little")
    return Display(
        connector=connector,
        manufacturer=_pnp(data),
        product_code=int.from_bytes(data[10:12], "little"),
        serial=serial_text or (str(number) if number else None),
        model=name or (strings[-1] if strings else None),
        year=1990 + data[17] if data[17] else None,
        size_mm=size_mm,
        diagonal_in=round(math.hypot(*size_mm) / 25.4, 1) if size_mm else None,
        resolution=resolution,
    )
