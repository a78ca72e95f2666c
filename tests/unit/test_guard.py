"""The guard over a fake /sys, /proc and /dev tree: every refusal reason, and the claim gate."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from sanitiser.devices.guard import (
    BOOT_MEDIUM_REASON,
    READ_ONLY_REASON,
    BlockDevice,
    Claim,
    DriveIdentity,
    LabFiles,
    Mount,
    Swap,
    SystemState,
    assess,
    assess_all,
    claim,
    disks_holding,
    disks_under,
    identity_mismatches,
    parse_boot_hints,
    parse_mountinfo,
    parse_swaps,
    read_system_state,
    stack_below,
)
from sanitiser.domain import Drive, Transport
from sanitiser.errors import DriveBusyError, DriveDetectionError


@dataclass
class FakeMachine:
    """A fake sysfs/procfs/devfs laid out as the kernel lays them out (symlinks and all)."""

    root: Path
    mountinfo: list[str] = field(default_factory=list)
    swaps: list[str] = field(default_factory=list)
    cmdline: str = "quiet"

    @property
    def sys(self) -> Path:
        return self.root / "sys"

    @property
    def proc(self) -> Path:
        return self.root / "proc"

    @property
    def dev(self) -> Path:
        return self.root / "dev"

    def _node(self, path: Path, name: str, devnum: str, *, ro: bool = False) -> None:
        path.mkdir(parents=True)
        (path / "dev").write_text(devnum + "\n")
        (path / "ro").write_text("1\n" if ro else "0\n")
        (path / "holders").mkdir()
        (path / "slaves").mkdir()
        link = self.sys / "class" / "block" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(path, link.parent))
        (self.dev / name).parent.mkdir(parents=True, exist_ok=True)
        (self.dev / name).touch()

    def _dir(self, name: str) -> Path:
        return Path(os.path.realpath(self.sys / "class" / "block" / name))

    def disk(
        self,
        name: str,
        devnum: str,
        *,
        ro: bool = False,
        bus: str = "pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block",
    ) -> None:
        """A whole disk under /sys/devices/..., with /sys/class/block and /dev entries."""
        self._node(self.sys / "devices" / bus / name, name, devnum, ro=ro)

    def partition(self, disk: str, name: str, devnum: str) -> None:
        """A partition: a child directory of its disk with a `partition` file."""
        path = self._dir(disk) / name
        self._node(path, name, devnum)
        (path / "partition").write_text(name[-1] + "\n")

    def virtual(self, name: str, devnum: str, *, on: tuple[str, ...], dm_name: str = "") -> None:
        """A stacked dm/md device built on `on` (slaves/ here, holders/ there)."""
        path = self.sys / "devices" / "virtual" / "block" / name
        self._node(path, name, devnum)
        if dm_name:
            (path / "dm").mkdir()
            (path / "dm" / "name").write_text(dm_name + "\n")
            (self.dev / "mapper").mkdir(exist_ok=True)
            (self.dev / "mapper" / dm_name).symlink_to(f"../{name}")
        for lower in on:
            lower_dir = self._dir(lower)
            (path / "slaves" / lower).symlink_to(os.path.relpath(lower_dir, path / "slaves"))
            (lower_dir / "holders" / name).symlink_to(os.path.relpath(path, lower_dir / "holders"))

    def loop(self, name: str, devnum: str, backing_file: str) -> None:
        """A loop device with its backing file."""
        path = self.sys / "devices" / "virtual" / "block" / name
        self._node(path, name, devnum)
        (path / "loop").mkdir()
        (path / "loop" / "backing_file").write_text(backing_file + "\n")

    def by(self, kind: str, value: str, name: str) -> None:
        """A /dev/disk/by-<kind>/<value> link to /dev/<name>."""
        folder = self.dev / "disk" / f"by-{kind}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / value).symlink_to(f"../../{name}")

    def mount(self, devnum: str, mountpoint: str, source: str, fstype: str = "ext4") -> None:
        """One mountinfo line (with an optional `shared:` field, as systemd systems have)."""
        n = len(self.mountinfo) + 20
        self.mountinfo.append(
            f"{n} 1 {devnum} / {mountpoint} rw,relatime shared:{n} - {fstype} {source} rw"
        )

    def swap(self, path: str, kind: str = "partition") -> None:
        """One /proc/swaps line."""
        self.swaps.append(f"{path}\t\t\t\t{kind}\t\t1048572\t\t0\t\t-2")

    def state(self) -> SystemState:
        """Write /proc and read the snapshot through the real reader."""
        (self.proc / "self").mkdir(parents=True, exist_ok=True)
        (self.proc / "self" / "mountinfo").write_text("\n".join(self.mountinfo) + "\n")
        header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
        (self.proc / "swaps").write_text(header + "\n".join(self.swaps) + "\n")
        (self.proc / "cmdline").write_text(self.cmdline + "\n")
        return read_system_state(sys_root=self.sys, proc_root=self.proc, dev_root=self.dev)


def drive(
    name: str,
    *,
    path: str | None = None,
    serial: str | None = None,
    size_bytes: int = 1 << 30,
    wwn: str = "",
    devnum: str = "",
    read_only: bool = False,
    simulated: bool = False,
) -> Drive:
    """A real-looking SATA drive called `name`."""
    return Drive(
        path=f"/dev/{name}" if path is None else path,
        name=name,
        model="Disk",
        serial=f"SN-{name}" if serial is None else serial,
        size_bytes=size_bytes,
        transport=Transport.SATA,
        wwn=wwn,
        devnum=devnum,
        read_only=read_only,
        simulated=simulated,
    )


@pytest.fixture
def machine(tmp_path: Path) -> FakeMachine:
    """A workstation: sda system disk, sdb under LVM, sdc in md0, sdd swap, sde ro, sdf clean."""
    m = FakeMachine(tmp_path / "root")
    m.disk("sda", "8:0")
    m.partition("sda", "sda1", "8:1")
    m.partition("sda", "sda2", "8:2")
    m.mount("8:2", "/", "/dev/sda2")
    m.mount("8:1", "/boot/efi", "/dev/sda1", "vfat")
    m.disk("sdb", "8:16")
    m.partition("sdb", "sdb1", "8:17")
    m.virtual("dm-0", "253:0", on=("sdb1",), dm_name="vg-data")
    m.disk("sdc", "8:32")
    m.virtual("md0", "9:0", on=("sdc",))
    m.disk("sdd", "8:48")
    m.partition("sdd", "sdd2", "8:50")
    m.swap("/dev/sdd2")
    m.disk("sde", "8:64", ro=True)
    m.disk("sdf", "8:80")
    m.partition("sdf", "sdf1", "8:81")
    m.mount("0:22", "/proc", "proc", "proc")
    m.mount("0:23", "/run", "tmpfs", "tmpfs")
    return m


class TestParsing:
    """The pure parsers read the kernel's formats, escapes and all."""

    def test_mountinfo_fields_escapes_and_optional_fields(self) -> None:
        """Mount point escapes are undone; the source is found after the optional fields."""
        text = (
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
            "42 27 7:0 / /mnt/my\\040disk rw shared:4 master:1 - ext4 /dev/loop0 rw\n"
            "garbage line\n"
        )
        assert parse_mountinfo(text) == (
            Mount(mountpoint="/", source="/dev/vda", devnum="254:0", fstype="ext4"),
            Mount(mountpoint="/mnt/my disk", source="/dev/loop0", devnum="7:0", fstype="ext4"),
        )

    def test_swaps_skip_header_and_keep_kind(self) -> None:
        """Each /proc/swaps row becomes a Swap with its type."""
        text = (
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
            "/dev/sdc2                               partition\t65532\t\t0\t\t-2\n"
            "/swap\\040file                           file\t\t1024\t\t0\t\t-3\n"
        )
        assert parse_swaps(text) == (
            Swap(path="/dev/sdc2", kind="partition"),
            Swap(path="/swap file", kind="file"),
        )

    @pytest.mark.parametrize(
        ("cmdline", "expected"),
        [
            ("BOOT_IMAGE=/vmlinuz root=UUID=abcd-1234 ro quiet", ("UUID=abcd-1234",)),
            ("root=/dev/sda2 rw", ("/dev/sda2",)),
            ("root=live:CDLABEL=Bench\\x20Live rd.live.image", ("LABEL=Bench\\x20Live",)),
            ("boot=live live-media=/dev/sr0 components", ("/dev/sr0",)),
            ("archisodevice=UUID=2024-01-01-00-00-00-00", ("UUID=2024-01-01-00-00-00-00",)),
            ("root=/dev/nfs nfsroot=10.0.0.1:/srv", ("/dev/nfs",)),
            ("root=ZFS=rpool/ROOT quiet", ()),
            ("rdinit=/init -- root=/dev/sda1", ()),
        ],
    )
    def test_boot_hints(self, cmdline: str, expected: tuple[str, ...]) -> None:
        """Root and live-medium device specs are picked out of the kernel command line."""
        assert parse_boot_hints(cmdline) == expected


