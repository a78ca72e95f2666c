#!/usr/bin/env python3
"""`make bench`: the overwrite engine against fio, dd and nwipe on one loop device.

Creates a sparse file (2 GiB by default) in /var/tmp, attaches it with
``losetup -f --show --direct-io=on``, fills it once untimed (so no timed run pays for block
allocation or reads holes), then runs interleaved rounds of

    fio sequential write, dd, our zeros pass, our full verify of zeros,
    our random pass, our full verify of random, fio sequential read

and one nwipe zero pass. Each figure is the best of its rounds (the VM disk under the loop
device is noisy; interleaving and best-of-N compare like with like). fio's own bandwidth
(direct I/O, libaio, queue depth 16) is taken as the device's limit; fio is also timed by wall
clock, because its own figure leaves out the final fsync that ours includes. The median of the
per-round ratios (engine / fio in the same round) is the comparison least moved by the noise.
It also records each engine run's CPU seconds per GB and peak memory growth, and AES-CTR speed
on one core. Prints a table and writes ``bench-results.json`` at the repository root
(MB = 10^6 bytes). Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sanitiser.blockio import (  # noqa: E402 - after the path set-up, for a plain checkout
    DeviceTarget,
    IOConfig,
    Pattern,
    new_seed,
    overwrite,
    verify_full,
)
from sanitiser.blockio.target import AlignedBuffer  # noqa: E402

GiB = 1 << 30


def run(argv: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a tool, failing loudly with its stderr."""
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: {res.stderr.strip()}")
    return res


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


