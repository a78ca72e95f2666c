"""One `Capabilities` value per drive, and the `probe` shell that gathers it through the runner.

`probe` runs only read-only identify commands, picks them by transport (docs/DEVICE-COMMANDS.md
§1-§4) and hands the text to the pure parsers in `ata`, `nvme` and `scsi`. `Capabilities.options`
turns what was found into the firmware techniques a policy can choose from, each marked usable or
blocked with a plain reason (frozen, locked, behind a USB bridge, untrustworthy sense data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import StrEnum

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
"""Seconds for one identify command; these never erase, so a timeout cannot harm the drive."""
_TAIL = 2000


class Technique(StrEnum):
    """A way to sanitise that a drive may advertise (the host overwrite is always possible)."""

    ATA_SANITIZE_CRYPTO = "ata-sanitize-crypto"
    ATA_SANITIZE_BLOCK = "ata-sanitize-block"
    ATA_SANITIZE_OVERWRITE = "ata-sanitize-overwrite"
    ATA_SECURITY_ERASE_ENHANCED = "ata-security-erase-enhanced"
    ATA_SECURITY_ERASE = "ata-security-erase"
    NVME_SANITIZE_CRYPTO = "nvme-sanitize-crypto"
    NVME_SANITIZE_BLOCK = "nvme-sanitize-block"
    NVME_SANITIZE_OVERWRITE = "nvme-sanitize-overwrite"
    NVME_FORMAT_CRYPTO = "nvme-format-crypto"
    NVME_FORMAT_USER_DATA = "nvme-format-user-data"
    SCSI_SANITIZE_CRYPTO = "scsi-sanitize-crypto"
    SCSI_SANITIZE_BLOCK = "scsi-sanitize-block"
    SCSI_SANITIZE_OVERWRITE = "scsi-sanitize-overwrite"
    SCSI_FORMAT_UNIT = "scsi-format-unit"
    HOST_OVERWRITE = "host-overwrite"


@dataclass(frozen=True, slots=True)
class TechniqueOption:
    """One technique the drive advertises, and whether it can be used now."""

    technique: Technique
    usable: bool
    reason: str = ""
    """Why it is blocked ("" when usable)."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Everything the probe learned about one drive; parts that do not apply are None."""

    transport: Transport
    ata: AtaCapabilities | None = None
    hpa: HpaInfo | None = None
    dco: DcoInfo | None = None
    nvme: NvmeCapabilities | None = None
    namespace: NvmeNamespace | None = None
    sanitize_log: SanitizeLog | None = None
    scsi: ScsiCapabilities | None = None
    sat_passthrough: bool | None = None
    """USB only: ATA pass-through (SAT) reaches the drive. False means only Clear is possible."""
    notes: tuple[str, ...] = ()
    """Plain sentences about what could not be probed, and why."""
    commands: tuple[CommandRecord, ...] = field(default=(), compare=False)
    """The identify commands that were run, for the record."""

    @property
    def virtual(self) -> bool:
        """Loop or virtio: no firmware of its own, host overwrite only."""
        return self.transport in (Transport.LOOP, Transport.VIRTIO)

    @property
    def hidden_sectors(self) -> int:
        """Sectors hidden beyond the visible end by HPA and DCO together (0 when unknown)."""
        hidden = self.hpa.hidden_sectors if self.hpa else 0
        if self.dco and self.hpa:
            hidden += self.dco.hidden_sectors(self.hpa.native_sectors)
        return hidden

    @property
    def options(self) -> tuple[TechniqueOption, ...]:
        """Every advertised technique, best first per family (§8), host overwrite last."""
        return technique_options(self)

    @property
    def usable(self) -> tuple[Technique, ...]:
        """The techniques that can be used now, in `options` order."""
        return tuple(o.technique for o in self.options if o.usable)


def _ata_blocker(caps: Capabilities, ata: AtaCapabilities) -> str:
    if caps.transport is Transport.USB:
        return "behind a USB bridge: ATA erase commands may be lost; move it to a SATA port"
    if not ata.trustworthy:
        return "hdparm reported bad sense data, so the drive's answers cannot be trusted"
    return ""


def _security_blocker(ata: AtaCapabilities) -> str:
    if ata.security_frozen:
        return "security is frozen: suspend to RAM or hot-plug the drive, then probe again"
    if ata.security_count_expired:
        return "too many wrong passwords: power-cycle the drive first"
    if ata.security_locked:
        return "the drive is locked by a password"
    if ata.security_enabled:
        return "a password is already set"
    return ""


