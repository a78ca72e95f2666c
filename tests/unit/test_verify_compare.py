"""Read-back comparison finds exactly the 4 KiB blocks that differ, for every kind of pattern.

Constant patterns are compared against a 4 KiB reference plus the block against itself shifted
by 4 KiB, and the random pattern against keystream made 1 MiB at a time: these tests corrupt
files written independently of the engine (including corruption that repeats every 4 KiB, the
case a self-shifted comparison must not miss) and check the mismatched ranges byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sanitiser.blockio.patterns import Pattern
from sanitiser.blockio.pump import IOConfig
from sanitiser.blockio.target import DeviceTarget
from sanitiser.blockio.verify import COMPARE_PIECE, verify_full
from sanitiser.domain import ByteRange

SIZE = 9 * (1 << 20) + 8192
"""Several 4 MiB blocks, a short last block, and more than one keystream piece per block."""
SEED = bytes(range(32))
PATTERNS = {
    "zeros": Pattern.zeros(),
    "ones": Pattern.ones(),
    "byte": Pattern.fixed(0xA5),
    "random": Pattern.random(SEED),
}


def content(pattern: Pattern, size: int) -> bytes:
    """What the medium should hold, made without the engine's comparison code."""
    if pattern.constant:
        return bytes([pattern.byte]) * size
    return pattern.expected_bytes(0, size)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The correct content per pattern (computed once)."""
    return {name: content(p, SIZE) for name, p in PATTERNS.items()}


def verify_file(path: Path, pattern: Pattern) -> tuple[ByteRange, ...]:
    fd = os.open(path, os.O_RDWR)
    try:
        res = verify_full(DeviceTarget.from_fd(fd, str(path)), pattern, config=IOConfig())
    finally:
        os.close(fd)
    assert res.verification.passed == (not res.verification.mismatched)
    assert res.verification.bytes_checked == SIZE
    return res.verification.mismatched


def blocks_of(positions: set[int]) -> Iterator[ByteRange]:
    """The 4 KiB blocks holding `positions`, merged into ranges."""
    starts = sorted({p - p % 4096 for p in positions})
    run_start = prev = None
    for s in starts:
        if prev is not None and s == prev + 4096:
            prev = s
            continue
        if run_start is not None and prev is not None:
            yield ByteRange(run_start, prev + 4096 - run_start)
        run_start = prev = s
    if run_start is not None and prev is not None:
        yield ByteRange(run_start, prev + 4096 - run_start)


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_untouched_content_passes(name: str, images: dict[str, bytes], tmp_path: Path) -> None:
    """A medium holding exactly the pattern verifies."""
    path = tmp_path / "medium"
    path.write_bytes(images[name])
    assert verify_file(path, PATTERNS[name]) == ()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(sorted(PATTERNS)),
    positions=st.sets(st.integers(0, SIZE - 1), min_size=1, max_size=6),
)
def test_each_changed_byte_is_found_in_its_block(
    name: str, positions: set[int], images: dict[str, bytes], tmp_path: Path
) -> None:
    """Any set of changed bytes (first, last, piece edges...) is reported as its 4 KiB blocks."""
    data = bytearray(images[name])
    for p in positions:
        data[p] ^= 0x01
    path = tmp_path / "medium"
    path.write_bytes(data)
    assert verify_file(path, PATTERNS[name]) == tuple(blocks_of(positions))


@pytest.mark.parametrize("name", sorted(PATTERNS))
@pytest.mark.parametrize("first_block_too", [False, True])
def test_corruption_repeating_every_4_kib_is_found(
    name: str, first_block_too: bool, images: dict[str, bytes], tmp_path: Path
) -> None:
    """The same wrong byte at the same place in every 4 KiB block (after the first, or in all of
    them) is periodic, as a block shifted against itself: it must still fail, block by block."""
    data = bytearray(images[name])
    start = 0 if first_block_too else 4096
    positions = set(range(start + 100, SIZE, 4096))
    for p in positions:
        data[p] ^= 0xFF
    path = tmp_path / "medium"
    path.write_bytes(data)
    assert verify_file(path, PATTERNS[name]) == tuple(blocks_of(positions))


def test_changes_at_keystream_piece_edges_are_found(
    images: dict[str, bytes], tmp_path: Path
) -> None:
    """The last byte of one keystream piece and the first of the next are both checked."""
    data = bytearray(images["random"])
    positions = {COMPARE_PIECE - 1, 2 * COMPARE_PIECE, (4 << 20) + COMPARE_PIECE - 1, SIZE - 1}
    for p in positions:
        data[p] ^= 0x80
    path = tmp_path / "medium"
    path.write_bytes(data)
    assert verify_file(path, PATTERNS["random"]) == tuple(blocks_of(positions))