class TestReadSystemState:
    """The reader builds the block graph and finds the system disks from a fake tree."""

    def test_block_graph(self, machine: FakeMachine) -> None:
        """Partitions know their disk, disks their partitions, stacks their holders and slaves."""
        state = machine.state()
        assert state.blocks["sda"].partitions == ("sda1", "sda2")
        assert state.blocks["sda2"].parent == "sda"
        assert state.blocks["sdb1"].holders == ("dm-0",)
        assert state.blocks["dm-0"] == BlockDevice(
            name="dm-0", devnum="253:0", slaves=("sdb1",), dm_name="vg-data"
        )
        assert state.blocks["sde"].read_only
        assert disks_under("dm-0", state.blocks) == {"sdb"}
        assert disks_under("md0", state.blocks) == {"sdc"}

    def test_mounts_resolve_to_kernel_names(self, machine: FakeMachine) -> None:
        """Mounts map to block devices by MAJ:MIN; virtual filesystems map to none."""
        devices = {m.mountpoint: m.device for m in machine.state().mounts}
        assert devices == {"/": "sda2", "/boot/efi": "sda1", "/proc": "", "/run": ""}

    def test_system_disk_reasons(self, machine: FakeMachine) -> None:
        """The disk holding / and /boot/efi is the only system disk, with both reasons."""
        assert machine.state().system_disks == {
            "sda": ("holds the root filesystem /", "holds the EFI system partition /boot/efi")
        }

    def test_root_on_lvm_follows_slaves(self, tmp_path: Path) -> None:
        """/ on an LVM volume (dm-1 over nvme0n1p3) protects the NVMe disk underneath."""
        m = FakeMachine(tmp_path)
        m.disk("nvme0n1", "259:0", bus="pci0000:00/0000:00:1d.0/nvme/nvme0")
        m.partition("nvme0n1", "nvme0n1p2", "259:2")
        m.partition("nvme0n1", "nvme0n1p3", "259:3")
        m.virtual("dm-1", "253:1", on=("nvme0n1p3",), dm_name="vg-root")
        m.mount("253:1", "/", "/dev/mapper/vg-root")
        m.mount("259:2", "/boot", "/dev/nvme0n1p2")
        assert m.state().system_disks == {
            "nvme0n1": ("holds the root filesystem /", "holds the boot filesystem /boot")
        }

    def test_btrfs_root_resolved_by_source_path(self, tmp_path: Path) -> None:
        """btrfs shows MAJ:MIN 0:NN, so the source path decides the device."""
        m = FakeMachine(tmp_path)
        m.disk("sda", "8:0")
        m.partition("sda", "sda3", "8:3")
        m.mount("0:31", "/", "/dev/sda3", "btrfs")
        assert m.state().system_disks == {"sda": ("holds the root filesystem /",)}

    def test_mapper_source_resolved_by_dm_name(self, tmp_path: Path) -> None:
        """A /dev/mapper/NAME source on a virtual MAJ:MIN is found through dm/name."""
        m = FakeMachine(tmp_path)
        m.disk("sdb", "8:16")
        m.virtual("dm-4", "253:4", on=("sdb",), dm_name="crypt-home")
        (m.dev / "mapper" / "crypt-home").unlink()  # no udev links: only sysfs knows the name
        m.mount("0:40", "/home", "/dev/mapper/crypt-home", "btrfs")
        (mount,) = [x for x in m.state().mounts if x.mountpoint == "/home"]
        assert mount.device == "dm-4"

    def test_live_medium_mount(self, tmp_path: Path) -> None:
        """A live system's medium (mounted at /run/live/medium) is the boot medium."""
        m = FakeMachine(tmp_path)
        m.disk("sdg", "8:96", bus="pci0000:00/usb1/1-1/1-1:1.0/host6/target6:0:0/6:0:0:0/block")
        m.partition("sdg", "sdg1", "8:97")
        m.mount("0:26", "/", "overlay", "overlay")
        m.mount("8:97", "/run/live/medium", "/dev/sdg1", "iso9660")
        state = m.state()
        assert state.system_disks == {"sdg": (BOOT_MEDIUM_REASON,)}
        assert BOOT_MEDIUM_REASON in assess(drive("sdg"), state).reasons

    def test_cmdline_root_uuid(self, tmp_path: Path) -> None:
        """root=UUID=... on the command line marks that disk, even when / is not mounted from it."""
        m = FakeMachine(tmp_path, cmdline="BOOT_IMAGE=/vmlinuz root=UUID=1b2c-3d4e ro")
        m.disk("sdh", "8:112")
        m.partition("sdh", "sdh1", "8:113")
        m.by("uuid", "1b2c-3d4e", "sdh1")
        m.mount("0:26", "/", "overlay", "overlay")
        assert m.state().system_disks == {"sdh": (BOOT_MEDIUM_REASON,)}

    def test_cmdline_label_with_space(self, tmp_path: Path) -> None:
        """A label with a space is looked up with udev's \\x20 encoding."""
        m = FakeMachine(tmp_path, cmdline="root=live:CDLABEL=Bench Live")
        m.disk("sr0", "11:0")
        m.by("label", "Bench", "sr0")
        assert m.state().system_disks == {"sr0": (BOOT_MEDIUM_REASON,)}

    def test_root_on_loop_follows_backing_file(self, tmp_path: Path) -> None:
        """/ on a loop device brings the disk holding its backing file."""
        m = FakeMachine(tmp_path)
        m.disk("sdk", "8:160")
        m.partition("sdk", "sdk1", "8:161")
        m.loop("loop0", "7:0", "/media/host/root.img")
        m.mount("8:161", "/media/host", "/dev/sdk1")
        m.mount("7:0", "/", "/dev/loop0")
        assert set(m.state().system_disks) == {"loop0", "sdk"}

    def test_vanished_device_is_skipped(self, machine: FakeMachine) -> None:
        """A device that disappears mid-read (no dev file) is left out, not an error."""
        (Path(os.path.realpath(machine.sys / "class/block/sdf")) / "dev").unlink()
        assert "sdf" not in machine.state().blocks

    def test_missing_sysfs_refuses(self, tmp_path: Path) -> None:
        """Without /sys/class/block nothing can be judged, so reading fails loudly."""
        with pytest.raises(DriveDetectionError, match="class/block"):
            read_system_state(sys_root=tmp_path / "nosys", proc_root=tmp_path)

    def test_missing_mountinfo_refuses(self, machine: FakeMachine, tmp_path: Path) -> None:
        """Without the mount table nothing can be judged, so reading fails loudly."""
        with pytest.raises(DriveDetectionError, match="mount table"):
            read_system_state(sys_root=machine.sys, proc_root=tmp_path / "noproc")


