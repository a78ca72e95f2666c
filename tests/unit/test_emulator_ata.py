"""The ATA drive emulator: every security/sanitize/HPA/DCO transition, checked on the backing file.

Faithfulness: the probe parsers must read the emulator's `-I` text, its `--Istdout` words, and
the real `hdparm --Istdin` render of those words as the same drive.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path
from typing import Unpack

import pytest

from sanitiser.emulators import BackingFile, EmulatedRunner
from sanitiser.emulators.ata import AtaDriveEmulator
from sanitiser.probe.ata import (
    AtaCapabilities,
    AtaSanitizeState,
    AtaSanitizeStatus,
    parse_dco_identify,
    parse_hdparm_identify,
    parse_hdparm_identify_words,
    parse_hdparm_N,
    parse_sanitize_status,
)
from sanitiser.runner import CommandResult
from sanitiser.testing import FakeRunner
from tests.emulator_options import AtaOptions

DEV = "/dev/sda"
SECTORS = 4096  # 2 MiB medium
PATTERN = bytes(range(256)) * 2


@pytest.fixture
def backing(tmp_path: Path) -> Path:
    """A 2 MiB medium full of a non-zero pattern (plus room for a 64-sector DCO area)."""
    path = tmp_path / "sata.img"
    path.write_bytes(PATTERN * (SECTORS + 64))
    return path


def make(backing: Path, **kwargs: Unpack[AtaOptions]) -> tuple[AtaDriveEmulator, EmulatedRunner]:
    drive = AtaDriveEmulator(backing, "EMU0001", "Emulated SSD", SECTORS, **kwargs)
    return drive, EmulatedRunner({DEV: drive})


def hdparm(runner: EmulatedRunner, *args: str) -> CommandResult:
    return runner.run(("hdparm", *args, DEV))


def caps(runner: EmulatedRunner) -> AtaCapabilities:
    result = hdparm(runner, "--Istdout")
    return parse_hdparm_identify_words(result.stdout, result.stderr)


def is_zero(path: Path, start: int = 0, end: int = SECTORS * 512) -> bool:
    return path.read_bytes()[start:end] == bytes(end - start)


def untouched(path: Path, start: int = 0, end: int = SECTORS * 512) -> bool:
    data = path.read_bytes()
    return data[start:end] == (PATTERN * (SECTORS + 64))[start:end]


# -- faithfulness ------------------------------------------------------------------------------
STATES: dict[str, AtaOptions] = {
    "fresh": {},
    "frozen": {"frozen": True},
    "no-sanitize-no-enhanced": {"sanitize": (), "enhanced_erase": False},
    "overwrite-only": {"sanitize": ("overwrite",), "antifreeze": False},
    "long-erase": {"erase_minutes": (600, 1200)},
    "hpa": {"hpa": 100},
    "lies": {"lies": True},
}


def _render_with_real_hdparm(words_text: str) -> str:
    hdparm_bin = shutil.which("hdparm", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if hdparm_bin is None:
        pytest.skip("hdparm is not installed (scripts/install-system.sh --test installs it)")
    body = "".join(line + "\n" for line in words_text.splitlines() if len(line.split()) == 8)
    done = subprocess.run(
        [hdparm_bin, "--Istdin"], input=body, capture_output=True, text=True, check=True,
        env={"LC_ALL": "C"},
    )  # fmt: skip
    return done.stdout


@pytest.mark.parametrize("state", sorted(STATES))
def test_parsers_read_emulator_like_real_hdparm(backing: Path, state: str) -> None:
    """Emulator -I text, its --Istdout words and real hdparm's render of them parse equal."""
    drive, runner = make(backing, **STATES[state])
    if state == "fresh":
        hdparm(runner, "--user-master", "u", "--security-set-pass", "pw")  # enabled
    words_result = hdparm(runner, "--Istdout")
    from_words = parse_hdparm_identify_words(words_result.stdout)
    from_text = parse_hdparm_identify(hdparm(runner, "-I").stdout)
    from_real = parse_hdparm_identify(_render_with_real_hdparm(words_result.stdout))
    assert from_text == dataclasses.replace(from_words, source="text")
    assert from_real == from_text
    assert from_words.serial == "EMU0001"
    assert from_words.user_sectors == drive.visible_sectors


