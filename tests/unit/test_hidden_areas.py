"""HPA/DCO detection and removal on the ATA emulator (DEVICE-COMMANDS §1.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Unpack

from sanitiser.domain import OutcomeStatus, Transport
from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.ata import AtaDriveEmulator
from sanitiser.methods.hidden_areas import HiddenAreas, describe_found, remove_hidden_areas
from sanitiser.methods.overwrite import HostOverwrite
from sanitiser.methods.session import Session
from sanitiser.probe.ata import DcoInfo, HpaInfo
from sanitiser.testing import FakeRunner
from tests.emulator_options import AtaOptions
from tests.unit.method_rig import MIB, calls_with, claimed, context, lab_file, simulated

SERIAL = "SIM-HDD-0001"
NATIVE = 8 * MIB // 512


def remove(
    tmp_path: Path, *, extra: int = 0, **kwargs: Unpack[AtaOptions]
) -> tuple[HiddenAreas, AtaDriveEmulator, EmulatedRunner]:
    """Probe a SATA drive with the given hidden areas and run the removal."""
    path = lab_file(tmp_path, SERIAL, 8 * MIB + extra * 512)
    emu = AtaDriveEmulator(path, SERIAL, device=str(path), **kwargs)
    runner = EmulatedRunner({str(path): emu})
    drive = simulated(path, Transport.SATA, rotational=True)
    with claimed(drive) as held:
        ctx = context(drive, held, runner)
        return remove_hidden_areas(Session(ctx, "test"), str(path)), emu, runner


def test_nothing_hidden_changes_nothing(tmp_path: Path) -> None:
    """No HPA and no DCO: no set-max or restore command is sent."""
    found, _, runner = remove(tmp_path)
    assert found.ok
    assert found.text == f"no HPA or DCO: visible = native and DCO real max = {NATIVE} sectors"
    assert found.clause is True
    assert not [c for c in runner.calls if "--yes-i-know-what-i-am-doing" in c]


def test_hpa_removed_permanently(tmp_path: Path) -> None:
    """HPA: -N p<native> with the confirmation flag, then re-read."""
    found, emu, runner = remove(tmp_path, hpa=100)
    assert found.ok
    assert ("hdparm", "--yes-i-know-what-i-am-doing", "-N", f"p{NATIVE}", emu.device) in (
        runner.calls
    )
    assert found.native_sectors == NATIVE
    assert emu.visible_sectors == NATIVE
    assert "HPA hid 100 sectors" in found.text
    assert found.clause is True


def test_hpa_and_dco_removed(tmp_path: Path) -> None:
    """HPA first (a -Np limit blocks the DCO restore), then DCO; native grows to real max."""
    found, emu, runner = remove(tmp_path, extra=32, hpa=16, dco=32)
    assert found.ok, found.reason
    set_max = runner.calls.index(calls_with(runner.calls, "-N")[1])
    restore = runner.calls.index(calls_with(runner.calls, "--dco-restore")[0])
    assert set_max < restore
    assert emu.native_sectors == emu.visible_sectors == NATIVE + 32
    assert found.native_sectors == NATIVE + 32
    assert "DCO hid 32 sectors" in found.text


def test_frozen_dco_blocks_the_method(tmp_path: Path) -> None:
    """A DCO that cannot be restored: not ok, with the reason and what was found."""
    path = lab_file(tmp_path, SERIAL, 8 * MIB + 32 * 512)
    emu = AtaDriveEmulator(path, SERIAL, device=str(path), dco=32)
    emu.dco_frozen = True
    runner = EmulatedRunner({str(path): emu})
    drive = simulated(path, Transport.SATA, rotational=True)
    with claimed(drive) as held:
        found = remove_hidden_areas(Session(context(drive, held, runner), "t"), str(path))
    assert not found.ok
    assert "DCO could not be restored" in found.reason
    assert emu.dco_hidden == 32


def test_refused_method_records_what_was_found(tmp_path: Path) -> None:
    """The Outcome of a refused method carries the HPA/DCO text."""
    path = lab_file(tmp_path, SERIAL, 8 * MIB + 32 * 512)
    emu = AtaDriveEmulator(path, SERIAL, device=str(path), dco=32)
    emu.dco_frozen = True
    runner = EmulatedRunner({str(path): emu})
    drive = simulated(path, Transport.SATA, rotational=True)
    with claimed(drive) as held:
        outcome = HostOverwrite().run(context(drive, held, runner))
    assert outcome.status is OutcomeStatus.REFUSED
    assert "DCO hid 32 sectors" in outcome.hpa_dco


def test_no_ata_access(tmp_path: Path) -> None:
    """A USB HDD without pass-through: not checked, said so; a stick: not applicable."""
    path = lab_file(tmp_path, SERIAL, MIB)
    usb_hdd = simulated(path, Transport.USB, rotational=True)
    stick = simulated(path, Transport.USB, removable=True)
    with claimed(usb_hdd) as held:
        hdd = remove_hidden_areas(Session(context(usb_hdd, held, FakeRunner()), "t"), str(path))
    with claimed(stick) as held:
        flash = remove_hidden_areas(Session(context(stick, held, FakeRunner()), "t"), str(path))
    assert hdd.ok
    assert hdd.text == "HPA/DCO not checked: the drive gives no ATA access"
    assert flash.ok
    assert flash.text == ""


def test_describe_found() -> None:
    """The one-sentence summary of what the probe found (pure)."""
    hpa = HpaInfo(visible_sectors=900, native_sectors=1000, hpa_enabled=True)
    dco = DcoInfo(real_max_sectors=1200, checksum_ok=True, revision=2)
    assert describe_found(hpa, dco) == (
        "HPA hid 100 sectors (visible 900 of native 1000); DCO hid 200 sectors (real max 1200)"
    )
    assert describe_found(None, None) == "HPA state unknown (hdparm -N gave no answer)"
    clean = HpaInfo(visible_sectors=1000, native_sectors=1000, hpa_enabled=False)
    assert describe_found(clean, None) == "no HPA or DCO: visible = native = 1000 sectors"