class TestAssess:
    """assess gives every reason that applies, in plain sentences."""

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            (
                "sda",
                (
                    "holds the root filesystem /",
                    "holds the EFI system partition /boot/efi",
                    "partition sda2 is mounted at /",
                    "partition sda1 is mounted at /boot/efi",
                ),
            ),
            (
                "sdb",
                (
                    'partition sdb1 is held by device-mapper dm-0 "vg-data" '
                    "(LVM/dm-crypt/multipath)",
                ),
            ),
            ("sdc", ("member of MD RAID md0",)),
            ("sdd", ("used as swap (/dev/sdd2)",)),
            ("sde", (READ_ONLY_REASON,)),
        ],
    )
    def test_protected_reasons(
        self, machine: FakeMachine, name: str, expected: tuple[str, ...]
    ) -> None:
        """Each protected disk carries exactly its reasons."""
        protection = assess(drive(name), machine.state())
        assert protection.protected
        assert protection.reasons == expected

    def test_clean_disk_is_not_protected(self, machine: FakeMachine) -> None:
        """A disk nobody uses may be touched."""
        protection = assess(drive("sdf"), machine.state())
        assert not protection.protected
        assert protection.reason == ""

    def test_whole_disk_mount_swap_and_dm(self, tmp_path: Path) -> None:
        """Reasons for the whole disk itself, and for a mount on a stack above it, all listed."""
        m = FakeMachine(tmp_path)
        m.disk("sdx", "8:200")
        m.disk("sdy", "8:216")
        m.disk("sdz", "8:232")
        m.mount("8:200", "/mnt/x", "/dev/sdx")
        m.swap("/dev/sdy")
        m.virtual("dm-3", "253:3", on=("sdz",), dm_name="mpatha")
        m.mount("253:3", "/srv", "/dev/mapper/mpatha")
        state = m.state()
        assert assess(drive("sdx"), state).reasons == ("mounted at /mnt/x",)
        assert assess(drive("sdy"), state).reasons == ("used as swap (/dev/sdy)",)
        assert assess(drive("sdz"), state).reasons == (
            'dm-3 "mpatha", built on this disk, is mounted at /srv',
            'held by device-mapper dm-3 "mpatha" (LVM/dm-crypt/multipath)',
        )

    def test_raid_partition_member(self, tmp_path: Path) -> None:
        """A partition in an MD array protects its disk."""
        m = FakeMachine(tmp_path)
        m.disk("sdc", "8:32")
        m.partition("sdc", "sdc1", "8:33")
        m.virtual("md127", "9:127", on=("sdc1",))
        assert assess(drive("sdc"), m.state()).reasons == (
            "partition sdc1 is a member of MD RAID md127",
        )

    def test_stacked_device_and_partition_refused(self, machine: FakeMachine) -> None:
        """An md array or a partition is never offered as a drive to sanitise."""
        state = machine.state()
        assert assess(drive("md0"), state).reasons == (
            "an MD RAID array built on sdc: sanitise the disks underneath instead",
        )
        assert assess(drive("sdf1"), state).reasons == (
            "sdf1 is a partition of sdf, not a whole disk",
        )

    def test_drive_flagged_read_only(self, machine: FakeMachine) -> None:
        """A drive discovery saw as read-only stays protected even if sysfs says otherwise."""
        assert assess(drive("sdf", read_only=True), machine.state()).reasons == (READ_ONLY_REASON,)

    def test_found_by_devnum_when_name_moved(self, machine: FakeMachine) -> None:
        """An unknown name with a known MAJ:MIN is judged as that device."""
        protection = assess(drive("sdq", devnum="8:48"), machine.state())
        assert protection.reasons == ("used as swap (/dev/sdd2)",)

    def test_absent_drive_is_protected(self, machine: FakeMachine) -> None:
        """A drive that is not in sysfs cannot be touched."""
        protection = assess(drive("sdq"), machine.state())
        assert protection.protected
        assert "not present" in protection.reason

    def test_assess_all_keys_by_path(self, machine: FakeMachine) -> None:
        """assess_all judges several drives against one snapshot."""
        verdicts = assess_all([drive("sda"), drive("sdf")], machine.state())
        assert {path: v.protected for path, v in verdicts.items()} == {
            "/dev/sda": True,
            "/dev/sdf": False,
        }


