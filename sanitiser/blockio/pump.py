"""The parallel I/O loop shared by overwrite and verification, with fault handling.

A few worker threads take the next block from a shared cursor and do one ``pwritev`` or
``preadv`` on a pre-filled aligned buffer; the GIL is released for the syscall (and for AES-CTR
generation and ``memcmp``), so Python does a handful of operations per 4 MiB. Memory is the
workers' buffers only: `IOConfig.memory_bytes`, independent of the device size.

Faults: a failed block is retried (`retries`), then redone in `fault_granularity` pieces so
the bad range is narrowed down; bad pieces are recorded and the run goes on unless the policy
says stop (`continue_on_error`, `max_bad_bytes`, `max_bad_ranges`). A device that is gone
(ENODEV/ENXIO, or its size changed: the kernel sets the capacity to 0 on hot-unplug) or that
fails every piece of `stall_blocks` blocks in a row ends the run at once, with what is known.
"""

from __future__ import annotations

import errno
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from sanitiser.blockio.progress import Counter, ProgressCallback, Ticker
from sanitiser.blockio.sampling import merge_ranges
from sanitiser.blockio.target import GONE_ERRNOS, current_size
from sanitiser.domain import ByteRange

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class IOConfig:
    """Tuning and fault policy of one engine run (defaults measured by `make bench`)."""

    block_size: int = 4 * MiB
    """Bytes per syscall; a multiple of 4096."""
    workers: int = 6
    """Threads, i.e. I/Os in flight. Six, not four: a verifying worker spends part of each
    block generating and comparing, so four left under four reads in flight and random-pattern
    verification at ~0.93 of fio's read; six reached 1.03-1.09 (`make bench`). Each worker
    holds one block (verifying: plus a 1 MiB keystream piece), well under 64 MiB per drive."""
    retries: int = 1
    """Extra attempts of a whole failed block before narrowing it down."""
    fault_granularity: int = 64 * 1024
    """Size of the pieces a failed block is redone in; the resolution of recorded bad ranges."""
    continue_on_error: bool = True
    """Go on past a bad range (the outcome is FAILED anyway); False stops at the first."""
    max_bad_bytes: int | None = None
    """Stop once this many bytes are bad (None: no limit)."""
    max_bad_ranges: int = 1024
    """Stop once this many separate bad ranges are known (bounds memory on a dying drive)."""
    stall_blocks: int = 8
    """Blocks in a row with every piece failing that mean the device stopped responding."""
    progress_interval: float = 0.2
    """Seconds between progress events (5 a second)."""

    def __post_init__(self) -> None:
        if self.block_size <= 0 or self.block_size % 4096:
            raise ValueError("block_size must be a positive multiple of 4096")
        if self.fault_granularity <= 0 or self.block_size % self.fault_granularity:
            raise ValueError("fault_granularity must divide block_size")
        if self.workers < 1:
            raise ValueError("at least one worker")

    def memory_bytes(self, *, buffers_per_worker: int) -> int:
        """Buffer bytes when each worker holds `buffers_per_worker` blocks (+1 shared block)."""
        return (self.workers * buffers_per_worker + 1) * (self.block_size + 4096)


class BlockOp(Protocol):
    """One worker's view of the job: fill its buffer for a block, then do I/O on parts of it."""

    def prepare(self, offset: int, length: int) -> None:
        """Get ready for block [offset, offset+length) (e.g. generate its pattern)."""

    def io(self, offset: int, length: int, buf_offset: int) -> list[ByteRange]:
        """Do the I/O for [offset, offset+length) using the buffer from `buf_offset`.

        Returns:
            Ranges whose content was wrong (verification), else [].

        Raises:
            OSError: the device refused the I/O (or a short transfer).
        """

    def close(self) -> None:
        """Release buffers."""


class DeviceGone(Exception):
    """Internal: the device disappeared; ends the run."""


@dataclass
class PumpResult:
    """What one pass over a set of ranges achieved."""

    bytes_done: int = 0
    """Bytes attempted (good or bad)."""
    bad: tuple[ByteRange, ...] = ()
    """Ranges the device refused (write or read errors), merged."""
    mismatched: tuple[ByteRange, ...] = ()
    """Ranges read back with the wrong content, merged."""
    stop_reason: str = ""
    """Why the run ended early ("" if it covered everything)."""
    aborted: bool = False
    """Cancelled by the caller."""
    gone: bool = False
    """The device disappeared."""
    errors: list[str] = field(default_factory=list)
    """The first few distinct error messages, for the record."""

    @property
    def complete(self) -> bool:
        """Covered every range (possibly with bad ones)."""
        return not self.stop_reason


def split(ranges: Iterator[ByteRange], block: int) -> Iterator[tuple[int, int]]:
    """(offset, length) blocks of at most `block` bytes covering `ranges` in order."""
    for r in ranges:
        end = r.start + r.length
        for off in range(r.start, end, block):
            yield off, min(block, end - off)


