"""eMMC methods on the eMMC emulator over lab-style files, claimed through the real guard.

The emulator answers mmc-utils as its source and the real captures show (sanitiser/emulators/
mmc.py); the probe parses its ``mmc extcsd read``; the methods erase the backing file and the
canaries and the erased content are read back through the claim.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sanitiser.devices.probing import probe
from sanitiser.domain import Drive, MediaKind, NistCategory, Outcome, OutcomeStatus, Transport
from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.mmc import ENOTSUP_EXIT, MmcDriveEmulator
from sanitiser.methods.mmc import JOURNAL_MMC, MmcSanitize, MmcSecureErase, MmcSecureTrim
from sanitiser.methods.registry import all_methods, method_for
from sanitiser.probe.capabilities import Technique
from sanitiser.probe.mmc import parse_extcsd
from tests.unit.method_rig import (
    MIB,
    calls_with,
    claimed,
    context,
    lab_file,
    simulated,
    surviving_sectors,
)

SERIAL = "SIM-EMMC-0001"
SIZE = 8 * MIB
REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "mmc"


def rig(
    tmp_path: Path, **options: int | bool
) -> tuple[Path, MmcDriveEmulator, EmulatedRunner, Drive]:
    """A lab file, its eMMC emulator (device = the file), a runner and the simulated drive."""
    path = lab_file(tmp_path, SERIAL, SIZE)
    emu = MmcDriveEmulator(path, device=str(path), **options)  # type: ignore[arg-type]
    return path, emu, EmulatedRunner({str(path): emu}), simulated(path, Transport.MMC)


def no_sysfs(_: Drive) -> None:
    """A lab file has no sysfs card directory."""
    return


def run(
    method: MmcSanitize | MmcSecureErase | MmcSecureTrim,
    drive: Drive,
    runner: EmulatedRunner,
    journal: dict[str, object] | None = None,
) -> tuple[Outcome, list[str]]:
    """Probe `drive` through `runner` and run `method` on it under a real claim."""
    logs: list[str] = []
    caps = probe(drive, runner, mmc_sysfs=no_sysfs)
    with claimed(drive) as held:
        ctx = context(drive, held, runner, caps, logs=logs, journal=journal)
        return method.run(ctx), logs


def test_emulator_extcsd_lines_are_the_real_captures_lines(tmp_path: Path) -> None:
    """Every line the emulator prints, set to the Samsung capture's values, is in that capture."""
    real = (REAL / "samsung-emmc51-8gb-extcsd.txt").read_text()
    sectors = parse_extcsd(real).sec_count
    backing = tmp_path / "sparse.img"
    with backing.open("wb") as f:
        f.truncate(sectors * 512)  # sparse: the size is all the emulator reads here
    emu = MmcDriveEmulator(backing, device="/dev/mmcblk0", features=0x55, rpmb_size_mult=0x04)
    emu_text = emu.extcsd_text()
    real_lines = set(real.splitlines())
    missing = [line for line in emu_text.splitlines() if line and line not in real_lines]
    assert missing == []
    assert parse_extcsd(emu_text) == parse_extcsd(real)


@pytest.mark.parametrize(
    ("method", "erases"),
    [
        (MmcSanitize(), ["legacy"]),
        (MmcSecureErase(), ["secure-erase"]),
        (MmcSecureTrim(), ["secure-trim1", "secure-trim2"]),
    ],
)
def test_method_erases_and_verifies(
    tmp_path: Path, method: MmcSanitize | MmcSecureErase | MmcSecureTrim, erases: list[str]
) -> None:
    """Each method erases the whole user area, and is sanitised and verified as Clear."""
    path, emu, runner, drive = rig(tmp_path)
    outcome, _ = run(method, drive, runner)
    assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
    assert outcome.verified
    assert outcome.nist_category is NistCategory.CLEAR
    assert emu.erases == erases
    assert surviving_sectors(path, SERIAL) == 0
    assert path.read_bytes() == bytes(SIZE)
    details = dict(outcome.details)
    assert "boot partitions" in details["not_covered"]
    assert "RPMB" in details["not_covered"]
    assert details["canaries_surviving"] == "0"


