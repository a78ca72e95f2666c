"""The overwrite engine and verification on real loop devices; every byte checked from outside.

The engine writes through the loop device; the test then reads the *backing file* directly
(never through the engine) and compares it with zeros or with an AES-CTR stream regenerated
here with plain `cryptography`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sanitiser.blockio import (
    CanarySet,
    DeviceTarget,
    IOConfig,
    Pattern,
    ProgressEvent,
    VerifyMode,
    check_canaries,
    overwrite,
    plan_samples,
    run_scheme,
    scheme,
    verify_full,
    verify_sampled,
    write_canaries,
)
from sanitiser.blockio.patterns import pass_seed
from sanitiser.domain import ByteRange, OutcomeStatus

MiB = 1 << 20
SIZE = 64 * MiB
CHUNK = 4 * MiB


@dataclass(frozen=True)
class Loop:
    """A loop device this test attached, its backing file, and an exclusive fd (the 'claim')."""

    dev: str
    image: Path
    fd: int

    @property
    def target(self) -> DeviceTarget:
        """The engine's view of it."""
        return DeviceTarget.from_fd(self.fd, self.dev)


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[Loop]:
    """A 64 MiB loop device over a file full of non-zero junk, held O_EXCL; detached after."""
    image = tmp_path / "disk.img"
    junk = bytes(range(1, 256)) * (MiB // 255 + 1)
    with image.open("wb") as f:
        for _ in range(SIZE // MiB):
            f.write(junk[:MiB])
    dev = subprocess.run(
        ["losetup", "-f", "--show", "--direct-io=on", str(image)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    fd = os.open(dev, os.O_RDWR | os.O_EXCL | os.O_CLOEXEC)
    try:
        yield Loop(dev, image, fd)
    finally:
        os.close(fd)
        subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)


def image_chunks(image: Path) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of the backing file, read directly (outside the engine)."""
    with image.open("rb") as f:
        off = 0
        while chunk := f.read(CHUNK):
            yield off, chunk
            off += len(chunk)


def assert_image_is(image: Path, expected: Callable[[int, int], bytes]) -> None:
    """Every byte of the backing file equals `expected(offset, length)`."""
    total = 0
    for off, chunk in image_chunks(image):
        assert chunk == expected(off, len(chunk)), f"wrong content in [{off}, {off + len(chunk)})"
        total += len(chunk)
    assert total == SIZE


def independent_stream(seed: bytes) -> Callable[[int, int], bytes]:
    """AES-256-CTR keystream from counter 0, consumed in order (as assert_image_is reads)."""
    enc = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    return lambda _off, n: enc.update(bytes(n))


@pytest.mark.root
def test_zeros_then_full_verification(loop: Loop) -> None:
    """A zeros pass covers every byte, is flushed, and full verification passes."""
    report = run_scheme(loop.target, scheme("zeros"), verify=VerifyMode.FULL)
    assert report.status is OutcomeStatus.SANITISED, report.reason
    assert report.verified
    assert report.overwrite.flushed
    assert report.overwrite.direct_io
    assert report.overwrite.bytes_written == SIZE
    v = report.verification
    assert v is not None
    assert (v.mode, v.bytes_checked, v.coverage_ppm, v.expected) == ("full", SIZE, 10**6, "zeros")
    assert_image_is(loop.image, lambda _o, n: bytes(n))


@pytest.mark.root
def test_random_then_sampled_verification(loop: Loop) -> None:
    """The random pass is the AES-CTR stream of the pass seed; sampled verification passes."""
    seed = bytes(range(32))
    report = run_scheme(loop.target, scheme("random"), seed=seed, verify=VerifyMode.SAMPLED)
    assert report.status is OutcomeStatus.SANITISED, report.reason
    v = report.verification
    assert v is not None
    assert v.mode == "sampled"
    assert v.samples == 2000
    assert 100_000 <= v.coverage_ppm <= 200_000  # 10 % asked; 4 KiB minimum samples round up
    details = dict(report.details)
    assert details["sample_subsections"] == "1000"
    assert details["seed_id"] == report.seed_id
    assert seed.hex() not in repr(report) + str(report.details)
    assert_image_is(loop.image, independent_stream(pass_seed(seed, 0)))


@pytest.mark.root
def test_multi_pass_scheme_reports_progress_per_pass(loop: Loop) -> None:
    """Three passes then verify: progress events per phase, a few a second, never per block."""
    events: list[ProgressEvent] = []
    cfg = IOConfig(block_size=1 * MiB, progress_interval=0.05)
    report = run_scheme(
        loop.target, scheme("hmg-is5-enhanced"), config=cfg, on_progress=events.append
    )
    assert report.status is OutcomeStatus.SANITISED, report.reason
    assert report.overwrite.passes_completed == 3
    phases = list(dict.fromkeys(e.phase for e in events))
    assert [p.split()[:2] for p in phases] == [
        ["pass", "1/3"], ["pass", "2/3"], ["pass", "3/3"], ["verify", "full"]
    ]  # fmt: skip
    for phase in phases:
        mine = [e for e in events if e.phase == phase]
        assert [e.bytes_done for e in mine] == sorted(e.bytes_done for e in mine)
        assert mine[-1].bytes_done == mine[-1].total == SIZE
        assert len(mine) < SIZE // MiB  # fewer events than blocks
    assert events[-1].eta_s is not None
    last = report.overwrite.passes[-1]
    assert last.startswith("aes-256-ctr")
    assert_image_is(loop.image, independent_stream(pass_seed(report.seed, 2)))


@pytest.mark.root
def test_verification_finds_exactly_the_bytes_that_differ(loop: Loop) -> None:
    """Bytes changed after the overwrite show up as mismatched ranges, at 4 KiB resolution."""
    target = loop.target
    assert overwrite(target, [Pattern.zeros()]).ok
    with loop.image.open("r+b") as f:  # tamper from outside: one byte, and the last block
        f.seek(5 * MiB + 4097)
        f.write(b"\x01")
        f.seek(SIZE - 4096)
        f.write(b"\xff" * 4096)
    full = verify_full(target, Pattern.zeros())
    assert not full.verification.passed
    assert full.verification.mismatched == (
        ByteRange(5 * MiB + 4096, 4096),
        ByteRange(SIZE - 4096, 4096),
    )
    sampled = verify_sampled(target, Pattern.zeros(), plan_samples(SIZE, seed=1))
    assert not sampled.verification.passed  # the last block is always sampled
    assert ByteRange(SIZE - 4096, 4096) in sampled.verification.mismatched
    assert "not zeros" in full.reason


@pytest.mark.root
def test_canaries_all_survive_a_purge_that_did_nothing(loop: Loop) -> None:
    """A 'purge' that leaves the medium untouched is caught: every canary survives."""
    canaries = write_canaries(loop.target, count=200)
    assert len(canaries.offsets) == 200
    assert canaries.offsets[0] == 0
    assert canaries.offsets[-1] == SIZE - 4096
    result = check_canaries(loop.target, canaries)
    v = result.verification
    assert not v.passed
    assert (v.mode, v.canaries_written, v.canaries_surviving) == ("canary", 200, 200)
    assert "200 of 200 canaries survived" in result.reason


@pytest.mark.root
def test_canaries_catch_a_partial_purge(loop: Loop) -> None:
    """A fake purge that skips one region is caught exactly there (and the set is journalable)."""
    canaries = CanarySet.from_json(write_canaries(loop.target, count=100).to_json())
    skipped = canaries.offsets[37]
    with loop.image.open("r+b") as f:  # the fake purge, from outside: zeros except one block
        for off in range(0, SIZE, MiB):
            f.seek(off)
            f.write(bytes(MiB))
        f.seek(skipped)
        f.write(canaries.content(skipped))
        f.flush()
        os.fsync(f.fileno())
    v = check_canaries(loop.target, canaries).verification
    assert v.canaries_surviving == 1
    assert v.mismatched == (ByteRange(skipped, 4096),)


@pytest.mark.root
def test_canaries_none_survive_a_crypto_erase_like_purge(loop: Loop) -> None:
    """After the medium turns to noise (as after crypto erase) no canary survives: pass."""
    canaries = write_canaries(loop.target, count=300)
    assert overwrite(loop.target, [Pattern.random(os.urandom(32))]).ok
    result = check_canaries(loop.target, canaries)
    assert result.verification.passed, result.reason
    assert result.verification.canaries_surviving == 0
    assert result.verification.samples == 300


@pytest.mark.root
def test_cancel_aborts_cleanly(loop: Loop) -> None:
    """A cancel stops the workers; the report is ABORTED and nothing is claimed as verified."""
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    cfg = IOConfig(block_size=1 * MiB, workers=1)
    report = run_scheme(loop.target, scheme("zeros"), config=cfg, cancel=cancel)
    assert report.status is OutcomeStatus.ABORTED
    assert report.verification is None
    assert not report.verified
    assert report.overwrite.bytes_written == 3 * MiB
    assert "cancelled" in report.reason


def test_lab_file_on_tmpfs_with_an_odd_tail(tmp_path: Path) -> None:
    """A simulated drive file on tmpfs (O_DIRECT or not, by kernel) is covered to its last byte."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm tmpfs on this machine")
    path = shm / f"sanitiser-test-{os.getpid()}-{tmp_path.name}.img"
    path.write_bytes(b"\x77" * (8 * MiB + 512))
    fd = os.open(path, os.O_RDWR)
    try:
        target = DeviceTarget.from_fd(fd, str(path))
        report = run_scheme(target, scheme("ones"))
        assert report.status is OutcomeStatus.SANITISED, report.reason
        assert path.read_bytes() == b"\xff" * (8 * MiB + 512)
    finally:
        os.close(fd)
        path.unlink()
