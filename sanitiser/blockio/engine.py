"""The overwrite engine: every byte of the target, at the device's speed, then a flush.

`overwrite` writes each pattern over [0, size) with O_DIRECT through the claimed descriptor,
a few large aligned writes in flight (`IOConfig`), and `fsync` after every pass (O_DIRECT does
not flush the drive's write cache; docs/DEVICE-COMMANDS.md §6.3). `run_scheme` is what an overwrite
method calls: the passes of a named scheme, then full or sampled verification of the last pass,
and one `EngineReport` holding the facts for the Outcome.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sanitiser.blockio.patterns import Pattern, Scheme, new_seed, seed_id
from sanitiser.blockio.progress import ProgressCallback
from sanitiser.blockio.pump import IOConfig, Pump, split
from sanitiser.blockio.sampling import merge_ranges, plan_samples
from sanitiser.blockio.target import AlignedBuffer, Target, current_size, direct_fd
from sanitiser.blockio.verify import VerifyResult, verify_full, verify_sampled
from sanitiser.domain import ByteRange, OutcomeStatus, Verification


class VerifyMode(StrEnum):
    """How the last pass is read back."""

    FULL = "full"
    SAMPLED = "sampled"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class OverwriteResult:
    """What the overwrite passes did."""

    device_bytes: int
    passes: tuple[str, ...]
    """Each pass's pattern, described (``zeros``, ``aes-256-ctr seed-id ...``)."""
    passes_completed: int
    bytes_written: int
    """Bytes attempted over all passes (bad ranges included)."""
    bad_ranges: tuple[ByteRange, ...] = ()
    """Ranges the device refused to write, merged over all passes."""
    reason: str = ""
    """Why the overwrite is not complete ("" when every pass covered the device and flushed)."""
    aborted: bool = False
    gone: bool = False
    direct_io: bool = False
    flushed: bool = False
    seconds: float = 0.0
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Every pass wrote every byte and was flushed to the medium."""
        return not self.reason and not self.bad_ranges

    @property
    def mbps(self) -> float:
        """Write throughput over all passes in MB/s (10^6 bytes)."""
        return self.bytes_written / self.seconds / 1e6 if self.seconds else 0.0


class _WriteOp:
    """A worker's pattern buffer (or the shared one, for constant patterns)."""

    def __init__(
        self, *, fd: int, fallback_fd: int, align: int, pattern: Pattern, block: int,
        shared: AlignedBuffer | None,
    ) -> None:  # fmt: skip
        self._fd, self._fallback, self._align, self._pattern = fd, fallback_fd, align, pattern
        self._own = shared is None
        self._buf = shared or AlignedBuffer(block)

    def prepare(self, offset: int, length: int) -> None:
        if not self._pattern.constant:
            self._pattern.fill(self._buf.full, offset, length)

    def io(self, offset: int, length: int, buf_offset: int) -> list[ByteRange]:
        aligned = offset % self._align == 0 and length % self._align == 0
        fd = self._fd if aligned else self._fallback
        n = os.pwritev(fd, [self._buf.view[buf_offset : buf_offset + length]], offset)
        if n != length:
            raise OSError(errno.EIO, f"short write ({n} of {length} bytes)")
        return []

    def close(self) -> None:
        if self._own:
            self._buf.close()


def _check_target(target: Target) -> None:
    if target.size_bytes <= 0 or target.size_bytes % target.sector_size:
        raise ValueError(
            f"{target.path}: size {target.size_bytes} is not a whole number of sectors"
        )
    now = current_size(target.fd)
    if now is not None and now < target.size_bytes:
        raise ValueError(f"{target.path}: device has {now} bytes, fewer than {target.size_bytes}")


def _flush(fd: int, claim_fd: int) -> str:
    """fsync the direct and the claimed descriptor; "" or why it failed."""
    try:
        os.fsync(fd)
        if fd != claim_fd:
            os.fsync(claim_fd)
    except OSError as exc:
        return f"flush to the medium failed: {exc.strerror}"
    return ""


