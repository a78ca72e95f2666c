"""What is behind a drive's path (`DriveBackend`): the kernel's block devices over a fake sysfs
tree, the lab bench's files over real files, and the attacks a lab drive must never get past.

The gate (`claim`) runs the same steps for both backends; these tests pin down what each one
answers, and that `LabFiles` gives the file treatment to regular files in its own directory
only: a simulated drive naming a device, a link to one, or any file elsewhere is refused before
anything is opened for writing.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from sanitiser.app.services import build_services
from sanitiser.config import Settings
from sanitiser.devices.guard import (
    BLOCK_DEVICES,
    BlockDevices,
    DriveBackend,
    LabFiles,
    Swap,
    SystemState,
    claim,
)
from sanitiser.domain import Drive, Transport
from sanitiser.errors import DriveBusyError, DriveDetectionError
from sanitiser.testing import FakeDriveSource, FakeRunner
from tests.openers import opened_by_another_process

MiB = 1 << 20
CONTENT = b"\xaa" * MiB
NVME = Drive(
    path="/dev/nvme3n2",
    name="nvme3n2",
    model="m",
    serial="s",
    size_bytes=1,
    transport=Transport.NVME,
)
"""An NVMe namespace of subsystem 3 (its controller is nvme1 in the `sysfs` fixture)."""


def lab_drive(path: Path | str, *, serial: str = "SIM-HDD-0001", size: int = MiB) -> Drive:
    """A simulated drive as the lab bench describes one (serial = file stem)."""
    return Drive(
        path=str(path),
        name="lab-sata-hdd0",
        model="SIMULATED SATA HDD",
        serial=serial,
        size_bytes=size,
        transport=Transport.SATA,
        simulated=True,
    )


def quiet() -> SystemState:
    """A machine where nothing is in use."""
    return SystemState()


def refused(
    drive: Drive, backend: DriveBackend, state: SystemState | None = None
) -> tuple[str, ...]:
    """The reasons `claim` refuses `drive` through `backend` (fails the test if it claims)."""
    snapshot = state if state is not None else quiet()
    with pytest.raises(DriveBusyError) as refusal:
        claim(drive, drive, backend, state_reader=lambda: snapshot).close()
    return refusal.value.reasons


@pytest.fixture
def lab(tmp_path: Path) -> LabFiles:
    """The lab's files: a lab directory in tmp_path with one 1 MiB drive in it."""
    directory = tmp_path / "lab"
    directory.mkdir()
    (directory / "SIM-HDD-0001.img").write_bytes(CONTENT)
    return LabFiles(directory)


class TestLabFiles:
    """The lab implementation, on real backing files."""

    def test_identity_is_the_file(self, lab: LabFiles) -> None:
        """Serial from the file name, size from the file, no device number."""
        drive = lab_drive(lab.directory / "SIM-HDD-0001.img")
        identity = lab.read_identity(drive)
        assert (identity.name, identity.devnum, identity.serial, identity.wwn) == (
            "lab-sata-hdd0",
            "",
            "SIM-HDD-0001",
            "",
        )
        assert identity.size_bytes == MiB

    def test_claim_holds_the_file_and_watches_it(self, lab: LabFiles) -> None:
        """The claim is made through the lab's files, locks the file, and sees other writers."""
        drive = lab_drive(lab.directory / "SIM-HDD-0001.img")
        with claim(drive, drive, lab, state_reader=quiet) as held:
            assert held.backend is lab
            os.pwrite(held.fd, b"\0" * 512, 0)
            assert held.other_writers() == ()
            with opened_by_another_process(drive.path, "r+b") as child:
                [writer] = held.other_writers()
                assert writer.pid == child.pid
        assert Path(drive.path).read_bytes()[:513] == b"\0" * 512 + b"\xaa"

    def test_what_the_methods_ask(self, lab: LabFiles) -> None:
        """The emulator answers on the file itself; nothing to rescan; the file is the medium."""
        drive = lab_drive(lab.directory / "SIM-HDD-0001.img")
        assert lab.nvme_controller(drive) == drive.path
        assert lab.rescan(drive) is False
        assert lab.native_bytes(2048) is None

    def test_gone_when_the_file_is(self, lab: LabFiles) -> None:
        """A lab drive is gone when its file is."""
        drive = lab_drive(lab.directory / "SIM-HDD-0001.img")
        assert lab.gone(drive) == ""
        Path(drive.path).unlink()
        assert lab.gone(drive) == (
            f"the drive disappeared ({drive.path} no longer exists: removed or failed)"
        )

    def test_assess_keeps_to_the_directory(self, lab: LabFiles) -> None:
        """A path outside the lab directory (or out of it through ``..``) is refused."""
        for path in ("/srv/other/SIM-HDD-0001.img", f"{lab.directory}/../SIM-HDD-0001.img"):
            assert lab.assess(lab_drive(path), quiet()).reasons == (
                f"a simulated drive must be a file in the lab directory {lab.directory}, "
                f"but {path} is not",
            )
        inside = lab_drive(lab.directory / "SIM-HDD-0001.img")
        assert not lab.assess(inside, quiet()).protected

    def test_swap_in_the_directory_is_still_refused(self, lab: LabFiles) -> None:
        """The directory rule adds to the file rules, it does not replace them."""
        drive = lab_drive(lab.directory / "SIM-HDD-0001.img")
        swapping = SystemState(swaps=(Swap(path=drive.path, kind="file"),))
        assert refused(drive, lab, swapping) == (f"used as swap ({drive.path})",)