def test_sanitize_erases_first_and_removes_unmapped_data(tmp_path: Path) -> None:
    """Sanitize runs after an erase of every group (alone it would leave mapped data), with a
    long timeout, and leaves no unmapped residue."""
    _, emu, runner, drive = rig(tmp_path)
    outcome, _ = run(MmcSanitize(), drive, runner)
    assert outcome.status is OutcomeStatus.SANITISED
    order = [c[1] for c in runner.calls if c[0] == "mmc" and c[1] in ("erase", "sanitize")]
    assert order == ["erase", "sanitize"]
    (sanitize,) = calls_with(runner.calls, "sanitize")
    assert int(sanitize[3]) > 240_000
    assert emu.sanitizes == 1
    assert emu.residue == set()


def test_sanitize_on_an_mmc_utils_without_timeout_argument(tmp_path: Path) -> None:
    """Debian 12's mmc-utils refuses the timeout with its usage line (seen on the real tool):
    the method sends it again without one, and the sanitize runs under the kernel's 240 s."""
    path, emu, runner, drive = rig(tmp_path, timeout_arg=False)
    outcome, logs = run(MmcSanitize(), drive, runner)
    assert outcome.status is OutcomeStatus.SANITISED, outcome.reason
    sanitizes = calls_with(runner.calls, "sanitize")
    assert [len(c) for c in sanitizes] == [4, 3]
    assert emu.sanitizes == 1
    assert any("240 s" in line for line in logs)
    assert surviving_sectors(path, SERIAL) == 0


def test_slow_sanitize_without_timeout_argument_fails(tmp_path: Path) -> None:
    """On that mmc-utils a part slower than 240 s is aborted by HPI: FAILED, with the reason."""
    _, emu, runner, drive = rig(tmp_path, timeout_arg=False, sanitize_ms=600_000)
    outcome, _ = run(MmcSanitize(), drive, runner)
    assert outcome.status is OutcomeStatus.FAILED
    assert "Connection timed out" in " ".join(c.stderr_tail for c in outcome.commands)
    assert emu.residue != set()


def test_sanitize_unsupported_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    """A part without SEC_SANITIZE: refused with the reason, nothing written, no command sent."""
    path, _emu, runner, drive = rig(tmp_path, features=0x15)
    outcome, _ = run(MmcSanitize(), drive, runner)
    assert outcome.status is OutcomeStatus.REFUSED
    assert "SEC_SANITIZE" in outcome.reason
    assert "0x15" in outcome.reason
    assert calls_with(runner.calls, "erase") == []
    assert surviving_sectors(path, SERIAL) == SIZE // 512


def test_unsupported_sanitize_answers_with_the_real_error(tmp_path: Path) -> None:
    """Sent anyway (a part that lies in EXT_CSD), the emulator answers as the kernel and
    mmc-utils do, and the method records the failure with that text."""
    _path, emu, runner, drive = rig(tmp_path)
    caps = probe(drive, runner, mmc_sysfs=no_sysfs)
    emu.features = 0x15  # the part refuses the SWITCH although EXT_CSD said 0x55
    with claimed(drive) as held:
        outcome = MmcSanitize().run(context(drive, held, runner, caps))
    assert outcome.status is OutcomeStatus.FAILED
    assert "the sanitize failed (exit 1" in outcome.reason
    assert "Could not write 0x01 to EXT_CSD[165]" in outcome.reason
    (record,) = [c for c in outcome.commands if c.argv[1] == "sanitize"]
    assert "ioctl: Bad message" in record.stderr_tail


def test_secure_erase_refused_by_mmc_utils_exit_code(tmp_path: Path) -> None:
    """mmc-utils itself refuses secure-erase without SECURE_ER_EN: exit 161, its message."""
    _, emu, runner, _ = rig(tmp_path, features=0x40)
    res = runner.run(["mmc", "erase", "secure-erase", "0", "15", str(emu.device)])
    assert res.returncode == ENOTSUP_EXIT
    assert res.stderr == f"Secure Erase is not supported in {emu.device}\n"
    assert emu.erases == []


