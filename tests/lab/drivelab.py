"""The QEMU drive lab: boot a guest with emulated drives, run commands in it, read the results.

The guest runs Debian's stock kernel (real nvme, ahci, usb-storage, virtio-scsi drivers) on a
tmpfs overlay of the HOST's root, shared read-only over virtio-9p: the host's tools, this project
and its virtual environment are visible in the guest at the same paths. A second, writable 9p
share (``/lab`` in the guest) carries the commands in and the results out. Each drive is a raw
file on the host, filled with a recognisable pattern beforehand so the host can tell afterwards
whether the guest really erased it (`image_state`).

One boot runs a whole plan of named steps (`DriveLab.run_steps`) so one boot serves a test module::

    lab = DriveLab(tmp_path, setup_lab())
    lab.add("nvme", "LABNVME1", size_mb=64)
    boot = lab.run_steps({"fmt": 'nvme format "$(dev LABNVME1)" --ses=1 --force'})
    assert boot.step("fmt").rc == 0
    assert lab.image_state("LABNVME1").verdict is ImageVerdict.ZEROED

Every step script may call ``dev SERIAL`` (the disk's device node) and ``ctrl SERIAL`` (an NVMe
disk's controller node). The set-up (kernel, initramfs) is ``lab/lab-setup.sh``; a manual run is
``lab/lab-run.sh`` (this module's command line). Standard library only: it runs without the venv.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parents[2]
"""The project checkout this harness belongs to (the guest sees it at the same path)."""
LAB_DIR = REPO / "lab"
SETUP_SCRIPT = LAB_DIR / "lab-setup.sh"
GUEST_INIT = LAB_DIR / "guest-init.sh"

DriveKind = Literal["nvme", "sata", "usb", "uas", "vblk", "vscsi"]
"""nvme: NVMe controller; sata: AHCI port (q35's ICH9); usb: usb-storage (BOT) on xHCI;
uas: USB Attached SCSI on xHCI; vblk: virtio-blk; vscsi: scsi-hd on virtio-scsi."""
DRIVE_KINDS: tuple[DriveKind, ...] = ("nvme", "sata", "usb", "uas", "vblk", "vscsi")

BLOCK = 4096
MIB = 1 << 20
CONSOLE_TAIL_LINES = 40
DEFAULT_DRIVE_OPTS = "cache=writeback,discard=unmap"
"""``-drive`` options; ``discard=ignore`` instead makes QEMU drop discards (a false success)."""


# --- images: fill with a known pattern, check what became of it (pure + tiny I/O) -------------


def pattern_block(index: int) -> bytes:
    """The pattern of 4 KiB block `index`: unique per block, so moved or stale data shows."""
    head = b"SANITISER-LAB-PATTERN blk=%010d " % index
    return (head * (BLOCK // len(head) + 1))[:BLOCK]


def fill_image(path: Path, size_mb: int) -> None:
    """Create (or overwrite) a raw image of `size_mb` MiB holding the pattern in every block."""
    chunk = 256  # blocks per write
    blocks = size_mb * MIB // BLOCK
    with path.open("wb") as f:
        for first in range(0, blocks, chunk):
            f.write(b"".join(pattern_block(i) for i in range(first, min(first + chunk, blocks))))
        f.flush()
        os.fsync(f.fileno())


class ImageVerdict(StrEnum):
    """What the host sees in a backing file after the guest has run."""

    UNTOUCHED = "untouched"  # every block still holds the pattern
    ZEROED = "zeroed"  # every block is zeros
    OVERWRITTEN = "overwritten"  # no block holds the pattern, not all zero
    PARTIAL = "partial"  # some blocks still hold the pattern


@dataclass(frozen=True, slots=True)
class ImageState:
    """Block counts of a backing file, compared with the fill pattern."""

    blocks: int
    pattern: int
    zero: int
    other: int
    first_pattern_block: int | None
    """Index of the first block still holding the pattern (None when none does)."""

    @property
    def verdict(self) -> ImageVerdict:
        """The one-word summary."""
        if self.pattern == self.blocks:
            return ImageVerdict.UNTOUCHED
        if self.zero == self.blocks:
            return ImageVerdict.ZEROED
        if self.pattern == 0:
            return ImageVerdict.OVERWRITTEN
        return ImageVerdict.PARTIAL


def classify_blocks(data: bytes, first_index: int = 0) -> ImageState:
    """Count pattern, zero and other blocks in `data` (whole blocks starting at `first_index`)."""
    zero_block = bytes(BLOCK)
    pattern = zero = other = 0
    first_pattern: int | None = None
    for off in range(0, len(data) - len(data) % BLOCK, BLOCK):
        index = first_index + off // BLOCK
        block = data[off : off + BLOCK]
        if block == zero_block:
            zero += 1
        elif block == pattern_block(index):
            pattern += 1
            if first_pattern is None:
                first_pattern = index
        else:
            other += 1
    return ImageState(pattern + zero + other, pattern, zero, other, first_pattern)


def image_state(path: Path) -> ImageState:
    """Classify every 4 KiB block of the image at `path`."""
    total = ImageState(0, 0, 0, 0, None)
    index = 0
    with path.open("rb") as f:
        while chunk := f.read(64 * BLOCK):
            part = classify_blocks(chunk, index)
            index += part.blocks
            total = ImageState(
                total.blocks + part.blocks,
                total.pattern + part.pattern,
                total.zero + part.zero,
                total.other + part.other,
                total.first_pattern_block
                if total.first_pattern_block is not None
                else part.first_pattern_block,
            )
    return total


SLACK = 3.0
"""Every lab time bound (a guest's run, a step in it) is this many times what the test names.
The bounds are there to catch a hung guest, not a slow one: under TCG a guest runs at the speed
the host's cores give it, and on CI's two cores, shared with the other test worker and
anything else the machine runs, a boot that takes 250 s idle took over 420 s (the wipe lab was
killed at its 420 s bound with every step still progressing). A hung guest still fails, later."""


def run_qemu(argv: Sequence[str], log: Path, timeout: float) -> tuple[int, float, bool]:
    """Run QEMU until it exits, its output in `log`; killed (its process group) after
    `timeout` x `SLACK` seconds. Returns (exit status, seconds, whether it was killed)."""
    start = time.monotonic()
    timed_out = False
    with (
        log.open("wb") as out,
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        ) as proc,
    ):  # fmt: skip
        try:
            proc.wait(timeout * SLACK)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, time.monotonic() - start, timed_out


# --- set-up --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabAssets:
    """What `lab/lab-setup.sh` prepared: the guest kernel, initramfs and kernel modules."""

    kernel: Path
    initrd: Path
    modules: Path


class LabError(RuntimeError):
    """The lab could not be set up or started."""


def parse_setup_output(text: str) -> LabAssets:
    """Read the KERNEL=/INITRD=/MODULES= lines that `lab/lab-setup.sh` prints."""
    values = dict(line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Z]+=", line))
    try:
        return LabAssets(Path(values["KERNEL"]), Path(values["INITRD"]), Path(values["MODULES"]))
    except KeyError as e:
        raise LabError(f"lab-setup printed no {e.args[0]}= line:\n{text}") from e


def setup_lab(cache: Path | None = None, timeout: float = 600) -> LabAssets:
    """Run the idempotent, cached `lab/lab-setup.sh` (downloads the kernel the first time)."""
    env = dict(os.environ)
    if cache is not None:
        env["LAB_CACHE"] = str(cache)
    proc = subprocess.run(
        ["bash", str(SETUP_SCRIPT)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise LabError(f"lab-setup failed (rc {proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return parse_setup_output(proc.stdout)


def kvm_usable(cpuinfo: str, kvm_writable: bool) -> bool:
    """Whether to try KVM: the device must be writable and the CPU must have vmx or svm.

    A paravirtual /dev/kvm without vmx/svm (this project's build machines) cannot run a stock
    kernel; TCG is used there.
    """
    return kvm_writable and re.search(r"\b(vmx|svm)\b", cpuinfo) is not None


def detect_accel() -> Literal["kvm", "tcg"]:
    """`LAB_ACCEL` if set, else KVM when usable (see `kvm_usable`), else TCG."""
    forced = os.environ.get("LAB_ACCEL", "")
    if forced == "kvm":
        return "kvm"
    if forced == "tcg":
        return "tcg"
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "tcg"
    return "kvm" if kvm_usable(cpuinfo, os.access("/dev/kvm", os.W_OK)) else "tcg"


# --- the QEMU command line (pure) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabDrive:
    """One emulated drive and its backing file."""

    kind: DriveKind
    serial: str
    image: Path
    size_mb: int
    model: str = ""
    """SATA model, or SCSI/UAS product; NVMe and usb-storage models are fixed by QEMU."""
    extra: str = ""
    """Extra ``-device`` properties, e.g. ``rotation_rate=1`` (SATA SSD) or ``wwn=0x5000...``."""
    drive_opts: str = DEFAULT_DRIVE_OPTS


def drive_args(drives: Sequence[LabDrive]) -> list[str]:
    """The ``-drive``/``-device`` arguments for `drives`, controllers added once as needed."""
    args: list[str] = []
    controllers: set[str] = set()
    sata_port = 0

    def controller(name: str, *device: str) -> None:
        if name not in controllers:
            controllers.add(name)
            args.extend(device)

    for i, d in enumerate(drives):
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,20}", d.serial):
            raise LabError(f"serial {d.serial!r}: 1-20 characters of [A-Za-z0-9_.-]")
        extra = f",{d.extra}" if d.extra else ""
        product = f",product={d.model}" if d.model else ""
        drive = f"d{i}"
        args += ["-drive", f"file={d.image},if=none,id={drive},format=raw,{d.drive_opts}"]
        if d.kind == "nvme":
            args += ["-device", f"nvme,drive={drive},serial={d.serial}{extra}"]
        elif d.kind == "sata":  # q35's built-in ICH9 AHCI: buses ide.0 .. ide.5
            model = f",model={d.model}" if d.model else ""
            args += [
                "-device",
                f"ide-hd,drive={drive},bus=ide.{sata_port},serial={d.serial}{model}{extra}",
            ]
            sata_port += 1
        elif d.kind == "usb":
            controller("xhci", "-device", "qemu-xhci,id=xhci0")
            args += ["-device", f"usb-storage,bus=xhci0.0,drive={drive},serial={d.serial}{extra}"]
        elif d.kind == "uas":
            controller("xhci", "-device", "qemu-xhci,id=xhci0")
            args += [
                "-device",
                f"usb-uas,bus=xhci0.0,id=uas{i},serial={d.serial}",
                "-device",
                f"scsi-hd,bus=uas{i}.0,scsi-id=0,lun=0,drive={drive},serial={d.serial}{product}{extra}",
            ]
        elif d.kind == "vblk":
            args += ["-device", f"virtio-blk-pci,drive={drive},serial={d.serial}{extra}"]
        elif d.kind == "vscsi":
            controller("vscsi", "-device", "virtio-scsi-pci,id=vscsi0")
            args += [
                "-device",
                f"scsi-hd,bus=vscsi0.0,drive={drive},serial={d.serial}{product}{extra}",
            ]
        else:
            raise LabError(f"unknown drive kind {d.kind!r}; one of {', '.join(DRIVE_KINDS)}")
    return args


def qemu_argv(
    assets: LabAssets,
    drives: Sequence[LabDrive],
    share: Path,
    *,
    accel: Literal["kvm", "tcg"] = "tcg",
    memory_mb: int = 1024,
    cpus: int = 2,
    interactive: bool = False,
    root: Path = Path("/"),
    smbios: Sequence[str] = (),
) -> list[str]:
    """The full QEMU command line of a lab guest. Each `smbios` entry is one ``-smbios``
    option (``type=1,manufacturer=...,serial=...``): the DMI tables the guest's dmidecode reads."""
    append = [
        "console=ttyS0",
        "panic=-1",
        "quiet",
        "loglevel=3",
        "usb-storage.delay_use=0",
        "module_blacklist=kvm,kvm_amd,kvm_intel",
        "mitigations=off",
        f"lab.init={GUEST_INIT}",
        f"lab.ndisks={len(drives)}",
    ]
    if interactive:
        append.append("lab.shell=1")
    cpu = "host,-arch-capabilities" if accel == "kvm" else "max"
    serial = (
        ["-serial", "mon:stdio"] if interactive else ["-serial", f"file:{share / 'console.log'}"]
    )
    fs = "security_model=none,readonly=on"
    return [
        "qemu-system-x86_64",
        *("-accel", accel, "-machine", "q35", "-cpu", cpu, "-smp", str(cpus), "-m", str(memory_mb)),
        *("-nodefaults", "-display", "none", "-no-reboot", *serial),
        *("-qmp", f"unix:{share / 'qmp.sock'},server=on,wait=off"),
        *(
            "-kernel",
            str(assets.kernel),
            "-initrd",
            str(assets.initrd),
            "-append",
            " ".join(append),
        ),
        *("-fsdev", f"local,id=fsh,path={root},{fs},multidevs=remap"),
        *("-device", "virtio-9p-pci,fsdev=fsh,mount_tag=host"),
        *("-fsdev", f"local,id=fsk,path={assets.modules},{fs}"),
        *("-device", "virtio-9p-pci,fsdev=fsk,mount_tag=kmods"),
        *("-fsdev", f"local,id=fsl,path={share},security_model=none"),
        *("-device", "virtio-9p-pci,fsdev=fsl,mount_tag=labshare"),
        *drive_args(drives),
        *(arg for entry in smbios for arg in ("-smbios", entry)),
    ]


# --- guest scripts (pure) -----------------------------------------------------------------------

GUEST_PRELUDE = r"""
# Disks by serial, looked up once (udev's ID_SERIAL_SHORT, as lsblk shows it): no program per call.
declare -A LAB_DEV=()
while read -r name serial; do
  [ -n "$serial" ] && LAB_DEV[$serial]=/dev/$name
done < <(lsblk -ndo NAME,SERIAL)
# dev SERIAL: the whole-disk node of the disk with that serial
dev() {
  [ -n "${LAB_DEV[$1]:-}" ] || { echo "dev: no disk with serial $1" >&2; return 1; }
  echo "${LAB_DEV[$1]}"
}
# ctrl SERIAL: the NVMe controller node (/dev/nvme0) of the disk with that serial
ctrl() { local d; d=$(dev "$1") || return 1; echo "${d%n[0-9]*}"; }
"""

STEP_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}")


def steps_script(steps: Mapping[str, str], step_timeout: int, parallel: int = 1) -> str:
    """The guest script running the named steps in order, at most `parallel` at a time.

    Step NAME's script is ``/lab/steps/NAME.sh``; it leaves ``NAME.out``, ``NAME.err``,
    ``NAME.rc`` and ``NAME.secs`` beside it. Each step runs in a subshell of the runner (the
    `GUEST_PRELUDE` functions are there, and no program is started per step: under TCG every
    program start costs a noticeable fraction of a second). A step running longer than
    `step_timeout` x `SLACK` seconds is killed with its whole process group (rc 137), so one hung
    step does
    not cost the others. With `parallel` > 1 a step may start before the previous ones end: only
    for steps that do not depend on each other.
    """
    for name in steps:
        if not STEP_NAME.fullmatch(name):
            raise LabError(f"step name {name!r}: 1-80 characters of [A-Za-z0-9_.-]")
    if parallel < 1:
        raise LabError(f"parallel must be at least 1, not {parallel}")
    names = " ".join(shlex.quote(n) for n in steps)
    return f"""{GUEST_PRELUDE}
set -m  # every background job gets its own process group: a timed-out step dies whole
mkfifo /run/lab-watchdog && exec 7<> /run/lab-watchdog  # never written: `read -t` is a timer
cd /lab/steps
declare -A STEP=() WATCHDOG=() T0=()
start() {{
  echo "LAB: step $1" > /dev/ttyS0
  ( . "./$1.sh" ) < /dev/null > "$1.out" 2> "$1.err" &
  local pid=$!
  STEP[$pid]=$1
  T0[$pid]=${{EPOCHREALTIME/./}}
  ( read -r -t {round(step_timeout * SLACK)} -u 7 _; kill -KILL -- -$pid ) 2> /dev/null &
  WATCHDOG[$pid]=$!
}}
reap() {{  # wait for any running step, record its status and time
  local pid rc t
  wait -n -p pid "${{!STEP[@]}}"
  rc=$?
  t=$(( ${{EPOCHREALTIME/./}} - T0[$pid] ))
  echo $rc > "${{STEP[$pid]}}.rc"
  printf '%d.%06d\n' $((t / 1000000)) $((t % 1000000)) > "${{STEP[$pid]}}.secs"
  kill -- -${{WATCHDOG[$pid]}} 2> /dev/null
  wait ${{WATCHDOG[$pid]}} 2> /dev/null
  unset "STEP[$pid]" "WATCHDOG[$pid]" "T0[$pid]"
}}
for name in {names}; do
  while (( ${{#STEP[@]}} >= {parallel} )); do reap; done
  start "$name"
done
while (( ${{#STEP[@]}} )); do reap; done
"""


# --- running ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Result:
    """One guest run."""

    rc: int
    """Exit status of the guest script; -1 when the guest never finished it."""
    out: str
    """stdout + stderr of the guest script."""
    console: str
    """Serial console (kernel messages and the guest init's ``LAB:`` markers)."""
    seconds: float
    """Wall-clock time of the whole QEMU run."""
    timed_out: bool = False
    """True when the harness killed QEMU at its timeout."""

    def console_tail(self, lines: int = CONSOLE_TAIL_LINES) -> str:
        """The last `lines` lines of the console, for failure messages."""
        return "\n".join(self.console.splitlines()[-lines:])

    def describe(self) -> str:
        """A failure message: what happened, and the console tail."""
        what = "killed at its timeout" if self.timed_out else f"guest script rc={self.rc}"
        return f"drive lab: {what} after {self.seconds:.1f} s; console tail:\n{self.console_tail()}"


@dataclass(frozen=True, slots=True)
class Step:
    """The result of one named step; rc is None when the guest never ran it to the end."""

    name: str
    rc: int | None
    out: str
    err: str
    seconds: float | None


@dataclass(frozen=True, slots=True)
class Boot:
    """One boot that ran a plan of named steps."""

    result: Result
    steps: dict[str, Step] = field(default_factory=dict)

    def step(self, name: str) -> Step:
        """The finished step `name`; AssertionError with the console tail when it did not finish."""
        got = self.steps.get(name)
        if got is None or got.rc is None:
            raise AssertionError(f"step {name!r} did not finish; {self.result.describe()}")
        return got


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


class DriveLab:
    """A guest with a chosen set of emulated drives, booted once per `run`/`run_steps`."""

    def __init__(
        self,
        workdir: Path,
        assets: LabAssets,
        *,
        accel: Literal["kvm", "tcg"] | None = None,
        memory_mb: int = 1024,
        cpus: int = 2,
        smbios: Sequence[str] = (),
    ) -> None:
        """Prepare a lab in `workdir` (images and the share live there); `smbios` as in
        `qemu_argv`."""
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.assets = assets
        self.accel: Literal["kvm", "tcg"] = accel or detect_accel()
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.smbios = tuple(smbios)
        self.drives: list[LabDrive] = []

    def add(
        self,
        kind: DriveKind,
        serial: str,
        size_mb: int = 64,
        *,
        model: str = "",
        extra: str = "",
        fill: bool = True,
        drive_opts: str = DEFAULT_DRIVE_OPTS,
    ) -> LabDrive:
        """Add a drive backed by ``workdir/SERIAL.img`` (the lab pattern unless not `fill`)."""
        if any(d.serial == serial for d in self.drives):
            raise LabError(f"serial {serial!r} used twice")
        image = self.dir / f"{serial}.img"
        if fill:
            fill_image(image, size_mb)
        else:
            with image.open("wb") as f:
                f.truncate(size_mb * MIB)
        drive = LabDrive(kind, serial, image, size_mb, model, extra, drive_opts)
        self.drives.append(drive)
        return drive

    def drive(self, serial: str) -> LabDrive:
        """The drive with `serial`."""
        for d in self.drives:
            if d.serial == serial:
                return d
        raise KeyError(serial)

    def image_state(self, serial: str) -> ImageState:
        """What the host sees in the backing file of the drive with `serial`."""
        return image_state(self.drive(serial).image)

    def share(self) -> Path:
        """The directory shared with the guest as ``/lab`` (emptied before each run)."""
        share = self.dir / "share"
        if share.exists():
            shutil.rmtree(share)
        share.mkdir()
        return share

    def run(self, script: str, timeout: float = 240, *, share: Path | None = None) -> Result:
        """Boot, run `script` (bash) in the guest, power off; kill QEMU after `timeout` x
        `SLACK` seconds."""
        share = share or self.share()
        (share / "cmd").write_text(script)
        argv = qemu_argv(
            self.assets,
            self.drives,
            share,
            accel=self.accel,
            memory_mb=self.memory_mb,
            cpus=self.cpus,
            smbios=self.smbios,
        )
        returncode, seconds, timed_out = run_qemu(argv, share / "qemu.log", timeout)
        rc_text = _read(share / "rc").strip()
        console = _read(share / "console.log")
        qemu_log = _read(share / "qemu.log").strip()
        if qemu_log:
            console += f"\n[qemu rc={returncode}] {qemu_log}"
        return Result(
            int(rc_text) if rc_text.lstrip("-").isdigit() else -1,
            _read(share / "out.txt"),
            console,
            seconds,
            timed_out,
        )

    def run_steps(
        self,
        steps: Mapping[str, str],
        timeout: float = 240,
        step_timeout: int = 120,
        parallel: int = 1,
    ) -> Boot:
        """One boot running `steps` (name -> bash script) in order; see `steps_script`."""
        share = self.share()
        step_dir = share / "steps"
        step_dir.mkdir()
        for name, script in steps.items():
            (step_dir / f"{name}.sh").write_text(script)
        result = self.run(steps_script(steps, step_timeout, parallel), timeout, share=share)
        found: dict[str, Step] = {}
        for name in steps:
            rc = _read(step_dir / f"{name}.rc").strip()
            secs = _read(step_dir / f"{name}.secs").strip()
            found[name] = Step(
                name,
                int(rc) if rc.isdigit() else None,
                _read(step_dir / f"{name}.out"),
                _read(step_dir / f"{name}.err"),
                float(secs) if re.fullmatch(r"[0-9]*\.?[0-9]+", secs) else None,
            )
        return Boot(result, found)


@dataclass(frozen=True, slots=True)
class DriveSpec:
    """A drive to add to a lab (the arguments of `DriveLab.add`)."""

    kind: DriveKind
    serial: str
    size_mb: int = 64
    model: str = ""
    extra: str = ""


@dataclass(frozen=True, slots=True)
class LabPlan:
    """Everything one boot does: the drives, and the named steps to run in order."""

    drives: tuple[DriveSpec, ...]
    steps: Mapping[str, str]
    timeout: float = 240
    """Seconds before the whole guest is killed (boot included; the machine may be busy)."""
    step_timeout: int = 120
    """Seconds before one step is killed inside the guest."""
    parallel: int = 1
    """How many steps may run at once (1: strictly one after another)."""
    smbios: tuple[str, ...] = ()
    """``-smbios`` options for the guest's firmware tables (see `qemu_argv`)."""


@dataclass(frozen=True, slots=True)
class LabRun:
    """A lab after its one boot: the drives (and their images) and the steps' results."""

    lab: DriveLab
    boot: Boot

    def step(self, name: str) -> Step:
        """The finished step `name` (see `Boot.step`)."""
        return self.boot.step(name)

    def image_state(self, serial: str) -> ImageState:
        """What the host sees now in the backing file of the drive with `serial`."""
        return self.lab.image_state(serial)


def run_plan(plan: LabPlan, workdir: Path, assets: LabAssets) -> LabRun:
    """Create the plan's drives in `workdir`, boot once, run its steps."""
    lab = DriveLab(workdir, assets, smbios=plan.smbios)
    for d in plan.drives:
        lab.add(d.kind, d.serial, d.size_mb, model=d.model, extra=d.extra)
    return LabRun(lab, lab.run_steps(plan.steps, plan.timeout, plan.step_timeout, plan.parallel))


# --- command line (lab/lab-run.sh) ----------------------------------------------------------------


def parse_drive_spec(spec: str) -> tuple[DriveKind, str, int, str, str]:
    """``KIND:SERIAL[:SIZE_MB[:MODEL[:EXTRA]]]`` -> (kind, serial, size_mb, model, extra)."""
    parts = spec.split(":", 4)
    kind = next((k for k in DRIVE_KINDS if len(parts) >= 2 and k == parts[0]), None)
    if kind is None:
        raise argparse.ArgumentTypeError(
            f"{spec!r}: KIND:SERIAL[:SIZE_MB[:MODEL[:EXTRA]]], KIND one of {', '.join(DRIVE_KINDS)}"
        )
    parts += [""] * (5 - len(parts))
    _, serial, size, model, extra = parts
    return kind, serial, int(size or 64), model, extra


def main(argv: Sequence[str] | None = None) -> int:
    """``lab-run.sh``: boot a guest with drives, run a script (or a shell), report."""
    p = argparse.ArgumentParser(prog="lab-run.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--out", type=Path, required=True, help="work directory (images, share)")
    p.add_argument("-d", "--drive", type=parse_drive_spec, action="append", default=[],
                   metavar="KIND:SERIAL[:SIZE_MB[:MODEL[:EXTRA]]]")  # fmt: skip
    p.add_argument("-c", "--cmd", type=Path, help="bash script to run in the guest")
    p.add_argument("-i", "--interactive", action="store_true", help="serial shell instead")
    p.add_argument("-t", "--timeout", type=float, default=600)
    p.add_argument("--accel", choices=["kvm", "tcg"])
    args = p.parse_args(argv)
    lab = DriveLab(args.out, setup_lab(), accel=args.accel)
    for kind, serial, size_mb, model, extra in args.drive:
        image = args.out / f"{serial}.img"
        if image.exists():  # reused as it is, so it can be inspected between runs
            lab.drives.append(LabDrive(kind, serial, image, size_mb, model, extra))
        else:
            lab.add(kind, serial, size_mb, model=model, extra=extra)
    if args.interactive:
        share = lab.share()
        argv_ = qemu_argv(lab.assets, lab.drives, share, accel=lab.accel, interactive=True)
        return subprocess.run(argv_, check=False).returncode
    if args.cmd is None:
        p.error("need -c SCRIPT or -i")
    res = lab.run(args.cmd.read_text(), args.timeout)
    sys.stdout.write(res.out)
    print(f"--- rc={res.rc} accel={lab.accel} wall={res.seconds:.1f}s share={args.out / 'share'}")
    for d in lab.drives:
        print(f"--- {d.serial}: {image_state(d.image).verdict} ({d.image})")
    if res.rc != 0:
        print(res.describe(), file=sys.stderr)
    return 0 if res.rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
