"""A processor's family and generation from its model string (pure).

Windows 11 eligibility and similar reuse rules need "which Core generation" or "which Ryzen
series"; DMI and /proc/cpuinfo only give the marketing string. `cpu_family` reads it:

- Intel Core i3/i5/i7/i9 and m3/m5/m7: the generation. Three digits (i5-520M) are the first
  generation; four digits give their first digit (i5-8350U -> 8, i7-4770 -> 4) unless they start
  with 1, which is generation 10 to 13 (i7-1065G7 -> 10, i7-1165G7 -> 11, i5-1240P -> 12); five
  digits give their first two (i5-10210U -> 10, i9-13980HX -> 13). Y parts: m3-7Y30 -> 7,
  Core M-5Y10 -> 5.
- Intel Core Ultra N and Core N (2023 on): the series, the first digit of the number
  (Ultra 7 155H -> 1, Ultra 5 226V -> 2, Core 3 100U -> 1).
- AMD Ryzen N and Ryzen Threadripper: the series digit of the model number (Ryzen 5 2600 -> 2,
  Ryzen 5 3500U -> 3): the "N000 series", which is not the Zen architecture generation
  (the Ryzen 5 3500U is Zen+). Ryzen AI names carry no such digit: ``None``.
- Anything else (Celeron, Pentium, Atom, Xeon, AMD A-series, Core 2): a family where the string
  names one, generation ``None``.
"""

from __future__ import annotations

import re

_INTEL_ULTRA = re.compile(r"\bCore(?:\(TM\))?\s+Ultra\s+([3579])\s+(\d)\d\d[A-Z]*\b", re.I)
_INTEL_CORE_N = re.compile(r"\bCore(?:\(TM\))?\s+([3579])\s+(\d)\d\d[A-Z]*\b", re.I)
_INTEL_CORE_I = re.compile(r"\bCore(?:\(TM\))?\s*([im][3579])[- ](\d{3,5})(?:[A-Z]\w*)?\b", re.I)
_INTEL_CORE_I_FIRST = re.compile(r"\bCore(?:\(TM\))?\s*(i[3579])\s+CPU\s+[A-Z]?\s*(\d{3})\b", re.I)
_INTEL_CORE_Y = re.compile(r"\bCore(?:\(TM\))?\s*([im][3579]|M)-(\d)Y\d\d[a-z]?\b", re.I)
_RYZEN = re.compile(r"\bRyzen\s+([3579])\s+(?:PRO\s+)?(\d)\d{3}[A-Z]*\b", re.I)
_THREADRIPPER = re.compile(r"\bRyzen\s+Threadripper\s+(?:PRO\s+)?(\d)\d{3}[A-Z]*\b", re.I)
_RYZEN_AI = re.compile(r"\bRyzen\s+AI\s+(?:MAX\+?\s+)?([3579])\b", re.I)
_OTHER = ("Xeon", "Celeron", "Pentium", "Atom", "Core 2", "Core(TM)2", "Athlon", "EPYC", "Opteron")


def _core_generation(digits: str) -> int:
    if len(digits) == 3:
        return 1
    if len(digits) == 5:
        return int(digits[:2])
    return int(digits[:2]) if digits[0] == "1" else int(digits[0])


def cpu_family(model: str | None) -> tuple[str | None, int | None]:
    """(family, generation) of a processor model string; see the module docstring."""
    if not model:
        return None, None
    if m := _INTEL_ULTRA.search(model):
        return f"Core Ultra {m.group(1)}", int(m.group(2))
    if m := _INTEL_CORE_Y.search(model):
        name = m.group(1)
        return ("Core M" if name.upper() == "M" else f"Core {name.lower()}"), int(m.group(2))
    if m := _INTEL_CORE_I.search(model):
        return f"Core {m.group(1).lower()}", _core_generation(m.group(2))
    if m := _INTEL_CORE_I_FIRST.search(model):
        return f"Core {m.group(1).lower()}", 1
    if m := _INTEL_CORE_N.search(model):
        return f"Core {m.group(1)}", int(m.group(2))
    if m := _THREADRIPPER.search(model):
        return "Ryzen Threadripper", int(m.group(1))
    if m := _RYZEN_AI.search(model):
        return f"Ryzen AI {m.group(1)}", None
    if m := _RYZEN.search(model):
        return f"Ryzen {m.group(1)}", int(m.group(2))
    for name in _OTHER:
        if name.lower() in model.lower():
            return ("Core 2" if name == "Core(TM)2" else name), None
    return None, None


def cpu_vendor(manufacturer: str | None, model: str | None) -> str | None:
    """``Intel`` or ``AMD`` when the manufacturer (or else the model string) says so; else the
    manufacturer as given."""
    for text in (manufacturer, model):
        if not text:
            continue
        low = text.lower()
        if "intel" in low:
            return "Intel"
        if "amd" in low or "advanced micro devices" in low:
            return "AMD"
    return manufacturer