def nwipe(dev: str, size: int, workdir: Path, sample_s: float) -> float:
    """nwipe zeros (no verification, no blanking, non-interactive) in MB/s.

    A full nwipe pass of 2 GiB takes over a minute here, so it is sampled: after `sample_s`
    seconds SIGUSR1 makes nwipe log its percentage done, then SIGINT stops it. If it finishes
    first, its wall-clock time is used.
    """
    log = workdir / "nwipe.log"
    argv = [
        "nwipe", "--autonuke", "--nogui", "--nowait", "--method=zero", "--verify=off",
        "--noblank", f"--logfile={log}", dev,
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        proc.wait(timeout=sample_s)
    except subprocess.TimeoutExpired:
        elapsed = time.monotonic() - t0
        proc.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        done = re.findall(r"(\d+(?:\.\d+)?)%, round", log.read_text(errors="replace"))
        if not done:
            raise RuntimeError(f"nwipe logged no progress:\n{log.read_text()[-2000:]}") from None
        return float(done[-1]) / 100 * size / elapsed / 1e6
    elapsed = time.monotonic() - t0
    text = log.read_text(errors="replace")
    if proc.returncode != 0 or not re.search(rf"\b{size} bytes written", text):
        raise RuntimeError(f"nwipe failed (rc {proc.returncode}):\n{text[-2000:]}")
    return size / elapsed / 1e6


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


def main() -> int:
    """Run the benchmark; 0 on success."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-gib", type=int, default=2, help="loop device size (>= 2)")
    ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds (best of N)")
    ap.add_argument(
        "--dir",
        default="/var/tmp",  # noqa: S108 - a 2 GiB scratch file on disk (/tmp may be tmpfs)
        help="where the sparse file lives (not tmpfs: direct-io needs O_DIRECT)",
    )
    ap.add_argument("--skip-nwipe", action="store_true", help="leave nwipe out")
    ap.add_argument("--nwipe-seconds", type=float, default=15, help="nwipe sampling time")
    ap.add_argument("--output", default=str(ROOT / "bench-results.json"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("make bench needs root (loop devices)", file=sys.stderr)
        return 2
    for tool in ("losetup", "fio", "dd", *(() if args.skip_nwipe else ("nwipe",))):
        if shutil.which(tool) is None:
            print(f"missing tool: {tool} (scripts/install-system.sh --test)", file=sys.stderr)
            return 2
    size = args.size_gib * GiB
    config = IOConfig()
    workdir = Path(tempfile.mkdtemp(prefix="sanitiser-bench-", dir=args.dir))
    image = workdir / "bench.img"
    loop = ""
    samples: dict[str, list[float]] = {}
    used = Resources()

    def note(key: str, mbps: float) -> None:
        samples.setdefault(key, []).append(round(mbps, 1))
        print(f"  {key:<14} {mbps:8.0f} MB/s", flush=True)

    def note_fio(key: str, figures: tuple[float, float]) -> None:
        note(key, figures[0])
        samples.setdefault(f"{key}_wall", []).append(round(figures[1], 1))

    started = time.monotonic()
    try:
        with image.open("wb") as f:
            f.truncate(size)
        loop = run(["losetup", "-f", "--show", "--direct-io=on", str(image)]).stdout.strip()
        print(f"loop device {loop}: {size} bytes on {image} (direct-io=on)")
        print("warm-up fill (untimed) ...", flush=True)
        dd(loop, size)
        engine = Engine(loop, config)
        rnd = Pattern.random(engine.seed)
        zeros = Pattern.zeros()
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            note_fio("fio_write", fio(loop, "write", size, workdir))
            note("dd", dd(loop, size))
            note("zero", used.measure("zero", size, lambda: engine.write(zeros)))
            note("verify_zeros", used.measure("verify_zeros", size, lambda: engine.verify(zeros)))
            note("random", used.measure("random", size, lambda: engine.write(rnd)))
            note("verify_random", used.measure("verify_random", size, lambda: engine.verify(rnd)))
            note_fio("fio_read", fio(loop, "read", size, workdir))
        if not args.skip_nwipe:
            print("nwipe (one pass of zeros) ...", flush=True)
            note("nwipe", nwipe(loop, size, workdir, args.nwipe_seconds))
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
        shutil.rmtree(workdir, ignore_errors=True)

    best = {k: max(v) for k, v in samples.items()}
    verify = min(best["verify_zeros"], best["verify_random"])
    results: dict[str, object] = {
        "device_bytes": size,
        "fio_write_MBps": best["fio_write"],
        "fio_read_MBps": best["fio_read"],
        "dd_MBps": best["dd"],
        "nwipe_MBps": best.get("nwipe"),
        "zero_MBps": best["zero"],
        "random_MBps": best["random"],
        "verify_MBps": verify,
        "verify_zeros_MBps": best["verify_zeros"],
        "verify_random_MBps": best["verify_random"],
        "zero_vs_fio_write": round(best["zero"] / best["fio_write"], 3),
        "random_vs_fio_write": round(best["random"] / best["fio_write"], 3),
        "verify_vs_fio_read": round(verify / best["fio_read"], 3),
        "samples_MBps": samples,
        "median_MBps": {k: round(statistics.median(v), 1) for k, v in samples.items()},
        # Each round runs fio and the engine back to back on the same device: the median of the
        # per-round ratios is the comparison least moved by a noisy disk.
        "paired_median_ratio": {
            name: round(statistics.median(_ratios(samples[name], samples[ref])), 3)
            for name, ref in PAIRS
        },
        "paired_median_ratio_vs_fio_wall_clock": {
            name: round(statistics.median(_ratios(samples[name], samples[ref])), 3)
            for name, ref in WALL_PAIRS
        },
        "method": (
            f"best of {args.rounds} interleaved rounds; fio bs=1M iodepth=16 libaio direct; "
            f"nwipe sampled over {args.nwipe_seconds:g} s (SIGUSR1 progress)"
        ),
        "engine": {"block_size": config.block_size, "workers": config.workers},
        # Bounded resources (issue 4): peak memory the run added (max over rounds), and CPU.
        "engine_peak_memory_MiB": {k: max(v) for k, v in used.peak_mib.items()},
        "engine_cpu_seconds_per_GB": {
            k: round(statistics.median(v), 3) for k, v in used.cpu_s_per_gb.items()
        },
        # CPU cores the random pass would use at 2 GB/s, at the CPU cost per GB measured here.
        "random_cpu_cores_at_2GBps": round(2 * statistics.median(used.cpu_s_per_gb["random"]), 2),
        "pattern_generation_GBps_one_core": round(pattern_gbps(), 2),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
    }
    Path(args.output).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")

    rows = [
        ("fio write (device limit)", best["fio_write"], None),
        ("fio read (device limit)", best["fio_read"], None),
        ("dd zeros, O_DIRECT", best["dd"], best["fio_write"]),
        ("nwipe zeros", best.get("nwipe"), best["fio_write"]),
        ("engine zeros", best["zero"], best["fio_write"]),
        ("engine random (AES-CTR)", best["random"], best["fio_write"]),
        ("engine verify zeros", best["verify_zeros"], best["fio_read"]),
        ("engine verify random", best["verify_random"], best["fio_read"]),
    ]
    print(f"\n{'':<26}{'MB/s':>8}  {'vs fio':>7}")
    for name, mbps, ref in rows:
        if mbps is None:
            print(f"{name:<26}{'skipped':>8}")
            continue
        ratio = f"{mbps / ref:6.0%}" if ref else ""
        print(f"{name:<26}{mbps:8.0f}  {ratio:>7}")
    paired = {name: statistics.median(_ratios(samples[name], samples[ref])) for name, ref in PAIRS}
    wall = {n: statistics.median(_ratios(samples[n], samples[ref])) for n, ref in WALL_PAIRS}
    print("\nmedian of per-round ratios to fio (same round, same device):")
    print(f"  {'':<24}{'fio bw':>7}{'fio wall':>10}")
    for name, _ in PAIRS:
        print(f"  {name:<24}{paired[name]:6.0%}{wall[name]:10.0%}")
    print("\nresources per engine run (peak memory added, CPU per GB):")
    for key, peaks in used.peak_mib.items():
        cpu = statistics.median(used.cpu_s_per_gb[key])
        print(f"  {key:<14} {max(peaks):6.1f} MiB  {cpu:6.3f} CPU-s/GB")
    print(
        f"random pass at 2 GB/s would use {results['random_cpu_cores_at_2GBps']} cores; "
        f"AES-CTR on one core: {results['pattern_generation_GBps_one_core']} GB/s"
    )
    print(f"\nwrote {args.output} ({results['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
