"""Human-readable sizes."""

from __future__ import annotations

import pytest

from sanitiser.units import human_size


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (64 << 20, "67.1 MB"), (2 * 10**12, "2.0 TB")],
)
def test_decimal_units(n: int, text: str) -> None:
    """Sizes print in decimal units, as drive labels do."""
    assert human_size(n) == text
