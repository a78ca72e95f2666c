"""Formatting of quantities for people (decimal units, as drive vendors label capacity)."""

from __future__ import annotations


def human_size(n: int) -> str:
    """`n` bytes in decimal units: 512 B, 64.0 MB, 2.0 TB."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        size /= 1000
        if size < 1000 or unit == "PB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")
