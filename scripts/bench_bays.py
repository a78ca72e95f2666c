#!/usr/bin/env python3
"""The multi-bay part of `make bench`: many capped drives wiped at once through ``sanitiser wipe``.

A bench station wipes a shelf of drives together. For each bay profile (``8@250``: eight loop
devices over memory, each capped at 250 MB/s by block throttling, like eight SATA drives), the
bench attaches the devices (their memory reserved first), then, one after another, with a second
of idleness between:

    fio writing all of them at once (one job per device, direct I/O, queue depth 16),
    ``sanitiser wipe DEV... --yes --json`` on all of them (the CLI, loop devices allowed,
    an isolated data directory; zeros, then the policy's read-back),
    fio reading all of them at once (when the read-back is full).

From the wipe's event stream, stamped as each line arrives, it reports the bays' aggregate MB/s
while every job was writing (and reading), against fio's and against the sum of the caps; each
bay's own MB/s; the longest time any one job went without a progress event while all ran; and,
from ``/proc``, the CPU and memory the wipe process used per bay. Needs root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bay_events import (  # noqa: E402
    INTERVAL,
    Aggregate,
    Tick,
    aggregate,
    all_running,
    largest_gap,
    ticks,
)
from bench_devices import Profile, Throttle, loop_device, run  # noqa: E402
from proc_sample import Sample, Sampler, between, busy_fraction, value_at  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30
SETTLE_SECONDS = 1.0
"""Idle time before each timed run (block throttling makes a write pay for the one before)."""
POLICY = "bench-bays"
"""The name of the policy the bench writes: the shipped default with the read-back chosen."""


@dataclass(frozen=True)
class BayProfile:
    """A shelf of `count` drives, each capped at `cap_mbps` MB/s (reads and writes)."""

    count: int
    cap_mbps: int

    @property
    def name(self) -> str:
        """``8@250``."""
        return f"{self.count}@{self.cap_mbps}"

    @classmethod
    def parse(cls, text: str) -> BayProfile:
        """``<bays>@<MB/s per bay>``, e.g. ``24@100``.

        Raises:
            ValueError: any other form, or no bays, or no cap.
        """
        m = re.fullmatch(r"(\d+)@(\d+)", text.strip())
        if m is None or int(m[1]) < 1 or int(m[2]) < 1:
            raise ValueError(f"bay profile {text!r} is not <bays>@<MB/s per bay>, e.g. 8@250")
        return cls(int(m[1]), int(m[2]))


def parse_profiles(text: str) -> list[BayProfile]:
    """Comma-separated bay profiles ("" or ``none``: none).

    Raises:
        ValueError: one of them is malformed.
    """
    if text.strip() in {"", "none"}:
        return []
    return [BayProfile.parse(p) for p in text.split(",") if p.strip()]


def bay_size(budget: int, count: int) -> int:
    """Each bay's size when `count` bays share `budget` bytes of memory: a whole number of
    4 MiB blocks.

    Raises:
        ValueError: less than 4 MiB each.
    """
    size = budget // count // (4 * MiB) * (4 * MiB)
    if size < 4 * MiB:
        raise ValueError(f"{budget} bytes is less than 4 MiB for each of {count} bays")
    return size


def write_policy(directory: Path, verify: str) -> Path:
    """The shipped default policy with `verify` (``full`` | ``sampled``) as the overwrite's
    read-back, written as ``bench-bays.toml`` in `directory`.

    Raises:
        RuntimeError: the shipped policy no longer has the lines this rewrites.
    """
    text = (
        importlib_resources.files("sanitiser.policy.builtin")
        .joinpath("nist-800-88.toml")
        .read_text(encoding="utf-8")
    )
    changes = {
        'name = "nist-800-88"': f'name = "{POLICY}"',
        'verify_overwrite = "sampled"': f'verify_overwrite = "{verify}"',
    }
    for old, new in changes.items():
        if text.count(old) != 1:
            raise RuntimeError(f"the shipped policy has no single line {old!r} to change")
        text = text.replace(old, new)
    path = directory / f"{POLICY}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def fio_at_once(devs: list[str], rw: str, size: int, workdir: Path) -> dict[str, float]:
    """fio on every device at once, one job each: the sum of the jobs' own MB/s, and all bytes
    over the run's wall clock (which includes fio's start and final fsync)."""
    out = workdir / f"fio-bays-{rw}.json"
    argv = [
        "fio", f"--rw={rw}", "--bs=1M", "--iodepth=16", "--ioengine=libaio", "--direct=1",
        "--end_fsync=1", f"--size={size}", "--output-format=json", f"--output={out}",
    ]  # fmt: skip
    for i, dev in enumerate(devs):
        argv += [f"--name=bay{i}", f"--filename={dev}"]
    t0 = time.monotonic()
    run(argv, timeout=900)
    wall = time.monotonic() - t0
    jobs = json.loads(out.read_text())["jobs"]
    return {
        "sum_of_jobs_MBps": round(sum(float(j[rw]["bw_bytes"]) for j in jobs) / 1e6, 1),
        "wall_MBps": round(size * len(devs) / wall / 1e6, 1),
    }


@dataclass
class WipeRun:
    """One ``sanitiser wipe`` of every bay: what it printed (stamped) and what it used."""

    lines: list[tuple[float, str]]
    """Each line of its standard output with the `time.monotonic()` it arrived at."""
    samples: list[Sample]
    """Its CPU and memory, a few times a second (`proc_sample.Sampler`)."""
    usage: resource.struct_rusage
    """Its own resource usage (and its children's), from ``wait4``."""
    returncode: int
    stderr: str
    wall_s: float


def wipe_env(scratch: Path) -> dict[str, str]:
    """The wipe's environment: an isolated configuration and data directory in `scratch`,
    loop devices allowed (they are the bays)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANITISER_")}
    config = scratch / "config.toml"
    config.touch()
    env.update(
        SANITISER_CONFIG_FILE=str(config),
        SANITISER_DATA_DIR=str(scratch / "data"),
        SANITISER_CERTS_DIR=str(scratch / "certs"),
        SANITISER_STATION="bench",
        SANITISER_LOOP_DEVICES="true",
        PYTHONPATH=str(ROOT),
    )
    return env


def wipe_at_once(devs: list[str], scratch: Path, policy: Path) -> WipeRun:
    """Run ``sanitiser wipe DEV... --yes --json`` on every bay and wait for it to end."""
    argv = [
        sys.executable, "-m", "sanitiser", "wipe", *devs, "--yes", "--json",
        "--operator", "bench", "--policy", str(policy),
    ]  # fmt: skip
    err = scratch / "wipe.stderr"
    lines: list[tuple[float, str]] = []
    t0 = time.monotonic()
    with err.open("w") as err_file:
        proc = subprocess.Popen(
            argv,
            cwd=scratch,
            env=wipe_env(scratch),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
        )
        assert proc.stdout is not None  # noqa: S101 - PIPE above
        with Sampler(proc.pid) as sampler:
            for line in proc.stdout:
                lines.append((time.monotonic(), line))
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return WipeRun(
        lines, sampler.samples, usage, proc.returncode, err.read_text(), time.monotonic() - t0
    )


def check_outcomes(lines: list[tuple[float, str]], devs: list[str]) -> None:
    """Every bay was sanitised and verified.

    Raises:
        RuntimeError: one was not (with its reason).
    """
    outcomes = {}
    for _, line in lines:
        event = json.loads(line)
        if event.get("event") == "outcome":
            outcomes[event["device"]] = event
    for dev in devs:
        o = outcomes.get(dev)
        if o is None or o["status"] != "sanitised" or not o["verified"]:
            why = "no outcome" if o is None else f"{o['status']}: {o['reason']}"
            raise RuntimeError(f"the wipe did not sanitise {dev}: {why}")


def _cpu(s: Sample) -> float:
    return s.cpu_s


def _rss(s: Sample) -> float:
    return s.rss_kib


def usage_record(
    wipe: WipeRun, events: list[Tick], bays: int, moved: int, write: Aggregate
) -> dict[str, object]:
    """CPU and memory of the wipe process, per bay: over its whole life, from the first bay's
    I/O to the last's, and while every bay was writing.

    `moved` is the bytes written and read by all jobs. From the first I/O to the last, the CPU
    includes the set-up of bays that start late and the certificates of bays that end early;
    while every bay wrote (`write`'s window) it is the overwrite's alone. The memory per bay is
    what the process grew by from when it printed its first event (interpreter, imports and
    store already loaded) to its peak, shared out over the bays.
    """
    ru = wipe.usage
    cpu = ru.ru_utime + ru.ru_stime
    first_line = wipe.lines[0][0]
    io_start = min(t.at for t in events) - INTERVAL
    io_end = max(t.at for t in events)
    io_cpu = between(wipe.samples, io_start, io_end, _cpu)
    base_kib = value_at(wipe.samples, first_line, _rss)
    peak_kib = max(ru.ru_maxrss, *(s.rss_kib for s in wipe.samples))
    busy = busy_fraction(wipe.samples, io_start, io_end)
    writing: float | None = None
    if write.window is not None and write.all_running_mbps is not None:
        t0, t1 = write.window
        written = write.all_running_mbps * 1e6 * (t1 - t0)
        writing = between(wipe.samples, t0, t1, _cpu) / (written / 1e9)
    return {
        "wall_seconds": round(wipe.wall_s, 2),
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_bay": round(cpu / bays, 3),
        "io_seconds": round(io_end - io_start, 2),
        "io_cpu_seconds": round(io_cpu, 2),
        "io_cpu_seconds_per_bay": round(io_cpu / bays, 3),
        "io_cpu_seconds_per_GB": round(io_cpu / (moved / 1e9), 3),
        "io_cpu_cores": round(io_cpu / (io_end - io_start), 2),
        "all_writing_cpu_seconds_per_GB": None if writing is None else round(writing, 3),
        "machine_busy_during_io": None if busy is None else round(busy, 3),
        "peak_rss_MiB": round(peak_kib / 1024, 1),
        "rss_at_first_event_MiB": round(base_kib / 1024, 1),
        "memory_per_bay_MiB": round((peak_kib - base_kib) / 1024 / bays, 1),
    }


def stream_record(events: list[Tick]) -> dict[str, object]:
    """The event stream while every job ran: how many events, and the longest silence of one
    job (at all, and within one phase), with when it began (seconds after the first event)."""
    window = all_running(events)
    origin = min((t.at for t in events), default=0.0)
    out: dict[str, object] = {
        "progress_events": len(events),
        "all_running_seconds": None if window is None else round(window[1] - window[0], 2),
    }
    for key, gap in (
        ("largest_gap", largest_gap(events, window)),
        ("largest_gap_within_a_phase", largest_gap(events, window, same_phase=True)),
    ):
        out[f"{key}_seconds"] = None if gap is None else round(gap.seconds, 3)
        out[key] = (
            None
            if gap is None
            else {"between": [gap.after, gap.before], "began_at": round(gap.start - origin, 2)}
        )
    return out


def measure_bays(
    bay: BayProfile, size: int, verify: str, throttle: Throttle, disk_dir: str
) -> dict[str, object]:
    """Every run on one shelf of `bay.count` capped bays of `size` bytes; its JSON record."""
    ram = Profile("ram", "ram")
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-bays-")))
        attached = [
            stack.enter_context(loop_device(ram, size, disk_dir, allocate=True))
            for _ in range(bay.count)
        ]
        devs = [dev for dev, _ in attached]
        print(f"\n== bays {bay.name}: {bay.count} x {size} bytes ({', '.join(devs)})", flush=True)
        for dev in devs:
            throttle.cap(dev, bay.cap_mbps)
            stack.callback(throttle.cap, dev, 0)
        time.sleep(SETTLE_SECONDS)
        fio_write = fio_at_once(devs, "write", size, scratch)
        print(f"  fio write, all at once   {fio_write['sum_of_jobs_MBps']:8.0f} MB/s", flush=True)
        time.sleep(SETTLE_SECONDS)
        wipe = wipe_at_once(devs, scratch, write_policy(scratch, verify))
        if wipe.returncode != 0:
            raise RuntimeError(f"sanitiser wipe exited {wipe.returncode}:\n{wipe.stderr[-3000:]}")
        check_outcomes(wipe.lines, devs)
        fio_read = None
        if verify == "full":
            time.sleep(SETTLE_SECONDS)
            fio_read = fio_at_once(devs, "read", size, scratch)
    events = ticks(wipe.lines)
    write = aggregate(events, "write")
    read = aggregate(events, "verify")
    if write is None:
        raise RuntimeError("the wipe printed no progress of its overwrite")
    caps = bay.count * bay.cap_mbps
    moved = write.bytes + (read.bytes if read is not None else 0)
    return {
        "bays": bay.count,
        "cap_MBps_each": bay.cap_mbps,
        "sum_of_caps_MBps": caps,
        "device_bytes": size,
        "verify": verify,
        "fio_write": fio_write,
        "fio_read": fio_read,
        "wipe_write": write.record(),
        "wipe_verify": None if read is None else read.record(),
        "write_vs_sum_of_caps": _ratio(write.all_running_mbps, caps),
        "write_vs_fio": _ratio(write.all_running_mbps, fio_write["sum_of_jobs_MBps"]),
        "overall_write_vs_sum_of_caps": _ratio(write.overall_mbps, caps),
        "verify_vs_fio": _ratio(
            None if read is None else read.all_running_mbps,
            None if fio_read is None else fio_read["sum_of_jobs_MBps"],
        ),
        "wipe_process": usage_record(wipe, events, bay.count, moved, write),
        "event_stream": stream_record(events),
    }


def _ratio(value: float | None, ref: float | None) -> float | None:
    return None if value is None or not ref else round(value / ref, 3)


def _section(rec: dict[str, object], key: str) -> dict[str, Any]:
    """One nested part of a record ({} when it is None)."""
    value = rec.get(key)
    return value if isinstance(value, dict) else {}


def _together(agg: dict[str, Any]) -> str:
    return f"all together {agg['all_running_seconds']} s"


def show(name: str, rec: dict[str, object]) -> None:
    """The table of one bay profile."""
    w, v = _section(rec, "wipe_write"), _section(rec, "wipe_verify")
    fw, fr = _section(rec, "fio_write"), _section(rec, "fio_read")
    proc, stream = _section(rec, "wipe_process"), _section(rec, "event_stream")
    print(
        f"\nbays {name}: sum of caps {rec['sum_of_caps_MBps']} MB/s, {rec['device_bytes']} B each"
    )
    print(f"  {'all at once':<34}{'MB/s':>8}  {'vs caps':>7}")
    rows: list[tuple[str, object, str]] = [
        ("fio write (sum of its jobs)", fw["sum_of_jobs_MBps"], ""),
        ("wipe zeros, while all wrote", w["all_running_MBps"], _together(w)),
        ("wipe zeros, first start to last end", w["overall_MBps"], ""),
    ]
    if fr and v:
        rows += [
            ("fio read (sum of its jobs)", fr["sum_of_jobs_MBps"], ""),
            ("wipe verify, while all read", v["all_running_MBps"], _together(v)),
        ]
    caps = float(str(rec["sum_of_caps_MBps"]))
    for label, value, note in rows:
        if isinstance(value, int | float):
            print(f"  {label:<34}{value:8.0f}  {value / caps:7.0%}  {note}")
        else:
            print(f"  {label:<34}{'-':>8}           {note}: too short to count")
    print(
        f"  per bay, writing: {w['per_bay_MBps']} MB/s; "
        f"first writes {w['start_spread_seconds']} s apart"
    )
    print(
        f"  wipe process: {proc['io_cpu_seconds_per_bay']} CPU-s per bay during I/O "
        f"({proc['io_cpu_seconds_per_GB']} per GB, {proc['io_cpu_cores']} cores; "
        f"{proc['all_writing_cpu_seconds_per_GB']} per GB while all wrote), "
        f"{proc['cpu_seconds_per_bay']} over its life; {proc['memory_per_bay_MiB']} MiB per bay "
        f"(peak {proc['peak_rss_MiB']} MiB); machine busy {proc['machine_busy_during_io']}"
    )
    print(
        f"  events: {stream['progress_events']} progress; longest silence of one job while "
        f"all ran {stream['largest_gap_seconds']} s ({stream['largest_gap']}), "
        f"within a phase {stream['largest_gap_within_a_phase_seconds']} s"
    )


def run_profiles(
    bays: list[BayProfile], budget: int, verify: str, disk_dir: str
) -> dict[str, object]:
    """Every bay profile, each with its own throttle group; records by profile name.

    Raises:
        RuntimeError: /dev/shm cannot hold the bays.
    """
    shm = "/dev/shm"  # noqa: S108 - memory on purpose
    free = shutil.disk_usage(shm).free
    if free < budget + GiB:
        raise RuntimeError(f"{shm} has {free} bytes free; the bays need {budget}")
    out: dict[str, object] = {}
    for bay in bays:
        with Throttle() as throttle:
            rec = measure_bays(bay, bay_size(budget, bay.count), verify, throttle, disk_dir)
        show(bay.name, rec)
        out[bay.name] = rec
    return out


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The bay options (shared with `bench.py`)."""
    ap.add_argument(
        "--bays",
        default="8@250,24@100",
        help="bay profiles <bays>@<MB/s per bay>, comma-separated ('none': skip)",
    )
    ap.add_argument(
        "--bays-mib",
        type=int,
        default=7168,
        help="memory shared by one profile's bays, MiB (each bay gets its share)",
    )
    ap.add_argument(
        "--bays-verify",
        choices=("full", "sampled"),
        default="full",
        help="the wipe's read-back (the shipped policy samples; full reads every byte)",
    )


def main() -> int:
    """Run the bay profiles alone; 0 on success."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap)
    ap.add_argument("--output", default="", help="also write the records to this JSON file")
    args = ap.parse_args()
    try:
        bays = parse_profiles(args.bays)
    except ValueError as exc:
        ap.error(str(exc))
    if os.geteuid() != 0:
        print("the bay bench needs root (loop devices)", file=sys.stderr)
        return 2
    if shutil.which("fio") is None or shutil.which("losetup") is None:
        print("missing tool: fio or losetup (scripts/install-system.sh --test)", file=sys.stderr)
        return 2
    records = run_profiles(bays, args.bays_mib * MiB, args.bays_verify, "/var/tmp")  # noqa: S108
    if args.output:
        Path(args.output).write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