def test_sanitize_timeout_too_short_is_aborted(tmp_path: Path) -> None:
    """With the kernel's 240 s default a slow part's sanitize is aborted by HPI (ETIMEDOUT)."""
    _, emu, runner, _ = rig(tmp_path, sanitize_ms=600_000)
    runner.run(["mmc", "erase", "legacy", "0", "16383", emu.device])
    res = runner.run(["mmc", "sanitize", emu.device])
    assert res.returncode == 1
    assert "Connection timed out" in res.stderr
    assert emu.residue != set()


def test_failure_mid_way_is_recorded_failed(tmp_path: Path) -> None:
    """An erase that fails half-way (EIO) ends FAILED, with the error, and the rest not erased."""
    path, emu, runner, drive = rig(tmp_path)
    emu.fail_next_erase = True
    journal: dict[str, object] = {}
    outcome, _ = run(MmcSecureErase(), drive, runner, journal)
    assert outcome.status is OutcomeStatus.FAILED
    assert not outcome.verified
    assert "Input/output error" in outcome.reason
    assert JOURNAL_MMC not in journal
    survivors = surviving_sectors(path, SERIAL)
    assert 0 < survivors < SIZE // 512


def test_lying_part_is_caught_by_the_canaries(tmp_path: Path) -> None:
    """A part that reports success and erases nothing: the canaries survive, FAILED."""
    path, _, runner, drive = rig(tmp_path, lies=True)
    outcome, _ = run(MmcSecureTrim(), drive, runner)
    assert outcome.status is OutcomeStatus.FAILED
    assert not outcome.verified
    assert int(dict(outcome.details)["canaries_surviving"]) > 0
    assert surviving_sectors(path, SERIAL) > 0


def test_size_mismatch_is_refused(tmp_path: Path) -> None:
    """EXT_CSD's SEC_COUNT must match the device: otherwise it is not this user area."""
    _, _, runner, drive = rig(tmp_path)
    caps = probe(drive, runner, mmc_sysfs=no_sysfs)
    why = MmcSecureErase().unavailable(replace(drive, size_bytes=SIZE * 2), caps)
    assert why is not None
    assert "SEC_COUNT" in why


def test_probe_reads_the_emulated_part(tmp_path: Path) -> None:
    """The probe runs ``mmc extcsd read`` and offers the three eMMC techniques, best first."""
    _, _, runner, drive = rig(tmp_path)
    caps = probe(drive, runner, mmc_sysfs=no_sysfs)
    assert caps.mmc is not None
    assert caps.usable == (
        Technique.MMC_SANITIZE, Technique.MMC_SECURE_ERASE, Technique.MMC_SECURE_TRIM,
        Technique.HOST_OVERWRITE,
    )  # fmt: skip


def test_probe_stops_at_an_sd_card(tmp_path: Path) -> None:
    """An SD card (sysfs type SD) gets no mmc command and host overwrite only."""
    _, _, runner, drive = rig(tmp_path)
    sd = {
        "type": "SD", "name": "SD32G", "manfid": "0x000003", "oemid": "0x5344",
        "serial": "0x12345678", "cid": "035344534433324780123456780114d1",
    }  # fmt: skip
    caps = probe(drive, runner, mmc_sysfs=lambda _: sd)
    assert caps.mmc is None
    assert calls_with(runner.calls, "extcsd") == []
    assert caps.usable == (Technique.HOST_OVERWRITE,)


def test_registry_lists_the_emmc_methods() -> None:
    """The registry knows the three eMMC techniques, each Clear on an eMMC drive."""
    drive = Drive(
        path="/dev/mmcblk0", name="mmcblk0", model="BJTD4R", serial="0x2a5b3c4d",
        size_bytes=SIZE, transport=Transport.MMC, rotational=False, removable=False,
    )  # fmt: skip
    assert drive.media_kind is MediaKind.MMC
    for tech in (Technique.MMC_SANITIZE, Technique.MMC_SECURE_ERASE, Technique.MMC_SECURE_TRIM):
        method = method_for(tech)
        assert method in all_methods()
        assert method.category_for(drive) is NistCategory.CLEAR