def test_security_section_text_matches_real_hdparm(backing: Path) -> None:
    """The Security section lines are byte-for-byte what hdparm prints for the same words."""
    _, runner = make(backing, frozen=True)
    real = _render_with_real_hdparm(hdparm(runner, "--Istdout").stdout)
    ours = hdparm(runner, "-I").stdout

    def section(text: str) -> str:
        return (
            text[text.index("Security: \n") :]
            .split("Logical Unit WWN", maxsplit=1)[0]
            .split("Checksum", maxsplit=1)[0]
        )

    assert section(ours) == section(real)
    assert "Checksum: correct" in real


# -- security ----------------------------------------------------------------------------------
def test_set_pass_then_erase_disables_security_and_zeros_the_medium(backing: Path) -> None:
    """disabled -> set-pass -> enabled -> erase -> disabled, and the data is gone."""
    drive, runner = make(backing, hpa=64)
    assert caps(runner).security_erase_ready
    set_pass = hdparm(runner, "--user-master", "u", "--security-set-pass", "pw")
    assert set_pass.returncode == 0
    assert set_pass.stdout == (
        'security_password: "pw"\n\n/dev/sda:\n'
        ' Issuing SECURITY_SET_PASS command, password="pw", user=user, mode=high\n'
    )
    enabled = caps(runner)
    assert enabled.security_enabled
    assert not enabled.security_locked
    erase = hdparm(runner, "--user-master", "u", "--security-erase-enhanced", "pw")
    assert erase.returncode == 0
    assert ' Issuing SECURITY_ERASE command, password="pw", user=user\n' in erase.stdout
    after = caps(runner)
    assert not after.security_enabled
    assert after.security_erase_ready
    assert is_zero(backing)  # the HPA-hidden tail too
    assert drive.erases == 1


def test_frozen_drive_refuses_set_pass_and_erase_until_power_cycle(backing: Path) -> None:
    """Frozen: rc 5 (EIO) with hdparm's perror line; a power cycle unfreezes."""
    drive, runner = make(backing, frozen=True)
    refused = hdparm(runner, "--user-master", "u", "--security-set-pass", "pw")
    assert (refused.returncode, refused.stderr) == (5, "SECURITY_SET_PASS: Input/output error\n")
    erase = hdparm(runner, "--user-master", "u", "--security-erase", "pw")
    assert (erase.returncode, erase.stderr) == (5, "ERASE_PREPARE: Input/output error\n")
    assert untouched(backing)
    drive.power_cycle()
    assert not caps(runner).security_frozen
    assert hdparm(runner, "--user-master", "u", "--security-set-pass", "pw").returncode == 0


def test_freeze_on_boot_stays_frozen(backing: Path) -> None:
    """A BIOS that freezes at every boot: power cycling does not help."""
    drive, runner = make(backing, frozen=True, freeze_on_boot=True)
    drive.power_cycle()
    assert caps(runner).security_frozen


def test_security_freeze_command_freezes(backing: Path) -> None:
    """`--security-freeze` moves an unfrozen drive to frozen."""
    _, runner = make(backing)
    assert hdparm(runner, "--security-freeze").returncode == 0
    assert caps(runner).security_frozen


def test_wrong_passwords_count_down_to_expired(backing: Path) -> None:
    """Five wrong passwords set "expired"; then even the right one fails until a power cycle."""
    drive, runner = make(backing)
    hdparm(runner, "--user-master", "u", "--security-set-pass", "right")
    for _ in range(5):
        wrong = hdparm(runner, "--user-master", "u", "--security-erase", "wrong")
        assert (wrong.returncode, wrong.stderr) == (5, "SECURITY_ERASE: Input/output error\n")
    assert caps(runner).security_count_expired
    assert hdparm(runner, "--user-master", "u", "--security-erase", "right").returncode == 5
    assert untouched(backing)
    drive.power_cycle()
    state = caps(runner)
    assert not state.security_count_expired
    assert state.security_locked
    assert hdparm(runner, "--user-master", "u", "--security-erase", "right").returncode == 0
    assert is_zero(backing)


