"""Where to read (sampled verification) and where to plant canaries: pure functions over sizes.

Sampled verification follows the NIST SP 800-88 r1 §4.7.3 guidance as transcribed in
docs/STANDARDS.md §2.5: the LBA range is cut into (by default) 1,000 equal subsections; in each, two
non-overlapping pseudorandom samples, each (by default) 5 % of the subsection, so 10 % of the
medium in all; the first and the last addressable blocks are always included; the positions
change every run (a fresh sample seed, recorded so the plan can be reproduced). Each
subsection is cut into as many equal slots as it has samples and one sample sits at a random
aligned place in each slot, which keeps samples apart and spread over the whole range.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from sanitiser.domain import ByteRange

NIST_SUBSECTIONS = 1000
NIST_SAMPLES_PER_SUBSECTION = 2
NIST_FRACTION_PPM = 100_000
"""10 % of the medium: 2 samples x 5 % of each subsection."""


def new_sample_seed() -> int:
    """A fresh 64-bit seed: sample positions change every run."""
    return secrets.randbits(64)


@dataclass(frozen=True, slots=True)
class SamplePlan:
    """The ranges a sampled verification reads, and how they were chosen."""

    size_bytes: int
    ranges: tuple[ByteRange, ...]
    """Sorted, non-overlapping, aligned; the first starts at 0 and the last ends at the end."""
    subsections: int
    samples_per_subsection: int
    seed: int
    """Reproduces the plan with `plan_samples` (positions are not secret)."""

    @property
    def samples(self) -> int:
        """Number of samples read (touching samples count once each)."""
        return self.subsections * self.samples_per_subsection

    @property
    def bytes_covered(self) -> int:
        """Total bytes the plan reads."""
        return sum(r.length for r in self.ranges)

    @property
    def coverage_ppm(self) -> int:
        """Share of the medium read, in parts per million."""
        return self.bytes_covered * 1_000_000 // self.size_bytes if self.size_bytes else 0


def _boundaries(size: int, parts: int, align: int) -> list[int]:
    """`parts`+1 aligned cut points from 0 to `size` (the last is `size` itself)."""
    cuts = [(size * i // parts) // align * align for i in range(parts)]
    return [*cuts, size]


def plan_samples(
    size_bytes: int,
    *,
    align: int = 4096,
    subsections: int = NIST_SUBSECTIONS,
    samples_per_subsection: int = NIST_SAMPLES_PER_SUBSECTION,
    fraction_ppm: int = NIST_FRACTION_PPM,
    seed: int | None = None,
) -> SamplePlan:
    """Choose the sampled-verification ranges for a device of `size_bytes`.

    Small devices get fewer subsections (each slot must hold at least two aligned blocks); a
    device too small to sample at all is read in full (one range, coverage 100 %).

    Args:
        size_bytes: device size, a multiple of the sector size.
        align: sample alignment and minimum length (>= the logical sector size; 4096 suits
            O_DIRECT on every device).
        subsections: equal subsections (NIST: at least 1,000).
        samples_per_subsection: non-overlapping samples per subsection (NIST: at least 2).
        fraction_ppm: share of the medium to read, in ppm (NIST: 10 %).
        seed: sample seed; a fresh one when None.

    Raises:
        ValueError: nonsensical arguments.
    """
    if size_bytes <= 0 or align <= 0 or subsections <= 0 or samples_per_subsection <= 0:
        raise ValueError("size, align, subsections and samples must be positive")
    if not 0 < fraction_ppm <= 1_000_000:
        raise ValueError("fraction_ppm must be in (0, 1_000_000]")
    seed = new_sample_seed() if seed is None else seed
    rng = random.Random(seed)  # noqa: S311 - positions must be reproducible, not secret
    k = samples_per_subsection
    parts = min(subsections, size_bytes // (align * 2 * k))
    if parts == 0 or fraction_ppm == 1_000_000:
        return SamplePlan(size_bytes, (ByteRange(0, size_bytes),), 1, 1, seed)
    cuts = _boundaries(size_bytes, parts, align)
    picked: list[tuple[int, int]] = []
    for i in range(parts):
        sub_start, sub_end = cuts[i], cuts[i + 1]
        slots = _boundaries(sub_end - sub_start, k, align)
        for j in range(k):
            slot_start, slot_end = sub_start + slots[j], sub_start + slots[j + 1]
            slot_len = slot_end - slot_start
            want = (sub_end - sub_start) * fraction_ppm // 1_000_000 // k
            length = min(max(align, want // align * align), slot_len // align * align)
            if i == 0 and j == 0:
                start = 0  # the first addressable block, always
            elif i == parts - 1 and j == k - 1:
                start = slot_end - length  # the last addressable block, always
            else:
                start = slot_start + rng.randrange((slot_len - length) // align + 1) * align
            picked.append((start, length))
    picked += [(0, align), (size_bytes - align, align)]  # even when one sample is both
    return SamplePlan(size_bytes, tuple(_merge(picked)), parts, k, seed)


def _merge(spans: list[tuple[int, int]]) -> list[ByteRange]:
    """Sorted ranges with touching or overlapping spans joined."""
    out: list[ByteRange] = []
    for start, length in sorted(spans):
        if out and start <= out[-1].start + out[-1].length:
            last = out[-1]
            end = max(last.start + last.length, start + length)
            out[-1] = ByteRange(last.start, end - last.start)
        else:
            out.append(ByteRange(start, length))
    return out


def merge_ranges(ranges: list[ByteRange]) -> tuple[ByteRange, ...]:
    """`ranges` sorted, with touching or overlapping ones joined."""
    return tuple(_merge([(r.start, r.length) for r in ranges]))


def plan_canaries(size_bytes: int, count: int, *, block: int = 4096, seed: int) -> tuple[int, ...]:
    """Offsets of `count` canary blocks: the first block, the last block, and one at a random
    aligned place in each of `count - 2` equal subsections between them (so none overlap).

    Args:
        size_bytes: device size, a multiple of `block` is not required (the last canary ends
            exactly at the end of the device when the size is a multiple of the sector size).
        count: canaries wanted (at least 2; fewer when the device has fewer blocks, and a
            single one at offset 0 when it is smaller than two blocks).
        block: canary size and alignment.
        seed: position seed.

    Raises:
        ValueError: the device is smaller than one block, or count < 2.
    """
    if count < 2:
        raise ValueError("at least two canaries (first and last block)")
    if size_bytes < block:
        raise ValueError("device smaller than one canary block")
    last = size_bytes - block
    if last < block:  # under two blocks: first and last would overlap, so one canary only
        return (0,)
    inner = min(count - 2, max(0, last // block - 1))
    rng = random.Random(seed)  # noqa: S311 - positions must be reproducible, not secret
    offsets = {0, last}
    if inner:
        lo, hi = block, last // block * block  # aligned blocks strictly between first and last
        cuts = _boundaries(hi - lo, inner, block)
        for i in range(inner):
            a, b = lo + cuts[i], lo + cuts[i + 1]
            slots = (b - a) // block
            if slots > 0:
                offsets.add(a + rng.randrange(slots) * block)
    return tuple(sorted(offsets))
