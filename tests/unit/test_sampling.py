"""Sampled-verification plans and canary positions: NIST SP 800-88 coverage rules."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.blockio.sampling import merge_ranges, plan_canaries, plan_samples
from sanitiser.domain import ByteRange

TB = 10**12 // 4096 * 4096


def check_plan_shape(size: int, ranges: tuple[ByteRange, ...], align: int) -> None:
    """Sorted, disjoint, inside the device, aligned, first and last block included."""
    assert ranges[0].start == 0
    assert ranges[-1].start + ranges[-1].length == size
    for a, b in itertools.pairwise(ranges):
        assert a.start + a.length < b.start  # disjoint and not touching (merged)
    for r in ranges:
        assert r.length > 0
        assert r.start % align == 0
        assert r.start + r.length <= size


def test_nist_plan_on_a_terabyte() -> None:
    """1,000 subsections, 2 samples each of >= 5 %: about 10 % coverage, first and last blocks."""
    plan = plan_samples(TB, seed=1)
    check_plan_shape(TB, plan.ranges, 4096)
    assert plan.subsections == 1000
    assert plan.samples == 2000
    assert len(plan.ranges) >= 1990  # a few neighbours may touch and merge
    assert 99_000 <= plan.coverage_ppm <= 100_500
    sub = TB // 1000
    assert min(r.length for r in plan.ranges) >= sub * 5 // 100 - 4096


def test_each_subsection_holds_its_samples() -> None:
    """Every subsection contains exactly its two samples (spread over the whole range)."""
    plan = plan_samples(TB, seed=2)
    per = [0] * 1000
    for r in plan.ranges:
        first, last = r.start * 1000 // TB, (r.start + r.length - 1) * 1000 // TB
        for i in range(first, last + 1):
            per[i] += 1
    assert all(1 <= n <= 2 for n in per)
    assert sum(per) >= 1990


def test_positions_change_with_the_seed_and_repeat_with_it() -> None:
    """Fresh seeds give new positions; a recorded seed reproduces the plan exactly."""
    a, b = plan_samples(TB, seed=5), plan_samples(TB, seed=6)
    assert a.ranges != b.ranges
    assert plan_samples(TB, seed=5) == a
    assert plan_samples(TB).seed != plan_samples(TB).seed


def test_tiny_device_is_read_in_full() -> None:
    """A device too small to sample is verified in full (coverage 100 %)."""
    plan = plan_samples(8192, seed=1)
    assert plan.ranges == (ByteRange(0, 8192),)
    assert plan.coverage_ppm == 1_000_000


def test_full_fraction_reads_everything() -> None:
    """fraction 100 % is a full read."""
    assert plan_samples(1 << 30, fraction_ppm=1_000_000, seed=1).coverage_ppm == 1_000_000


@settings(max_examples=60, deadline=None)
@given(
    sectors=st.integers(16, 1 << 28),
    subsections=st.integers(1, 1200),
    k=st.integers(1, 4),
    ppm=st.integers(1, 1_000_000),
    seed=st.integers(0, 2**64 - 1),
)
def test_any_plan_is_well_formed(
    sectors: int, subsections: int, k: int, ppm: int, seed: int
) -> None:
    """For any size and parameters the plan is sorted, disjoint, aligned and ends at the end."""
    size = sectors * 512
    plan = plan_samples(size, align=512, subsections=subsections, samples_per_subsection=k,
                        fraction_ppm=ppm, seed=seed)  # fmt: skip
    check_plan_shape(size, plan.ranges, 512)
    assert plan.bytes_covered > 0
    assert plan.coverage_ppm == plan.bytes_covered * 1_000_000 // size  # floor: never overstated
    assert plan.coverage_ppm <= 1_000_000


@pytest.mark.parametrize("kwargs", [{"size_bytes": 0}, {"fraction_ppm": 0}, {"subsections": 0}])
def test_bad_plan_arguments(kwargs: dict[str, int]) -> None:
    """Non-positive sizes, fractions or subsection counts are refused."""
    args = {"size_bytes": 1 << 30} | kwargs
    with pytest.raises(ValueError, match="must be"):
        plan_samples(**args)


def test_canaries_cover_first_last_and_spread() -> None:
    """Canaries: first block, last block, one per subsection between; disjoint and aligned."""
    size = 64 << 20
    offs = plan_canaries(size, 1002, seed=3)
    assert offs[0] == 0
    assert offs[-1] == size - 4096
    assert len(offs) == 1002
    assert all(b - a >= 4096 for a, b in itertools.pairwise(offs))
    assert all(o % 4096 == 0 for o in offs)
    assert plan_canaries(size, 1002, seed=3) == offs != plan_canaries(size, 1002, seed=4)


@settings(max_examples=60, deadline=None)
@given(sectors=st.integers(8, 1 << 22), count=st.integers(2, 3000), seed=st.integers(0, 99))
def test_canaries_never_overlap(sectors: int, count: int, seed: int) -> None:
    """Whatever the size, canary blocks are inside the device and never overlap."""
    size = sectors * 512
    offs = plan_canaries(size, count, seed=seed)
    assert offs[0] == 0
    if size < 2 * 4096:
        assert offs == (0,)
        return
    assert offs[-1] == size - 4096
    assert len(offs) <= count
    assert all(b - a >= 4096 for a, b in itertools.pairwise(offs))


def test_merge_ranges_joins_touching_and_overlapping() -> None:
    """Touching and overlapping ranges merge; separate ones stay apart, sorted."""
    got = merge_ranges([ByteRange(10, 5), ByteRange(0, 10), ByteRange(30, 5), ByteRange(12, 10)])
    assert got == (ByteRange(0, 22), ByteRange(30, 5))
