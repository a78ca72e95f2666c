"""Overwrite patterns: constant fills, the reproducible AES-CTR stream, schemes, memory bounds."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.blockio.patterns import (
    SCHEMES,
    Pattern,
    PatternKind,
    fill_constant,
    new_seed,
    pass_seed,
    scheme,
    seed_id,
)
from sanitiser.blockio.pump import IOConfig
from sanitiser.errors import ConfigError

SEED = bytes(range(32))


def keystream(seed: bytes, length: int) -> bytes:
    """The AES-256-CTR keystream from counter 0, computed independently of the engine."""
    enc = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    return enc.update(bytes(length)) + enc.finalize()


@pytest.mark.parametrize(
    ("pattern", "byte"),
    [(Pattern.zeros(), 0x00), (Pattern.ones(), 0xFF), (Pattern.fixed(0xA5), 0xA5)],
)
@pytest.mark.parametrize("length", [1, 7, 4096, 1_000_003])
def test_constant_patterns_fill_every_byte(pattern: Pattern, byte: int, length: int) -> None:
    """Constant patterns write their byte into exactly the requested length, nothing beyond."""
    buf = bytearray(b"\x5a" * (length + 32))
    pattern.fill(memoryview(buf), 4096, length)
    assert buf[:length] == bytes([byte]) * length
    assert buf[length:] == b"\x5a" * 32


def test_fill_constant_empty_is_noop() -> None:
    """Filling an empty view does nothing and does not fail."""
    fill_constant(memoryview(bytearray()), 0x11)


def test_random_stream_is_the_aes_ctr_keystream_from_offset_zero() -> None:
    """The random pattern at offset 0 is the plain AES-256-CTR keystream under the seed."""
    assert Pattern.random(SEED).expected_bytes(0, 3 << 20) == keystream(SEED, 3 << 20)


@settings(max_examples=40, deadline=None)
@given(block=st.integers(0, 4000), length=st.integers(1, 70_000))
def test_random_stream_is_random_access(block: int, length: int) -> None:
    """Any range regenerated alone equals the same slice of the whole stream."""
    offset = block * 16
    whole = keystream(SEED, offset + length)
    assert Pattern.random(SEED).expected_bytes(offset, length) == whole[offset:]


def test_random_fill_needs_16_byte_aligned_offsets() -> None:
    """A counter cannot start mid-block: unaligned offsets are refused."""
    with pytest.raises(ValueError, match="multiple of 16"):
        Pattern.random(SEED).expected_bytes(8, 32)


def test_random_stream_looks_random_and_depends_on_the_seed() -> None:
    """Different seeds give different streams; a stream has no long runs of one byte."""
    a = Pattern.random(SEED).expected_bytes(0, 1 << 16)
    b = Pattern.random(new_seed()).expected_bytes(0, 1 << 16)
    assert a != b
    assert len(set(a)) == 256
    assert a.count(0) < (1 << 16) // 128


def test_seed_is_never_shown_only_its_id() -> None:
    """repr and describe() carry the seed id, never the seed bytes."""
    p = Pattern.random(SEED)
    assert SEED.hex() not in repr(p)
    assert SEED.hex()[:16] not in p.describe()
    assert p.describe() == f"aes-256-ctr seed-id {seed_id(SEED)}"
    assert len(seed_id(SEED)) == 16
    assert seed_id(SEED) == seed_id(bytes(SEED))
    assert seed_id(SEED) != seed_id(new_seed())


def test_bad_patterns_are_refused() -> None:
    """Bytes outside 0..255 and random patterns without a 32-byte seed are errors."""
    with pytest.raises(ValueError, match="out of range"):
        Pattern.fixed(256)
    with pytest.raises(ValueError, match="32-byte seed"):
        Pattern(PatternKind.RANDOM, seed=b"short")


def test_describe_names_each_kind() -> None:
    """Records read ``zeros``, ``ones``, ``byte 0xNN``."""
    assert Pattern.zeros().describe() == "zeros"
    assert Pattern.ones().describe() == "ones"
    assert Pattern.fixed(0x5A).describe() == "byte 0x5a"


def test_schemes_derive_a_distinct_seed_per_random_pass() -> None:
    """Two random passes of one job never write the same stream; the job seed reproduces both."""
    s = scheme("double-random", ["random", "zeros", "random"])
    first, middle, last = s.patterns(SEED)
    assert middle == Pattern.zeros()
    assert first.seed == pass_seed(SEED, 0)
    assert last.seed == pass_seed(SEED, 2)
    assert first.seed != last.seed
    assert s.patterns(SEED) == (first, middle, last)


def test_builtin_and_policy_schemes() -> None:
    """Built-ins are found by name; policies may name passes, including a fixed byte."""
    assert scheme("zeros").passes == ("zeros",)
    assert SCHEMES["hmg-is5-enhanced"].passes == ("ones", "zeros", "random")
    assert scheme("custom", ["byte:0x55", "ones"]).patterns(SEED) == (
        Pattern.fixed(0x55),
        Pattern.ones(),
    )


@pytest.mark.parametrize(
    ("name", "passes"), [("nope", None), ("x", []), ("x", ["sparkles"]), ("x", ["byte:zz"])]
)
def test_bad_schemes_are_config_errors(name: str, passes: list[str] | None) -> None:
    """Unknown schemes, empty schemes and unknown pass names are ConfigErrors."""
    with pytest.raises(ConfigError):
        scheme(name, passes)


def test_engine_memory_stays_under_64_mib() -> None:
    """The default config's buffers, counted at their worst (2 blocks per worker, +1 shared),
    stay under 64 MiB (verification holds 1 block and a 1 MiB keystream piece per worker)."""
    assert IOConfig().memory_bytes(buffers_per_worker=2) < 64 << 20


@pytest.mark.parametrize(
    "make",
    [
        lambda: IOConfig(block_size=1000),
        lambda: IOConfig(fault_granularity=3 << 20),
        lambda: IOConfig(workers=0),
    ],
    ids=["block_size", "fault_granularity", "workers"],
)
def test_io_config_rejects_nonsense(make: Callable[[], IOConfig]) -> None:
    """Unaligned blocks, granularity not dividing the block, and zero workers are refused."""
    with pytest.raises(ValueError, match=r"block_size|granularity|worker"):
        make()


@settings(max_examples=40, deadline=None)
@given(
    block=st.integers(0, 4000),
    length=st.integers(1, 300_000),
    piece=st.sampled_from([1, 16, 4095, 65_536, 1 << 20]),
)
def test_random_pieces_are_the_stream_cut_into_pieces(block: int, length: int, piece: int) -> None:
    """`fill_pieces` yields the same bytes as one `fill` of the range, `piece` bytes at a time."""
    offset = block * 16
    out = bytearray(piece + 15)
    got = b""
    for n in Pattern.random(SEED).fill_pieces(memoryview(out), offset, length, piece):
        assert n == min(piece, length - len(got))
        got += bytes(out[:n])
    assert got == keystream(SEED, offset + length)[offset:]


@pytest.mark.parametrize(
    ("pattern", "piece", "offset"),
    [(Pattern.zeros(), 4096, 0), (Pattern.random(SEED), 0, 0), (Pattern.random(SEED), 2 << 20, 0),
     (Pattern.random(SEED), 4096, 8)],
)  # fmt: skip
def test_fill_pieces_refuses_what_it_cannot_do(pattern: Pattern, piece: int, offset: int) -> None:
    """Constant patterns, empty or oversized pieces, and unaligned offsets are refused."""
    with pytest.raises(ValueError, match="random pattern"):
        list(pattern.fill_pieces(memoryview(bytearray(4 << 20)), offset, 4096, piece))
