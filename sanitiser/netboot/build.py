"""Build the donor boot image (shell): Debian packages through apt, a kernel shared with the
QEMU lab's cache, a reproducible initramfs and a USB-bootable disk image.

Every external command goes through the `CommandRunner`. The steps (`ImageBuilder.build`):

1. The kernel: the package ``linux-image-amd64`` points at, downloaded with ``apt-get download``
   and unpacked into the same cache as ``lab/lab-setup.sh`` (``kx/``, one lock for both).
2. The payload's Debian packages (`spec.ImageSpec`), downloaded once into ``CACHE/debs`` and
   unpacked into ``CACHE/x``; their wanted files staged (merged /usr).
3. Every ELF file's shared libraries, resolved by the unpacked libc's dynamic loader
   (``--list``) in the unpacked library packages only: a library found nowhere else than on the
   bench stops the build.
4. The Python distributions the agent's modules import (asked of the bench's own interpreter)
   and this package's source; all compiled in the image's own interpreter (``chroot``,
   hash-based .pyc, fixed hash seed), sources dropped; then every entry module must import
   inside the image.
5. Kernel modules (named, and whole driver directories for the full image) with ``depmod``,
   /init, busybox's applets, ``ld.so.cache``; packed with `cpio.newc_archive` (sorted, one
   mtime) and gzip (no name, no time).
6. The USB image: MBR + FAT32 (``mkfs.fat --invariant``), the kernel and initramfs, syslinux
   (BIOS) and Debian's signed shim and GRUB (UEFI, Secure Boot on).
"""

from __future__ import annotations

import contextlib
import fcntl
import fnmatch
import hashlib
import json
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import sanitiser
from sanitiser.errors import SanitiserError
from sanitiser.netboot import cpio, disk, texts
from sanitiser.netboot.spec import (
    EFI_BOOT_FILES,
    LIBDIR,
    MANIFEST_PATH,
    PYTHON,
    SITE,
    STDLIB,
    USR_MERGE_LINKS,
    ImageSpec,
    deb_fields,
    elf_is_dynamic,
    kernel_package,
    module_closure,
    parse_ld_list,
    parse_modules_dep,
    usr_merged,
)
from sanitiser.runner import CommandResult, CommandRunner

DEFAULT_EPOCH = 1704067200
"""2024-01-01T00:00:00Z: every time in the image when ``SOURCE_DATE_EPOCH`` is not set."""
APT_TIMEOUT = 900.0
TOOL_TIMEOUT = 300.0
SYSLINUX_MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
DISK_ID = 0x5A4E5453
VOLUME_ID = "5A4E5453"


class ImageBuildError(SanitiserError):
    """The boot image could not be built (the message says which step and why)."""


