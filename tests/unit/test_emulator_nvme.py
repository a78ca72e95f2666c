"""The NVMe emulator: nvme-cli 2.3 formats, format/sanitize transitions, data on the medium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Unpack

import pytest

from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.nvme import NvmeDriveEmulator, nvme_json
from sanitiser.probe.nvme import (
    SanitizeLog,
    SanitizeStatus,
    parse_id_ctrl,
    parse_id_ns,
    parse_nvme_list,
    parse_nvme_status,
    parse_sanitize_log,
)
from sanitiser.runner import CommandResult
from tests.emulator_options import NvmeOptions

CTRL, NS = "/dev/nvme0", "/dev/nvme0n1"
SIZE = 1 << 20
PATTERN = bytes(range(256))


@pytest.fixture
def backing(tmp_path: Path) -> Path:
    """A 1 MiB namespace full of a non-zero pattern."""
    path = tmp_path / "nvme.img"
    path.write_bytes(PATTERN * (SIZE // 256))
    return path


def make(backing: Path, **kwargs: Unpack[NvmeOptions]) -> tuple[NvmeDriveEmulator, EmulatedRunner]:
    drive = NvmeDriveEmulator(backing, "NVME0001", "QEMU NVMe Ctrl", **kwargs)
    return drive, EmulatedRunner({CTRL: drive, NS: drive})


def nvme(runner: EmulatedRunner, *args: str) -> CommandResult:
    return runner.run(("nvme", *args))


def log(runner: EmulatedRunner) -> SanitizeLog:
    return parse_sanitize_log(nvme(runner, "sanitize-log", CTRL, "-o", "json").stdout)


def untouched(path: Path) -> bool:
    return path.read_bytes() == PATTERN * (SIZE // 256)


def test_json_is_byte_identical_to_real_qemu_output(backing: Path, reference: Path) -> None:
    """With QEMU's values the emulator prints exactly what nvme-cli 2.3 printed."""
    _, runner = make(backing, oacs=266, sanicap=0, fna=0, firmware="7.2.22")
    real_ctrl = json.loads((reference / "qemu-7.2" / "nvme-id-ctrl.json").read_text())
    ours = json.loads(nvme(runner, "id-ctrl", NS, "-o", "json").stdout)
    real_ctrl["nn"] = 1  # one namespace here; QEMU reports its maximum of 256
    assert ours == real_ctrl
    real_ns = json.loads((reference / "qemu-7.2" / "nvme-id-ns.json").read_text())
    ns = json.loads(nvme(runner, "id-ns", NS, "-o", "json").stdout)
    assert list(ns) == list(real_ns)
    assert nvme_json(real_ns) == (reference / "qemu-7.2" / "nvme-id-ns.json").read_text()


def test_parsers_read_emulator_output(backing: Path) -> None:
    """id-ctrl / id-ns / list parse into the configured capabilities and size."""
    drive, runner = make(backing, sanicap=0x80000003, fna=0x5)
    caps = parse_id_ctrl(nvme(runner, "id-ctrl", CTRL, "-o", "json").stdout)
    assert caps.serial == "NVME0001"
    assert caps.sanicap == 0x80000003  # printed negative, masked back
    assert caps.sanitize_crypto
    assert caps.sanitize_block
    assert not caps.sanitize_overwrite
    assert caps.format_applies_to_all
    assert caps.format_crypto_erase
    raw = json.loads(nvme(runner, "id-ctrl", CTRL, "-o", "json").stdout)
    assert raw["sanicap"] < 0
    ns = parse_id_ns(nvme(runner, "id-ns", NS, "-o", "json").stdout)
    assert ns.size_bytes == SIZE
    assert nvme(runner, "list", "-o", "json").returncode == 127  # no device argument to route by
    listed = drive.handle(("nvme", "list", "-o", "json"))
    assert listed is not None
    (entry,) = parse_nvme_list(listed.stdout)
    assert entry.device_path == NS
    assert entry.physical_size == SIZE
    assert log(runner).status is SanitizeStatus.NEVER


def test_format_ses1_zeros_and_ses2_needs_fna(backing: Path) -> None:
    """ses=2 without fna bit 2 is Invalid Field (rc 1, untouched); ses=1 zeros everything."""
    drive, runner = make(backing, fna=0)
    crypto = nvme(runner, "format", NS, "--namespace-id=1", "--ses=2", "--lbaf=0", "--force")
    assert crypto.returncode == 1
    status = parse_nvme_status(crypto.stderr)
    assert status is not None
    assert status.code == 0x4002
    assert untouched(backing)
    ok = nvme(runner, "format", NS, "--namespace-id=1", "--ses=1", "--lbaf=0", "--force")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "Success formatting namespace:1\n", "")
    assert backing.read_bytes() == bytes(SIZE)
    assert drive.erases == 1


def test_format_crypto_with_fna_all_namespaces(backing: Path) -> None:
    """fna bit 0 forces NSID 0xffffffff; ses=2 rewrites with random bytes."""
    _, runner = make(backing, fna=0x5)
    ok = nvme(runner, "format", NS, "-n", "1", "--ses=2", "--force")
    assert ok.stdout == "Success formatting namespace:ffffffff\n"
    data = backing.read_bytes()
    assert data != bytes(SIZE)
    assert not untouched(backing)


def test_format_without_force_warns_and_lbaf_changes_block_size(backing: Path) -> None:
    """No --force: the 10 s warning on stderr; --lbaf=4 switches to 4096-byte blocks."""
    _, runner = make(backing)
    ok = nvme(runner, "format", NS, "--ses=0", "--lbaf=4")
    assert "WARNING: Format may irrevocably delete this device's data." in ok.stderr
    assert parse_id_ns(nvme(runner, "id-ns", NS, "-o", "json").stdout).block_size == 4096


