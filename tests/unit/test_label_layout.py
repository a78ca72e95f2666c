"""Label addresses and templates (pure): every address form parses, a bad one names itself and
what is wrong; each stock at each resolution has whole dots per QR module, a QR zbarimg reads,
text only right of (or below) the QR and inside the label, long lines ellipsised."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from sanitiser.certificate.label import FORMATS, cell_lines, label_lines, labels_png
from sanitiser.certificate.record import DEVICE_SCHEMA
from sanitiser.labels.address import Language, PrinterAddressError, parse_address
from sanitiser.labels.render import STOCKS, LabelError, dots, render, render_on, stock_named

URL = "https://verify.example.invalid/v#" + "A" * 333  # the largest drive token, 372 characters
LINES = (
    ("SANITISED · PURGE", True),
    ("S/N S3Z9NB0K123456A", True),
    ("Samsung SSD 860 EVO 500GB with a model name far too long for any label", False),
    ("2026-12-04 nvme-format-crypto", False),
    ("ID 8d1c6c1e-5b3f-4f0e-9a55-0123456789ab", False),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("zpl://10.0.0.5", (Language.ZPL, "10.0.0.5", 9100, "", "")),
        ("zpl://printer.lan:9101?dpi=300", (Language.ZPL, "printer.lan", 9101, "", "")),
        ("zpl:///dev/usb/lp0", (Language.ZPL, "", 9100, "/dev/usb/lp0", "")),
        (
            "brother://192.0.2.1?model=QL-820NWB&label=62x29",
            (Language.BROTHER, "192.0.2.1", 9100, "", ""),
        ),
        ("brother:///dev/usb/lp1?model=ql-700", (Language.BROTHER, "", 9100, "/dev/usb/lp1", "")),
        ("cups://Brother_QL_820NWB", (Language.CUPS, "", 9100, "", "Brother_QL_820NWB")),
    ],
)
def test_printer_addresses(text: str, expected: tuple[object, ...]) -> None:
    """Each documented form: language, host, port, device node, queue."""
    a = parse_address(text)
    assert (a.language, a.host, a.port, a.device, a.queue) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "it is empty"),
        ("10.0.0.5", "no scheme"),
        ("ipp://x", "unknown scheme 'ipp'"),
        ("zpl://h:99999", "bad port"),
        ("zpl:///dev/sda", "/dev/sda is not a printer node"),
        ("brother://h", "needs its model"),
        ("brother://h?model=QL-9000", "unknown Brother model 'QL-9000'"),
        ("brother://h?model=QL-700&label=100x100", "unknown label stock '100x100'"),
        ("zpl://h?dpi=250", "dpi must be one of"),
        ("zpl://h?model=QL-700", "unknown option 'model' for zpl"),
        ("zpl://h?dpi=203&dpi=300", "given twice"),
        ("cups://", "no usable CUPS queue name"),
        ("cups://q/x", "no path"),
    ],
)
def test_bad_addresses_say_which_and_why(text: str, why: str) -> None:
    """A bad address is an error naming it and what is wrong."""
    with pytest.raises(PrinterAddressError) as caught:
        parse_address(text)
    assert repr(text) in str(caught.value)
    assert why in str(caught.value)


def _qr(image: Image.Image, tmp_path: Path) -> str:
    path = tmp_path / "label.png"
    image.save(path)
    out = subprocess.run(
        ["zbarimg", "-q", "--raw", str(path)], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    return image.crop(box).convert("L").histogram()[0]


@pytest.mark.parametrize("stock", sorted(STOCKS))
@pytest.mark.parametrize("dpi", [203, 300])
def test_templates_keep_the_qr_whole_and_the_text_clear(
    stock: str, dpi: int, tmp_path: Path
) -> None:
    """1-bit, the label's size in dots, whole dots per module, QR readable; every line of text
    right of (or below) the QR, inside the label; the long model ellipsised; no ink outside
    the QR and the lines."""
    s = stock_named(stock)
    r = render_on(s, URL, LINES, dpi)
    assert r.image.mode == "1"
    assert r.image.size == (dots(s.width_mm, dpi), dots(s.height_mm, dpi))
    assert r.module >= 2
    assert (r.qr_box[2] - r.qr_box[0]) % r.module == 0
    assert _qr(r.image, tmp_path) == URL
    for left, top, right, bottom in r.text_boxes:
        if s.portrait:
            assert top >= r.qr_box[3]
        else:
            assert left >= r.qr_box[2]
        assert right <= r.image.width
        assert bottom <= r.image.height
    assert r.lines[2].endswith("…")
    assert r.lines[1] == LINES[1][0]
    total = _ink(r.image, (0, 0, *r.image.size))
    inside = _ink(r.image, r.qr_box) + sum(_ink(r.image, b) for b in r.text_boxes)
    assert total == inside


def test_a_label_too_small_for_its_qr_is_refused() -> None:
    """A QR that would need modules under two dots is an error, not an unreadable label."""
    with pytest.raises(LabelError, match="needs at least"):
        render(URL, LINES, 300, 100, 203)


DRIVE = {
    "schema": "sanitiser.record/1",
    "certificate_id": "01a241e1-f3f9-7400-89e2-3c72bc64879d",
    "device": {"manufacturer": "", "model": "SIMULATED SATA HDD", "serial": "SIM-HDD-0001"},
    "sanitisation": {
        "nist_category": "purge",
        "technique": "ata-sanitize-overwrite",
        "finished_at": "2026-12-04T16:27:30Z",
    },
    "outcome": {"status": "sanitised"},
    "simulated": True,
    "development_key": True,
}
"""What a lab wipe's record gives a drive label (the fields `label_lines` reads)."""
DEVICE = {
    "schema": DEVICE_SCHEMA,
    "certificate_id": "01a241e1-f3f9-7400-89e2-3c72bc64879e",
    "device": {"tag": "LBC-L-0199", "make": "Lenovo", "model": "ThinkPad T480", "holds_data": True},
    "grade": {"cosmetic": "B"},
    "readiness": {"ready": False},
    "destination": {"route": "external-reuse"},
    "drives": [{"outcome": "sanitised"}],
    "simulated": True,
    "development_key": True,
}
"""A device record's fields a device label reads."""
MUST_SHOW = {
    "drive": ("SANITISED", "PURGE", "SIMULATED", "DEV KEY", "S/N SIM-HDD-0001"),
    "device": ("LBC-L-0199", "Grade B", "not ready", "external-reuse", "SIMULATED", "DEV KEY"),
}
"""The words that state what a label is for: each must be printed whole."""