def test_power_cycle_locks_enabled_drive_and_unlock_disable_recover(backing: Path) -> None:
    """Enabled + power cycle -> locked; unlock (wrong, then right) and disable clear it."""
    drive, runner = make(backing)
    hdparm(runner, "--user-master", "u", "--security-set-pass", "pw")
    drive.power_cycle()
    assert caps(runner).security_locked
    assert not drive.readable
    wrong = hdparm(runner, "--user-master", "u", "--security-unlock", "nope")
    assert (wrong.returncode, wrong.stderr) == (5, "SECURITY_UNLOCK: Input/output error\n")
    assert hdparm(runner, "--user-master", "u", "--security-unlock", "pw").returncode == 0
    assert not caps(runner).security_locked
    assert hdparm(runner, "--user-master", "u", "--security-disable", "pw").returncode == 0
    assert not caps(runner).security_enabled
    assert untouched(backing)


def test_interrupted_erase_leaves_drive_locked_and_erase_recovers(backing: Path) -> None:
    """Power loss mid-erase: half erased, locked; erasing again with the password finishes."""
    drive, runner = make(backing)
    hdparm(runner, "--user-master", "u", "--security-set-pass", "pw")
    drive.interrupt_next_erase = True
    failed = hdparm(runner, "--user-master", "u", "--security-erase", "pw")
    assert (failed.returncode, failed.stderr) == (5, "SECURITY_ERASE: Input/output error\n")
    state = caps(runner)
    assert state.security_locked
    assert state.security_enabled
    assert is_zero(backing, 0, SECTORS * 256)
    assert untouched(backing, SECTORS * 256)
    assert hdparm(runner, "--user-master", "u", "--security-erase", "pw").returncode == 0
    assert is_zero(backing)
    assert not caps(runner).security_locked


def test_erase_without_password_and_enhanced_unsupported_fail(backing: Path) -> None:
    """No password set -> erase aborts; enhanced erase on a drive without it aborts."""
    _, runner = make(backing, enhanced_erase=False)
    assert hdparm(runner, "--user-master", "u", "--security-erase", "pw").returncode == 5
    hdparm(runner, "--user-master", "u", "--security-set-pass", "pw")
    assert hdparm(runner, "--user-master", "u", "--security-erase-enhanced", "pw").returncode == 5
    assert untouched(backing)


def test_master_password_erases_in_high_mode(backing: Path) -> None:
    """In high security the master password can erase; hdparm says user=master."""
    _, runner = make(backing, master_password="factory")
    hdparm(runner, "--user-master", "u", "--security-set-pass", "pw")
    erase = hdparm(runner, "--user-master", "m", "--security-erase", "factory")
    assert erase.returncode == 0
    assert "user=master" in erase.stdout
    assert is_zero(backing)


def test_skips_erase_firmware_reports_success_and_keeps_data(backing: Path) -> None:
    """§9 #4: the state machine says success but the data is all still there."""
    _, runner = make(backing, skips_erase=True)
    hdparm(runner, "--user-master", "u", "--security-set-pass", "pw")
    assert hdparm(runner, "--user-master", "u", "--security-erase", "pw").returncode == 0
    assert not caps(runner).security_enabled
    assert untouched(backing)


