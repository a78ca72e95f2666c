"""The agent's own boot medium on real block devices: a loop device with a partition mounted
stands for the stick the agent booted from (its credentials on it), another loop device for the
computer's internal drive. `disks_holding` finds the stick under the credentials' filesystem;
the agent's survey protects it (and only it) and the guard refuses to claim it.

Every device touched here is a loop device the `loop_device` fixture attached.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.agent.device import OWN_MEDIUM_REASON, DeviceSeams, OwnMedium, survey
from sanitiser.devices.guard import BLOCK_DEVICES, claim, disks_holding, read_system_state
from sanitiser.domain import UNKNOWN_HEALTH, Drive
from sanitiser.errors import DriveBusyError, SanitiserError
from sanitiser.inventory.model import HostInventory
from sanitiser.probe.capabilities import Capabilities
from sanitiser.runner import CommandRunner
from sanitiser.testing import FakeRunner
from tests.e2e.test_guard_real import LoopFactory, _wait_for, loop_drive, run

pytestmark = pytest.mark.root


def no_inventory() -> HostInventory:
    raise AssertionError("the survey does not read the inventory")


def test_the_stick_holding_the_credentials_is_the_agents_own_medium(
    loop_device: LoopFactory, tmp_path: Path
) -> None:
    """The stick's partition is mounted with the credentials on it: the whole stick is held
    (named with the path), the internal drive is not; the survey says so and claim refuses."""
    stick = loop_device(partscan=True)
    run("addpart", stick, "1", "2048", str((64 << 20) // 512 - 2048))
    part = Path(f"{stick}p1")
    _wait_for(part)
    run("mkfs.ext4", "-q", "-F", str(part))
    internal = loop_device()
    mountpoint = tmp_path / "stick"
    mountpoint.mkdir()
    run("mount", str(part), str(mountpoint))
    try:
        creds = mountpoint / "creds"
        creds.mkdir()
        paths = (str(creds),)
        state = read_system_state()
        held = disks_holding(paths, state)
        assert held[Path(stick).name] == paths
        assert Path(internal).name not in held  # (the disk under the stick's image may be)
        seams = DeviceSeams(
            runner=FakeRunner(),
            list_drives=lambda: [loop_drive(stick), loop_drive(internal)],
            inventory=no_inventory,
            own_medium=paths,
            health_of=lambda _d, _r: UNKNOWN_HEALTH,
            probe=_no_probe,
        )
        found = {e["drive"]["path"]: e["protected"] for e in survey(seams)}
        assert any(OWN_MEDIUM_REASON in reason for reason in found[stick])
        assert not any(OWN_MEDIUM_REASON in reason for reason in found[internal])
        own = OwnMedium(BLOCK_DEVICES, paths)
        with pytest.raises(DriveBusyError) as refused:
            claim(loop_drive(stick), loop_drive(stick), own).close()
        assert any(OWN_MEDIUM_REASON in r for r in refused.value.reasons)
    finally:
        run("umount", str(mountpoint))


def _no_probe(drive: Drive, _runner: CommandRunner) -> Capabilities:
    raise SanitiserError(f"{drive.path}: not probed in this test")


def test_credentials_in_ram_are_held_by_no_disk(tmp_path: Path) -> None:
    """An agent whose files are on tmpfs (the initramfs copied to memory): no disk holds them,
    so no drive is protected as its own medium."""
    ram = tmp_path / "ram"
    ram.mkdir()
    run("mount", "-t", "tmpfs", "tmpfs", str(ram))
    try:
        (ram / "creds").mkdir()
        assert disks_holding((str(ram / "creds"),), read_system_state()) == {}
    finally:
        run("umount", str(ram))
