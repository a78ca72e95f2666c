"""The probe shell: runs a drive's read-only identify commands and builds its `Capabilities`.

`probe` picks the commands by transport (docs/DEVICE-COMMANDS.md), runs them through the
command runner and hands the text to the pure parsers in `sanitiser.probe`; a command that
fails or an output that cannot be read becomes a note on the result, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from sanitiser.domain import CommandRecord, Drive, Transport
from sanitiser.errors import ToolOutputError
from sanitiser.probe.ata import (
    AtaCapabilities,
    DcoInfo,
    HpaInfo,
    parse_dco_identify,
    parse_hdparm_identify,
    parse_hdparm_identify_words,
    parse_hdparm_N,
)
from sanitiser.probe.capabilities import Capabilities, sat_works
from sanitiser.probe.mmc import MmcCapabilities, MmcIdentity, parse_extcsd, parse_mmc_sysfs
from sanitiser.probe.nvme import (
    NvmeCapabilities,
    NvmeNamespace,
    SanitizeLog,
    parse_id_ctrl,
    parse_id_ns,
    parse_sanitize_log,
)
from sanitiser.probe.scsi import (
    ScsiCapabilities,
    ScsiOpcodes,
    parse_sg_inq,
    parse_sg_opcodes,
    parse_sg_readcap,
)
from sanitiser.runner import CommandResult, CommandRunner

PROBE_TIMEOUT = 60.0
"""Seconds one identify command may take."""
_TAIL = 2000


@dataclass
class _Session:
    """The probe's imperative state: runs commands and remembers them and any notes."""

    runner: CommandRunner
    timeout: float
    commands: list[CommandRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def run(self, *argv: str) -> CommandResult:
        result = self.runner.run(argv, timeout=self.timeout)
        self.commands.append(
            CommandRecord(
                argv=result.argv,
                returncode=result.returncode,
                stdout_tail=result.stdout[-_TAIL:],
                stderr_tail=result.stderr[-_TAIL:],
            )
        )
        return result

    def note(self, text: str) -> None:
        self.notes.append(text)


def _probe_ata(
    s: _Session, dev: str
) -> tuple[AtaCapabilities | None, HpaInfo | None, DcoInfo | None]:
    ata: AtaCapabilities | None = None
    words = s.run("hdparm", "--Istdout", dev)
    if words.ok:
        try:
            ata = parse_hdparm_identify_words(words.stdout, words.stderr)
        except ToolOutputError:
            ata = None
    if ata is None:
        text = s.run("hdparm", "-I", dev)
        try:
            ata = parse_hdparm_identify(text.stdout, text.stderr)
        except ToolOutputError:
            s.note(f"ATA IDENTIFY failed (hdparm exit {text.returncode}): {text.stderr.strip()}")
            return None, None, None
    hpa: HpaInfo | None = None
    n = s.run("hdparm", "-N", dev)
    try:
        hpa = parse_hdparm_N(n.stdout)
    except ToolOutputError:
        s.note(f"HPA state unknown (hdparm -N exit {n.returncode})")
    dco: DcoInfo | None = None
    if ata.dco_supported:
        d = s.run("hdparm", "--dco-identify", dev)
        try:
            dco = parse_dco_identify(d.stdout)
        except ToolOutputError:
            s.note(f"DCO state unknown (hdparm --dco-identify exit {d.returncode})")
    return ata, hpa, dco


def _probe_nvme(
    s: _Session, dev: str
) -> tuple[NvmeCapabilities | None, NvmeNamespace | None, SanitizeLog | None]:
    ctrl = s.run("nvme", "id-ctrl", dev, "-o", "json")
    try:
        nvme = parse_id_ctrl(ctrl.stdout)
    except ToolOutputError:
        s.note(f"NVMe identify controller failed (exit {ctrl.returncode}): {ctrl.stderr.strip()}")
        return None, None, None
    ns_result = s.run("nvme", "id-ns", dev, "-o", "json")
    namespace: NvmeNamespace | None = None
    try:
        namespace = parse_id_ns(ns_result.stdout)
    except ToolOutputError:
        s.note(f"NVMe identify namespace failed (exit {ns_result.returncode})")
    log: SanitizeLog | None = None
    if nvme.sanitize_any:
        log_result = s.run("nvme", "sanitize-log", dev, "-o", "json")
        try:
            log = parse_sanitize_log(log_result.stdout)
        except ToolOutputError:
            s.note(f"NVMe sanitize log unreadable (exit {log_result.returncode})")
    return nvme, namespace, log


def _probe_scsi(s: _Session, dev: str, *, opcodes: bool = True) -> ScsiCapabilities | None:
    inq = s.run("sg_inq", dev)
    try:
        inquiry = parse_sg_inq(inq.stdout)
    except ToolOutputError:
        s.note(f"SCSI INQUIRY failed (sg_inq exit {inq.returncode})")
        return None
    report = ScsiOpcodes(reported=False)
    if opcodes:
        op = s.run("sg_opcodes", dev)
        try:
            report = parse_sg_opcodes(op.stdout, op.stderr, op.returncode)
        except ToolOutputError:
            s.note(f"supported commands unknown (sg_opcodes exit {op.returncode})")
    cap = s.run("sg_readcap", "-l", dev)
    capacity = None
    try:
        capacity = parse_sg_readcap(cap.stdout)
    except ToolOutputError:
        s.note(f"capacity unknown (sg_readcap exit {cap.returncode})")
    return ScsiCapabilities(inquiry=inquiry, opcodes=report, capacity=capacity)


SYSFS_BLOCK = Path("/sys/class/block")
MMC_ATTRIBUTES = ("type", "name", "manfid", "oemid", "serial", "cid")


def read_mmc_sysfs(drive: Drive, root: Path = SYSFS_BLOCK) -> Mapping[str, str] | None:
    """The card's sysfs attributes (``/sys/class/block/mmcblkN/device/...``), or None when the
    device has no such directory (a lab file); an attribute that cannot be read is left out."""
    device = root / Path(drive.path).name / "device"
    if not device.is_dir():
        return None
    attrs: dict[str, str] = {}
    for name in MMC_ATTRIBUTES:
        try:
            attrs[name] = (device / name).read_text()
        except OSError:
            continue
    return attrs


def _probe_mmc(
    s: _Session, drive: Drive, sysfs: Callable[[Drive], Mapping[str, str] | None]
) -> MmcCapabilities | None:
    identity: MmcIdentity | None = None
    attrs = sysfs(drive)
    if attrs is None:
        s.note("no sysfs card attributes for this device (simulated or not an mmc card)")
    else:
        try:
            identity = parse_mmc_sysfs(attrs)
        except ToolOutputError as e:
            s.note(f"card identity unreadable: {e}")
            return None
        if not identity.is_emmc:
            s.note(f"an {identity.card_type} card: no EXT_CSD, host overwrite only")
            return None
    res = s.run("mmc", "extcsd", "read", drive.path)
    try:
        ext = parse_extcsd(res.stdout)
    except ToolOutputError as e:
        tail = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else ""
        s.note(f"EXT_CSD unreadable (mmc exit {res.returncode}{': ' + tail if tail else ''}): {e}")
        return None
    return MmcCapabilities(extcsd=ext, identity=identity)


def probe(
    drive: Drive,
    runner: CommandRunner,
    *,
    timeout: float = PROBE_TIMEOUT,
    mmc_sysfs: Callable[[Drive], Mapping[str, str] | None] = read_mmc_sysfs,
) -> Capabilities:
    """Run the read-only identify commands for `drive`'s transport and parse them.

    SATA: hdparm --Istdout (or -I), -N, and --dco-identify when DCO is advertised. NVMe:
    id-ctrl, id-ns (on the namespace device) and the sanitize log when sanitize is advertised.
    SCSI: sg_inq, sg_opcodes, sg_readcap -l, plus the ATA probe behind a SATL. USB: decides
    whether SAT pass-through works (smartctl, else hdparm); without it only Clear is possible.
    MMC: the card's sysfs type (an SD card stops there) and ``mmc extcsd read``.
    Loop/virtio: nothing to probe. Failures become `notes`, never exceptions.
    """
    s = _Session(runner, timeout)
    dev = drive.path
    t = drive.transport
    if t is Transport.SATA:
        ata, hpa, dco = _probe_ata(s, dev)
        return _done(s, Capabilities(t, ata=ata, hpa=hpa, dco=dco))
    if t is Transport.NVME:
        nvme, namespace, log = _probe_nvme(s, dev)
        return _done(s, Capabilities(t, nvme=nvme, namespace=namespace, sanitize_log=log))
    if t is Transport.SCSI:
        scsi = _probe_scsi(s, dev)
        if scsi is not None and scsi.is_satl:
            ata, hpa, dco = _probe_ata(s, dev)
            return _done(s, Capabilities(t, ata=ata, hpa=hpa, dco=dco, scsi=scsi))
        return _done(s, Capabilities(t, scsi=scsi))
    if t is Transport.USB:
        return _probe_usb(s, dev)
    if t is Transport.MMC:
        return _done(s, Capabilities(t, mmc=_probe_mmc(s, drive, mmc_sysfs)))
    s.note(f"{t.value} device: no firmware commands to probe")
    return _done(s, Capabilities(t))


def _probe_usb(s: _Session, dev: str) -> Capabilities:
    smart = s.run("smartctl", "-d", "sat", "-i", "-j", dev)
    sat = sat_works(smart.stdout) if smart.returncode != 127 else None
    ata = hpa = dco = None
    if sat is not False:
        ata, hpa, dco = _probe_ata(s, dev)
        sat = ata is not None and ata.trustworthy
    if not sat:
        s.note("no ATA pass-through through this USB bridge: only Clear (host overwrite)")
        ata = hpa = dco = None
    scsi = _probe_scsi(s, dev, opcodes=False)
    return _done(
        s, Capabilities(Transport.USB, ata=ata, hpa=hpa, dco=dco, scsi=scsi, sat_passthrough=sat)
    )


def _done(s: _Session, caps: Capabilities) -> Capabilities:
    return replace(caps, notes=tuple(s.notes), commands=tuple(s.commands))
