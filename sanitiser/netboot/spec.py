"""What goes into a donor boot image (pure): Debian packages, their files, kernel modules,
the Python packages the agent imports, and the two variants (``full`` and ``ci``).

Everything the image runs comes from Debian packages downloaded with apt on the bench (the
bench's own package sources are the only network used) and from the bench's own installation
of this project: a donor laptop has no shared file system, so the image carries its Python
interpreter, the standard library it needs, this package and its dependencies, the device tools
and every shared library they link (found with the dynamic loader's ``--list``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

LIBDIR = "usr/lib/x86_64-linux-gnu"
"""Where the image's shared libraries go (merged /usr: /lib is a link to usr/lib)."""
PYTHON = "usr/bin/python3.11"
STDLIB = "usr/lib/python3.11"
SITE = "usr/lib/python3/dist-packages"
"""Debian's python3.11 puts this on sys.path: the agent's packages go here."""
CREDENTIALS_DIR = "etc/sanitiser/agent"
"""Where the per-session overlay puts the agent's credentials (ca.pem, agent.pem, agent.key,
session.json)."""
MANIFEST_PATH = "etc/sanitiser/image.json"

DOC_EXCLUDES = (
    "usr/share/doc/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "usr/share/lintian/*",
    "usr/share/bug/*",
    "usr/share/bash-completion/*",
    "usr/share/zsh/*",
    "usr/share/fish/*",
)
"""Never in an image: documentation and shell completions."""

STDLIB_EXCLUDES = tuple(
    f"{STDLIB}/{p}"
    for p in (
        "test/*",
        "idlelib/*",
        "tkinter/*",
        "turtledemo/*",
        "lib2to3/*",
        "ensurepip/*",
        "pydoc_data/*",
        "distutils/*",
        "unittest/*",
        "config-3.11-*",
        "__phello__/*",
        "sitecustomize.py",
        "lib-dynload/_test*",
        "lib-dynload/_ctypes_test*",
        "lib-dynload/xxlimited*",
        "lib-dynload/_xxtestfuzz*",
        "lib-dynload/_curses*",
        "lib-dynload/readline*",
        "lib-dynload/_dbm*",
        "lib-dynload/_gdbm*",
        "lib-dynload/nis*",
        "lib-dynload/_crypt*",
        "lib-dynload/_tkinter*",
        "lib-dynload/audioop*",
        "site-packages/*",
        "dist-packages/*",
    )
)
"""Parts of the standard library an agent never uses, or that link libraries it does not
carry (curses, readline, dbm, nis, crypt)."""


@dataclass(frozen=True, slots=True)
class Payload:
    """Files taken from one Debian package: those matching `patterns` (fnmatch on the path
    in the image, i.e. `usr_merged` of the path in the package, '*' crossing '/'), minus
    `exclude` and the documentation."""

    package: str
    patterns: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def wants(self, path: str) -> bool:
        """Whether the file at image path `path` (no leading '/') goes into the image."""
        return (
            any(fnmatch.fnmatchcase(path, p) for p in self.patterns)
            and not any(fnmatch.fnmatchcase(path, p) for p in self.exclude)
            and not any(fnmatch.fnmatchcase(path, p) for p in DOC_EXCLUDES)
        )


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One variant of the boot image."""

    name: str
    payloads: tuple[Payload, ...]
    library_packages: tuple[str, ...]
    """Packages searched for the shared libraries the payload links (only the libraries
    needed are copied)."""
    dlopen_libraries: tuple[str, ...]
    """Sonames loaded at run time rather than linked (pyudev opens libudev with ctypes)."""
    modules: tuple[str, ...]
    """Kernel modules /init loads (with their dependencies)."""
    module_dirs: tuple[str, ...] = ()
    """Directories under lib/modules/VERSION/kernel whose every module is carried, for udev to
    load by hardware alias (the full image: a real laptop's controllers and network cards)."""
    udev_subsystems: tuple[str, ...] = ()
    """Subsystems /init asks udev to replay (empty: all of them, so aliases load drivers)."""
    entry_modules: tuple[str, ...] = (
        "sanitiser.cli.main",
        "sanitiser.cli.agent",
        "sanitiser.devices.host",
        "sanitiser.devices.discover",
        "sanitiser.devices.probing",
        "sanitiser.devices.health",
        "sanitiser.methods.registry",
        "sanitiser.netboot.probe",
        "sanitiser.agent.agent",
        "sanitiser.agent.credentials",
        "sanitiser.agent.device",
        "sanitiser.agent.link",
        "sanitiser.agent.offline",
        "sanitiser.agent.protocol",
    )
    """Python modules the agent imports: the image carries every distribution they pull in,
    and the build fails unless each imports inside the image."""
    excluded_distributions: tuple[str, ...] = ("pip", "setuptools", "sanitiser")
    """Never copied from the bench's site-packages (this project is copied from its source)."""
    sanitiser_excludes: tuple[str, ...] = ("sanitiser/tui/*",)
    """Parts of this package a headless agent never imports."""

    def payload_packages(self) -> tuple[str, ...]:
        """The payload's package names, in order."""
        return tuple(p.package for p in self.payloads)

    def all_packages(self) -> tuple[str, ...]:
        """Every Debian package the build downloads (payload and libraries), sorted, once."""
        return tuple(sorted({*self.payload_packages(), *self.library_packages}))


EFI_BOOT_FILES: dict[str, tuple[str, str]] = {
    "EFI/BOOT/BOOTX64.EFI": ("shim-signed", "usr/lib/shim/shimx64.efi.signed"),
    "EFI/BOOT/grubx64.efi": (
        "grub-efi-amd64-signed",
        "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
    ),
}
"""The USB stick's UEFI boot path (its file: the Debian package and the file in it): Debian's
shim, signed by Microsoft's UEFI CA, as the removable-media loader; it verifies and starts
Debian's signed GRUB beside it, which verifies Debian's signed kernel, so the stick boots with
Secure Boot on. GRUB reads ``EFI/debian/grub.cfg`` on the stick itself (its built-in prefix),
never searching other disks. No ``fbx64.efi``: shim's fallback would write boot entries into
the donor's firmware."""


TOOL_PAYLOADS = (
    Payload("busybox-static", ("usr/bin/busybox",)),
    Payload("libc6", ("usr/lib64/ld-linux-x86-64.so.2", f"{LIBDIR}/ld-linux-x86-64.so.2")),
    Payload("libc-bin", ("usr/sbin/ldconfig",)),
    Payload("python3.11-minimal", (PYTHON,)),
    Payload("libpython3.11-minimal", (f"{STDLIB}/*",), STDLIB_EXCLUDES),
    Payload("libpython3.11-stdlib", (f"{STDLIB}/*",), STDLIB_EXCLUDES),
    Payload("hdparm", ("usr/sbin/hdparm",)),
    Payload("nvme-cli", ("usr/sbin/nvme",)),
    Payload("sg3-utils", ("usr/bin/sg_*", "usr/bin/sginfo")),
    Payload("smartmontools", ("usr/sbin/smartctl", "usr/share/smartmontools/*")),
    Payload("mmc-utils", ("usr/bin/mmc",)),
    Payload("dmidecode", ("usr/sbin/dmidecode",)),
    Payload(
        "udev",
        (
            "usr/bin/udevadm",
            "usr/lib/systemd/systemd-udevd",
            "usr/lib/udev/ata_id",
            "usr/lib/udev/scsi_id",
            "usr/lib/udev/rules.d/*",
            "etc/udev/udev.conf",
        ),
    ),
    Payload("libudev1", (f"{LIBDIR}/libudev.so.1*",)),
)
"""The agent's runtime and the device tools (hdparm, nvme-cli, sg3_utils, smartctl, mmc-utils,
dmidecode), udev for drive identities, busybox for the shell and DHCP client."""

LIBRARY_PACKAGES = (
    "libc6",
    "libgcc-s1",
    "libstdc++6",
    "zlib1g",
    "libexpat1",
    "libssl3",
    "libffi8",
    "libbz2-1.0",
    "liblzma5",
    "libsqlite3-0",
    "libuuid1",
    "libjson-c5",
    "libnvme1",
    "libdbus-1-3",
    "libkeyutils1",
    "libsgutils2-1.46-2",
    "libcap-ng0",
    "libcap2",
    "libselinux1",
    "libpcre2-8-0",
    "libsystemd0",
    "liblz4-1",
    "libzstd1",
    "libgcrypt20",
    "libgpg-error0",
    "libacl1",
    "libblkid1",
    "libkmod2",
)
"""Where the payload's shared libraries are looked for; a library not found in them stops the
build, naming the soname (add the Debian package that holds it here)."""

STORAGE_MODULES = (
    "virtio_pci",  # the bus of virtio_blk, virtio_scsi and virtio_net (a module in Debian)
    "nvme",
    "ahci",
    "sd_mod",
    "sg",
    "virtio_blk",
    "virtio_scsi",
    "xhci_pci",
    "usb_storage",
    "uas",
    "mmc_block",
    "sdhci_pci",
    "vfat",
    "nls_cp437",
    "nls_iso8859_1",
    "nls_utf8",
    "nls_ascii",
)
NETWORK_MODULES = ("e1000", "e1000e", "virtio_net", "af_packet")
FIRMWARE_MODULES = ("efivarfs",)
"""UEFI's variables as files (Secure Boot's state): a module in Debian's kernel, so without it
every UEFI computer's Secure Boot read as unknown."""

CI_IMAGE = ImageSpec(
    name="ci",
    payloads=TOOL_PAYLOADS,
    library_packages=LIBRARY_PACKAGES,
    dlopen_libraries=("libudev.so.1",),
    modules=STORAGE_MODULES + NETWORK_MODULES + FIRMWARE_MODULES,
    udev_subsystems=(
        "block",
        "scsi",
        "scsi_generic",
        "scsi_disk",
        "nvme",
        "mmc",
        "usb",
        "ata_port",
        "ata_device",
        "net",
    ),
)
"""The test variant: QEMU's controllers and network cards only, drivers loaded by name."""

FULL_IMAGE = dataclasses.replace(
    CI_IMAGE,
    name="full",
    udev_subsystems=(),
    module_dirs=(
        "drivers/nvme",
        "drivers/ata",
        "drivers/scsi",
        "drivers/mmc",
        "drivers/usb/host",
        "drivers/usb/storage",
        "drivers/net/ethernet",
        "drivers/net/usb",
        "drivers/net/phy",
        "drivers/net/mdio",
        "drivers/pci/controller",
        "drivers/md",
        "drivers/nvdimm",
        "drivers/char/tpm",
        "drivers/platform/x86",
        "drivers/power/supply",
        "drivers/thunderbolt",
        "fs/fat",
        "fs/nls",
    ),
)
"""The bench's variant: every storage controller, wired and USB network card, TPM and battery
driver of Debian's kernel, loaded by udev from the hardware's aliases."""

VARIANTS: Mapping[str, ImageSpec] = {s.name: s for s in (FULL_IMAGE, CI_IMAGE)}


def usr_merged(path: str) -> str:
    """The image path of package path `path`: bin, sbin, lib and lib64 move under usr/ (the
    image's /bin, /sbin, /lib and /lib64 are links there, as on Debian 12)."""
    top, _, rest = path.partition("/")
    return f"usr/{path}" if top in ("bin", "sbin", "lib", "lib64") and rest else path


USR_MERGE_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}


@dataclass(frozen=True, slots=True)
class LdList:
    """What the dynamic loader's ``--list`` said about one ELF file."""

    resolved: Mapping[str, str] = field(default_factory=dict)
    """soname -> the path it was found at."""
    missing: tuple[str, ...] = ()
    """Sonames it could not find."""
    static: bool = False


_LD_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+(/\S+)\s+\(0x[0-9a-f]+\)\s*$")
_LD_MISSING = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")
_LD_DIRECT = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)\s*$")
_LD_VDSO = re.compile(r"^\s*linux-vdso\.so\.\d+\s+\(0x[0-9a-f]+\)\s*$")


def parse_ld_list(text: str) -> LdList:
    """Parse ``ld-linux-x86-64.so.2 --list FILE`` output (the lines ``ldd`` prints).

    Raises:
        ValueError: a line that is none of the known forms (output not understood).
    """
    if "statically linked" in text or "not a dynamic executable" in text:
        return LdList(static=True)
    resolved: dict[str, str] = {}
    missing: list[str] = []
    for line in text.splitlines():
        if not line.strip() or _LD_VDSO.match(line):
            continue
        if m := _LD_FOUND.match(line):
            resolved[m[1]] = m[2]
        elif m := _LD_MISSING.match(line):
            missing.append(m[1])
        elif m := _LD_DIRECT.match(line):
            resolved[m[1].rsplit("/", 1)[-1]] = m[1]
        else:
            raise ValueError(f"dynamic loader --list: line not understood: {line!r}")
    return LdList(resolved, tuple(missing))


def parse_show_depends(text: str) -> list[str]:
    """The module files of ``modprobe --show-depends`` output, in load order (builtins
    skipped)."""
    files = []
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["insmod"] and len(parts) >= 2:
            files.append(parts[1])
    return files


def kernel_package(apt_depends: str) -> str | None:
    """The versioned kernel package that ``apt-cache depends linux-image-amd64`` names."""
    m = re.search(r"Depends:\s+(linux-image-\d\S*)", apt_depends)
    return m[1] if m else None


def deb_fields(filename: str) -> tuple[str, str]:
    """(package, version) from an apt-downloaded ``NAME_VERSION_ARCH.deb`` ('%3a' is ':')."""
    stem = filename.removesuffix(".deb")
    parts = stem.split("_")
    if len(parts) != 3 or not filename.endswith(".deb"):
        raise ValueError(f"not a NAME_VERSION_ARCH.deb file name: {filename!r}")
    return parts[0], parts[1].replace("%3a", ":")


def sorted_unique(items: Iterable[str]) -> tuple[str, ...]:
    """`items` sorted, each once."""
    return tuple(sorted(set(items)))


def parse_modules_dep(text: str) -> dict[str, tuple[str, ...]]:
    """``modules.dep``: module path -> the module paths it depends on (relative to
    lib/modules/VERSION, as the file writes them)."""
    deps: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        path, _, rest = line.partition(":")
        deps[path.strip()] = tuple(rest.split())
    return deps


def module_name(path: str) -> str:
    """``kernel/drivers/nvme/host/nvme-core.ko`` -> ``nvme_core`` (modprobe's spelling)."""
    base = path.rsplit("/", 1)[-1]
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def module_closure(
    deps: Mapping[str, Sequence[str]],
    builtin: Iterable[str],
    names: Iterable[str],
    dirs: Iterable[str] = (),
) -> tuple[str, ...]:
    """The module files to carry: those named (by modprobe name), every module under each of
    `dirs` (relative to ``kernel/``), and what they depend on; sorted.

    Raises:
        ValueError: a name that is neither a module nor built into the kernel.
    """
    by_name = {module_name(p): p for p in deps}
    builtins = {module_name(p) for p in builtin}
    wanted: list[str] = []
    for name in names:
        key = name.replace("-", "_")
        if key in by_name:
            wanted.append(by_name[key])
        elif key not in builtins:
            raise ValueError(f"kernel module {name!r}: not in modules.dep nor built in")
    prefixes = tuple(f"kernel/{d.strip('/')}/" for d in dirs)
    wanted += [p for p in deps if prefixes and p.startswith(prefixes)]
    seen: set[str] = set()
    stack = list(wanted)
    while stack:
        path = stack.pop()
        if path not in seen:
            seen.add(path)
            stack.extend(deps.get(path, ()))
    return tuple(sorted(seen))


PT_DYNAMIC = 2


def elf_is_dynamic(head: bytes) -> bool:
    """Whether the ELF file starting with `head` (its first bytes, program headers included)
    is dynamically linked: it has a PT_DYNAMIC segment. The dynamic loader's ``--list``
    crashes on a static executable, so those are not asked.

    Raises:
        ValueError: not a 64-bit little-endian ELF file, or its program headers lie beyond
            `head`.
    """
    if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    phoff = int.from_bytes(head[0x20:0x28], "little")
    phentsize = int.from_bytes(head[0x36:0x38], "little")
    phnum = int.from_bytes(head[0x38:0x3A], "little")
    if phnum == 0 or phentsize == 0:
        return False  # a relocatable object (a kernel module): nothing to load
    end = phoff + phentsize * phnum
    if end > len(head):
        raise ValueError("ELF program headers beyond the bytes read")
    return any(
        int.from_bytes(head[off : off + 4], "little") == PT_DYNAMIC
        for off in range(phoff, end, phentsize)
    )
