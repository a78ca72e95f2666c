"""Overwrite patterns and multi-pass schemes.

Constant patterns (zeros, ones, a fixed byte) are a buffer filled once. The random pattern is
the AES-256-CTR keystream under a 32-byte seed, with the counter block equal to the byte offset
divided by 16: any range of the device can be regenerated on its own (by the verifier, by a
resumed job, by a test using plain `cryptography`) and generation runs at several GB/s per core
without the GIL.

The seed decision: the seed is made per job (`new_seed`), kept by the caller in the job journal
(it is needed to verify or resume), and never put in the Outcome or certificate; records carry
`seed_id`, a SHA-256 fingerprint that identifies the seed without revealing it. Each pass of a
scheme gets its own seed derived from the job seed (`pass_seed`), so two random passes never
write the same stream.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from sanitiser.errors import ConfigError

SEED_BYTES = 32
_CHUNK = 1 << 20
_ZEROS = memoryview(bytes(_CHUNK))
"""Plaintext for the keystream: AES-CTR of zeros is the keystream itself (a view: slices of it
are not copies)."""


class PatternKind(StrEnum):
    """What one pass writes."""

    ZEROS = "zeros"
    ONES = "ones"
    BYTE = "byte"
    RANDOM = "random"


def new_seed() -> bytes:
    """A fresh random 32-byte job seed (keep it in the job journal)."""
    return secrets.token_bytes(SEED_BYTES)


def seed_id(seed: bytes) -> str:
    """A 16-hex-digit fingerprint of `seed` for records; the seed cannot be derived from it."""
    return hashlib.sha256(b"sanitiser seed id\0" + seed).hexdigest()[:16]


def pass_seed(job_seed: bytes, pass_index: int) -> bytes:
    """The seed of pass `pass_index` (0-based), derived from the job seed by HMAC-SHA256."""
    return hmac.new(job_seed, b"pass %d" % pass_index, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Pattern:
    """One pass's content. Build with `zeros()`, `ones()`, `fixed(b)` or `random(seed)`."""

    kind: PatternKind
    byte: int = 0
    """The byte written by constant patterns (0x00 zeros, 0xFF ones)."""
    seed: bytes = field(default=b"", repr=False)
    """AES-256 key of the random pattern (secret: never logged, never in a record)."""

    def __post_init__(self) -> None:
        if not 0 <= self.byte <= 255:
            raise ValueError(f"pattern byte out of range: {self.byte}")
        if self.kind is PatternKind.RANDOM and len(self.seed) != SEED_BYTES:
            raise ValueError(f"random pattern needs a {SEED_BYTES}-byte seed")

    @classmethod
    def zeros(cls) -> Pattern:
        """All bytes 0x00."""
        return cls(PatternKind.ZEROS, 0x00)

    @classmethod
    def ones(cls) -> Pattern:
        """All bytes 0xFF."""
        return cls(PatternKind.ONES, 0xFF)

    @classmethod
    def fixed(cls, byte: int) -> Pattern:
        """All bytes `byte`."""
        return cls(PatternKind.BYTE, byte)

    @classmethod
    def random(cls, seed: bytes) -> Pattern:
        """The AES-256-CTR keystream under `seed`, counter = offset / 16."""
        return cls(PatternKind.RANDOM, 0, seed)

    @property
    def constant(self) -> bool:
        """True for patterns whose every byte is `byte`."""
        return self.kind is not PatternKind.RANDOM

    @property
    def seed_id(self) -> str:
        """Fingerprint of the seed ("" for constant patterns)."""
        return seed_id(self.seed) if self.seed else ""

    def describe(self) -> str:
        """What the medium should read as, for records: ``zeros``, ``byte 0xa5``, ..."""
        if self.kind is PatternKind.RANDOM:
            return f"aes-256-ctr seed-id {self.seed_id}"
        if self.kind is PatternKind.BYTE:
            return f"byte 0x{self.byte:02x}"
        return self.kind.value

    def fill(self, out: memoryview, offset: int, length: int) -> None:
        """Write the pattern's bytes for device range [offset, offset+length) into `out[:length]`.

        Args:
            out: destination; for the random pattern it must have 15 spare bytes past `length`
                (`cryptography` asks for a block of headroom), as `AlignedBuffer.full` has.
            offset: device byte offset, a multiple of 16.
            length: bytes to produce.
        """
        if self.constant:
            fill_constant(out[:length], self.byte)
            return
        encryptor = self._keystream(offset)
        for start in range(0, length, _CHUNK):
            n = min(_CHUNK, length - start)
            encryptor.update_into(_ZEROS[:n], out[start : start + n + 15])

    def fill_pieces(self, out: memoryview, offset: int, length: int, piece: int) -> Iterator[int]:
        """The random pattern for [offset, offset+length), `piece` bytes at a time, into `out`.

        Yields each piece's byte count; that piece is in ``out[:n]`` until the next step. One
        keystream runs through the range, so a verifier can compare a large read against a
        small, cache-resident buffer instead of a second block-sized one. `out` needs `piece`
        + 15 bytes (as for `fill`); `piece` is at most 1 MiB.
        """
        if self.constant or not 0 < piece <= _CHUNK:
            raise ValueError("fill_pieces is for the random pattern, in pieces of up to 1 MiB")
        encryptor = self._keystream(offset)
        for start in range(0, length, piece):
            n = min(piece, length - start)
            encryptor.update_into(_ZEROS[:n], out[: n + 15])
            yield n

    def _keystream(self, offset: int) -> CipherContext:
        if offset % 16:
            raise ValueError(f"random pattern offset {offset} is not a multiple of 16")
        counter = (offset // 16).to_bytes(16, "big")
        return Cipher(algorithms.AES(self.seed), modes.CTR(counter)).encryptor()

    def expected_bytes(self, offset: int, length: int) -> bytes:
        """The pattern's bytes for one range, as `bytes` (small ranges: tests, mismatch reports)."""
        buf = bytearray(length + 16)
        self.fill(memoryview(buf), offset, length)
        return bytes(buf[:length])


def fill_constant(out: memoryview, byte: int) -> None:
    """Fill `out` with `byte` by doubling copies (memcpy speed)."""
    n = len(out)
    if n == 0:
        return
    out[0] = byte
    done = 1
    while done < n:
        step = min(done, n - done)
        out[done : done + step] = out[:step]
        done += step


@dataclass(frozen=True, slots=True)
class Scheme:
    """A named sequence of passes, e.g. from a policy; the last pass is what verification expects.

    Pass names: ``zeros``, ``ones``, ``random``, or ``byte:0xNN``.
    """

    name: str
    passes: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.passes:
            raise ConfigError(f"overwrite scheme {self.name!r} has no passes")
        for name in self.passes:
            parse_pass(name, b"\0" * SEED_BYTES)  # validates

    def patterns(self, job_seed: bytes) -> tuple[Pattern, ...]:
        """The concrete patterns, random passes keyed by `pass_seed(job_seed, i)`."""
        return tuple(parse_pass(name, pass_seed(job_seed, i)) for i, name in enumerate(self.passes))


def parse_pass(name: str, seed: bytes) -> Pattern:
    """The Pattern named `name` (``zeros``, ``ones``, ``random``, ``byte:0xNN``).

    Raises:
        ConfigError: the name is not a known pass.
    """
    key = name.strip().lower()
    if key in ("zeros", "zero"):
        return Pattern.zeros()
    if key in ("ones", "one"):
        return Pattern.ones()
    if key == "random":
        return Pattern.random(seed)
    if key.startswith("byte:"):
        try:
            return Pattern.fixed(int(key[5:], 0))
        except ValueError as exc:
            raise ConfigError(f"bad overwrite pass {name!r}: {exc}") from exc
    raise ConfigError(f"unknown overwrite pass {name!r} (zeros, ones, random, byte:0xNN)")


SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme("zeros", ("zeros",)),
        Scheme("ones", ("ones",)),
        Scheme("random", ("random",)),
        Scheme("random-then-zeros", ("random", "zeros")),
        # HMG IS5 Enhanced (docs/STANDARDS.md §4.2): ones, zeros, random, then verify.
        Scheme("hmg-is5-enhanced", ("ones", "zeros", "random")),
    )
}
"""Built-in schemes; policies may define others with `Scheme(name, passes)`."""


def scheme(name: str, passes: Sequence[str] | None = None) -> Scheme:
    """A built-in scheme by name, or a policy-defined one when `passes` is given.

    Raises:
        ConfigError: unknown name and no passes given, or a bad pass name.
    """
    if passes is not None:
        return Scheme(name, tuple(passes))
    try:
        return SCHEMES[name]
    except KeyError:
        raise ConfigError(f"unknown overwrite scheme {name!r}: {', '.join(SCHEMES)}") from None