class TestSimulated:
    """Simulated lab drives are judged only as files (the lab's `LabFiles`)."""

    def test_lab_file_not_protected_by_disk_rules(self, machine: FakeMachine) -> None:
        """A simulated drive named like the system disk is still just a file."""
        lab = drive("sda", path="/var/lib/sanitiser/lab/sata0.img", simulated=True)
        files = LabFiles(Path("/var/lib/sanitiser/lab"))
        assert not files.assess(lab, machine.state()).protected

    def test_device_node_refused(self, machine: FakeMachine) -> None:
        """A simulated drive pointing at a device node is refused."""
        lab = drive("sdf", simulated=True)
        assert LabFiles(Path("/srv/lab")).assess(lab, machine.state()).reasons == (
            "a simulated drive must be a file, but /dev/sdf is a device node",
        )

    def test_swap_file_refused(self, machine: FakeMachine) -> None:
        """A lab file that is an active swap file is refused."""
        machine.swap("/srv/lab/swap.img", "file")
        lab = drive("lab0", path="/srv/lab/swap.img", simulated=True)
        assert LabFiles(Path("/srv/lab")).assess(lab, machine.state()).reasons == (
            "used as swap (/srv/lab/swap.img)",
        )

    def test_file_behind_busy_loop_refused(self, tmp_path: Path) -> None:
        """A lab file attached to a mounted loop device is refused; an idle attachment is not."""
        m = FakeMachine(tmp_path)
        m.loop("loop5", "7:5", "/srv/lab/a.img")
        m.loop("loop6", "7:6", "/srv/lab/b.img")
        m.mount("7:5", "/mnt/a", "/dev/loop5")
        state = m.state()
        busy = drive("a", path="/srv/lab/a.img", simulated=True)
        idle = drive("b", path="/srv/lab/b.img", simulated=True)
        files = LabFiles(Path("/srv/lab"))
        assert files.assess(busy, state).reasons == (
            "its file backs loop5, which is mounted at /mnt/a",
        )
        assert not files.assess(idle, state).protected


