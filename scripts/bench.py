#!/usr/bin/env python3
"""`make bench`: the overwrite engine against fio, dd and nwipe, on the same loop devices.

For each device profile (see `bench_devices`: a loop device over memory capped at a SATA-like
550 MB/s, an NVMe-like 2,000 MB/s and 4,000 MB/s, the same uncapped, and one over a file on the
VM's disk), it attaches a 2 GiB loop device, fills it once untimed (so no timed run pays for block
allocation or reads holes), then runs interleaved rounds of

    fio sequential write, dd, our zeros pass, our full verify of zeros,
    our random pass, our full verify of random, fio sequential read

and, on the primary device (``--nwipe-on``), one whole nwipe run each of zeros, PRNG and PRNG
with verification, timed by its log (`bench_nwipe`). fio's own bandwidth (direct I/O, libaio,
queue depth 16) is taken as the device's limit; fio is also timed by wall clock, because its own
figure leaves out the final fsync that ours includes. The median of the per-round ratios (engine
/ fio in the same round) is the comparison least moved by noise; best-of-rounds figures are kept
too. It also records each engine run's CPU seconds per GB and peak memory growth, and AES-CTR
speed on one core.

Then the multi-bay profiles (`bench_bays`, ``--bays 8@250,24@100``): that many capped loop
devices wiped at once by ``sanitiser wipe``, against fio on all of them at once and the sum of
their caps, with the wipe's CPU and memory per bay and the longest silence in its event stream.

Prints a table per device and a summary, and writes ``bench-results.json`` at the repository
root (MB = 10^6 bytes): the top-level figures are the primary profile's (``--primary``), every
profile's are under ``profiles``, the bays' under ``multi_bay``. Needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_bays import add_arguments as add_bay_arguments  # noqa: E402
from bench_bays import parse_profiles as parse_bay_profiles  # noqa: E402
from bench_bays import run_profiles as run_bay_profiles  # noqa: E402
from bench_devices import Profile, Throttle, loop_device, run  # noqa: E402
from bench_nwipe import RUNS as NWIPE_RUNS  # noqa: E402
from bench_nwipe import NwipeRun, installed, run_nwipe  # noqa: E402

from sanitiser.blockio import (  # noqa: E402 - after the path set-up, for a plain checkout
    DeviceTarget,
    IOConfig,
    Pattern,
    new_seed,
    overwrite,
    verify_full,
)
from sanitiser.blockio.target import AlignedBuffer  # noqa: E402

MiB = 1 << 20


def fio(dev: str, rw: str, size: int, workdir: Path) -> tuple[float, float]:
    """fio's own sequential bandwidth (MB/s) for `rw` (write|read), direct I/O; and the same
    run by wall clock.

    fio's figure leaves out its set-up and the final fsync (``end_fsync=1``); our engine's
    figures include its open, cache drop and final flush, so the wall-clock figure (which also
    pays fio's process start) is the like-for-like one and fio's own the stricter one.
    """
    out = workdir / f"fio-{rw}.json"
    t0 = time.monotonic()
    run([
        "fio", "--name=bench", f"--filename={dev}", f"--rw={rw}", "--bs=1M", "--iodepth=16",
        "--ioengine=libaio", "--direct=1", "--end_fsync=1", f"--size={size}",
        "--output-format=json", f"--output={out}",
    ])  # fmt: skip
    wall = size / (time.monotonic() - t0) / 1e6
    job = json.loads(out.read_text())["jobs"][0]
    return float(job[rw]["bw_bytes"]) / 1e6, wall


def timed(fn: Callable[[], object], size: int) -> float:
    """MB/s of `fn`, which moves `size` bytes, by wall clock."""
    t0 = time.monotonic()
    fn()
    return size / (time.monotonic() - t0) / 1e6


def dd(dev: str, size: int) -> float:
    """dd zeros with O_DIRECT and a final fsync, by wall clock."""
    argv = ["dd", "if=/dev/zero", f"of={dev}", "bs=4M", "oflag=direct", "conv=fsync"]
    return timed(lambda: run([*argv, "status=none", f"count={size // (4 << 20)}"]), size)


SETTLE_SECONDS = 1.0


def settle() -> None:
    """Leave the device idle before a timed write.

    Block throttling lets a writer run ahead of its cap briefly and makes the next write pay
    for it: a write timed right after another (the engine's zeros used to follow dd) measured
    2-4% below the cap, and the same pass after a read (random follows a verification) did not.
    A second without writes clears that debt, so every tool starts from the same state.
    """
    time.sleep(SETTLE_SECONDS)


def _status_kib(key: str) -> int:
    """A ``/proc/self/status`` figure in KiB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/self/status")


class Resources:
    """CPU time and peak memory growth of one engine run, in this process.

    The peak (VmHWM) is reset before the run (``5`` into ``/proc/self/clear_refs``), so the
    growth is what the run itself added: its buffers, thread stacks and anything it allocated.
    """

    def __init__(self) -> None:
        self.cpu_s_per_gb: dict[str, list[float]] = {}
        self.peak_mib: dict[str, list[float]] = {}

    def measure(self, key: str, nbytes: int, fn: Callable[[], float]) -> float:
        """Run `fn` (returns MB/s), noting its CPU seconds per GB and peak memory growth."""
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_kib("VmRSS")
        before = resource.getrusage(resource.RUSAGE_SELF)
        mbps = fn()
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        self.cpu_s_per_gb.setdefault(key, []).append(round(cpu / (nbytes / 1e9), 3))
        growth = (_status_kib("VmHWM") - base) / 1024
        self.peak_mib.setdefault(key, []).append(round(growth, 1))
        return mbps


def pattern_gbps(seconds: float = 2.0) -> float:
    """AES-CTR pattern generation on one thread, GB/s (into one 4 MiB engine buffer)."""
    pattern = Pattern.random(new_seed())
    block = IOConfig().block_size
    buf = AlignedBuffer(block)
    done, t0 = 0, time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            pattern.fill(buf.full, done, block)
            done += block
    finally:
        buf.close()
    return done / (time.monotonic() - t0) / 1e9


class Engine:
    """Our engine on the loop device, through a plain DeviceTarget over our own fd."""

    def __init__(self, dev: str, config: IOConfig) -> None:
        self.dev = dev
        self.config = config
        self.seed = new_seed()

    def _target(self) -> tuple[int, DeviceTarget]:
        fd = os.open(self.dev, os.O_RDWR | os.O_EXCL | os.O_CLOEXEC)
        return fd, DeviceTarget.from_fd(fd, self.dev)

    def write(self, pattern: Pattern) -> float:
        """One pass; MB/s including the final flush."""
        fd, target = self._target()
        try:
            res = overwrite(target, [pattern], config=self.config)
        finally:
            os.close(fd)
        if not res.ok:
            raise RuntimeError(f"engine overwrite failed: {res.reason}")
        return res.mbps

    def verify(self, pattern: Pattern) -> float:
        """Full read-back; MB/s including the cache drop."""
        fd, target = self._target()
        try:
            res = verify_full(target, pattern, config=self.config)
        finally:
            os.close(fd)
        if not res.verification.passed:
            raise RuntimeError(f"engine verification failed: {res.reason}")
        return res.mbps


PAIRS = (
    ("zero", "fio_write"),
    ("random", "fio_write"),
    ("verify_zeros", "fio_read"),
    ("verify_random", "fio_read"),
)
"""Engine figures and the fio figure each is compared with."""
WALL_PAIRS = tuple((name, f"{ref}_wall") for name, ref in PAIRS)
"""The same against fio timed by wall clock (set-up and final fsync included, like ours)."""


def _ratios(values: list[float], refs: list[float]) -> list[float]:
    """Per-round ratios of `values` to `refs` (rounds where both were measured)."""
    return [v / r for v, r in zip(values, refs, strict=False) if r]


@dataclass
class Measured:
    """Everything measured on one device profile."""

    profile: Profile
    size: int
    samples: dict[str, list[float]] = field(default_factory=dict)
    used: Resources = field(default_factory=Resources)
    nwipe: dict[str, NwipeRun] = field(default_factory=dict)
    """Each nwipe run (`NWIPE_RUNS`), by key."""

    def note(self, key: str, mbps: float) -> None:
        self.samples.setdefault(key, []).append(round(mbps, 1))
        print(f"  {key:<14} {mbps:8.0f} MB/s", flush=True)

    def note_fio(self, key: str, figures: tuple[float, float]) -> None:
        self.note(key, figures[0])
        self.samples.setdefault(f"{key}_wall", []).append(round(figures[1], 1))

    @property
    def best(self) -> dict[str, float]:
        return {k: max(v) for k, v in self.samples.items()}

    def paired(self, pairs: tuple[tuple[str, str], ...] = ()) -> dict[str, float]:
        """Median per-round ratio of each engine figure to its fio figure (`PAIRS` by default)."""
        return {
            name: round(statistics.median(_ratios(self.samples[name], self.samples[ref])), 3)
            for name, ref in pairs or PAIRS
        }

    def cpu(self) -> dict[str, float]:
        return {k: round(statistics.median(v), 3) for k, v in self.used.cpu_s_per_gb.items()}

    def versus_nwipe(self) -> dict[str, dict[str, dict[str, float]]]:
        """Zeros, PRNG and PRNG with verification: MB/s and CPU-seconds per GB (of the
        device) of nwipe and of the engine (medians over rounds; the engine's verified PRNG is
        its random pass and its read-back one after the other)."""
        if not self.nwipe:
            return {}
        med = {k: statistics.median(v) for k, v in self.samples.items()}
        cpu = self.cpu()
        engine = {
            "zeros": (med["zero"], cpu["zero"]),
            "prng": (med["random"], cpu["random"]),
            "prng_verify": (
                1 / (1 / med["random"] + 1 / med["verify_random"]),
                cpu["random"] + cpu["verify_random"],
            ),
        }
        keys = {"zeros": "nwipe", "prng": "nwipe_random", "prng_verify": "nwipe_random_verify"}
        out: dict[str, dict[str, dict[str, float]]] = {}
        for name, key in keys.items():
            if key not in self.nwipe:
                continue
            theirs = self.nwipe[key].record()
            mbps, cpu_gb = engine[name]
            out[name] = {
                "nwipe": {
                    "MBps": theirs["MBps"],
                    "cpu_seconds_per_GB": theirs["cpu_seconds_per_GB"],
                },
                "engine": {"MBps": round(mbps, 1), "cpu_seconds_per_GB": round(cpu_gb, 3)},
            }
        return out

    def record(self) -> dict[str, object]:
        """The profile's entry in bench-results.json (required keys at its top level)."""
        best = self.best
        verify = min(best["verify_zeros"], best["verify_random"])
        return {
            "device": self.profile.describe(),
            "cap_MBps": self.profile.cap_mbps or None,
            "device_bytes": self.size,
            "fio_write_MBps": best["fio_write"],
            "fio_read_MBps": best["fio_read"],
            "dd_MBps": best["dd"],
            "nwipe_MBps": best.get("nwipe"),
            # nwipe timed by its own log (start of its round to its end, each line stamped as
            # it appeared), one run each of zeros, PRNG, and PRNG verified (the MB/s of the
            # latter is the device's size over the write and read-back together); CPU per GB
            # of the device, during that span and over the process's life.
            "nwipe": {key: run.record() for key, run in self.nwipe.items()} or None,
            "engine_vs_nwipe": self.versus_nwipe() or None,
            "zero_MBps": best["zero"],
            "random_MBps": best["random"],
            "verify_MBps": verify,
            "verify_zeros_MBps": best["verify_zeros"],
            "verify_random_MBps": best["verify_random"],
            "zero_vs_fio_write": round(best["zero"] / best["fio_write"], 3),
            "random_vs_fio_write": round(best["random"] / best["fio_write"], 3),
            "verify_vs_fio_read": round(verify / best["fio_read"], 3),
            "samples_MBps": self.samples,
            "median_MBps": {k: round(statistics.median(v), 1) for k, v in self.samples.items()},
            # Each round runs fio and the engine back to back on the same device: the median of
            # the per-round ratios is the comparison least moved by a noisy device.
            "paired_median_ratio": self.paired(),
            "paired_median_ratio_vs_fio_wall_clock": self.paired(WALL_PAIRS),
            # Bounded resources (issue 4): peak memory a run added (max over rounds), and CPU.
            "engine_peak_memory_MiB": {k: max(v) for k, v in self.used.peak_mib.items()},
            "engine_cpu_seconds_per_GB": self.cpu(),
        }

    def show(self) -> None:
        """The table of this profile."""
        best = self.best
        rows = [
            ("fio write (device limit)", "fio_write", ""),
            ("fio read (device limit)", "fio_read", ""),
            ("dd zeros, O_DIRECT", "dd", "fio_write"),
            ("nwipe zeros", "nwipe", "fio_write"),
            ("nwipe PRNG", "nwipe_random", "fio_write"),
            ("nwipe PRNG + verify", "nwipe_random_verify", "fio_write"),
            ("engine zeros", "zero", "fio_write"),
            ("engine random (AES-CTR)", "random", "fio_write"),
            ("engine verify zeros", "verify_zeros", "fio_read"),
            ("engine verify random", "verify_random", "fio_read"),
        ]
        print(f"\n{self.profile.name}: {self.profile.describe()}")
        print(f"  {'best of rounds':<26}{'MB/s':>8}  {'vs fio':>7}")
        for label, key, ref in rows:
            if key not in best:
                print(f"  {label:<26}{'skipped':>8}")
                continue
            ratio = f"{best[key] / best[ref]:6.0%}" if ref else ""
            print(f"  {label:<26}{best[key]:8.0f}  {ratio:>7}")
        print("  per engine run: peak memory added, CPU per GB")
        cpu = self.cpu()
        for key, peaks in self.used.peak_mib.items():
            print(f"    {key:<14} {max(peaks):6.1f} MiB  {cpu[key]:6.3f} CPU-s/GB")
        versus = self.versus_nwipe()
        if versus:
            print("  against nwipe (medians; CPU-s per GB of the device):")
            print(
                f"    {'':<13}{'nwipe MB/s':>11}{'CPU-s/GB':>10}{'engine MB/s':>13}{'CPU-s/GB':>10}"
            )
            for name, both in versus.items():
                them, us = both["nwipe"], both["engine"]
                print(
                    f"    {name:<13}{them['MBps']:11.0f}{them['cpu_seconds_per_GB']:10.3f}"
                    f"{us['MBps']:13.0f}{us['cpu_seconds_per_GB']:10.3f}"
                )


def measure(
    profile: Profile, args: argparse.Namespace, config: IOConfig, throttle: Throttle | None
) -> Measured:
    """Every tool and engine run on one device profile."""
    got = Measured(profile, args.size_mib * MiB)
    size = got.size
    with loop_device(profile, size, args.dir) as (loop, workdir):
        print(f"\n== {profile.name}: {loop}, {size} bytes, {profile.describe()}", flush=True)
        if throttle is not None:
            throttle.cap(loop, profile.cap_mbps)
        print("warm-up fill (untimed) ...", flush=True)
        dd(loop, size)
        engine = Engine(loop, config)
        rnd = Pattern.random(engine.seed)
        zeros = Pattern.zeros()
        used = got.used
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            settle()
            got.note_fio("fio_write", fio(loop, "write", size, workdir))
            settle()
            got.note("dd", dd(loop, size))
            settle()
            got.note("zero", used.measure("zero", size, lambda: engine.write(zeros)))
            got.note(
                "verify_zeros", used.measure("verify_zeros", size, lambda: engine.verify(zeros))
            )
            settle()
            got.note("random", used.measure("random", size, lambda: engine.write(rnd)))
            got.note(
                "verify_random", used.measure("verify_random", size, lambda: engine.verify(rnd))
            )
            got.note_fio("fio_read", fio(loop, "read", size, workdir))
        if profile.name in args.nwipe_list:
            for key, method, verify in NWIPE_RUNS:
                print(f"nwipe --method={method} --verify={verify} ...", flush=True)
                done = run_nwipe(loop, size, method, verify)
                got.note(key, done.mbps)
                got.nwipe[key] = done
        if throttle is not None:
            throttle.cap(loop, 0)
    return got


def summary(results: list[Measured]) -> None:
    """Median per-round ratio to fio, one row per device: the figures the targets are about."""
    print("\nmedian of per-round ratios to fio's own figure (same round, same device):")
    print(f"  {'device':<10}{'fio w':>7}{'fio r':>7}" + "".join(f"{n:>14}" for n, _ in PAIRS))
    for res in results:
        paired, best = res.paired(), res.best
        cells = "".join(f"{paired[n]:14.0%}" for n, _ in PAIRS)
        print(f"  {res.profile.name:<10}{best['fio_write']:7.0f}{best['fio_read']:7.0f}{cells}")


def parse_args() -> argparse.Namespace:
    """The command line, checked."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument(
        "--size-mib", type=int, default=2048, help="single-device loop size, MiB (>= 64)"
    )
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per device")
    ap.add_argument(
        "--profiles",
        default="ram@550,ram@2000,ram@4000,ram,disk",
        help="single devices, in order: disk, ram, ram@<MB/s cap> (comma-separated; 'none')",
    )
    ap.add_argument(
        "--primary", default="ram@2000", help="profile whose figures are the top-level keys"
    )
    ap.add_argument(
        "--nwipe-on",
        default="",
        help="profiles nwipe runs on (comma-separated; default: the primary one)",
    )
    ap.add_argument("--skip-nwipe", action="store_true", help="leave nwipe out")
    add_bay_arguments(ap)
    ap.add_argument(
        "--dir",
        default="/var/tmp",  # noqa: S108 - a 2 GiB scratch file on disk (/tmp may be tmpfs)
        help="where the disk profile's sparse file lives (not tmpfs: it needs O_DIRECT)",
    )
    ap.add_argument("--note", default="", help="a remark recorded with the results")
    ap.add_argument("--output", default=str(ROOT / "bench-results.json"))
    args = ap.parse_args()
    try:
        args.profile_list = [
            Profile.parse(p) for p in args.profiles.split(",") if p.strip() not in {"", "none"}
        ]
        args.bay_list = parse_bay_profiles(args.bays)
    except ValueError as exc:
        ap.error(str(exc))
    names = [p.name for p in args.profile_list]
    if names and args.primary not in names:
        ap.error(f"--primary {args.primary} is not one of the profiles ({', '.join(names)})")
    args.nwipe_list = [] if args.skip_nwipe else (args.nwipe_on or args.primary).split(",")
    if args.size_mib < 64 or args.size_mib % 4:
        ap.error("--size-mib must be a multiple of 4, at least 64")
    if not names and not args.bay_list:
        ap.error("nothing to measure: no --profiles and no --bays")
    return args


def main() -> int:
    """Run the benchmark; 0 on success."""
    args = parse_args()
    if os.geteuid() != 0:
        print("make bench needs root (loop devices)", file=sys.stderr)
        return 2
    profiles: list[Profile] = args.profile_list
    needs_nwipe = any(p.name in args.nwipe_list for p in profiles)
    for tool in ("losetup", "fio", "dd", *(("nwipe",) if needs_nwipe else ())):
        if shutil.which(tool) is None:
            print(f"missing tool: {tool} (scripts/install-system.sh --test)", file=sys.stderr)
            return 2
    config = IOConfig()
    started = time.monotonic()
    results: list[Measured] = []
    with contextlib.ExitStack() as stack:
        throttle = stack.enter_context(Throttle()) if any(p.cap_mbps for p in profiles) else None
        results = [measure(profile, args, config, throttle) for profile in profiles]
    bays = run_bay_profiles(args.bay_list, args.bays_mib * MiB, args.bays_verify, args.dir)
    for res in results:
        res.show()
    if results:
        summary(results)
    out: dict[str, object] = {}
    if results:
        primary = next(r for r in results if r.profile.name == args.primary)
        out |= {k: v for k, v in primary.record().items() if not isinstance(v, dict)}
        out |= {
            "primary_profile": args.primary,
            "profiles": {r.profile.name: r.record() for r in results},
            # CPU cores the random pass would use at 2 GB/s, at the CPU cost per GB measured
            # on the primary device.
            "random_cpu_cores_at_2GBps": round(2 * primary.cpu()["random"], 2),
        }
    nwipe_on = [r.profile.name for r in results if r.nwipe]
    out |= {
        "multi_bay": bays or None,
        "method": (
            f"{args.rounds} interleaved rounds per device; fio bs=1M iodepth=16 libaio direct; "
            f"nwipe timed by its log (lines stamped as they appear), one run each of zeros, "
            f"PRNG and PRNG with --verify=last, from a scratch directory, on "
            f"{', '.join(nwipe_on) or 'no device'}; top-level figures are the "
            f"{args.primary if results else '(none)'} device's (best of rounds); multi-bay: "
            f"{args.bays or 'none'}, {args.bays_mib} MiB of memory per profile, "
            f"'sanitiser wipe' with {args.bays_verify} read-back"
        ),
        "nwipe_installed": installed() if nwipe_on else None,
        "engine": {"block_size": config.block_size, "workers": config.workers},
        "pattern_generation_GBps_one_core": round(pattern_gbps(), 2),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "note": args.note or None,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
    }
    Path(args.output).write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    if "random_cpu_cores_at_2GBps" in out:
        print(f"\nrandom pass at 2 GB/s would use {out['random_cpu_cores_at_2GBps']} cores")
    print(f"AES-CTR on one core: {out['pattern_generation_GBps_one_core']} GB/s")
    print(f"wrote {args.output} ({out['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