def test_lies_mode_is_the_qemu_disk(backing: Path, reference: Path) -> None:
    """QEMU: no Security section, SG_IO noise, rc 0 for set-pass and erase, nothing erased."""
    drive, runner = make(backing, lies=True)
    ident = hdparm(runner, "-I")
    qemu_err = (reference / "qemu-7.2" / "hdparm-I-qemu-ahci.stderr").read_text()
    assert ident.stderr.split("sb[]")[0] == qemu_err.split("sb[]")[0]
    state = parse_hdparm_identify(ident.stdout, ident.stderr)
    assert not state.security_supported
    assert not state.trustworthy
    assert hdparm(runner, "--user-master", "u", "--security-set-pass", "p").returncode == 0
    erase = hdparm(runner, "--user-master", "u", "--security-erase", "p")
    assert erase.returncode == 0
    assert ' Issuing SECURITY_ERASE command, password="p", user=user\n' in erase.stdout
    assert untouched(backing)
    assert drive.erases == 0
    sanitize = hdparm(runner, "--yes-i-know-what-i-am-doing", "--sanitize-block-erase")
    assert sanitize.returncode == 22
    assert "SANITIZE feature set is not supported" in sanitize.stderr


# -- sanitize ----------------------------------------------------------------------------------
def status(runner: EmulatedRunner) -> tuple[CommandResult, AtaSanitizeStatus]:
    result = hdparm(runner, "--sanitize-status")
    return result, parse_sanitize_status(result.stdout, result.stderr, result.returncode)


@pytest.mark.parametrize(
    ("flags", "check"),
    [
        (("--sanitize-block-erase",), "zeros"),
        (("--sanitize-crypto-scramble",), "random"),
        (("--sanitize-overwrite-passes", "1", "--sanitize-overwrite", "hex:a5a5a5a5"), "a5"),
    ],
)
def test_sanitize_runs_in_background_and_completes(
    backing: Path, flags: tuple[str, ...], check: str
) -> None:
    """Start -> SD2 with rising progress per poll -> SD0 "Completed Without Error"; data gone."""
    drive, runner = make(backing, dco=64, polls_per_sanitize=3)
    start = hdparm(runner, "--yes-i-know-what-i-am-doing", *flags)
    assert start.returncode == 0
    assert start.stdout.endswith(
        "Operation started in background\nYou may use `--sanitize-status` to check progress\n"
    )
    assert untouched(backing)
    seen: list[int] = []
    for _ in range(2):
        _, st = status(runner)
        assert st.state is AtaSanitizeState.IN_PROCESS
        assert st.progress_percent is not None
        seen.append(st.progress_percent)
    assert seen[0] < seen[1] < 100
    result, final = status(runner)
    assert final.succeeded
    assert "    Last Sanitize Operation Completed Without Error\n" in result.stdout
    data = backing.read_bytes()  # the whole medium, DCO area included
    if check == "zeros":
        assert data == bytes(len(data))
    elif check == "random":
        assert data != bytes(len(data))
        assert data[:512] != PATTERN[:512]
    else:
        assert data == b"\xa5" * len(data)
    assert drive.erases == 1


def test_sanitize_needs_confirmation_flag(backing: Path) -> None:
    """Without --yes-i-know-what-i-am-doing: rc 1 (EPERM) and hdparm's warning."""
    _, runner = make(backing)
    refused = hdparm(runner, "--sanitize-block-erase")
    assert refused.returncode == 1
    assert "Please supply the --yes-i-know-what-i-am-doing flag" in refused.stderr
    assert untouched(backing)


def test_sanitize_unsupported_action_and_unsupported_feature(backing: Path) -> None:
    """An action the drive lacks aborts (rc 5, "Unsupported command"); no feature set -> 22."""
    _, runner = make(backing, sanitize=("overwrite",))
    crypto = hdparm(runner, "--yes-i-know-what-i-am-doing", "--sanitize-crypto-scramble")
    assert crypto.returncode == 5
    assert "SANITIZE device error reason: Unsupported command" in crypto.stderr
    _, none = make(backing, sanitize=())
    missing = hdparm(none, "--sanitize-status")
    assert (missing.returncode, missing.stderr) == (22, "SANITIZE feature set is not supported\n")