class TestBlockDevices:
    """The real implementation: sysfs read from a fake tree, files that are not devices."""

    @pytest.fixture
    def sysfs(self, tmp_path: Path) -> Path:
        """A fake ``/sys`` with an NVMe namespace whose controller is nvme1 (subsystem 3)."""
        sys = tmp_path / "sys"
        controller = sys / "devices" / "pci0000:00" / "nvme" / "nvme1"
        controller.mkdir(parents=True)
        (controller / "rescan").write_text("")
        namespace = sys / "block" / "nvme3n2"
        namespace.mkdir(parents=True)
        (namespace / "device").symlink_to(controller)
        return sys

    def test_nvme_controller_from_sysfs(self, sysfs: Path) -> None:
        """The controller is the one sysfs links the namespace to, not the name's number."""
        backend = BlockDevices(sys_root=sysfs)
        assert backend.nvme_controller(NVME) == "/dev/nvme1"
        other = replace(NVME, path="/dev/nvme4n1", name="nvme4n1")  # not in sysfs
        assert backend.nvme_controller(other) == "/dev/nvme4"

    def test_rescan_asks_sysfs(self, sysfs: Path) -> None:
        """A rescan writes 1 to the device's rescan node; none is made up where there is none."""
        backend = BlockDevices(sys_root=sysfs)
        assert backend.rescan(NVME) is True
        assert (sysfs / "devices" / "pci0000:00" / "nvme" / "nvme1" / "rescan").read_text() == "1\n"
        assert backend.rescan(replace(NVME, name="sdz")) is False
        assert backend.rescan(replace(NVME, name="")) is False

    def test_native_size_is_the_native_maximum(self) -> None:
        """After HPA/DCO removal the kernel must see every native sector."""
        assert BLOCK_DEVICES.native_bytes(2048) == 2048 * 512

    def test_gone_reads_sysfs_for_device_nodes(self, tmp_path: Path) -> None:
        """A node that is gone, has no capacity, or is not in sysfs; a file path only by its
        existence."""
        sys = tmp_path / "sys"
        backend = BlockDevices(sys_root=sys)
        node = replace(NVME, path="/dev/null", name="null")
        assert backend.gone(node) == "the drive disappeared (/dev/null is no longer in sysfs)"
        size = sys / "class" / "block" / "null" / "size"
        size.parent.mkdir(parents=True)
        size.write_text("0\n")
        assert backend.gone(node) == "the drive disappeared (/dev/null now has no capacity)"
        size.write_text("2048\n")
        assert backend.gone(node) == ""
        missing = replace(node, path="/dev/sanitiser-no-such-node")
        assert "no longer exists" in backend.gone(missing)
        assert backend.gone(replace(node, path=str(size))) == ""

    def test_a_file_is_not_a_block_device(self, lab: LabFiles) -> None:
        """The kernel's backend gives a lab file no file treatment: it is refused."""
        drive = lab_drive(lab.directory / "SIM-HDD-0001.img")
        with pytest.raises(DriveDetectionError, match="is not a block device"):
            BLOCK_DEVICES.read_identity(drive)
        assert refused(drive, BLOCK_DEVICES) == (
            f"its identity cannot be read ({drive.path} is not a block device)",
        )
        assert Path(drive.path).read_bytes() == CONTENT


