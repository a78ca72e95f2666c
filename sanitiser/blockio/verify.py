"""Read-back verification: full, sampled (NIST SP 800-88 guidance), and canaries for purges.

Every read goes through an O_DIRECT descriptor after the page cache was dropped, so what is
compared is what the medium returns, not what this process wrote. Comparison is `memcmp`
against the expected pattern (constant patterns: a 4 KiB reference and the block against
itself; random: AES-CTR from the seed, made in cache-sized pieces as it is compared), one pass
over each block read, so verification runs at the device's speed with little CPU.

Canaries: before a purge, `write_canaries` plants unique 32-byte markers (each repeated over a
4 KiB block) at the first block, the last block and one random block per subsection; after the
purge `check_canaries` reads those blocks back and counts any marker still present anywhere in
its block. This proves the purge touched those places whatever the medium reads as afterwards
(zeros, a pattern, or noise after a crypto erase). Markers derive from a per-job seed, so the
set can be stored in the job journal (`CanarySet.to_json`) and checked after a restart.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sanitiser.blockio.patterns import SEED_BYTES, Pattern, new_seed, seed_id
from sanitiser.blockio.progress import ProgressCallback
from sanitiser.blockio.pump import IOConfig, Pump, split
from sanitiser.blockio.sampling import SamplePlan, merge_ranges, plan_canaries
from sanitiser.blockio.target import AlignedBuffer, Target, direct_fd, drop_cache, same_bytes
from sanitiser.domain import ByteRange, Verification

COMPARE_GRANULARITY = 4096
"""Resolution of mismatched ranges."""
COMPARE_PIECE = 1 << 20
"""Bytes of random pattern made at a time for comparison: small enough to stay in the cache."""
CANARY_BLOCK = 4096
DEFAULT_CANARIES = 1002
"""First block, last block, and one per NIST subsection (1,000)."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """A verification and how the run went."""

    verification: Verification
    reason: str = ""
    """Why it did not pass, in one sentence ("" when it passed)."""
    aborted: bool = False
    gone: bool = False
    seconds: float = 0.0
    details: tuple[tuple[str, str], ...] = ()
    """Facts for the Outcome (sample seed, subsections, ...), as sorted pairs."""
    errors: tuple[str, ...] = ()

    @property
    def mbps(self) -> float:
        """Read throughput in MB/s (10^6 bytes)."""
        return self.verification.bytes_checked / self.seconds / 1e6 if self.seconds else 0.0


class _ReadOp:
    """A worker's read buffer, compared in place with what the medium should hold.

    Constant patterns: the first 4 KiB is compared with `reference` and the rest with the
    block itself shifted by 4 KiB (``memcmp(b, b + 4096, n - 4096)``): equal means every byte
    repeats with period 4 KiB, so the whole block is the pattern, for one pass over memory.
    Random: the keystream is made `COMPARE_PIECE` bytes at a time into a small buffer that
    stays in the CPU cache, each piece compared as it is made, so verification costs no second
    block of memory and no second pass over one.
    """

    def __init__(
        self, *, fd: int, fallback_fd: int, align: int, pattern: Pattern, block: int,
        reference: AlignedBuffer | None,
    ) -> None:  # fmt: skip
        self._fd, self._fallback, self._align, self._pattern = fd, fallback_fd, align, pattern
        if pattern.constant and reference is None:
            raise ValueError("a constant pattern is compared with a reference block")
        self._read = AlignedBuffer(block)
        self._reference = reference.address if reference is not None else 0
        self._piece = None if pattern.constant else AlignedBuffer(COMPARE_PIECE)

    def prepare(self, offset: int, length: int) -> None:
        """Nothing to get ready: the expected content is made while comparing."""

    def io(self, offset: int, length: int, buf_offset: int) -> list[ByteRange]:
        aligned = offset % self._align == 0 and length % self._align == 0
        fd = self._fd if aligned else self._fallback
        n = os.preadv(fd, [self._read.view[buf_offset : buf_offset + length]], offset)
        if n != length:
            raise OSError(errno.EIO, f"short read ({n} of {length} bytes)")
        got = self._read.address + buf_offset
        if self._matches(got, offset, length):
            return []
        bad = [
            ByteRange(offset + i, min(COMPARE_GRANULARITY, length - i))
            for i in range(0, length, COMPARE_GRANULARITY)
            if not self._matches(got + i, offset + i, min(COMPARE_GRANULARITY, length - i))
        ]
        return list(merge_ranges(bad))

    def _matches(self, got: int, offset: int, length: int) -> bool:
        """Whether the `length` bytes at address `got` are the pattern for device `offset`."""
        piece = self._piece
        if piece is None:
            head = min(length, COMPARE_GRANULARITY)
            if not same_bytes(got, self._reference, head):
                return False
            return length == head or same_bytes(got, got + head, length - head)
        done = 0
        for n in self._pattern.fill_pieces(piece.full, offset, length, COMPARE_PIECE):
            if not same_bytes(got + done, piece.address, n):
                return False
            done += n
        return True

    def close(self) -> None:
        self._read.close()
        if self._piece is not None:
            self._piece.close()


def verify_ranges(
    target: Target,
    pattern: Pattern,
    ranges: tuple[ByteRange, ...],
    *,
    mode: str,
    config: IOConfig | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
    samples: int = 0,
    details: tuple[tuple[str, str], ...] = (),
) -> VerifyResult:
    """Read `ranges` back and compare them with `pattern` (the core of full and sampled mode).

    Args:
        target: the claimed device.
        pattern: what the medium should read as (the last overwrite pass).
        ranges: sorted, non-overlapping, sector-aligned ranges.
        mode: ``full`` or ``sampled``, recorded in the Verification.
        config: I/O tuning and fault policy.
        on_progress: progress subscriber (called from a ticker thread).
        cancel: returns True to stop early (the result is then not passed).
        samples: number of samples, for the record.
        details: extra facts for the record.
    """
    cfg = config or IOConfig()
    size = target.size_bytes
    total = sum(r.length for r in ranges)
    drop_cache(target.fd)
    started = time.monotonic()
    with direct_fd(target.fd, write=False) as (fd, direct):
        reference: AlignedBuffer | None = None
        if pattern.constant:
            reference = AlignedBuffer(COMPARE_GRANULARITY)
            pattern.fill(reference.view, 0, COMPARE_GRANULARITY)
        align = target.sector_size if direct else 1
        try:
            pump = Pump(
                fd=fd,
                size_bytes=size,
                config=cfg,
                make_op=lambda: _ReadOp(
                    fd=fd,
                    fallback_fd=target.fd,
                    align=align,
                    pattern=pattern,
                    block=cfg.block_size,
                    reference=reference,
                ),
                cancel=cancel,
            )
            res = pump.run(
                split(iter(ranges), cfg.block_size),
                total,
                on_progress=on_progress,
                phase=f"verify {mode}",
            )
        finally:
            if reference is not None:
                reference.close()
    seconds = time.monotonic() - started
    checked = res.bytes_done - sum(r.length for r in res.bad)
    passed = res.complete and not res.bad and not res.mismatched
    verification = Verification(
        mode=mode,
        passed=passed,
        bytes_checked=checked,
        samples=samples,
        coverage_ppm=checked * 1_000_000 // size if size else 0,
        mismatched=res.mismatched,
        unreadable=res.bad,
        expected=pattern.describe(),
    )
    reason = ""
    if res.stop_reason:
        reason = f"verification stopped: {res.stop_reason}"
    elif res.mismatched:
        n = sum(r.length for r in res.mismatched)
        reason = (
            f"verification found {n} bytes in {len(res.mismatched)} ranges not {pattern.describe()}"
        )
    elif res.bad:
        n = sum(r.length for r in res.bad)
        reason = f"verification could not read {n} bytes in {len(res.bad)} ranges"
    facts = (*details, ("verify_direct_io", "yes" if direct else "no"))
    return VerifyResult(
        verification,
        reason,
        res.aborted,
        res.gone,
        seconds,
        tuple(sorted(facts)),
        tuple(res.errors),
    )


def verify_full(
    target: Target,
    pattern: Pattern,
    *,
    config: IOConfig | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> VerifyResult:
    """Read the whole device back and compare every byte with `pattern`."""
    return verify_ranges(
        target,
        pattern,
        (ByteRange(0, target.size_bytes),),
        mode="full",
        config=config,
        on_progress=on_progress,
        cancel=cancel,
    )


def verify_sampled(
    target: Target,
    pattern: Pattern,
    plan: SamplePlan,
    *,
    config: IOConfig | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> VerifyResult:
    """Read the plan's samples back (see `sampling.plan_samples`) and compare with `pattern`.

    Raises:
        ValueError: the plan was made for another size.
    """
    if plan.size_bytes != target.size_bytes:
        raise ValueError(
            f"sample plan is for {plan.size_bytes} bytes, device has {target.size_bytes}"
        )
    details = (
        ("sample_seed", f"{plan.seed:016x}"),
        ("sample_subsections", str(plan.subsections)),
        ("samples_per_subsection", str(plan.samples_per_subsection)),
        ("sample_coverage_ppm", str(plan.coverage_ppm)),
    )
    return verify_ranges(
        target,
        pattern,
        plan.ranges,
        mode="sampled",
        config=config,
        on_progress=on_progress,
        cancel=cancel,
        samples=plan.samples,
        details=details,
    )


# --- canaries ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CanarySet:
    """Where canaries were planted and how to recognise them (keep it in the job journal)."""

    seed: bytes = field(repr=False)
    offsets: tuple[int, ...]
    """Offsets of the canaries that were written successfully."""
    block: int = CANARY_BLOCK
    size_bytes: int = 0
    failed: tuple[int, ...] = ()
    """Offsets where writing a canary failed (not counted as written)."""

    def marker(self, offset: int) -> bytes:
        """The unique 32-byte marker of the canary at `offset`."""
        return hmac.new(self.seed, b"canary %d" % offset, hashlib.sha256).digest()

    def content(self, offset: int) -> bytes:
        """The canary block: its marker repeated."""
        m = self.marker(offset)
        return m * (self.block // len(m))

    def to_json(self) -> str:
        """Serialise for the job journal (includes the seed: the journal is private)."""
        return json.dumps(
            {
                "seed": self.seed.hex(),
                "offsets": list(self.offsets),
                "block": self.block,
                "size_bytes": self.size_bytes,
                "failed": list(self.failed),
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> CanarySet:
        """Inverse of `to_json`."""
        d = json.loads(text)
        return cls(
            seed=bytes.fromhex(d["seed"]),
            offsets=tuple(d["offsets"]),
            block=d["block"],
            size_bytes=d["size_bytes"],
            failed=tuple(d["failed"]),
        )


def write_canaries(
    target: Target, *, count: int = DEFAULT_CANARIES, seed: bytes | None = None
) -> CanarySet:
    """Plant unique markers at the first, last and sampled blocks, then flush to the medium.

    Call it right before a purge (crypto erase, sanitize, secure erase).

    Args:
        target: the claimed device.
        count: canaries wanted (fewer on a tiny device).
        seed: 32-byte canary seed; fresh when None.
    """
    seed = seed or new_seed()
    if len(seed) != SEED_BYTES:
        raise ValueError(f"canary seed must be {SEED_BYTES} bytes")
    block = max(CANARY_BLOCK, target.sector_size)
    position_seed = int.from_bytes(hashlib.sha256(b"positions" + seed).digest()[:8], "big")
    offsets = plan_canaries(target.size_bytes, count, block=block, seed=position_seed)
    probe = CanarySet(seed=seed, offsets=(), block=block, size_bytes=target.size_bytes)
    written: list[int] = []
    failed: list[int] = []
    buf = AlignedBuffer(block)
    try:
        with direct_fd(target.fd, write=True) as (fd, _direct):
            for off in offsets:
                buf.view[:] = probe.content(off)
                try:
                    if os.pwritev(fd, [buf.view], off) == block:
                        written.append(off)
                        continue
                except OSError:
                    pass
                failed.append(off)
            os.fsync(fd)
            if fd != target.fd:
                os.fsync(target.fd)
    finally:
        buf.close()
    return CanarySet(
        seed=seed,
        offsets=tuple(written),
        block=block,
        size_bytes=target.size_bytes,
        failed=tuple(failed),
    )


def check_canaries(
    target: Target, canaries: CanarySet, *, cancel: Callable[[], bool] | None = None
) -> VerifyResult:
    """After a purge: read every canary block back; any marker still present is a survivor.

    The Verification passes only if every canary was read and none survives.
    """
    cancel = cancel or (lambda: False)
    started = time.monotonic()
    surviving: list[ByteRange] = []
    unreadable: list[ByteRange] = []
    checked = 0
    aborted = False
    drop_cache(target.fd)
    buf = AlignedBuffer(canaries.block)
    try:
        with direct_fd(target.fd, write=False) as (fd, direct):
            for off in canaries.offsets:
                if cancel():
                    aborted = True
                    break
                try:
                    n = os.preadv(fd, [buf.view], off)
                except OSError:
                    n = -1
                if n != canaries.block:
                    unreadable.append(ByteRange(off, canaries.block))
                    continue
                checked += 1
                if canaries.marker(off) in bytes(buf.view):
                    surviving.append(ByteRange(off, canaries.block))
    finally:
        buf.close()
    written = len(canaries.offsets)
    passed = not aborted and not surviving and not unreadable and written > 0
    size = target.size_bytes
    verification = Verification(
        mode="canary",
        passed=passed,
        bytes_checked=checked * canaries.block,
        samples=checked,
        coverage_ppm=checked * canaries.block * 1_000_000 // size if size else 0,
        canaries_written=written,
        canaries_surviving=len(surviving),
        mismatched=merge_ranges(surviving),
        unreadable=merge_ranges(unreadable),
        expected="no canary marker",
    )
    if aborted:
        reason = "canary check cancelled by the operator"
    elif surviving:
        reason = f"{len(surviving)} of {written} canaries survived the purge"
    elif unreadable:
        reason = f"{len(unreadable)} canary blocks could not be read"
    elif not written:
        reason = "no canary could be written before the purge"
    else:
        reason = ""
    details = (
        ("canary_block", str(canaries.block)),
        ("canary_direct_io", "yes" if direct else "no"),
        ("canary_seed_id", seed_id(canaries.seed)),
        ("canaries_failed_to_write", str(len(canaries.failed))),
    )
    return VerifyResult(
        verification, reason, aborted, False, time.monotonic() - started, tuple(sorted(details))
    )
