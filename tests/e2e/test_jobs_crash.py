"""Jobs on real loop devices: many at once, a wipe process SIGKILLed mid-overwrite and then
recovered and restarted, and a device that vanishes mid-run failing only its own job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sanitiser.certificate.sign import parse_envelope
from sanitiser.cli import EXIT_ERROR
from sanitiser.config import load_settings
from sanitiser.jobs.commands import make_orchestrator
from sanitiser.jobs.events import JobEvent, JobOutcome, JobProgress
from sanitiser.services import build_services
from sanitiser.store import Store
from tests.e2e.conftest import LoopFactory

MiB = 1 << 20
JUNK = bytes(range(1, 256)) * (MiB // 255 + 1)


def junk_image(path: Path, size: int) -> Path:
    """A file of `size` bytes with no zero byte in it (so any survivor is visible)."""
    with path.open("wb") as f:
        for _ in range(size // MiB):
            f.write(JUNK[:MiB])
    return path


def junk_left(path: Path) -> int:
    """How many MiB of the image still hold the original junk."""
    left = 0
    with path.open("rb") as f:
        while chunk := f.read(MiB):
            left += chunk == JUNK[: len(chunk)]
    return left


def env_for(tmp_path: Path) -> dict[str, str]:
    """The test's isolated settings, certificates in tmp_path."""
    env = dict(os.environ)
    env.update(
        SANITISER_CERTS_DIR=str(tmp_path / "certs"),
        SANITISER_STATION="bench-e2e",
        SANITISER_LOOP_DEVICES="true",  # these tests wipe loop devices on purpose
    )
    return env