def test_format_unsupported_by_oacs(backing: Path) -> None:
    """oacs bit 1 clear: Invalid Command Opcode."""
    _, runner = make(backing, oacs=0)
    refused = nvme(runner, "format", NS, "--ses=1", "--force")
    assert refused.returncode == 1
    assert "Invalid Command Opcode" in refused.stderr


@pytest.mark.parametrize(
    ("sanact", "extra", "expected"),
    [("2", (), "zeros"), ("4", (), "random"), ("3", ("--owpass=1", "--ovrpat=0x5a5a5a5a"), "5a")],
)
def test_sanitize_progress_and_completion(
    backing: Path, sanact: str, extra: tuple[str, ...], expected: str
) -> None:
    """Sanitize starts silently (rc 0), sprog rises per log read, ends status 1, data gone."""
    drive, runner = make(backing, polls_per_sanitize=3)
    started = nvme(runner, "sanitize", CTRL, f"--sanact={sanact}", *extra)
    assert (started.returncode, started.stdout) == (0, "")
    first, second = log(runner), log(runner)
    assert first.in_progress
    assert second.in_progress
    assert first.sprog < second.sprog < 65535
    assert not drive.readable
    done = log(runner)
    assert done.succeeded
    assert done.global_erased
    data = backing.read_bytes()
    if expected == "zeros":
        assert data == bytes(SIZE)
    elif expected == "random":
        assert not untouched(backing)
        assert data != bytes(SIZE)
    else:
        assert data == b"\x5a" * SIZE


def test_sanitize_in_progress_rejects_commands_and_survives_power_cycle(backing: Path) -> None:
    """While running: format, a second sanitize and id-ns fail "Sanitize In Progress"."""
    drive, runner = make(backing, polls_per_sanitize=50, sanitize_seconds=5.0)
    nvme(runner, "sanitize", CTRL, "-a", "start-crypto-erase")
    for args in (
        ("format", NS, "--ses=1", "--force"),
        ("sanitize", CTRL, "--sanact=2"),
        ("id-ns", NS, "-o", "json"),
    ):
        busy = nvme(runner, *args)
        assert busy.returncode == 1
        status = parse_nvme_status(busy.stderr)
        assert status is not None
        assert status.name == "Sanitize In Progress"
    drive.power_cycle()
    assert log(runner).in_progress
    drive.tick(5.0)
    assert log(runner).succeeded


def test_sanitize_stall_until_power_cycle(backing: Path) -> None:
    """Intel-660p-like stall: sprog stops moving until a power cycle."""
    drive, runner = make(backing, polls_per_sanitize=4)
    nvme(runner, "sanitize", CTRL, "--sanact=2")
    sprog = log(runner).sprog
    drive.stall = True
    assert log(runner).sprog == sprog
    assert log(runner).sprog == sprog
    drive.power_cycle()
    log(runner)
    log(runner)
    assert log(runner).succeeded


def test_sanitize_failure_state_and_exit_failure_mode(backing: Path) -> None:
    """Failed (status 3): format refused; sanact=1 refused without ause, works with it."""
    drive, runner = make(backing, polls_per_sanitize=1)
    drive.fail_next_sanitize = True
    nvme(runner, "sanitize", CTRL, "--sanact=2")
    failed = log(runner)
    assert failed.failed
    assert not drive.readable
    refused = nvme(runner, "format", NS, "--ses=1", "--force")
    assert "Sanitize Failed" in refused.stderr
    assert "Sanitize Failed" in nvme(runner, "sanitize", CTRL, "--sanact=1").stderr
    drive.fail_next_sanitize = True
    nvme(runner, "sanitize", CTRL, "--sanact=2", "--ause")
    assert log(runner).failed
    assert nvme(runner, "sanitize", CTRL, "--sanact=1").returncode == 0
    assert drive.readable


def test_sanitize_respects_sanicap_and_argument_rules(backing: Path) -> None:
    """Unsupported action: Invalid Field; no sanitize at all: Invalid Command Opcode; bad args."""
    _, runner = make(backing, sanicap=0x2)
    assert "Invalid Field" in nvme(runner, "sanitize", CTRL, "--sanact=4").stderr
    assert nvme(runner, "sanitize", CTRL, "--sanact=0").stderr == "Invalid Sanitize Action\n"
    assert nvme(runner, "sanitize", CTRL, "--sanact=2", "--owpass=2").returncode == 1
    _, none = make(backing, sanicap=0)
    assert "Invalid Command Opcode" in nvme(none, "sanitize", CTRL, "--sanact=2").stderr
    assert "Invalid Field" in nvme(none, "sanitize-log", CTRL, "-o", "json").stderr
    assert untouched(backing)


def test_no_dealloc_completes_with_status_4(backing: Path) -> None:
    """--no-dealloc finishes as status 4, which still counts as success."""
    _, runner = make(backing, polls_per_sanitize=1)
    nvme(runner, "sanitize", CTRL, "--sanact=2", "--no-dealloc")
    done = log(runner)
    assert done.status is SanitizeStatus.COMPLETED_NO_DEALLOC
    assert done.succeeded


def test_lies_mode_claims_success_and_erases_nothing(backing: Path) -> None:
    """QEMU ignores SES: format --ses=2 rc 0 without fna; sanitize "completes"; data intact."""
    drive, runner = make(backing, fna=0, lies=True)
    assert nvme(runner, "format", NS, "--ses=2", "--force").returncode == 0
    assert nvme(runner, "sanitize", CTRL, "--sanact=2").returncode == 0
    assert log(runner).succeeded
    assert untouched(backing)
    assert drive.erases == 0