def test_identity_mismatches() -> None:
    """Serial, WWN and size are compared; blanks and WWN encodings do not count as changes."""
    confirmed = drive("sda", serial=" S1 ", wwn="0x5000C500A1B2C3D4", size_bytes=4096)
    same = DriveIdentity("sdb", "8:16", "S1", "naa.5000c500a1b2c3d4", 4096)
    assert identity_mismatches(confirmed, same) == ()
    other = DriveIdentity("sda", "8:0", "S2", "0x5000c500ffffffff", 8192)
    assert identity_mismatches(confirmed, other) == (
        "serial is now 'S2', but 'S1' was confirmed",
        "WWN is now '0x5000c500ffffffff', but '0x5000C500A1B2C3D4' was confirmed",
        "size is now 8192 bytes, but 4096 bytes was confirmed",
    )


class TestClaimOnLabFiles:
    """The gate, exercised on simulated drives (real files, real flock) without root."""

    @pytest.fixture
    def lab(self, tmp_path: Path) -> Drive:
        """A 1 MiB lab file named after its serial, as the lab bench keeps them."""
        image = tmp_path / "SIM-HDD-0001.img"
        image.write_bytes(b"\xaa" * (1 << 20))
        return Drive(
            path=str(image),
            name="lab-sata-hdd0",
            model="SIMULATED SATA HDD",
            serial="SIM-HDD-0001",
            size_bytes=1 << 20,
            transport=Transport.SATA,
            simulated=True,
        )

    @pytest.fixture
    def files(self, tmp_path: Path) -> LabFiles:
        """The lab's files in tmp_path, as the lab bench's drives are seen by the guard."""
        return LabFiles(tmp_path)

    @staticmethod
    def quiet() -> SystemState:
        """A machine where nothing is in use."""
        return SystemState()

    def test_claim_gives_writable_exclusive_fd(self, lab: Drive, files: LabFiles) -> None:
        """A claim writes through its fd, a second claim is refused, and release frees it."""
        with claim(lab, lab, files, state_reader=self.quiet) as held:
            assert held.path == lab.path
            os.pwrite(held.fd, b"\x00" * 4096, 0)
            with pytest.raises(DriveBusyError) as refused:
                claim(lab, lab, files, state_reader=self.quiet)
            assert refused.value.reasons == ("in use by another job (the lab file is locked)",)
        assert held.closed
        assert Path(lab.path).read_bytes()[:4097] == b"\x00" * 4096 + b"\xaa"
        with pytest.raises(DriveBusyError, match="released"):
            _ = held.fd
        claim(lab, lab, files, state_reader=self.quiet).close()

    def test_protected_now_is_refused(self, lab: Drive, files: LabFiles) -> None:
        """State is re-read at claim time: a lab file that became swap is refused."""
        swapping = SystemState(swaps=(Swap(path=lab.path, kind="file"),))
        with pytest.raises(DriveBusyError) as refused:
            claim(lab, lab, files, state_reader=lambda: swapping)
        assert refused.value.reasons == (f"used as swap ({lab.path})",)
        assert refused.value.title == "Protected drive"

    def test_other_serial_is_refused(self, lab: Drive, files: LabFiles) -> None:
        """Confirming SIM-HDD-0002 but opening SIM-HDD-0001's file is refused."""
        confirmed = replace(lab, serial="SIM-HDD-0002")
        with pytest.raises(DriveBusyError) as refused:
            claim(lab, confirmed, files, state_reader=self.quiet)
        assert refused.value.reasons == (
            "not the drive that was confirmed: serial is now 'SIM-HDD-0001', "
            "but 'SIM-HDD-0002' was confirmed",
        )
        assert refused.value.title == "Different drive"

    def test_changed_size_is_refused(self, lab: Drive, files: LabFiles) -> None:
        """A lab file that grew is not the drive that was confirmed."""
        with open(lab.path, "ab") as f:
            f.write(b"\0" * 512)
        with pytest.raises(DriveBusyError, match="size is now 1049088 bytes"):
            claim(lab, lab, files, state_reader=self.quiet)

    def test_identity_from_injected_reader(self, lab: Drive, files: LabFiles) -> None:
        """The identity reader is injectable; its answer is what gets compared."""
        wrong = DriveIdentity(lab.name, "", lab.serial, "0x1234", lab.size_bytes)
        with pytest.raises(DriveBusyError, match="WWN is now '0x1234'"):
            claim(lab, lab, files, state_reader=self.quiet, identity_reader=lambda d: wrong)

    def test_missing_file_is_refused(self, lab: Drive, files: LabFiles) -> None:
        """A lab file that is gone cannot be proven to be the confirmed drive."""
        Path(lab.path).unlink()
        with pytest.raises(DriveBusyError, match="identity cannot be read"):
            claim(lab, lab, files, state_reader=self.quiet)

    def test_unreadable_state_is_refused(self, lab: Drive, files: LabFiles) -> None:
        """If the machine cannot be inspected, nothing is claimed."""

        def broken() -> SystemState:
            raise DriveDetectionError("no /sys")

        with pytest.raises(DriveBusyError, match="system state cannot be read"):
            claim(lab, lab, files, state_reader=broken)

    def test_symlink_is_refused(self, lab: Drive, tmp_path: Path) -> None:
        """A lab path that is a symlink (possibly to a device) is not followed."""
        (tmp_path / "elsewhere").mkdir()
        link = tmp_path / "elsewhere" / "SIM-HDD-0001.img"
        link.symlink_to(lab.path)
        linked = replace(lab, path=str(link))
        with pytest.raises(DriveBusyError, match="not a regular file"):
            claim(linked, linked, LabFiles(link.parent), state_reader=self.quiet)

    def test_claim_cannot_be_forged(self, lab: Drive, files: LabFiles) -> None:
        """Only claim() makes a Claim: there is no other way to a writable fd."""
        identity = files.read_identity(lab)
        with pytest.raises(TypeError, match="only by"):
            Claim(object(), drive=lab, identity=identity, fd=0)

    def test_recheck_detects_change_mid_job(self, lab: Drive, files: LabFiles) -> None:
        """recheck() refuses once the drive's identity changes under a held claim."""
        with claim(lab, lab, files, state_reader=self.quiet) as held:
            held.recheck()
            os.truncate(lab.path, 2 << 20)
            with pytest.raises(DriveBusyError, match="size is now 2097152 bytes"):
                held.recheck()