def cli(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `sanitiser ARGS` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "sanitiser", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env_for(tmp_path),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


@contextmanager
def write_throttle(dev: str, bytes_per_second: int) -> Iterator[Path]:
    """A blkio cgroup (v1) capping writes to `dev`; yields its ``cgroup.procs`` to move a
    process into. The cgroup is removed afterwards (its processes must have exited)."""
    base = Path("/sys/fs/cgroup/blkio")
    if not (base / "blkio.throttle.write_bps_device").exists():
        pytest.skip("no blkio v1 throttling on this kernel")
    rdev = os.stat(dev).st_rdev
    group = base / f"sanitiser-test-{uuid.uuid4().hex[:12]}"
    group.mkdir()
    try:
        (group / "blkio.throttle.write_bps_device").write_text(
            f"{os.major(rdev)}:{os.minor(rdev)} {bytes_per_second}\n"
        )
        yield group / "cgroup.procs"
    finally:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def unplug(dev: str, image: Path, throttle_procs: Path) -> None:
    """Take `dev`'s medium away in one step, as the job sees it: this process's I/O to `dev` is
    held by the throttle (`write_throttle` capped at 1 byte/s, this process moved into it), what
    was in flight drains, then the capacity drops to 0, then the I/O is let go. Without the
    hold, a read between the truncation and the capacity change failed with EIO while the
    device still showed its size, and the job said "stopped responding" (a flaky test)."""
    name = Path(dev).name
    throttle_procs.write_text(f"{os.getpid()}\n")
    group = throttle_procs.parent
    major_minor = Path(f"/sys/block/{name}/dev").read_text().strip()
    (group / "blkio.throttle.read_bps_device").write_text(f"{major_minor} 1\n")
    deadline = time.monotonic() + 60
    while Path(f"/sys/block/{name}/inflight").read_text().split() != ["0", "0"]:
        assert time.monotonic() < deadline, "the victim's I/O did not drain"
        time.sleep(0.01)
    os.truncate(image, 0)
    subprocess.run(["losetup", "-c", dev], check=True)
    for rule in ("read_bps_device", "write_bps_device"):
        (group / f"blkio.throttle.{rule}").write_text(f"{major_minor} 0\n")


def outcomes(stdout: str) -> dict[str, dict[str, Any]]:
    """The outcome object per device from JSON lines."""
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {e["device"]: e for e in events if e["event"] == "outcome"}


@pytest.mark.root
def test_loop_devices_wiped_at_once_have_separate_outcomes(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """Three loop devices in one headless batch: three sanitised outcomes with their own
    certificates, and no original byte left on any of them."""
    images = [junk_image(tmp_path / f"d{i}.img", 16 * MiB) for i in range(3)]
    devs = [loop_device(image=img) for img in images]
    out = cli(tmp_path, "wipe", *devs, "--yes", "--json", "--operator", "e2e")
    assert out.returncode == 0, out.stderr
    final = outcomes(out.stdout)
    assert sorted(final) == sorted(devs)
    assert len({o["certificate_id"] for o in final.values()}) == 3
    assert len({o["job_id"] for o in final.values()}) == 3
    for o in final.values():
        assert (o["status"], o["method"], o["verified"]) == ("sanitised", "host-overwrite", True)
    for img in images:
        assert junk_left(img) == 0


@pytest.mark.root
def test_sigkill_mid_overwrite_then_recover_and_restart(
    loop_device: LoopFactory, tmp_path: Path, isolated_settings: Path
) -> None:
    """A wipe process killed with SIGKILL mid-overwrite: the next start records the job
    interrupted with its progress, the journal shows every step, and a restart succeeds."""
    size = 64 * MiB
    image = junk_image(tmp_path / "big.img", size)
    dev = loop_device(image=image)
    with write_throttle(dev, 16 * MiB) as procs:  # ~4 s of overwrite: room to kill it mid-way
        proc = subprocess.Popen(
            [sys.executable, "-m", "sanitiser", "wipe", dev, "--yes", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env_for(tmp_path) | {"SANITISER_OPERATOR": "killer"},
            cwd=tmp_path,
        )
        procs.write_text(f"{proc.pid}\n")
        job_id = _kill_mid_overwrite(proc)
    assert job_id
    assert 0 < junk_left(image) < size // MiB, "the kill must land mid-overwrite"
    _recover_and_restart(tmp_path, isolated_settings, job_id, image)


def _kill_mid_overwrite(proc: subprocess.Popen[str]) -> str:
    """Read the wipe's JSON lines until the overwrite is under way, then SIGKILL it."""
    job_id = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            job_id = event.get("job_id") or job_id
            if event["event"] == "progress" and 0 < event["bytes_done"] < event["total"]:
                break
            assert event["event"] != "outcome", f"finished before it could be killed: {event}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    return job_id


def _recover_and_restart(tmp_path: Path, data: Path, job_id: str, image: Path) -> None:
    """After the kill: `jobs` shows the truth, the journal is complete, a restart succeeds."""
    listed = cli(tmp_path, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    [job] = json.loads(listed.stdout)
    assert job["job_id"] == job_id
    assert (job["state"], job["status"], job["interrupted_from"]) == (
        "interrupted",
        "interrupted",
        "sanitising",
    )
    assert job["operator"] == "killer"
    assert "crash, kill or power loss" in job["reason"]
    store = Store(f"sqlite:///{data / 'sanitiser.db'}")
    steps = [e.state for e in store.job_events(job_id) if e.kind == "transition"]
    assert steps == ["queued", "probing", "sanitising", "interrupted"]
    assert store.certificate_for_job(job_id) is None

    again = cli(tmp_path, "jobs", "restart", job_id, "--yes", "--json")
    assert again.returncode == 0, again.stderr
    [retry] = outcomes(again.stdout).values()
    assert retry["status"] == "sanitised"
    assert retry["job_id"] != job_id
    assert junk_left(image) == 0
    jobs = {j["job_id"]: j for j in json.loads(cli(tmp_path, "jobs", "--json").stdout)}
    assert jobs[job_id]["state"] == "interrupted"
    assert jobs[job_id]["retried_by"] == retry["job_id"]
    assert jobs[retry["job_id"]]["retry_of"] == job_id
    assert len(jobs) == 2
    # Neither job can be restarted now, and the CLI says why before asking anything.
    for done, why in ((retry["job_id"], "sanitised its drive (certificate "),
                      (job_id, f"already restarted as job {retry['job_id'][:8]}")):  # fmt: skip
        refused = cli(tmp_path, "jobs", "restart", done)
        assert refused.returncode == EXIT_ERROR, refused.stderr
        assert why in refused.stderr
        assert "nothing was erased" not in refused.stderr  # no confirmation was asked
    assert len(json.loads(cli(tmp_path, "jobs", "--json").stdout)) == 2


@pytest.mark.root
def test_a_loop_device_that_vanishes_fails_only_its_own_job(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """Three loop devices; one loses its medium mid-overwrite (capacity 0, as on hot-unplug):
    that job fails saying the drive disappeared, with a signed record of that failure routed to
    destruction; the other two are sanitised."""
    images = [junk_image(tmp_path / f"v{i}.img", 128 * MiB) for i in range(3)]
    devs = [loop_device(image=img) for img in images]
    victim, victim_image = devs[1], images[1]
    settings = load_settings(certs_dir=tmp_path / "certs", loop_devices=True)
    services = build_services(settings, lab=False)
    drives = [d for d in services.source.list() if d.path in devs]
    assert sorted(d.path for d in drives) == sorted(devs)
    orch = make_orchestrator(services, poll_interval=0.05)
    pulled = threading.Event()
    seen: list[JobEvent] = []

    def pull(event: JobEvent) -> None:
        seen.append(event)
        if (
            isinstance(event, JobProgress)
            and event.device == victim
            and event.bytes_done > 0
            and not pulled.is_set()
        ):
            pulled.set()
            unplug(victim, victim_image, held)

    with write_throttle(victim, 1) as procs:  # the victim's I/O held while it is unplugged
        held = procs
        orch.subscribe(pull)
        try:
            ids = orch.start(drives, operator="e2e")
            assert orch.wait(ids, timeout=600)
        finally:
            orch.close()
            Path("/sys/fs/cgroup/blkio/cgroup.procs").write_text(f"{os.getpid()}\n")
    assert pulled.is_set()
    final = {e.device: e for e in seen if isinstance(e, JobOutcome)}
    assert final[victim].status == "failed"
    assert "disappeared" in final[victim].reason
    assert final[victim].destination == "destroy"
    cert_id = final[victim].certificate_id
    assert cert_id is not None
    raw = services.store.certificate_record(cert_id)
    assert raw is not None
    record = parse_envelope(raw).record
    assert (record["outcome"]["status"], record["destination"]["route"]) == (
        "failed",
        "destruction",
    )
    assert "disappeared" in record["outcome"]["reason"]
    for dev, img in zip(devs, images, strict=True):
        if dev != victim:
            assert final[dev].status == "sanitised", final[dev].reason
            assert junk_left(img) == 0