def _ata_options(caps: Capabilities, ata: AtaCapabilities) -> list[TechniqueOption]:
    options: list[TechniqueOption] = []
    common = _ata_blocker(caps, ata)
    if ata.sanitize_supported:
        for flag, tech in (
            (ata.sanitize_crypto_scramble, Technique.ATA_SANITIZE_CRYPTO),
            (ata.sanitize_block_erase, Technique.ATA_SANITIZE_BLOCK),
            (ata.sanitize_overwrite, Technique.ATA_SANITIZE_OVERWRITE),
        ):
            if flag:
                options.append(TechniqueOption(tech, not common, common))
    if ata.security_supported:
        reason = common or _security_blocker(ata)
        if ata.enhanced_erase_supported:
            options.append(
                TechniqueOption(Technique.ATA_SECURITY_ERASE_ENHANCED, not reason, reason)
            )
        options.append(TechniqueOption(Technique.ATA_SECURITY_ERASE, not reason, reason))
    return options


def _nvme_options(caps: Capabilities, nvme: NvmeCapabilities) -> list[TechniqueOption]:
    log = caps.sanitize_log
    busy = ""
    if log is not None and log.in_progress:
        busy = "a sanitize is already in progress"
    options: list[TechniqueOption] = []
    for flag, tech in (
        (nvme.sanitize_crypto, Technique.NVME_SANITIZE_CRYPTO),
        (nvme.sanitize_block, Technique.NVME_SANITIZE_BLOCK),
        (nvme.sanitize_overwrite, Technique.NVME_SANITIZE_OVERWRITE),
    ):
        if flag:
            options.append(TechniqueOption(tech, not busy, busy))
    if nvme.format_supported:
        if nvme.format_crypto_erase:
            options.append(TechniqueOption(Technique.NVME_FORMAT_CRYPTO, not busy, busy))
        options.append(TechniqueOption(Technique.NVME_FORMAT_USER_DATA, not busy, busy))
    return options


def _scsi_options(scsi: ScsiCapabilities) -> list[TechniqueOption]:
    if scsi.is_satl:
        return []
    unknown = "the drive does not report its supported commands"
    options: list[TechniqueOption] = []
    for flag, tech in (
        (scsi.sanitize_crypto_erase, Technique.SCSI_SANITIZE_CRYPTO),
        (scsi.sanitize_block_erase, Technique.SCSI_SANITIZE_BLOCK),
        (scsi.sanitize_overwrite, Technique.SCSI_SANITIZE_OVERWRITE),
        (scsi.format_unit, Technique.SCSI_FORMAT_UNIT),
    ):
        if flag is None:
            options.append(TechniqueOption(tech, usable=False, reason=unknown))
        elif flag:
            options.append(TechniqueOption(tech, usable=True))
    return options


def technique_options(caps: Capabilities) -> tuple[TechniqueOption, ...]:
    """The techniques `caps` advertises, each usable or blocked with its reason (pure)."""
    options: list[TechniqueOption] = []
    if caps.ata is not None and not caps.virtual:
        options += _ata_options(caps, caps.ata)
    if caps.nvme is not None:
        options += _nvme_options(caps, caps.nvme)
    if caps.scsi is not None and caps.transport is not Transport.USB:
        options += _scsi_options(caps.scsi)
    options.append(TechniqueOption(Technique.HOST_OVERWRITE, usable=True))
    return tuple(options)


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


def sat_works(smartctl_json: str) -> bool:
    """True when ``smartctl -d sat -i -j`` reached an ATA drive (exit bits 0-2 clear, §5.3)."""
    try:
        data = json.loads(smartctl_json)
    except json.JSONDecodeError:
        return False
    if not isinstance(data, dict):
        return False
    tool, device = data.get("smartctl"), data.get("device")
    status = tool.get("exit_status") if isinstance(tool, dict) else None
    protocol = device.get("protocol") if isinstance(device, dict) else None
    return isinstance(status, int) and status & 0b111 == 0 and protocol == "ATA"


def probe(drive: Drive, runner: CommandRunner, *, timeout: float = PROBE_TIMEOUT) -> Capabilities:
    """Run the read-only identify commands for `drive`'s transport and parse them.

    SATA: hdparm --Istdout (or -I), -N, and --dco-identify when DCO is advertised. NVMe:
    id-ctrl, id-ns (on the namespace device) and the sanitize log when sanitize is advertised.
    SCSI: sg_inq, sg_opcodes, sg_readcap -l, plus the ATA probe behind a SATL. USB: decides
    whether SAT pass-through works (smartctl, else hdparm); without it only Clear is possible.
    Loop/virtio/MMC: nothing to probe. Failures become `notes`, never exceptions.
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