def overwrite(
    target: Target,
    patterns: Sequence[Pattern],
    *,
    config: IOConfig | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> OverwriteResult:
    """Write each pattern over the whole target in turn, flushing after every pass.

    Never raises for device errors: they come back as bad ranges and a reason.

    Args:
        target: the claimed device (HPA/DCO already removed; `size_bytes` is what gets written).
        patterns: one per pass.
        config: I/O tuning and fault policy.
        on_progress: progress subscriber, called from a ticker thread (~5/s), one phase per pass.
        cancel: returns True to stop (the result is then aborted).

    Raises:
        ValueError: the target's size is inconsistent with its sector size or the device.
    """
    cfg = config or IOConfig()
    _check_target(target)
    size = target.size_bytes
    described = tuple(p.describe() for p in patterns)
    started = time.monotonic()
    written = 0
    completed = 0
    bad: list[ByteRange] = []
    errors: list[str] = []
    reason = ""
    aborted = gone = flushed = False
    with direct_fd(target.fd, write=True) as (fd, direct):
        align = target.sector_size if direct else 1
        for index, pattern in enumerate(patterns):
            shared: AlignedBuffer | None = None
            if pattern.constant:
                shared = AlignedBuffer(cfg.block_size)
                pattern.fill(shared.view, 0, cfg.block_size)
            try:

                def make_op(p: Pattern = pattern, s: AlignedBuffer | None = shared) -> _WriteOp:
                    return _WriteOp(
                        fd=fd,
                        fallback_fd=target.fd,
                        align=align,
                        pattern=p,
                        block=cfg.block_size,
                        shared=s,
                    )

                pump = Pump(fd=fd, size_bytes=size, config=cfg, make_op=make_op, cancel=cancel)
                res = pump.run(
                    split(iter((ByteRange(0, size),)), cfg.block_size),
                    size,
                    on_progress=on_progress,
                    phase=f"pass {index + 1}/{len(patterns)} {described[index]}",
                )
            finally:
                if shared is not None:
                    shared.close()
            written += res.bytes_done
            bad.extend(res.bad)
            errors.extend(e for e in res.errors if e not in errors)
            if res.stop_reason:
                reason, aborted, gone = res.stop_reason, res.aborted, res.gone
                _flush(fd, target.fd)  # keep what was written, but claim nothing
                break
            failure = _flush(fd, target.fd)
            if failure:
                reason = failure
                break
            completed += 1
        flushed = completed == len(patterns)
    if not reason and bad:
        n = sum(r.length for r in bad)
        reason = f"{n} bytes in {len(merge_ranges(bad))} ranges could not be written"
    return OverwriteResult(
        device_bytes=size,
        passes=described,
        passes_completed=completed,
        bytes_written=written,
        bad_ranges=merge_ranges(bad),
        reason=reason,
        aborted=aborted,
        gone=gone,
        direct_io=direct,
        flushed=flushed,
        seconds=time.monotonic() - started,
        errors=tuple(errors[:8]),
    )


@dataclass(frozen=True, slots=True)
class EngineReport:
    """Everything an overwrite method needs to build its Outcome."""

    status: OutcomeStatus
    reason: str
    """Why it is not SANITISED ("" when it is)."""
    scheme: str
    overwrite: OverwriteResult
    verification: Verification | None
    verify_result: VerifyResult | None
    seed: bytes = field(repr=False)
    """The job seed: keep it in the job journal, never in the Outcome (records carry seed_id)."""
    seed_id: str = ""

    @property
    def verified(self) -> bool:
        """Verification ran and passed."""
        return self.verification is not None and self.verification.passed

    @property
    def failed_ranges(self) -> tuple[ByteRange, ...]:
        """Ranges that could not be written, or were unreadable or wrong on read-back."""
        ranges = list(self.overwrite.bad_ranges)
        if self.verification is not None:
            ranges += [*self.verification.unreadable, *self.verification.mismatched]
        return merge_ranges(ranges)

    @property
    def details(self) -> tuple[tuple[str, str], ...]:
        """Facts for `Outcome.details`, as sorted pairs (no seed, only its id)."""
        ow = self.overwrite
        facts = {
            "scheme": self.scheme,
            "passes": str(len(ow.passes)),
            "passes_completed": str(ow.passes_completed),
            "patterns": ", ".join(ow.passes),
            "bytes_written": str(ow.bytes_written),
            "device_bytes": str(ow.device_bytes),
            "direct_io": "yes" if ow.direct_io else "no",
            "flushed": "yes" if ow.flushed else "no",
            "write_mbps": f"{ow.mbps:.0f}",
        }
        if any(p.startswith("aes-256-ctr") for p in ow.passes):
            facts["seed_id"] = self.seed_id
        if ow.errors:
            facts["io_errors"] = "; ".join(ow.errors)
        if self.verify_result is not None:
            facts["verify_mbps"] = f"{self.verify_result.mbps:.0f}"
            facts.update(self.verify_result.details)
        return tuple(sorted(facts.items()))


def run_scheme(
    target: Target,
    scheme: Scheme,
    *,
    seed: bytes | None = None,
    verify: VerifyMode = VerifyMode.FULL,
    sample_seed: int | None = None,
    config: IOConfig | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> EngineReport:
    """Overwrite with every pass of `scheme`, then verify the last pass.

    Status: ABORTED if cancelled; FAILED if any range could not be written or verified, the
    device disappeared, or the flush failed; SANITISED otherwise (with `verified` False only
    when `verify` is NONE).

    Args:
        target: the claimed device.
        scheme: the passes (e.g. `patterns.scheme("zeros")` or one from policy).
        seed: job seed for random passes (from the journal when resuming); fresh when None.
        verify: full read-back, NIST-style sampled read-back, or none.
        sample_seed: seed of the sample positions (fresh when None).
        config: I/O tuning and fault policy.
        on_progress: progress subscriber (ticker thread).
        cancel: returns True to stop.
    """
    seed = seed or new_seed()
    patterns = scheme.patterns(seed)
    ow = overwrite(target, patterns, config=config, on_progress=on_progress, cancel=cancel)
    vr: VerifyResult | None = None
    if ow.reason == "" or (ow.bad_ranges and not ow.aborted and not ow.gone and ow.flushed):
        if verify is VerifyMode.FULL:
            vr = verify_full(
                target, patterns[-1], config=config, on_progress=on_progress, cancel=cancel
            )
        elif verify is VerifyMode.SAMPLED:
            plan = plan_samples(
                target.size_bytes, align=max(4096, target.sector_size), seed=sample_seed
            )
            vr = verify_sampled(
                target, patterns[-1], plan, config=config, on_progress=on_progress, cancel=cancel
            )
    if ow.aborted or (vr is not None and vr.aborted):
        status, reason = OutcomeStatus.ABORTED, ow.reason or (vr.reason if vr else "")
    elif ow.reason:
        status, reason = OutcomeStatus.FAILED, ow.reason
    elif vr is not None and not vr.verification.passed:
        status, reason = OutcomeStatus.FAILED, vr.reason
    else:
        status, reason = OutcomeStatus.SANITISED, ""
    return EngineReport(
        status=status,
        reason=reason,
        scheme=scheme.name,
        overwrite=ow,
        verification=vr.verification if vr else None,
        verify_result=vr,
        seed=seed,
        seed_id=seed_id(seed),
    )
