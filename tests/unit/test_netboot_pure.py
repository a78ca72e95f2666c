"""The boot image's pure parts against real tools: the cpio archive unpacked by GNU cpio, the
MBR read by sfdisk, dnsmasq's own check of its configuration, busybox's parse of /init, the
dynamic loader's real output parsed."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sanitiser.netboot import cpio, disk, texts
from sanitiser.netboot.spec import (
    CI_IMAGE,
    FULL_IMAGE,
    Payload,
    deb_fields,
    elf_is_dynamic,
    kernel_package,
    module_closure,
    parse_ld_list,
    parse_modules_dep,
    usr_merged,
)

LOADER = Path("/lib64/ld-linux-x86-64.so.2")


def _unpack(archive: bytes, dest: Path) -> None:
    dest.mkdir()
    subprocess.run(
        ["cpio", "-id", "--quiet", "--no-absolute-filenames"],
        input=archive,
        cwd=dest,
        check=True,
    )


def test_cpio_archive_unpacks_with_gnu_cpio(tmp_path: Path) -> None:
    """Files, modes, a symlink and implied parent directories come out as written."""
    archive = cpio.newc_archive(
        [
            cpio.regular("usr/bin/tool", b"#!/bin/sh\necho hi\n", 0o755),
            cpio.regular("etc/sanitiser/agent/agent.key", b"secret", 0o600),
            cpio.symlink("bin", "usr/bin"),
        ],
        mtime=1704067200,
    )
    _unpack(archive, tmp_path / "x")
    root = tmp_path / "x"
    assert (root / "usr/bin/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (root / "usr/bin/tool").stat().st_mode & 0o777 == 0o755
    assert (root / "etc/sanitiser/agent/agent.key").stat().st_mode & 0o777 == 0o600
    assert (root / "bin").is_symlink()
    assert str((root / "bin").readlink()) == "usr/bin"
    listing = subprocess.run(
        ["cpio", "-tv", "--quiet"], input=archive, capture_output=True, check=True
    ).stdout.decode()
    assert "Jan  1  2024" in listing  # every entry carries the one epoch


def test_cpio_archive_is_the_same_whatever_the_order_given() -> None:
    """Sorted by path, inodes in that order: the same content gives the same bytes."""
    a = [cpio.regular("b/x", b"1"), cpio.regular("a", b"2"), cpio.directory("b")]
    assert cpio.newc_archive(a, 0) == cpio.newc_archive(list(reversed(a)), 0)
    assert cpio.newc_archive(a, 0) != cpio.newc_archive(a, 1)
    assert cpio.gzip_archive(b"abc") == cpio.gzip_archive(b"abc")
    assert gzip.decompress(cpio.gzip_archive(b"abc")) == b"abc"


@pytest.mark.parametrize("bad", ["/abs", "a//b", "a/../b", "", "./a"])
def test_cpio_refuses_bad_paths(bad: str) -> None:
    """Absolute, empty or dotted paths are refused, never written."""
    with pytest.raises(ValueError, match="bad path"):
        cpio.newc_archive([cpio.regular(bad, b"")], 0)


def test_cpio_refuses_a_path_twice() -> None:
    """The same path twice is an error, not a silent overwrite."""
    with pytest.raises(ValueError, match="twice"):
        cpio.newc_archive([cpio.regular("a", b"1"), cpio.regular("a", b"2")], 0)


def test_mbr_is_read_by_sfdisk(tmp_path: Path) -> None:
    """One active FAT32 (LBA) partition from sector 2048, the disk id as given."""
    sectors = disk.fat_size_sectors(10 << 20)
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.write(disk.mbr_sector(b"\xeb\x63" + bytes(100), sectors, 0x5A4E5453))
        f.truncate((disk.PART_START + sectors) * disk.SECTOR)
    dump = json.loads(
        subprocess.run(
            ["sfdisk", "--json", str(image)], capture_output=True, text=True, check=True
        ).stdout
    )["partitiontable"]
    assert dump["label"] == "dos"
    assert dump["id"] == "0x5a4e5453"
    (part,) = dump["partitions"]
    assert (part["start"], part["size"], part["type"]) == (2048, sectors, "c")
    assert part["bootable"] is True


def test_mbr_refuses_oversized_boot_code() -> None:
    """More than 440 bytes of boot code would overwrite the partition table."""
    with pytest.raises(ValueError, match="440"):
        disk.mbr_sector(bytes(441), 1000, 1)


def test_fat_size_has_a_floor_and_slack() -> None:
    """At least 64 MiB (FAT32), and 16 MiB beyond the files."""
    assert disk.fat_size_sectors(0) == 64 * 2048
    assert disk.fat_size_sectors(100 << 20) == 116 * 2048


def test_dnsmasq_accepts_the_proxy_configuration(tmp_path: Path) -> None:
    """dnsmasq's own --test passes the generated configuration."""
    if shutil.which("dnsmasq", path="/usr/sbin:/usr/bin") is None:
        pytest.fail("dnsmasq missing: run scripts/install-system.sh")
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(
        texts.dnsmasq_config(
            texts.ProxyDhcp("eth1", "192.168.7.10/24", str(tmp_path), str(tmp_path / "log"))
        )
    )
    text = conf.read_text()
    assert "dhcp-range=192.168.7.0,proxy,255.255.255.0" in text
    assert "port=0" in text  # no DNS server
    result = subprocess.run(
        ["/usr/sbin/dnsmasq", "--test", f"--conf-file={conf}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax check OK" in result.stderr


@pytest.mark.parametrize("bad", ["eth 1", "a" * 16, "eth1;rm"])
def test_dnsmasq_config_refuses_bad_interface_names(bad: str) -> None:
    """A name that cannot be an interface never reaches a configuration file."""
    with pytest.raises(ValueError, match="interface"):
        texts.dnsmasq_config(texts.ProxyDhcp(bad, "10.0.0.1/24", "/t", "/l"))


def test_init_script_parses_in_busybox_sh(tmp_path: Path) -> None:
    """The image's /init is valid busybox sh, with the modules and udev subsystems in it."""
    script = texts.init_script(CI_IMAGE.modules, CI_IMAGE.udev_subsystems)
    path = tmp_path / "init"
    path.write_text(script)
    result = subprocess.run(
        ["busybox", "sh", "-n", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "modprobe" in script
    assert "--subsystem-match=nvme" in script
    assert "agent run --bench" in script
    assert "/etc/sanitiser/agent" in script
    assert "@" + "MODULES@" not in script
    full = texts.init_script(FULL_IMAGE.modules, FULL_IMAGE.udev_subsystems)
    assert "--subsystem-match" not in full  # the full image replays every subsystem


def test_kernel_cmdline_and_ipxe_script() -> None:
    """Arguments are checked; the script loads the kernel and each initrd from one URL."""
    cmdline = texts.kernel_cmdline({"sanitiser.bench": "https://10.0.2.2:8443"})
    assert cmdline.endswith("console=ttyS0,115200 sanitiser.bench=https://10.0.2.2:8443")
    with pytest.raises(ValueError, match="not allowed"):
        texts.kernel_cmdline({"sanitiser.bench": "http://x y"})
    script = texts.ipxe_script("http://10.0.2.2:8080/", cmdline, ("initrd.gz", "session.cpio.gz"))
    lines = script.splitlines()
    assert lines[0] == "#!ipxe"
    assert lines[2].startswith("kernel http://10.0.2.2:8080/vmlinuz initrd=initrd.gz ")
    assert lines[3:] == [
        "initrd http://10.0.2.2:8080/initrd.gz",
        "initrd http://10.0.2.2:8080/session.cpio.gz",
        "boot",
    ]
    with pytest.raises(ValueError, match="URL"):
        texts.ipxe_script("http://host/ ; shell", cmdline, ())


def test_syslinux_config_names_the_stick() -> None:
    """The stick's configuration boots the image at once and names the stick's label."""
    cfg = texts.syslinux_config("quiet")
    for line in ("TIMEOUT 0", "LINUX /vmlinuz", "INITRD /initrd.gz"):
        assert line in cfg
    assert "APPEND quiet sanitiser.stick=SANITISER" in cfg


def test_grub_config_boots_the_same_way_from_the_stick_itself() -> None:
    """UEFI's configuration boots the same kernel, image and command line as syslinux's, at
    once, from the disk GRUB started from (it searches no other disk)."""
    cfg = texts.grub_config("quiet")
    assert "set timeout=0" in cfg
    assert "  linux /vmlinuz quiet sanitiser.stick=SANITISER" in cfg
    assert "  initrd /initrd.gz" in cfg
    assert "search" not in cfg
    assert texts.GRUB_CONFIG == "EFI/debian/grub.cfg"


def test_parse_ld_list_of_the_real_loader() -> None:
    """The loader's real --list output: every library resolved to a path."""
    out = subprocess.run(
        [str(LOADER), "--list", "/usr/sbin/smartctl"], capture_output=True, text=True, check=True
    ).stdout
    listed = parse_ld_list(out)
    assert not listed.missing
    assert not listed.static
    assert listed.resolved["libc.so.6"].endswith("/libc.so.6")
    assert "libstdc++.so.6" in listed.resolved


def test_parse_ld_list_missing_and_unknown_lines() -> None:
    """'not found' is a missing soname; a line of no known form is an error, never skipped."""
    listed = parse_ld_list(
        "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibdbus-1.so.3 => not found\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f00)\n"
    )
    assert listed.missing == ("libdbus-1.so.3",)
    assert listed.resolved == {"ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2"}
    with pytest.raises(ValueError, match="not understood"):
        parse_ld_list("\tsomething odd\n")


def test_elf_is_dynamic_on_real_files() -> None:
    """busybox-static has no dynamic segment, ls has one; a non-ELF file is refused."""
    assert elf_is_dynamic(Path("/bin/busybox").read_bytes()[:65536]) is False
    assert elf_is_dynamic(Path("/usr/bin/ls").read_bytes()[:65536]) is True
    with pytest.raises(ValueError, match="ELF"):
        elf_is_dynamic(b"#!/bin/sh\n" + bytes(100))


def test_module_closure_follows_dependencies() -> None:
    """Named modules, whole directories and their dependencies; built-ins need nothing; an
    unknown name is an error."""
    deps = parse_modules_dep(
        "kernel/drivers/nvme/host/nvme.ko: kernel/drivers/nvme/host/nvme-core.ko\n"
        "kernel/drivers/nvme/host/nvme-core.ko:\n"
        "kernel/drivers/net/ethernet/intel/e1000/e1000.ko:\n"
        "kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko\nkernel/fs/fat/fat.ko:\n"
    )
    builtin = ["kernel/net/packet/af_packet.ko"]
    assert module_closure(deps, builtin, ["nvme", "af_packet"]) == (
        "kernel/drivers/nvme/host/nvme-core.ko",
        "kernel/drivers/nvme/host/nvme.ko",
    )
    assert module_closure(deps, builtin, [], ["fs/fat"]) == (
        "kernel/fs/fat/fat.ko",
        "kernel/fs/fat/vfat.ko",
    )
    with pytest.raises(ValueError, match="e1000x"):
        module_closure(deps, builtin, ["e1000x"])


def test_paths_packages_and_file_names() -> None:
    """Merged /usr, payload patterns, the kernel package apt names, .deb file names."""
    assert usr_merged("lib/udev/ata_id") == "usr/lib/udev/ata_id"
    assert usr_merged("sbin/hdparm") == "usr/sbin/hdparm"
    assert usr_merged("etc/udev/udev.conf") == "etc/udev/udev.conf"
    payload = Payload("x", ("usr/bin/sg_*",), ("usr/bin/sg_bad",))
    assert payload.wants("usr/bin/sg_inq")
    assert not payload.wants("usr/bin/sg_bad")
    assert not Payload("x", ("usr/share/*",)).wants("usr/share/doc/x/copyright")
    assert (
        kernel_package("linux-image-amd64\n  Depends: linux-image-6.1.0-57-amd64\n")
        == "linux-image-6.1.0-57-amd64"
    )
    assert kernel_package("nothing") is None
    assert deb_fields("busybox-static_1%3a1.35.0-4+deb12u1+b1_amd64.deb") == (
        "busybox-static",
        "1:1.35.0-4+deb12u1+b1",
    )
    with pytest.raises(ValueError, match="NAME_VERSION_ARCH"):
        deb_fields("busybox.deb")
    assert "libc6" in CI_IMAGE.all_packages()
    assert len(set(CI_IMAGE.all_packages())) == len(CI_IMAGE.all_packages())


def test_the_agents_modules_import_no_store_pdf_or_ui_library() -> None:
    """The image carries every distribution its entry modules import (`stage_python`): they
    must not pull in the store (SQLAlchemy, SQLModel, Alembic, Mako, psycopg), the PDF signer or
    Textual, which the agent never uses (about 30 MB of the image before)."""
    heavy = ("sqlalchemy", "sqlmodel", "alembic", "mako", "psycopg", "pyhanko", "textual")
    probe = (
        "import importlib, json, sys\n"
        f"for m in {list(CI_IMAGE.entry_modules)!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    loaded = set(json.loads(result.stdout))
    assert "sanitiser" in loaded
    assert not loaded & set(heavy), sorted(loaded & set(heavy))
