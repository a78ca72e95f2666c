#!/usr/bin/env python3
"""Why `make bench` idles a second before each timed write: a write timed right after another
write on a throttled device pays for the one before, whatever it writes.

On one loop device over memory capped by block throttling, each round times the engine's zeros
and random passes right after a dd write, after a second of idleness, and zeros right after a
read-back, with fio (its own figure) for reference. Each figure is a ratio to the cap; the
medians over rounds are printed. If the engine were slower on zeros, the zeros columns would be
lower than the random ones in the same condition; if the write before is what costs, both drop
together after dd and recover together after the idle second. Needs root.

    scripts/bench_settle.py --cap 500 --size-mib 512 --rounds 6
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import Engine, dd, fio, settle  # noqa: E402
from bench_devices import Profile, Throttle, loop_device  # noqa: E402

from sanitiser.blockio import IOConfig, Pattern  # noqa: E402

MiB = 1 << 20


def rounds(cap: int, size: int, count: int) -> dict[str, list[float]]:
    """Every condition, `count` times: ratios to `cap`, by condition."""
    got: dict[str, list[float]] = {}
    device = Profile.parse(f"ram@{cap}")
    scratch = "/var/tmp"  # noqa: S108 - only for the disk profile; this one is in memory
    with Throttle() as throttle, loop_device(device, size, scratch, allocate=True) as (loop, work):
        throttle.cap(loop, cap)
        engine = Engine(loop, IOConfig())
        zeros, rnd = Pattern.zeros(), Pattern.random(engine.seed)

        def after_dd() -> None:
            settle()
            dd(loop, size)

        def after_read() -> None:
            settle()
            engine.verify(zeros)

        steps: list[tuple[str, Callable[[], None], Callable[[], float]]] = [
            ("fio write, idle before", settle, lambda: fio(loop, "write", size, work)[0]),
            ("zeros right after dd", after_dd, lambda: engine.write(zeros)),
            ("random right after dd", after_dd, lambda: engine.write(rnd)),
            ("random, idle before", settle, lambda: engine.write(rnd)),
            ("zeros, idle before", settle, lambda: engine.write(zeros)),
            ("zeros right after a read", after_read, lambda: engine.write(zeros)),
        ]
        for i in range(count):
            print(f"round {i + 1}/{count}", flush=True)
            for key, before, timed in steps:
                before()
                got.setdefault(key, []).append(round(timed() / cap, 3))
        throttle.cap(loop, 0)
    return got


def main() -> int:
    """Measure and print the medians; 0 on success."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--cap", type=int, default=500, help="MB/s cap of the device")
    ap.add_argument("--size-mib", type=int, default=512, help="device size, MiB")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (loop devices)", file=sys.stderr)
        return 2
    got = rounds(args.cap, args.size_mib * MiB, args.rounds)
    print(f"\nMB/s / cap ({args.cap} MB/s, {args.size_mib} MiB, {args.rounds} rounds): median, all")
    for key, values in got.items():
        print(f"  {key:<26} {statistics.median(values):6.3f}   {values}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
