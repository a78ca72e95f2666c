"""The one style for every PDF the project draws: certificates, consignment manifests, fleet
reports (labels draw on a canvas at the printer's resolution, with the same fonts).

Fonts: DejaVu Sans when installed (it covers far more of Unicode than the PDF core fonts, so a
name in any script prints as written), else Helvetica. The palette and the paragraph styles
are here; each document picks its base size, and everything else follows from it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu",)

WARNING_RED = colors.HexColor("#b00020")
"""The banner of a record that is not what it seems (simulated, development key, failed)."""
RULE_GREY = colors.HexColor("#cccccc")
"""Thin rules between table rows."""
HEADER_GREY = colors.HexColor("#eeeeee")
"""The background of a table's header row."""


_FONT_LOCK = threading.Lock()
_FONT_NAMES: tuple[str, str] | None = None
"""The (regular, bold) names, published only once both faces are registered."""


def _register_fonts() -> tuple[str, str]:
    """Register DejaVu Sans regular and bold (both, before either name is handed out)."""
    for d in _FONT_DIRS:
        regular, bold = Path(d) / "DejaVuSans.ttf", Path(d) / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            faces = TTFont("SanDejaVu", str(regular)), TTFont("SanDejaVu-Bold", str(bold))
            for face in faces:
                pdfmetrics.registerFont(face)
            return "SanDejaVu", "SanDejaVu-Bold"
    return "Helvetica", "Helvetica-Bold"


def fonts() -> tuple[str, str]:
    """DejaVu Sans (regular, bold) when present, else Helvetica; registered once per process.

    Thread-safe: the first caller registers both faces under a module lock and only then
    publishes the names, so a thread rendering at the same moment never gets a family whose
    bold face is not registered yet (reportlab: "Can't map ... sandejavu-bold").
    """
    global _FONT_NAMES  # noqa: PLW0603 - the process-wide registration, published once
    names = _FONT_NAMES
    if names is not None:
        return names
    with _FONT_LOCK:
        if _FONT_NAMES is None:
            _FONT_NAMES = _register_fonts()
        return _FONT_NAMES


def font_coverage(font: str) -> Callable[[str], bool]:
    """Whether the registered font `font` has a glyph for a character."""
    face = getattr(pdfmetrics.getFont(font), "face", None)
    glyphs = getattr(face, "charToGlyph", None)
    if isinstance(glyphs, dict):
        return lambda ch: ord(ch) in glyphs
    return lambda ch: ord(ch) <= 0xFF


@dataclass(frozen=True, slots=True)
class DocumentStyles:
    """The paragraph styles of one document."""

    base: ParagraphStyle
    label: ParagraphStyle
    heading: ParagraphStyle
    title: ParagraphStyle
    status: ParagraphStyle
    banner: ParagraphStyle
    small: ParagraphStyle
    ident: ParagraphStyle
    """Identifiers (a UUID fits on one line of a narrow column)."""


def document_styles(
    font: str,
    bold: str,
    *,
    size: float = 7.6,
    leading: float = 9.2,
    heading: tuple[float, float, float] = (9.5, 12, 3),
    title_leading: float = 19,
    centred_banner: bool = True,
    prefix: str = "",
) -> DocumentStyles:
    """The house styles at a document's base `size` (the certificate's by default).

    Args:
        heading: the heading's size, leading and space before it.
        prefix: prefixed to the style names (reportlab names; documents in one process).
    """
    base = ParagraphStyle(f"{prefix}base", fontName=font, fontSize=size, leading=leading)
    h_size, h_leading, h_before = heading
    return DocumentStyles(
        base=base,
        label=ParagraphStyle(f"{prefix}label", parent=base, fontName=bold),
        heading=ParagraphStyle(
            f"{prefix}heading",
            parent=base,
            fontName=bold,
            fontSize=h_size,
            leading=h_leading,
            spaceBefore=h_before,
        ),
        title=ParagraphStyle(
            f"{prefix}title", parent=base, fontName=bold, fontSize=16, leading=title_leading
        ),
        status=ParagraphStyle(
            f"{prefix}status", parent=base, fontName=bold, fontSize=13, leading=16
        ),
        banner=ParagraphStyle(
            f"{prefix}banner",
            parent=base,
            fontName=bold,
            fontSize=10,
            leading=13,
            textColor=colors.white,
            alignment=TA_CENTER if centred_banner else TA_LEFT,
            backColor=WARNING_RED,
            borderPadding=3,
        ),
        small=ParagraphStyle(f"{prefix}small", parent=base, fontSize=6.5, leading=8),
        ident=ParagraphStyle(f"{prefix}ident", parent=base, fontSize=6.8),
    )
