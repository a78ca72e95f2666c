"""The donor boot image built for real (Debian packages through apt, the lab's kernel): twice
from the same inputs gives the same bytes, and it carries what it runs (no 9p, no host files).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from sanitiser.netboot import texts
from sanitiser.netboot.build import BuildResult, ImageBuilder, default_cache
from sanitiser.netboot.spec import CI_IMAGE, EFI_BOOT_FILES
from sanitiser.runner import SubprocessRunner

pytestmark = [pytest.mark.serial, pytest.mark.root]


def test_two_builds_are_identical(netboot_image: BuildResult, tmp_path: Path) -> None:
    """A second build of the same variant gives the same initramfs and USB image digests."""
    again = ImageBuilder(CI_IMAGE, SubprocessRunner(), tmp_path / "again").build()
    assert again.initrd_sha256 == netboot_image.initrd_sha256
    assert again.usb_sha256 == netboot_image.usb_sha256
    assert again.kernel.read_bytes() == netboot_image.kernel.read_bytes()
    sizes = {
        "kernel": netboot_image.kernel.stat().st_size,
        "initrd": netboot_image.initrd.stat().st_size,
        "initrd_unpacked": netboot_image.uncompressed_bytes,
        "usb": netboot_image.usb.stat().st_size if netboot_image.usb else 0,
    }
    print(f"ci image sizes: {sizes}")


def test_image_carries_what_it_runs(netboot_image: BuildResult, tmp_path: Path) -> None:
    """The interpreter, the tools, udev and the agent are in the archive; /init mounts no 9p
    share; the manifest names every Debian package with its version and digest."""
    root = tmp_path / "root"
    root.mkdir()
    subprocess.run(
        ["cpio", "-id", "--quiet"],
        input=gzip.decompress(netboot_image.initrd.read_bytes()),
        cwd=root,
        check=True,
    )
    for path in (
        "usr/bin/python3.11",
        "usr/sbin/hdparm",
        "usr/sbin/nvme",
        "usr/bin/sg_sanitize",
        "usr/sbin/smartctl",
        "usr/bin/mmc",
        "usr/sbin/dmidecode",
        "usr/lib/systemd/systemd-udevd",
        "usr/lib/python3/dist-packages/sanitiser/__main__.pyc",
        "usr/lib/x86_64-linux-gnu/libudev.so.1",
        "etc/ld.so.cache",
    ):
        assert (root / path).exists(), path
    site = root / "usr/lib/python3/dist-packages"
    for library in ("sqlalchemy", "sqlmodel", "alembic", "mako", "psycopg", "pyhanko", "textual"):
        assert not (site / library).exists(), f"{library}: the agent never opens a store or a UI"
    init = (root / "init").read_text()
    assert "9p" not in init
    assert not list(root.rglob("*.py")), "sources are compiled and dropped"
    manifest = json.loads((root / "etc/sanitiser/image.json").read_text())
    assert manifest["variant"] == "ci"
    assert manifest["debs"]["nvme-cli"]["version"]
    assert len(manifest["debs"]["python3.11-minimal"]["sha256"]) == 64
    # The image's interpreter runs the CLI from the image alone (chroot: no host file seen).
    result = subprocess.run(
        ["chroot", str(root), "/usr/bin/python3", "-m", "sanitiser", "agent", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/usr/sbin"},
    )
    assert result.returncode == 0, result.stderr
    assert "inventory" in result.stdout


def test_the_stick_boots_bios_and_uefi_with_secure_boot(
    netboot_image: BuildResult, tmp_path: Path
) -> None:
    """The USB image's FAT holds syslinux (BIOS) and, for UEFI, Debian's signed shim as the
    removable-media loader with Debian's signed GRUB beside it, byte for byte as in the
    packages the manifest names, and no shim fallback (it would write boot entries into the
    donor's firmware)."""
    assert netboot_image.usb is not None
    part = f"{netboot_image.usb}@@1M"
    listing = subprocess.run(
        ["mdir", "-a", "-/", "-b", "-i", part, "::/"], capture_output=True, text=True, check=True
    ).stdout.split()
    for name in ("ldlinux.sys", "syslinux.cfg", "vmlinuz", "initrd.gz", *EFI_BOOT_FILES):
        assert f"::/{name}" in listing, listing
    assert not [n for n in listing if n.lower().endswith("fbx64.efi")], listing
    efi = json.loads(netboot_image.manifest.read_text())["usb"]["efi"]
    assert set(efi) == {"shim-signed", "grub-efi-amd64-signed"}
    for stick_path, (package, inner) in EFI_BOOT_FILES.items():
        [deb] = [
            d
            for d in (default_cache() / "debs").glob(f"{package}_*.deb")
            if hashlib.sha256(d.read_bytes()).hexdigest() == efi[package]["sha256"]
        ]
        unpacked = tmp_path / package
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        on_stick = subprocess.run(
            ["mtype", "-i", part, f"::/{stick_path}"], capture_output=True, check=True
        ).stdout
        assert on_stick == (unpacked / inner).read_bytes(), stick_path
    grub_cfg = subprocess.run(
        ["mtype", "-i", part, f"::/{texts.GRUB_CONFIG}"], capture_output=True, text=True, check=True
    ).stdout
    assert grub_cfg == texts.grub_config(texts.kernel_cmdline())