class TestAttacks:
    """A lab drive can never be used to reach a real disk, nor any file outside the lab."""

    def test_a_device_path_is_refused(self, lab: LabFiles) -> None:
        """A simulated drive whose path is a real disk's node gets no file treatment."""
        for path in ("/dev/sda", "/dev/null", "/dev/loop0"):
            drive = lab_drive(path, serial=Path(path).name)
            reasons = refused(drive, lab)
            assert reasons == (
                f"its identity cannot be read ({path} is not in the lab directory {lab.directory})",
            )
            assert lab.assess(drive, quiet()).reasons == (
                f"a simulated drive must be a file, but {path} is a device node",
            )

    def test_a_link_to_a_device_in_the_lab_directory_is_refused(self, lab: LabFiles) -> None:
        """A lab file replaced by a symlink to a device node is not followed."""
        link = lab.directory / "SIM-ZERO-0001.img"
        link.symlink_to("/dev/zero")
        drive = lab_drive(link, serial="SIM-ZERO-0001", size=0)
        assert refused(drive, lab) == (
            f"its identity cannot be read (lab file {link} is not a regular file)",
        )

    @pytest.mark.root
    def test_a_device_node_in_the_lab_directory_is_refused(self, lab: LabFiles) -> None:
        """A device node planted under a lab file's name (same numbers as /dev/zero) is
        refused: only a regular file is a lab drive."""
        node = lab.directory / "SIM-ZERO-0001.img"
        os.mknod(node, 0o600 | 0o020000, os.stat("/dev/zero").st_rdev)  # S_IFCHR
        drive = lab_drive(node, serial="SIM-ZERO-0001", size=0)
        assert refused(drive, lab) == (
            f"its identity cannot be read (lab file {node} is not a regular file)",
        )

    def test_a_file_elsewhere_is_refused(self, lab: LabFiles, tmp_path: Path) -> None:
        """A regular file outside the lab directory, named and sized as a lab drive (or reached
        through ``..``), is refused and left as it was."""
        victim = tmp_path / "SIM-HDD-0009.img"
        victim.write_bytes(CONTENT)
        for path in (str(victim), f"{lab.directory}/../SIM-HDD-0009.img"):
            drive = lab_drive(path, serial="SIM-HDD-0009")
            assert refused(drive, lab) == (
                f"its identity cannot be read ({path} is not in the lab directory {lab.directory})",
            )
        assert victim.read_bytes() == CONTENT

    def test_a_hard_link_to_a_file_elsewhere_is_refused(
        self, lab: LabFiles, tmp_path: Path
    ) -> None:
        """A lab file that is another name of a file elsewhere would write that file: refused."""
        victim = tmp_path / "precious.db"
        victim.write_bytes(CONTENT)
        os.link(victim, lab.directory / "SIM-HDD-0009.img")
        drive = lab_drive(lab.directory / "SIM-HDD-0009.img", serial="SIM-HDD-0009")
        assert refused(drive, lab) == (
            "the lab file has other names (2 hard links): writing it would change another file",
        )
        assert victim.read_bytes() == CONTENT

    def test_the_wiring_never_gives_a_real_drive_the_lab_files(self, tmp_path: Path) -> None:
        """Services choose the lab's files only for simulated drives while the lab is on;
        a simulated drive naming a device is then refused by the lab's files."""
        real = Drive(
            path="/dev/sdq",
            name="sdq",
            model="Disk",
            serial="S1",
            size_bytes=MiB,
            transport=Transport.SATA,
        )
        forged = lab_drive("/dev/sdq", serial="sdq")
        with_lab = build_services(
            Settings(data_dir=tmp_path / "on", lab_drive_mib=1),
            lab=True,
            runner=FakeRunner(),
            real=FakeDriveSource([real]),
        )
        assert with_lab.lab is not None
        assert with_lab.backend_for(real) is BLOCK_DEVICES
        backend = with_lab.backend_for(forged)
        assert backend == LabFiles(with_lab.lab.directory)
        assert refused(forged, backend)[0].startswith("its identity cannot be read")
        assert with_lab.status_of(forged, quiet()).protection.reasons == (
            "a simulated drive must be a file, but /dev/sdq is a device node",
        )
        for drive in with_lab.lab.list():
            assert with_lab.backend_for(drive) == LabFiles(with_lab.lab.directory)
            assert not with_lab.status_of(drive, quiet()).protection.protected
        without_lab = build_services(
            Settings(data_dir=tmp_path / "off"),
            lab=False,
            runner=FakeRunner(),
            real=FakeDriveSource([real]),
        )
        assert without_lab.backend_for(forged) is BLOCK_DEVICES
