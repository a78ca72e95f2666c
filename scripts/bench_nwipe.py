"""nwipe in `make bench`: one whole run, timed by its own log, with the CPU its work used.

nwipe runs non-interactively (``--nogui --autonuke --nowait``, no blanking pass) from a scratch
directory (versions from 0.35 write a PDF report into the current one) with a log file, which
the bench watches: each line is stamped as it appears (`nwipe_log.LineWatcher`), the work is the
span from ``Starting round 1`` to ``Finished final round`` (`nwipe_log.stamped_span`), and the
CPU is what the process used in that span (`proc_sample.Sampler`), not what it spent before
or lingering after. nwipe's own one-second stamps give a cross-check (`nwipe_log.work_seconds`).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nwipe_log import LineWatcher, stamped_span, version, work_seconds
from proc_sample import Sample, Sampler, between

RUNS: tuple[tuple[str, str, str], ...] = (
    ("nwipe", "zero", "off"),
    ("nwipe_random", "random", "off"),
    ("nwipe_random_verify", "random", "last"),
)
"""(sample key, nwipe --method, --verify): zeros, PRNG, and PRNG read back."""
WATCH_INTERVAL = 0.02
"""Seconds between looks at the growing log."""


def installed() -> dict[str, str]:
    """What nwipe is installed: the version it reports (``nwipe --version``) and its Debian
    package's version ("" when not from a package). Debian 12's 0.34-1+b1 reports 0.33."""
    done = subprocess.run(["nwipe", "--version"], capture_output=True, text=True, check=False)
    package = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "nwipe"], capture_output=True, text=True, check=False
    )
    return {
        "reports": version(done.stdout + done.stderr) or "unknown",
        "debian_package": package.stdout.strip() if package.returncode == 0 else "",
    }


@dataclass(frozen=True)
class NwipeRun:
    """One nwipe run: how long its work took and what it used."""

    size: int
    seconds: float
    """From its round's start to its end, by the watched log."""
    log_seconds: int
    """The same by nwipe's own one-second stamps."""
    process_seconds: float
    """How long the process lived."""
    cpu_s: float
    """CPU seconds the process used during its work."""
    process_cpu_s: float
    """CPU seconds over its whole life (with start-up and what it did after)."""

    @property
    def mbps(self) -> float:
        """The device's size over the work's time (written, and read back when verifying)."""
        return self.size / self.seconds / 1e6

    def record(self) -> dict[str, float]:
        """The JSON figures (CPU per GB of the device)."""
        gb = self.size / 1e9
        return {
            "MBps": round(self.mbps, 1),
            "seconds": round(self.seconds, 2),
            "log_seconds": self.log_seconds,
            "process_seconds": round(self.process_seconds, 2),
            "cpu_seconds_per_GB": round(self.cpu_s / gb, 3),
            "process_cpu_seconds_per_GB": round(self.process_cpu_s / gb, 3),
        }


def _cpu(s: Sample) -> float:
    return s.cpu_s


def run_nwipe(dev: str, size: int, method: str, verify: str) -> NwipeRun:
    """One whole nwipe run on `dev` (`size` bytes).

    Raises:
        RuntimeError: nwipe failed, or its log does not show the whole device written.
    """
    with tempfile.TemporaryDirectory(prefix="nwipe-") as scratch:
        log = Path(scratch) / "nwipe.log"
        log.touch()
        argv = [
            "nwipe", "--autonuke", "--nogui", "--nowait", f"--method={method}",
            f"--verify={verify}", "--noblank", f"--logfile={log}", dev,
        ]  # fmt: skip
        watcher = LineWatcher()
        t0 = time.monotonic()
        with (
            log.open(errors="replace") as follow,
            (Path(scratch) / "nwipe.out").open("w") as out,
        ):
            proc = subprocess.Popen(
                argv, cwd=scratch, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
            with Sampler(proc.pid) as sampler:
                while True:
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    watcher.feed(follow.read(), time.monotonic())
                    if pid:
                        break
                    time.sleep(WATCH_INTERVAL)
            proc.returncode = os.waitstatus_to_exitcode(status)
            watcher.close(time.monotonic())
        lived = time.monotonic() - t0
        text = log.read_text(errors="replace")
    if proc.returncode != 0 or not re.search(rf"\b{size} bytes written", text):
        raise RuntimeError(f"nwipe failed (rc {proc.returncode}):\n{text[-2000:]}")
    start, end = stamped_span(watcher.lines)
    return NwipeRun(
        size=size,
        seconds=end - start,
        log_seconds=_log_seconds(text),
        process_seconds=lived,
        cpu_s=between(sampler.samples, start, end, _cpu),
        process_cpu_s=usage.ru_utime + usage.ru_stime,
    )


def _log_seconds(text: str) -> int:
    """nwipe's own span in whole seconds; 0 when under one."""
    try:
        return work_seconds(text)
    except ValueError:
        return 0
