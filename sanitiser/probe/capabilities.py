"""One `Capabilities` value per drive: what its identify commands said, and what it can do.

`sanitiser.devices.probing.probe` (the shell) runs the read-only identify commands, picked by
transport (docs/DEVICE-COMMANDS.md §1-§4), and hands the text to the pure parsers in `ata`, `nvme`
and `scsi`; this module only holds the result. `Capabilities.options` turns what was found into
the firmware techniques a policy can choose from, each marked usable or blocked with a plain
reason (frozen, locked, behind a USB bridge, untrustworthy sense data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from sanitiser.domain import CommandRecord, Transport
from sanitiser.probe.ata import (
    AtaCapabilities,
    DcoInfo,
    HpaInfo,
)
from sanitiser.probe.mmc import MmcCapabilities
from sanitiser.probe.nvme import (
    NvmeCapabilities,
    NvmeNamespace,
    SanitizeLog,
)
from sanitiser.probe.scsi import (
    ScsiCapabilities,
)

"""Seconds for one identify command; these never erase, so a timeout cannot harm the drive."""


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
    MMC_SANITIZE = "mmc-sanitize"
    MMC_SECURE_ERASE = "mmc-secure-erase"
    MMC_SECURE_TRIM = "mmc-secure-trim"
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
    mmc: MmcCapabilities | None = None
    """eMMC only: its EXT_CSD (``mmc extcsd read``) and sysfs identity."""
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


def _mmc_options(mmc: MmcCapabilities) -> list[TechniqueOption]:
    ext = mmc.extcsd
    options: list[TechniqueOption] = []
    for flag, tech in (
        (ext.sanitize, Technique.MMC_SANITIZE),
        (ext.secure_erase, Technique.MMC_SECURE_ERASE),
        (ext.secure_trim, Technique.MMC_SECURE_TRIM),
    ):
        if flag:
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
    if caps.mmc is not None:
        options += _mmc_options(caps.mmc)
    options.append(TechniqueOption(Technique.HOST_OVERWRITE, usable=True))
    return tuple(options)


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