def _shows_whole(lines: Sequence[str], words: Sequence[str]) -> None:
    text = " | ".join(lines)
    for word in words:  # on a line of its own that was not cut short
        assert any(word in line and "…" not in line for line in lines), (word, text)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("kind", ["drive", "device"])
def test_a_label_prints_its_outcome_simulated_and_grade_whole(
    fmt: str, kind: str, tmp_path: Path
) -> None:
    """On every certificate label format, the outcome, SIMULATED, DEV KEY, the serial and a
    device's grade, readiness and route are printed whole (wrapped at their parts or smaller,
    never ellipsised), the lines fit in the label's height, and the QR still decodes."""
    record = DRIVE if kind == "drive" else DEVICE
    size, lines = cell_lines(FORMATS[fmt], record)
    _shows_whole([t for t, _ in lines], MUST_SHOW[kind])
    assert size >= 4.0
    assert len(lines) * size * 0.3528 * 1.25 <= FORMATS[fmt].label_h - 3.0
    (png,) = labels_png([(record, URL)], FORMATS[fmt])
    assert _qr(Image.open(io.BytesIO(png)), tmp_path) == URL


@pytest.mark.parametrize("stock", sorted(STOCKS))
@pytest.mark.parametrize("dpi", [203, 300])
@pytest.mark.parametrize("kind", ["drive", "device"])
def test_a_printed_label_prints_its_outcome_simulated_and_grade_whole(
    stock: str, dpi: int, kind: str, tmp_path: Path
) -> None:
    """The same on every printer stock at both resolutions, as drawn, with the QR readable
    and every line inside the label."""
    r = render_on(
        stock_named(stock), URL, tuple(label_lines(DRIVE if kind == "drive" else DEVICE)), dpi
    )
    _shows_whole(r.lines, MUST_SHOW[kind])
    assert _qr(r.image, tmp_path) == URL
    assert all(b[3] <= r.image.height for b in r.text_boxes)