def default_cache() -> Path:
    """The QEMU lab's cache (``LAB_CACHE``, else ``$XDG_CACHE_HOME/sanitiser-lab``): the kernel
    package unpacked there is shared with ``lab/lab-setup.sh``."""
    if env := os.environ.get("LAB_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sanitiser-lab"


def source_date_epoch() -> int:
    """``SOURCE_DATE_EPOCH`` when set (reproducible-builds.org), else `DEFAULT_EPOCH`."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else DEFAULT_EPOCH


@dataclass(frozen=True, slots=True)
class Kernel:
    """The unpacked kernel package."""

    package: str
    version: str
    root: Path
    """The unpacked package (boot/vmlinuz-VERSION, lib/modules/VERSION)."""

    @property
    def vmlinuz(self) -> Path:
        """The compressed kernel (bzImage) iPXE and syslinux load."""
        return self.root / "boot" / f"vmlinuz-{self.version}"

    @property
    def modules(self) -> Path:
        """lib/modules/VERSION of the unpacked package."""
        return self.root / "lib" / "modules" / self.version


@dataclass(frozen=True, slots=True)
class Deb:
    """One downloaded and unpacked Debian package."""

    package: str
    version: str
    file: Path
    root: Path
    sha256: str


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What `ImageBuilder.build` wrote to its output directory."""

    kernel: Path
    initrd: Path
    usb: Path | None
    manifest: Path
    initrd_sha256: str
    usb_sha256: str | None
    uncompressed_bytes: int
    files: int


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The lab cache's lock (the same file as lab-setup.sh's ``flock``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _is_elf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"\x7fELF"


_DISCOVER = r"""
import importlib, importlib.metadata as md, json, sys
sys.path.insert(0, sys.argv[1])
for name in sys.argv[2:]:
    importlib.import_module(name)
tops = {m.split(".")[0] for m in list(sys.modules)}
owners = md.packages_distributions()
out = {}
for name in sorted({d for t in tops for d in owners.get(t, [])}):
    dist = md.distribution(name)
    out[name] = {"version": dist.version, "base": str(dist.locate_file("")),
                 "files": sorted(str(f) for f in dist.files or [])}
print(json.dumps(out))
"""


class ImageBuilder:
    """Builds one `ImageSpec` into `out` (see the module's docstring for the steps)."""

    def __init__(
        self,
        spec: ImageSpec,
        runner: CommandRunner,
        out: Path,
        *,
        cache: Path | None = None,
        epoch: int | None = None,
        usb: bool = True,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.spec = spec
        self.runner = runner
        self.out = out
        self.cache = cache or default_cache()
        self.epoch = source_date_epoch() if epoch is None else epoch
        self.usb = usb
        self.log = log
        self.stage = out / ".stage"

    # --- commands ---------------------------------------------------------------------------

    def _run(self, argv: Sequence[str], what: str, timeout: float = TOOL_TIMEOUT) -> CommandResult:
        result = self.runner.run(argv, timeout=timeout)
        if result.returncode == 127:
            raise ImageBuildError(f"{what}: {argv[0]} is not installed ({result.stderr.strip()})")
        if not result.ok:
            tail = "\n".join(result.stderr.strip().splitlines()[-8:])
            raise ImageBuildError(f"{what} failed (exit {result.returncode}): {tail}")
        return result

    # --- 1. kernel ----------------------------------------------------------------------------

    def kernel(self) -> Kernel:
        """The kernel package linux-image-amd64 points at, unpacked in the lab cache."""
        record = self.cache / "kernel-package"
        with _locked(self.cache / ".lock"):
            found = self.runner.run(("apt-cache", "depends", "linux-image-amd64"), timeout=60)
            package = kernel_package(found.stdout) if found.ok else None
            if package is None and record.exists():
                package = record.read_text().strip()
            if not package:
                raise ImageBuildError(
                    "apt-cache knows no linux-image-amd64 and no kernel is cached (apt-get update)"
                )
            version = package.removeprefix("linux-image-")
            kernel = Kernel(package, version, self.cache / "kx")
            if not kernel.vmlinuz.exists() or not kernel.modules.is_dir():
                self.log(f"downloading {package}")
                tmp = self.cache / f"dl.{os.getpid()}"
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                try:
                    self._apt_download(tmp, [package])
                    (deb,) = tmp.glob(f"{package}_*.deb")
                    self._run(("dpkg-deb", "-x", str(deb), str(tmp / "x")), "unpacking the kernel")
                    shutil.rmtree(kernel.root, ignore_errors=True)
                    (tmp / "x").rename(kernel.root)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            if not (kernel.modules / "modules.dep").exists():
                self._run(("depmod", "-b", str(kernel.root), version), "depmod (kernel)")
            record.write_text(package + "\n")
        return kernel

    def _apt_download(self, directory: Path, packages: Sequence[str]) -> None:
        self._run(
            (
                "env",
                "-C",
                str(directory),
                "apt-get",
                "download",
                "-q",
                "-o",
                "APT::Sandbox::User=root",
                *packages,
            ),
            f"apt-get download {' '.join(packages)}",
            timeout=APT_TIMEOUT,
        )

    # --- 2. Debian packages ----------------------------------------------------------------

    def debs(self) -> dict[str, Deb]:
        """Every package of the spec: downloaded once into CACHE/debs, unpacked in CACHE/x."""
        return self._fetch(self.spec.all_packages())

    def efi_files(self) -> tuple[dict[str, Path], dict[str, Deb]]:
        """The stick's UEFI loaders (`spec.EFI_BOOT_FILES`: its path, the file) and their
        packages."""
        debs = self._fetch(sorted({package for package, _ in EFI_BOOT_FILES.values()}))
        files: dict[str, Path] = {}
        for stick_path, (package, inner) in EFI_BOOT_FILES.items():
            files[stick_path] = debs[package].root / inner
            if not files[stick_path].is_file():
                raise ImageBuildError(f"{debs[package].file.name} has no {inner}")
        return files, debs

    def _fetch(self, wanted: Sequence[str]) -> dict[str, Deb]:
        """Packages `wanted`: downloaded once into CACHE/debs, unpacked in CACHE/x."""
        debs_dir = self.cache / "debs"
        debs_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.cache / ".lock"):

            def cached(name: str) -> Path | None:
                found = sorted(debs_dir.glob(f"{name}_*_*.deb"))
                return found[-1] if found else None

            missing = [p for p in wanted if cached(p) is None]
            if missing:
                self.log(f"downloading {len(missing)} Debian packages")
                self._apt_download(debs_dir, missing)
            result: dict[str, Deb] = {}
            for name in wanted:
                file = cached(name)
                if file is None:
                    raise ImageBuildError(f"apt-get download gave no {name}_*.deb")
                package, version = deb_fields(file.name)
                root = self.cache / "x" / file.name.removesuffix(".deb")
                if not root.is_dir():
                    tmp = root.with_name(root.name + ".new")
                    shutil.rmtree(tmp, ignore_errors=True)
                    tmp.parent.mkdir(parents=True, exist_ok=True)
                    self._run(("dpkg-deb", "-x", str(file), str(tmp)), f"unpacking {file.name}")
                    tmp.rename(root)
                result[name] = Deb(package, version, file, root, _sha256(file))
        return result

    # --- staging ------------------------------------------------------------------------------

    def _put(self, image_path: str, source: Path) -> None:
        """Copy `source` (a file or symlink) to `image_path` in the stage."""
        dest = self.stage / image_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        if source.is_symlink():
            os.symlink(os.readlink(source), dest)
        else:
            shutil.copyfile(source, dest)
            dest.chmod(0o755 if source.stat().st_mode & 0o111 else 0o644)

    def _write(self, image_path: str, data: str | bytes, perm: int = 0o644) -> None:
        dest = self.stage / image_path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data.encode() if isinstance(data, str) else data)
        dest.chmod(perm)

    def stage_payload(self, debs: dict[str, Deb]) -> None:
        """The wanted files of each payload package, at their merged-/usr paths."""
        for link, target in USR_MERGE_LINKS.items():
            (self.stage / target).mkdir(parents=True, exist_ok=True)
            os.symlink(target, self.stage / link)
        for payload in self.spec.payloads:
            root = debs[payload.package].root
            count = 0
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames.sort()
                for name in sorted(
                    filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
                ):
                    source = Path(dirpath) / name
                    rel = usr_merged(source.relative_to(root).as_posix())
                    if payload.wants(rel):
                        self._put(rel, source)
                        count += 1
            if count == 0:
                raise ImageBuildError(f"{payload.package}: no file matched {payload.patterns}")

    def stage_libraries(self, debs: dict[str, Deb]) -> list[str]:
        """Copy every shared library the staged ELF files need (and the dlopen ones)."""
        dirs = [
            str(d)
            for name in self.spec.all_packages()
            for sub in ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")
            if (d := debs[name].root / sub).is_dir()
        ]
        loader = next(
            p
            for sub in ("lib", "usr/lib")
            if (p := debs["libc6"].root / sub / "x86_64-linux-gnu/ld-linux-x86-64.so.2").exists()
        )
        allowed = (str(self.cache / "x") + "/", str(self.stage) + "/")
        copied: dict[str, str] = {}
        problems: list[str] = []

        def resolve(soname: str) -> Path | None:
            for d in dirs:
                if (Path(d) / soname).exists():
                    return Path(d) / soname
            return None

        todo: list[Path] = [
            p
            for p in sorted(self.stage.rglob("*"))
            if p.is_file() and not p.is_symlink() and _is_elf(p)
        ]
        for soname in self.spec.dlopen_libraries:
            found = resolve(soname)
            if found is None:
                problems.append(f"{soname} (loaded at run time): in no library package")
                continue
            todo.append(found)
            copied.setdefault(soname, str(found))
        for elf in todo:
            with elf.open("rb") as f:
                if not elf_is_dynamic(f.read(1 << 16)):
                    continue
            result = self.runner.run(
                (str(loader), "--library-path", ":".join(dirs), "--list", str(elf)), timeout=60
            )
            try:
                listed = parse_ld_list(result.stdout + result.stderr)
            except ValueError as e:
                raise ImageBuildError(f"{elf}: {e}") from e
            if not result.ok and not listed.static:
                raise ImageBuildError(f"dynamic loader --list {elf}: {result.stderr.strip()}")
            problems += [f"{elf.name}: {so} not found" for so in listed.missing]
            for soname, path in listed.resolved.items():
                if soname.startswith("ld-linux"):
                    continue
                if not path.startswith(allowed):
                    problems.append(f"{elf.name}: {soname} found only on the bench ({path})")
                    continue
                if path.startswith(str(self.stage)):
                    continue  # the wheel's own bundled library (RUNPATH $ORIGIN)
                copied.setdefault(soname, path)
        if problems:
            raise ImageBuildError(
                "shared libraries missing from the image's packages (add the Debian package "
                "holding each to spec.LIBRARY_PACKAGES):\n  " + "\n  ".join(sorted(set(problems)))
            )
        for soname, path in sorted(copied.items()):
            self._put(f"{LIBDIR}/{soname}", Path(path).resolve())
        return sorted(copied)

    def stage_python(self) -> dict[str, str]:
        """The distributions the entry modules import (from the bench's interpreter) and this
        package's source. Returns distribution -> version."""
        package_dir = Path(sanitiser.__file__).resolve().parent
        result = self._run(
            (sys.executable, "-c", _DISCOVER, str(package_dir.parent), *self.spec.entry_modules),
            "finding the agent's Python packages",
        )
        found = json.loads(result.stdout)
        versions: dict[str, str] = {}
        for name, dist in sorted(found.items()):
            if name.lower() in self.spec.excluded_distributions:
                continue
            versions[name] = dist["version"]
            base = Path(dist["base"])
            for rel in dist["files"]:
                if (
                    rel.startswith(("..", "/"))
                    or "__pycache__" in rel
                    or rel.endswith((".pyc", ".pth"))
                ):
                    continue
                if (base / rel).is_file():
                    self._put(f"{SITE}/{rel}", base / rel)
        for dirpath, dirnames, filenames in os.walk(package_dir):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                source = Path(dirpath) / name
                rel = "sanitiser/" + source.relative_to(package_dir).as_posix()
                if name.endswith(".pyc") or any(
                    fnmatch.fnmatchcase(rel, p) for p in self.spec.sanitiser_excludes
                ):
                    continue
                self._put(f"{SITE}/{rel}", source)
        return versions

    def compile_python(self) -> None:
        """Compile every .py in the image with the image's interpreter, then drop the sources
        (hash-based .pyc beside each: no mtimes, and no compiling on the donor)."""
        self._write("usr/bin/python3", b"")  # replaced by the link below
        (self.stage / "usr/bin/python3").unlink()
        os.symlink("python3.11", self.stage / "usr/bin/python3")
        self._chroot_python(
            "-m", "compileall", "-q", "-b", "-f", "-j", "1", "--invalidation-mode",
            "unchecked-hash", f"/{STDLIB}", f"/{SITE}", what="compiling Python", check=False,
        )  # fmt: skip
        for py in sorted(self.stage.joinpath(STDLIB).rglob("*.py")) + sorted(
            self.stage.joinpath(SITE).rglob("*.py")
        ):
            if py.with_suffix(".pyc").exists():
                py.unlink()
        for cache in sorted(self.stage.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache)  # never written (-B); none may come from a package either

    def _chroot_python(self, *args: str, what: str, check: bool = True) -> CommandResult:
        argv = (
            "env", "PYTHONHASHSEED=0", f"SOURCE_DATE_EPOCH={self.epoch}", "chroot",
            str(self.stage), f"/{PYTHON}", "-B", *args,
        )  # fmt: skip
        result = self.runner.run(argv, timeout=TOOL_TIMEOUT)
        if check and not result.ok:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-12:])
            raise ImageBuildError(
                f"{what} failed inside the image (exit {result.returncode}):\n{tail}"
            )
        return result

    def stage_modules(self, kernel: Kernel) -> list[str]:
        """The spec's kernel modules and their dependencies, with depmod's indexes."""
        deps = parse_modules_dep((kernel.modules / "modules.dep").read_text())
        builtin = (kernel.modules / "modules.builtin").read_text().split()
        try:
            files = module_closure(deps, builtin, self.spec.modules, self.spec.module_dirs)
        except ValueError as e:
            raise ImageBuildError(str(e)) from e
        base = f"usr/lib/modules/{kernel.version}"
        for rel in files:
            self._put(f"{base}/{rel}", kernel.modules / rel)
        for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            self._put(f"{base}/{name}", kernel.modules / name)
        self._run(("depmod", "-b", str(self.stage / "usr"), kernel.version), "depmod (image)")
        return list(files)

    def stage_system(self, kernel: Kernel) -> None:
        """/init, the DHCP client script, busybox's applets, /etc and the loader cache."""
        self._write("init", texts.init_script(self.spec.modules, self.spec.udev_subsystems), 0o755)
        self._write("usr/share/udhcpc/default.script", texts.UDHCPC_SCRIPT, 0o755)
        self._write(
            "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
        )
        self._write(
            "etc/group",
            "".join(
                f"{g}:x:{n}:\n"
                for g, n in (("root", 0), ("tty", 5), ("disk", 6), ("lp", 7), ("kmem", 15),
                             ("dialout", 20), ("cdrom", 24), ("tape", 26), ("audio", 29),
                             ("video", 44), ("input", 105), ("kvm", 106), ("render", 107),
                             ("sgx", 108), ("nogroup", 65534))
            ),
        )  # fmt: skip
        self._write("etc/ld.so.conf", f"/{LIBDIR}\n")
        self._write("etc/sanitiser/image-id", f"{self.spec.name} {kernel.package}\n")
        for d in ("proc", "sys", "dev", "run", "tmp", "root", "mnt/stick", "etc/sanitiser/agent"):
            (self.stage / d).mkdir(parents=True, exist_ok=True)
        busybox = self.stage / "usr/bin/busybox"
        applets = self._run((str(busybox), "--list-full"), "busybox --list-full").stdout.split()
        for applet in sorted(applets):
            path = self.stage / usr_merged(applet)
            if not path.exists() and not path.is_symlink():
                path.parent.mkdir(parents=True, exist_ok=True)
                os.symlink("/usr/bin/busybox", path)

    def check_imports(self) -> None:
        """Every entry module imports inside the image, and the CLI answers --help there."""
        names = ",".join(repr(m) for m in self.spec.entry_modules)
        self._chroot_python(
            "-c", f"import importlib\nfor m in ({names},): importlib.import_module(m)",
            what="importing the agent's modules",
        )  # fmt: skip
        self._chroot_python("-m", "sanitiser", "agent", "--help", what="sanitiser agent --help")

    # --- 5. archive ---------------------------------------------------------------------------

    def archive_entries(self) -> list[cpio.Entry]:
        """The stage as cpio entries (sorted by `cpio.newc_archive`), plus /dev/console."""
        entries: list[cpio.Entry] = [cpio.char_device("dev/console", 5, 1)]
        for dirpath, dirnames, filenames in os.walk(self.stage):
            dirnames.sort()
            for name in [*dirnames, *filenames]:
                path = Path(dirpath) / name
                rel = path.relative_to(self.stage).as_posix()
                mode = path.lstat().st_mode
                if stat.S_ISLNK(mode):
                    entries.append(cpio.symlink(rel, os.readlink(path)))
                elif stat.S_ISDIR(mode):
                    if rel != "dev":
                        entries.append(cpio.directory(rel))
                elif name.endswith(".pyc") or not mode & 0o111:
                    entries.append(cpio.regular(rel, path.read_bytes(), 0o644))
                else:
                    entries.append(cpio.regular(rel, path.read_bytes(), 0o755))
        entries.append(cpio.directory("dev"))
        return entries

    # --- 6. USB image -------------------------------------------------------------------------

    def usb_image(
        self, kernel_file: Path, initrd_file: Path, cmdline: str, efi: Mapping[str, Path]
    ) -> Path:
        """MBR + one FAT32 partition with the kernel and the initramfs, syslinux for BIOS and
        the signed shim and GRUB (`efi`: path on the stick, file) for UEFI and Secure Boot."""
        work = self.out / ".usb"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            files = {
                texts.KERNEL_FILE: kernel_file,
                texts.INITRD_FILE: initrd_file,
                "syslinux.cfg": work / "syslinux.cfg",
                texts.GRUB_CONFIG: work / "grub.cfg",
                **efi,
            }
            (work / "syslinux.cfg").write_text(texts.syslinux_config(cmdline))
            (work / "grub.cfg").write_text(texts.grub_config(cmdline))
            for f in files.values():
                os.utime(f, (self.epoch, self.epoch))
            sectors = disk.fat_size_sectors(sum(f.stat().st_size for f in files.values()))
            part = work / "part.img"
            env = ("env", f"SOURCE_DATE_EPOCH={self.epoch}", "TZ=UTC")
            self._run(
                (*env, "mkfs.fat", "-F", "32", "--invariant", "-i", VOLUME_ID, "-n",
                 texts.STICK_LABEL, "-h", str(disk.PART_START), "-C", str(part),
                 str(sectors * disk.SECTOR // 1024)),
                "mkfs.fat",
            )  # fmt: skip
            self._run((*env, "syslinux", "--install", str(part)), "syslinux --install")
            folders = {str(p) for name in files for p in Path(name).parents if str(p) != "."}
            for folder in (*sorted(folders), texts.OFFLINE_DIR):
                self._run((*env, "mmd", "-i", str(part), f"::/{folder}"), "mmd")
            for name, f in sorted(files.items()):
                self._run((*env, "mcopy", "-m", "-i", str(part), str(f), f"::/{name}"), "mcopy")
            if not SYSLINUX_MBR.exists():
                raise ImageBuildError(
                    f"{SYSLINUX_MBR} missing (install the syslinux-common package)"
                )
            image = self.out / "sanitiser-usb.img"
            with image.open("wb") as out:
                out.write(disk.mbr_sector(SYSLINUX_MBR.read_bytes(), sectors, DISK_ID))
                out.write(bytes((disk.PART_START - 1) * disk.SECTOR))
                with part.open("rb") as fat:
                    shutil.copyfileobj(fat, out, 1 << 20)
            return image
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # --- all ------------------------------------------------------------------------------------

    def build(self) -> BuildResult:
        """Every step; the stage is removed afterwards, the output directory keeps vmlinuz,
        initrd.gz, sanitiser-usb.img and image.json."""
        self.out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage.mkdir(parents=True)
        try:
            kernel = self.kernel()
            debs = self.debs()
            self.log("staging the payload")
            self.stage_payload(debs)
            distributions = self.stage_python()
            modules = self.stage_modules(kernel)
            self.stage_system(kernel)
            libraries = self.stage_libraries(debs)
            self.log("compiling Python inside the image")
            self.compile_python()
            self.stage_system_cache()
            self.check_imports()
            manifest = {
                "variant": self.spec.name,
                "source_date_epoch": self.epoch,
                "kernel": {"package": kernel.package, "sha256": _sha256(kernel.vmlinuz)},
                "debs": {
                    d.package: {"version": d.version, "sha256": d.sha256}
                    for d in sorted(debs.values(), key=lambda d: d.package)
                },
                "python": distributions,
                "libraries": libraries,
                "modules": len(modules),
            }
            self._write(MANIFEST_PATH, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            entries = self.archive_entries()
            raw = cpio.newc_archive(entries, self.epoch)
            initrd = self.out / texts.INITRD_FILE
            initrd.write_bytes(cpio.gzip_archive(raw))
            vmlinuz = self.out / texts.KERNEL_FILE
            shutil.copyfile(kernel.vmlinuz, vmlinuz)
            usb: Path | None = None
            efi_debs: dict[str, Deb] = {}
            if self.usb:
                efi, efi_debs = self.efi_files()
                usb = self.usb_image(vmlinuz, initrd, texts.kernel_cmdline(), efi)
            initrd_sha256 = _sha256(initrd)
            manifest["initrd"] = {
                "sha256": initrd_sha256,
                "bytes": initrd.stat().st_size,
                "uncompressed_bytes": len(raw),
                "entries": len(entries),
            }
            if usb is not None:
                manifest["usb"] = {
                    "sha256": _sha256(usb),
                    "bytes": usb.stat().st_size,
                    "efi": {
                        d.package: {"version": d.version, "sha256": d.sha256}
                        for d in sorted(efi_debs.values(), key=lambda d: d.package)
                    },
                }
            path = self.out / "image.json"
            path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
            return BuildResult(
                vmlinuz,
                initrd,
                usb,
                path,
                initrd_sha256,
                _sha256(usb) if usb else None,
                len(raw),
                len(entries),
            )
        finally:
            shutil.rmtree(self.stage, ignore_errors=True)

    def stage_system_cache(self) -> None:
        """The loader cache again, after the libraries are in (pyudev finds libudev by it)."""
        self._run(("ldconfig", "-X", "-r", str(self.stage)), "ldconfig (image)")
