"""Regenerate the IDENTIFY word dumps and their real `hdparm --Istdin` renders in this folder.

Each dump is the synthetic frozen drive from ../shared/reference/outputs/synthetic with a few
words changed (word 128 security, 85 enabled bits, 89/90 erase times, 59 sanitize, 82 features),
and the checksum (word 255) fixed. Run: python tests/data/ata/make_identify_fixtures.py
"""

from __future__ import annotations

import subprocess
from pathlib import Path

HERE = Path(__file__).parent
BASE = (
    HERE.parents[3] / "shared/reference/outputs/synthetic/ata-identify-security-frozen-sanitize.hex"
)

VARIANTS: dict[str, dict[int, int]] = {
    "frozen-sanitize": {},
    "not-frozen": {128: 0x0021},
    "enabled": {128: 0x0023, 85: 0x746B},
    "enabled-max": {128: 0x0123, 85: 0x746B},
    "locked": {128: 0x0027, 85: 0x746B},
    "expired": {128: 0x0037, 85: 0x746B},
    "no-enhanced-ext-time": {128: 0x0001, 89: 0x8096, 90: 0x0000, 59: 0x5400},
    "more-than-508": {128: 0x0021, 89: 0x00FF, 90: 0x00FF, 59: 0x0000},
    "no-security": {82: 0x7469, 128: 0x0000, 89: 0, 90: 0, 59: 0x0000},
}


def words_of(text: str) -> list[int]:
    return [int(w, 16) for w in text.split()]


def with_checksum(words: list[int]) -> list[int]:
    total = sum((w & 0xFF) + (w >> 8) for w in words[:255]) + 0xA5
    words[255] = ((-total) & 0xFF) << 8 | 0xA5
    return words


def dump(words: list[int]) -> str:
    return "".join(" ".join(f"{w:04x}" for w in words[i : i + 8]) + "\n" for i in range(0, 256, 8))


def main() -> None:
    base = words_of(BASE.read_text())
    for name, changes in VARIANTS.items():
        words = list(base)
        for index, value in changes.items():
            words[index] = value
        text = dump(with_checksum(words))
        (HERE / f"identify-{name}.hex").write_text(text)
        render = subprocess.run(
            ["hdparm", "--Istdin"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
        (HERE / f"identify-{name}.txt").write_text(render.stdout)


if __name__ == "__main__":
    main()