def test_sanitize_failure_is_sd3_until_a_new_sanitize_succeeds(backing: Path) -> None:
    """fail_next_sanitize: status fails with the SD3 lines; a new sanitize recovers."""
    drive, runner = make(backing, polls_per_sanitize=1)
    drive.fail_next_sanitize = True
    hdparm(runner, "--yes-i-know-what-i-am-doing", "--sanitize-block-erase")
    result, st = status(runner)
    assert result.returncode == 5
    assert "Drive in SD3 Sanitize Operation Failed state" in result.stderr
    assert st.state is AtaSanitizeState.FAILED
    assert not drive.readable
    assert not is_zero(backing)
    assert hdparm(runner, "--yes-i-know-what-i-am-doing", "--sanitize-block-erase").returncode == 0
    _, again = status(runner)
    assert again.succeeded
    assert is_zero(backing)


def test_sanitize_in_progress_rejects_another_and_survives_power_cycle(backing: Path) -> None:
    """A second start is refused; the operation continues after a power cycle and on tick()."""
    drive, runner = make(backing, polls_per_sanitize=100, sanitize_seconds=10.0)
    hdparm(runner, "--yes-i-know-what-i-am-doing", "--sanitize-crypto-scramble")
    again = hdparm(runner, "--yes-i-know-what-i-am-doing", "--sanitize-block-erase")
    assert again.returncode == 5
    drive.power_cycle()
    _, st = status(runner)
    assert st.state is AtaSanitizeState.IN_PROCESS
    drive.tick(10.0)
    _, done = status(runner)
    assert done.succeeded


def test_sanitize_frozen_and_antifreeze(backing: Path) -> None:
    """SD1: operations refused as FROZEN; antifreeze then blocks a later freeze-lock."""
    drive, runner = make(backing, sanitize_frozen=True)
    result, st = status(runner)
    assert st.state is AtaSanitizeState.FROZEN
    refused = hdparm(runner, "--yes-i-know-what-i-am-doing", "--sanitize-block-erase")
    assert "Device in FROZEN state" in refused.stderr
    drive.power_cycle()
    assert hdparm(runner, "--sanitize-antifreeze-lock").returncode == 0
    blocked = hdparm(runner, "--sanitize-freeze-lock")
    assert "Antifreeze lock enabled" in blocked.stderr
    result, st = status(runner)
    assert "    Antifreeze bit set\n" in result.stdout


# -- HPA / DCO ---------------------------------------------------------------------------------
def test_hpa_hides_the_tail_and_can_be_removed(backing: Path) -> None:
    """-N shows visible/native; setting it back to native (no shrink) needs no confirmation."""
    drive, runner = make(backing, hpa=96)
    info = parse_hdparm_N(hdparm(runner, "-N").stdout)
    assert (info.visible_sectors, info.native_sectors, info.hpa_enabled) == (4000, 4096, True)
    assert drive.visible_size_bytes == 4000 * 512
    assert caps(runner).user_sectors == 4000
    restored = hdparm(runner, f"-Np{SECTORS}")
    assert restored.returncode == 0
    assert " setting max visible sectors to 4096 (permanent)\n" in restored.stdout
    assert not parse_hdparm_N(restored.stdout).hpa_enabled


def test_hpa_shrink_needs_confirmation_and_temporary_is_lost_on_power_cycle(backing: Path) -> None:
    """Shrinking without the flag is rc 1; a temporary limit vanishes at power-up."""
    drive, runner = make(backing)
    refused = runner.run(("hdparm", "-N", "3000", DEV))
    assert refused.returncode == 1
    assert "Use of -Nnnnnn is VERY DANGEROUS." in refused.stderr
    ok = runner.run(("hdparm", "--yes-i-know-what-i-am-doing", "-N", "3000", DEV))
    assert ok.returncode == 0
    assert parse_hdparm_N(hdparm(runner, "-N").stdout).hidden_sectors == 1096
    drive.power_cycle()
    assert parse_hdparm_N(hdparm(runner, "-N").stdout).hidden_sectors == 0