class Pump:
    """Runs a `BlockOp` per worker over `blocks`, counting progress and collecting faults."""

    def __init__(
        self,
        *,
        fd: int,
        size_bytes: int,
        config: IOConfig,
        make_op: Callable[[], BlockOp],
        cancel: Callable[[], bool] | None = None,
    ) -> None:
        self._fd = fd
        self._size = size_bytes
        self._cfg = config
        self._make_op = make_op
        self._cancel = cancel or (lambda: False)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bad: list[ByteRange] = []
        self._bad_bytes = 0
        self._mismatched: list[ByteRange] = []
        self._stall = 0
        self._result = PumpResult()
        self._crash: BaseException | None = None
        self.counter = Counter()

    def run(
        self,
        blocks: Iterator[tuple[int, int]],
        total: int,
        *,
        on_progress: ProgressCallback | None = None,
        phase: str = "",
    ) -> PumpResult:
        """Do every block (unless stopped) and return the result.

        Raises:
            Exception: whatever a worker raised that was not a device I/O error.
        """
        cursor = iter(blocks)

        def next_block() -> tuple[int, int] | None:
            with self._lock:
                return next(cursor, None)

        threads = [
            threading.Thread(target=self._work, args=(next_block,), name=f"blockio-{i}")
            for i in range(self._cfg.workers)
        ]
        ticker = Ticker(
            self.counter, total, on_progress, phase=phase, interval=self._cfg.progress_interval
        )
        with ticker:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if self._crash is not None:
            raise self._crash
        res = self._result
        res.bytes_done = self.counter.value
        res.bad = merge_ranges(self._bad)
        res.mismatched = merge_ranges(self._mismatched)
        return res

    def _halt(self, reason: str, *, gone: bool = False, aborted: bool = False) -> None:
        with self._lock:
            if not self._result.stop_reason:
                self._result.stop_reason = reason
                self._result.gone = gone
                self._result.aborted = aborted
        self._stop.set()

    def _note(self, exc: OSError) -> None:
        msg = f"{errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror}"
        with self._lock:
            if msg not in self._result.errors and len(self._result.errors) < 8:
                self._result.errors.append(msg)

    def _work(self, next_block: Callable[[], tuple[int, int] | None]) -> None:
        op = self._make_op()
        try:
            while not self._stop.is_set():
                if self._cancel():
                    self._halt("cancelled by the operator", aborted=True)
                    break
                item = next_block()
                if item is None:
                    break
                self._block(op, *item)
        except DeviceGone as exc:
            self._halt(str(exc), gone=True)
        except BaseException as exc:  # noqa: BLE001 - re-raised by run() in the caller's thread
            self._crash = exc
            self._stop.set()
        finally:
            op.close()

    def _check_gone(self, exc: OSError, offset: int) -> None:
        if exc.errno in GONE_ERRNOS:
            raise DeviceGone(f"device disappeared at byte {offset} ({exc.strerror})")
        size = current_size(self._fd)
        if size is not None and size < self._size:
            raise DeviceGone(
                f"device disappeared at byte {offset} (its size is now {size} bytes, "
                f"was {self._size})"
            )

    def _block(self, op: BlockOp, offset: int, length: int) -> None:
        op.prepare(offset, length)
        try:
            self._mismatch(op.io(offset, length, 0))
        except OSError as first:
            self._note(first)
            self._check_gone(first, offset)
            if not self._retry(op, offset, length):
                self._pieces(op, offset, length)
        else:
            with self._lock:
                self._stall = 0
        self.counter.add(length)

    def _retry(self, op: BlockOp, offset: int, length: int) -> bool:
        for _ in range(self._cfg.retries):
            try:
                self._mismatch(op.io(offset, length, 0))
            except OSError as exc:
                self._check_gone(exc, offset)
            else:
                return True
        return False

    def _pieces(self, op: BlockOp, offset: int, length: int) -> None:
        gran = self._cfg.fault_granularity
        bad: list[ByteRange] = []
        for start in range(0, length, gran):
            n = min(gran, length - start)
            try:
                self._mismatch(op.io(offset + start, n, start))
            except OSError as exc:
                self._check_gone(exc, offset + start)
                bad.append(ByteRange(offset + start, n))
        self._record_bad(bad, whole=sum(r.length for r in bad) == length)

    def _record_bad(self, bad: list[ByteRange], *, whole: bool) -> None:
        cfg = self._cfg
        with self._lock:
            self._bad.extend(bad)
            self._bad_bytes += sum(r.length for r in bad)
            self._stall = self._stall + 1 if whole else 0
            stall, bad_bytes, count = self._stall, self._bad_bytes, len(self._bad)
        if not bad:
            return
        if stall >= cfg.stall_blocks:
            self._halt(
                f"device stopped responding: {stall} blocks in a row failed entirely", gone=True
            )
        elif not cfg.continue_on_error:
            self._halt(f"I/O error at byte {bad[0].start}; policy stops at the first error")
        elif cfg.max_bad_bytes is not None and bad_bytes > cfg.max_bad_bytes:
            self._halt(f"more than {cfg.max_bad_bytes} bytes failed; policy stops here")
        elif count > cfg.max_bad_ranges:
            self._halt(f"more than {cfg.max_bad_ranges} bad ranges; stopped")

    def _mismatch(self, ranges: list[ByteRange]) -> None:
        if ranges:
            with self._lock:
                self._mismatched.extend(ranges)
                if len(self._mismatched) > self._cfg.max_bad_ranges:
                    self._mismatched[:] = list(merge_ranges(self._mismatched))
                    too_many = len(self._mismatched) > self._cfg.max_bad_ranges
                else:
                    too_many = False
            if too_many:
                self._halt(f"more than {self._cfg.max_bad_ranges} mismatched ranges; stopped")
