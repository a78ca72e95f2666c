"""Processor family and generation from model strings (as DMI and /proc/cpuinfo print them)."""

from __future__ import annotations

import pytest

from sanitiser.inventory.cpu import cpu_family, cpu_vendor


@pytest.mark.parametrize(
    ("model", "family", "generation"),
    [
        ("Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", "Core i5", 8),
        ("Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", "Core i7", 11),
        ("11th Gen Intel(R) Core(TM) i3-1115G4 @ 3.00GHz", "Core i3", 11),
        ("Intel(R) Core(TM) i7-1065G7 CPU @ 1.30GHz", "Core i7", 10),
        ("Intel(R) Core(TM) i5-10210U CPU @ 1.60GHz", "Core i5", 10),
        ("12th Gen Intel(R) Core(TM) i5-1240P", "Core i5", 12),
        ("12th Gen Intel(R) Core(TM) i7-1255U", "Core i7", 12),
        ("13th Gen Intel(R) Core(TM) i9-13980HX", "Core i9", 13),
        ("Intel(R) Core(TM) i7-4770 CPU @ 3.40GHz", "Core i7", 4),
        ("Intel(R) Core(TM) i5-2520M CPU @ 2.50GHz", "Core i5", 2),
        ("Intel(R) Core(TM) i5 CPU       M 460  @ 2.53GHz", "Core i5", 1),
        ("Intel(R) Core(TM) i7 CPU         920  @ 2.67GHz", "Core i7", 1),
        ("Intel(R) Core(TM) i5-7Y57 CPU @ 1.20GHz", "Core i5", 7),
        ("Intel(R) Core(TM) m3-7Y30 CPU @ 1.00GHz", "Core m3", 7),
        ("Intel(R) Core(TM) m3-8100Y CPU @ 1.10GHz", "Core m3", 8),
        ("Intel(R) Core(TM) M-5Y10c CPU @ 0.80GHz", "Core M", 5),
        ("Intel(R) Core(TM) Ultra 7 155H", "Core Ultra 7", 1),
        ("Intel(R) Core(TM) Ultra 5 226V", "Core Ultra 5", 2),
        ("Intel(R) Core(TM) 3 100U", "Core 3", 1),
        ("AMD Ryzen 5 3500U with Radeon Vega Mobile Gfx", "Ryzen 5", 3),
        ("AMD Ryzen 5 2600 Six-Core Processor", "Ryzen 5", 2),
        ("AMD Ryzen 7 PRO 4750U with Radeon Graphics", "Ryzen 7", 4),
        ("AMD Ryzen 7 5800H with Radeon Graphics", "Ryzen 7", 5),
        ("AMD Ryzen Threadripper 3970X 32-Core Processor", "Ryzen Threadripper", 3),
        ("AMD Ryzen AI 9 HX 370 w/ Radeon 890M", "Ryzen AI 9", None),
        ("Intel(R) Celeron(R) CPU  N2840  @ 2.16GHz", "Celeron", None),
        ("Intel(R) Pentium(R) CPU 4425Y @ 1.70GHz", "Pentium", None),
        ("Intel(R) Atom(TM) x7-Z8700 CPU @ 1.60GHz", "Atom", None),
        ("Intel(R) Core(TM)2 Duo CPU     T7500  @ 2.20GHz", "Core 2", None),
        ("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "Xeon", None),
        ("AMD A9-9420 RADEON R5, 5 COMPUTE CORES 2C+3G", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_family_and_generation(
    model: str | None, family: str | None, generation: int | None
) -> None:
    assert cpu_family(model) == (family, generation)


def test_vendor() -> None:
    assert cpu_vendor("Intel(R) Corporation", None) == "Intel"
    assert cpu_vendor("GenuineIntel", None) == "Intel"
    assert cpu_vendor("Advanced Micro Devices, Inc.", None) == "AMD"
    assert cpu_vendor(None, "AMD Ryzen 5 2600") == "AMD"
    assert cpu_vendor("Zhaoxin", "ZHAOXIN KaiXian KX-6640MA") == "Zhaoxin"
    assert cpu_vendor(None, None) is None