def test_dco_identify_and_restore(backing: Path) -> None:
    """DCO hides 64 sectors; --dco-restore (confirmed) gives them back, refused under HPA."""
    drive, runner = make(backing, dco=64, hpa=10)
    dco = parse_dco_identify(hdparm(runner, "--dco-identify").stdout)
    assert dco.real_max_sectors == SECTORS + 64
    assert dco.checksum_ok
    assert dco.hidden_sectors(SECTORS) == 64
    assert hdparm(runner, "--dco-restore").returncode == 1
    refused = hdparm(runner, "--yes-i-know-what-i-am-doing", "--dco-restore")
    assert refused.returncode == 5  # a permanent HPA is set
    hdparm(runner, f"-Np{SECTORS}")
    assert hdparm(runner, "--yes-i-know-what-i-am-doing", "--dco-restore").returncode == 0
    info = parse_hdparm_N(hdparm(runner, "-N").stdout)
    assert info.native_sectors == info.visible_sectors == SECTORS + 64
    assert drive.dco_hidden == 0


# -- routing -----------------------------------------------------------------------------------
def test_runner_routes_by_device_and_falls_back(backing: Path) -> None:
    """Other devices go to the fallback; unknown hdparm flags too; without one it is 127."""
    drive = AtaDriveEmulator(backing, sectors=SECTORS)
    fallback = FakeRunner().reply(("hdparm", "-z"), stdout="re-read\n")
    runner = EmulatedRunner({DEV: drive}, fallback=fallback)
    assert runner.run(("hdparm", "-z", DEV)).stdout == "re-read\n"
    assert runner.run(("hdparm", "-I", "/dev/sdz")).returncode == 127
    lines: list[str] = []
    runner.run(("hdparm", "-N", DEV), on_line=lines.append)
    assert lines[-1].startswith(" max sectors")
    assert EmulatedRunner({DEV: drive}).run(("smartctl", "-i", DEV)).returncode == 127
    assert runner.calls[0] == ("hdparm", "-z", DEV)


def test_backing_file_too_small_is_rejected(tmp_path: Path) -> None:
    """Sectors + DCO must fit in the backing file."""
    small = tmp_path / "small.img"
    small.write_bytes(bytes(512 * 10))
    with pytest.raises(ValueError, match="too small"):
        AtaDriveEmulator(small, sectors=10, dco=5)


def test_overwrite_pattern_is_tiled_from_offset_zero(tmp_path: Path) -> None:
    """BackingFile.fill tiles a pattern by absolute offset, across chunk boundaries."""
    path = tmp_path / "m.img"
    path.write_bytes(bytes(3 * BackingFile.CHUNK + 7))
    BackingFile(path).fill(3, 3 * BackingFile.CHUNK + 5, b"abcd")
    data = path.read_bytes()
    expected = (b"abcd" * (len(data) // 4 + 2))[3 : 3 * BackingFile.CHUNK + 5]
    assert data[3 : 3 * BackingFile.CHUNK + 5] == expected
    assert data[:3] == bytes(3)
    assert data[-2:] == bytes(2)


def test_a_backing_file_swapped_mid_job_is_never_written(tmp_path: Path) -> None:
    """The emulator writes regular files only: a backing file replaced by a link (to a device
    or to any other file) or by anything not a regular file is refused, and left as it was."""
    path = tmp_path / "SIM-HDD-0001.img"
    path.write_bytes(bytes(4096))
    medium = BackingFile(path)
    victim = tmp_path / "victim.img"
    victim.write_bytes(b"\xaa" * 4096)
    path.unlink()
    path.symlink_to(victim)
    with pytest.raises(OSError, match="symbolic link"):
        medium.fill(0, 4096)
    with pytest.raises(OSError, match="symbolic link"):
        medium.read(0, 512)
    assert victim.read_bytes() == b"\xaa" * 4096
    path.unlink()
    path.symlink_to("/dev/zero")
    with pytest.raises(OSError, match="symbolic link"):
        medium.fill(0, 4096)
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(OSError, match="not a regular file"):
        medium.fill(0, 4096)


def test_lies_drive_advertises_no_hpa_or_dco(backing: Path) -> None:
    """Like QEMU, the lying drive has no HPA/DCO feature sets to probe."""
    _, runner = make(backing, lies=True)
    state = caps(runner)
    assert not state.hpa_supported
    assert not state.dco_supported
