"""Displays from real EDIDs (tests/data/real/edid, see SOURCES): the hex dump hw-probe stored
is the EDID's bytes; expected values were read off edid-decode's text in the same file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.edid import edid_from_hex, parse_edid
from sanitiser.inventory.model import Display

EDID = Path(__file__).resolve().parents[1] / "data" / "real" / "edid"


def edid(name: str) -> bytes:
    return edid_from_hex((EDID / name).read_text())


def test_real_edids() -> None:
    # Manufacturer AUO, Model 4141, made in 2016, DTD 1 1920x1080 (293 mm x 165 mm); no name
    # descriptor, the only alphanumeric string has a non-printable byte ('W94FJ' 0x83 'B133HAB').
    auo = parse_edid(edid("auo-b133hab-auo102d.edid-decode.txt"), connector="eDP-1")
    assert auo == Display(
        connector="eDP-1",
        manufacturer="AUO",
        product_code=4141,
        serial=None,
        model="W94FJ B133HAB",
        year=2016,
        size_mm=(293, 165),
        diagonal_in=13.2,
        resolution=(1920, 1080),
    )
    # BOE, Model 1503, week 1 of 2012, 1366x768 (293 mm x 165 mm), 'BOE HF' then 'HB133WX1-402'.
    boe = parse_edid(edid("boe-hb133wx1-402-boe05df.edid-decode.txt"))
    assert (boe.manufacturer, boe.product_code, boe.model, boe.year) == (
        "BOE",
        1503,
        "HB133WX1-402",
        2012,
    )
    assert (boe.size_mm, boe.diagonal_in, boe.resolution, boe.serial) == (
        (293, 165),
        13.2,
        (1366, 768),
        None,
    )
    # DEL, Model 41122, 2017, 'DELL U2414H', 1920x1080 (527 mm x 296 mm): a 23.8" monitor.
    dell_bytes = edid("dell-u2414h-dela0a2.edid-decode.txt")
    assert len(dell_bytes) == 512  # hw-probe printed the 256 bytes twice
    dell = parse_edid(dell_bytes)
    assert (dell.manufacturer, dell.product_code, dell.model, dell.year) == (
        "DEL",
        41122,
        "DELL U2414H",
        2017,
    )
    assert (dell.size_mm, dell.diagonal_in, dell.resolution) == ((527, 296), 23.8, (1920, 1080))
    assert dell.serial == "W4WXT74Q17DL"  # the Display Product Serial Number descriptor


def test_basic_size_when_the_timing_has_none() -> None:
    data = bytearray(edid("boe-hb133wx1-402-boe05df.edid-decode.txt"))
    data[54 + 12] = data[54 + 13] = data[54 + 14] = 0  # DTD 1 without its mm
    data[54 + 18 + 12] = data[54 + 18 + 13] = data[54 + 18 + 14] = 0  # nor DTD 2
    data[127] = (-sum(data[:127])) % 256
    assert parse_edid(bytes(data)).size_mm == (290, 160)  # "29 cm x 16 cm"


def test_bad_edids_raise() -> None:
    good = edid("auo-b133hab-auo102d.edid-decode.txt")
    with pytest.raises(ToolOutputError, match="checksum"):
        parse_edid(good[:100] + bytes([good[100] ^ 1]) + good[101:])
    with pytest.raises(ToolOutputError, match="at least 128"):
        parse_edid(good[:64])
    with pytest.raises(ToolOutputError, match="header"):
        parse_edid(bytes(128))
    dell = edid("dell-u2414h-dela0a2.edid-decode.txt")
    with pytest.raises(ToolOutputError, match="announces 2 blocks: cut short"):
        parse_edid(dell[:128])
    with pytest.raises(ToolOutputError, match="no hex dump"):
        edid_from_hex("no EDID here\n")