class TestStacks:
    """Loop stacks over real-disk names (the loop driver makes no holders/ links), pure."""

    @staticmethod
    def state(*extra: BlockDevice, mounts: tuple[Mount, ...] = ()) -> SystemState:
        blocks = {
            "sdb": BlockDevice(name="sdb", devnum="8:16", partitions=("sdb1",)),
            "sdb1": BlockDevice(name="sdb1", devnum="8:17", parent="sdb"),
            **{node.name: node for node in extra},
        }
        return SystemState(blocks=blocks, mounts=mounts)

    def test_loop_over_a_partition_of_a_sata_disk(self) -> None:
        """A mounted loop over /dev/sdb1 protects sdb, the chain named; the loop is refused too."""
        loop = BlockDevice(
            name="loop0", devnum="7:0", backing_file="/dev/sdb1", backing_devnum="8:17"
        )
        state = self.state(loop, mounts=(Mount("/mnt/l", "/dev/loop0", "7:0", "ext4", "loop0"),))
        assert assess(drive("sdb"), state).reasons == (
            "loop0, built on this disk (loop0 -> sdb1 -> sdb), is mounted at /mnt/l",
            "loop device loop0 is attached over partition sdb1 of this disk (/dev/sdb1); "
            "detach it first",
        )
        assert assess(drive("loop0"), state).reasons == (
            "a loop device over sdb1 (/dev/sdb1): sanitise sdb1 itself instead",
            "mounted at /mnt/l",
        )

    def test_file_identity_beats_the_path(self) -> None:
        """Two loops over one file (same filesystem and inode) under different paths, and a loop
        over the inode of an active swap file, are refused; a different inode is not."""
        a = BlockDevice(
            name="loop1", devnum="7:1", backing_file="/a.img", backing_fs="8:17", backing_inode=12
        )
        b = replace(a, name="loop2", devnum="7:2", backing_file="/hardlink.img")
        c = replace(a, name="loop3", devnum="7:3", backing_file="/other.img", backing_inode=13)
        swap = Swap(path="/swap-link", kind="file", file_id=("8:17", 13))
        state = replace(self.state(a, b, c), swaps=(swap,))
        assert assess(drive("loop1"), state).reasons == (
            "its backing file /a.img also backs loop2",
        )
        assert assess(drive("loop3"), state).reasons == (
            "its backing file /other.img is active swap",
        )
        assert "holds the active swap file /swap-link" in assess(drive("sdb"), state).reasons

    def test_stack_below_stops_on_a_cycle(self) -> None:
        """A loop over a loop over the first (impossible, but sysfs may lie) ends, no hang."""
        a = BlockDevice(name="loop1", devnum="7:1", backing_file="/dev/loop2", backing_devnum="7:2")
        b = BlockDevice(name="loop2", devnum="7:2", backing_file="/dev/loop1", backing_devnum="7:1")
        state = self.state(a, b)
        assert set(stack_below("loop1", state.blocks)) == {"loop2"}
        assert assess(drive("loop1"), state).protected


def test_disks_holding_the_agents_files() -> None:
    """`disks_holding` (pure): the stick under the credentials' mount, by its partition; a path
    on a tmpfs mounted over the root disk's filesystem is held by no disk (found on a real
    tmpfs by tests/e2e/test_agent_boot_medium.py: it was taken for the root disk's)."""
    state = SystemState(
        blocks={
            "vda": BlockDevice(name="vda", devnum="254:0"),
            "sdb": BlockDevice(name="sdb", devnum="8:16", partitions=("sdb1",)),
            "sdb1": BlockDevice(name="sdb1", devnum="8:17", parent="sdb"),
        },
        mounts=(
            Mount("/", "/dev/vda", "254:0", "ext4", "vda"),
            Mount("/run/stick", "/dev/sdb1", "8:17", "vfat", "sdb1"),
            Mount("/run/ram", "tmpfs", "0:30", "tmpfs"),
        ),
    )
    held = disks_holding(("/run/stick/creds", "/run/ram/evidence", "/etc/x"), state)
    assert held == {"sdb": ("/run/stick/creds",), "vda": ("/etc/x",)}
