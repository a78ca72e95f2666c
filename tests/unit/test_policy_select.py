"""Method selection: tables per media kind and policy, overrides, estimates, and properties."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sanitiser.devices.probing import probe
from sanitiser.domain import (
    UNKNOWN_HEALTH,
    Drive,
    Health,
    HealthGrade,
    MediaKind,
    NistCategory,
    Transport,
)
from sanitiser.emulators import EmulatedRunner
from sanitiser.emulators.ata import AtaDriveEmulator
from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.errors import OverrideRefusedError
from sanitiser.policy.loader import MediaRule, Policy, TechniqueRule, load_policy
from sanitiser.policy.plan import Plan, plan_from_json
from sanitiser.policy.select import (
    DESTROY,
    OVERWRITE_BYTES_PER_SECOND,
    estimate_seconds,
    rank,
    select_method,
)
from sanitiser.probe.ata import AtaCapabilities, HpaInfo
from sanitiser.probe.capabilities import Capabilities, Technique
from sanitiser.probe.mmc import MmcCapabilities, MmcExtCsd
from sanitiser.probe.nvme import NvmeCapabilities, SanitizeLog, SanitizeStatus
from sanitiser.probe.scsi import (
    FORMAT_UNIT,
    SA_BLOCK_ERASE,
    SA_CRYPTO_ERASE,
    SA_OVERWRITE,
    SANITIZE,
    ScsiCapabilities,
    ScsiInquiry,
    ScsiOpcodes,
)
from sanitiser.testing import FakeRunner

NIST = load_policy("nist-800-88")
STRICT = load_policy("strict")
GB = 1_000_000_000
T = Technique


def drive(
    transport: Transport,
    *,
    rotational: bool = False,
    removable: bool = False,
    size: int = 500 * GB,
    name: str = "sdx",
) -> Drive:
    """A drive on `transport`; rotation and removability decide HDD/SSD and stick/drive."""
    return Drive(path=f"/dev/{name}", name=name, model="Model", serial="SER1", size_bytes=size,
                 transport=transport, rotational=rotational, removable=removable)  # fmt: skip


HDD = drive(Transport.SATA, rotational=True)
SSD = drive(Transport.SATA)
NVME = drive(Transport.NVME, name="nvme0n1")
SAS_HDD = drive(Transport.SCSI, rotational=True)
SAS_SSD = drive(Transport.SCSI)
STICK = drive(Transport.USB, removable=True, size=32 * GB)
USB_DISK = drive(Transport.USB, rotational=True)
CARD = drive(Transport.MMC, name="mmcblk0", size=16 * GB)


def emmc(features: int, revision: int = 8) -> Capabilities:
    """An eMMC's capabilities with SEC_FEATURE_SUPPORT `features` (0x55 on the real captures)."""
    ext = MmcExtCsd(
        revision=revision, version="5.1", sec_count=16 * GB // 512, block_addressed=True,
        hc_erase_grp_size=1, erase_group_def=1, boot_size_mult=0x20, erased_mem_cont=0,
        sec_feature_support=features, rpmb_size_mult=0x04,
    )  # fmt: skip
    return Capabilities(Transport.MMC, mmc=MmcCapabilities(ext))


LOOP = drive(Transport.LOOP, name="loop3", size=64 << 20)
VIRTIO = drive(Transport.VIRTIO, name="vda", size=64 << 20)
ODD = drive(Transport.UNKNOWN)

FAILING = Health(grade=HealthGrade.FAIL, reasons=("1200 reallocated sectors",))


def ata(
    *,
    sanitize: str = "",
    security: bool = False,
    enhanced: bool = False,
    frozen: bool = False,
    locked: bool = False,
    sense: bool = False,
    minutes: tuple[int | None, int | None] = (None, None),
) -> AtaCapabilities:
    """ATA IDENTIFY facts: `sanitize` holds c(rypto), b(lock), o(verwrite)."""
    return AtaCapabilities(
        security_supported=security,
        enhanced_erase_supported=enhanced,
        security_frozen=frozen,
        security_locked=locked,
        security_enabled=locked,
        erase_minutes_normal=minutes[0],
        erase_minutes_enhanced=minutes[1],
        sanitize_supported=bool(sanitize),
        sanitize_crypto_scramble="c" in sanitize,
        sanitize_block_erase="b" in sanitize,
        sanitize_overwrite="o" in sanitize,
        sense_warnings=("SG_IO: questionable sense data, results may be incorrect",)
        if sense
        else (),
    )


def nvme(
    *, sanicap: int = 0, fna: int = 0, oacs: int = 0x2, busy: bool = False,
    estimates: tuple[tuple[str, int | None], ...] = (),
) -> tuple[NvmeCapabilities, SanitizeLog | None]:  # fmt: skip
    """NVMe controller facts, and a sanitize log (in progress when `busy`)."""
    caps = NvmeCapabilities("S", "M", "F", oacs=oacs, sanicap=sanicap, fna=fna, namespaces=1)
    status = SanitizeStatus.IN_PROGRESS if busy else SanitizeStatus.NEVER
    log = SanitizeLog("nvme0", sprog=100 if busy else 65535, status=status, status_text="",
                      global_erased=False, completed_passes=0, cdw10=0,
                      estimates=estimates)  # fmt: skip
    return caps, log if (sanicap or busy or estimates) else None


def scsi(*commands: tuple[int, int | None], reported: bool = True) -> ScsiCapabilities:
    """A SAS disk whose REPORT SUPPORTED OPERATION CODES lists `commands`."""
    return ScsiCapabilities(
        inquiry=ScsiInquiry(vendor="SEAGATE", product="ST4000NM", revision="0004"),
        opcodes=ScsiOpcodes(reported=reported, commands=frozenset(commands)),
    )


def sata(a: AtaCapabilities | None, *, hpa: HpaInfo | None = None) -> Capabilities:
    """SATA capabilities."""
    return Capabilities(Transport.SATA, ata=a, hpa=hpa)


def nv(
    *, sanicap: int = 0, fna: int = 0, oacs: int = 0x2, busy: bool = False,
    estimates: tuple[tuple[str, int | None], ...] = (),
) -> Capabilities:  # fmt: skip
    """NVMe capabilities (see `nvme`)."""
    c, log = nvme(sanicap=sanicap, fna=fna, oacs=oacs, busy=busy, estimates=estimates)
    return Capabilities(Transport.NVME, nvme=c, sanitize_log=log)


NONE = Capabilities(Transport.SATA)
FULL_ATA = ata(sanitize="cbo", security=True, enhanced=True)
FROZEN_CRYPTO = ata(sanitize="c", security=True, enhanced=True, frozen=True)
SAS_OVERWRITE = Capabilities(
    Transport.SCSI, scsi=scsi((SANITIZE, SA_OVERWRITE), (FORMAT_UNIT, None))
)
SAS_CRYPTO = Capabilities(
    Transport.SCSI, scsi=scsi((SANITIZE, SA_CRYPTO_ERASE), (SANITIZE, SA_BLOCK_ERASE))
)
BRIDGED = Capabilities(Transport.USB, ata=FULL_ATA, sat_passthrough=True)


# --- tables -----------------------------------------------------------------------------------

# (id, drive, caps, nist choice, strict choice); a choice is technique value or "destroy".
TABLE: list[tuple[str, Drive, Capabilities, str, str]] = [
    # Hard disks (Table A-5): sanitize overwrite first; crypto only under the default policy.
    ("hdd all", HDD, sata(FULL_ATA), "ata-sanitize-overwrite", "ata-sanitize-overwrite"),
    ("hdd crypto only", HDD, sata(ata(sanitize="c")), "ata-sanitize-crypto", DESTROY),
    ("hdd crypto + frozen SE", HDD, sata(FROZEN_CRYPTO),
     "ata-sanitize-crypto", DESTROY),
    ("hdd enhanced SE", HDD, sata(ata(security=True, enhanced=True)),
     "ata-security-erase-enhanced", "ata-security-erase-enhanced"),
    ("hdd normal SE", HDD, sata(ata(security=True)), "ata-security-erase", DESTROY),
    ("hdd frozen", HDD, sata(ata(security=True, enhanced=True, frozen=True)), "host-overwrite",
     DESTROY),
    ("hdd nothing", HDD, sata(ata()), "host-overwrite", DESTROY),
    ("hdd bad sense", HDD, sata(ata(sanitize="o", sense=True)), "host-overwrite", DESTROY),
    ("hdd identify failed", HDD, NONE, "host-overwrite", DESTROY),
    ("sas hdd overwrite", SAS_HDD, SAS_OVERWRITE,
     "scsi-sanitize-overwrite", "scsi-sanitize-overwrite"),
    ("sas hdd format only", SAS_HDD, Capabilities(Transport.SCSI, scsi=scsi((FORMAT_UNIT, None))),
     "host-overwrite", DESTROY),
    # SSDs (Table A-8): sanitize crypto/block; security erase is only Clear on flash.
    ("ssd all", SSD, sata(FULL_ATA), "ata-sanitize-crypto", "ata-sanitize-crypto"),
    ("ssd block", SSD, sata(ata(sanitize="bo", security=True)), "ata-sanitize-block",
     "ata-sanitize-block"),
    ("ssd overwrite only", SSD, sata(ata(sanitize="o")), "host-overwrite", DESTROY),
    ("ssd enhanced SE", SSD, sata(ata(security=True, enhanced=True)),
     "ata-security-erase-enhanced", DESTROY),
    ("ssd frozen", SSD, sata(ata(security=True, enhanced=True, frozen=True)), "host-overwrite",
     DESTROY),
    ("ssd frozen + sanitize", SSD, sata(ata(sanitize="b", security=True, frozen=True)),
     "ata-sanitize-block", "ata-sanitize-block"),
    ("ssd locked", SSD, sata(ata(security=True, enhanced=True, locked=True)), "host-overwrite",
     DESTROY),
    ("sas ssd crypto", SAS_SSD, SAS_CRYPTO,
     "scsi-sanitize-crypto", "scsi-sanitize-crypto"),
    ("sas ssd no rsoc", SAS_SSD, Capabilities(Transport.SCSI, scsi=scsi(reported=False)),
     "host-overwrite", DESTROY),
    # NVMe: Sanitize, then Format SES=2, then SES=1 (both Purge by A-8).
    ("nvme sanitize all", NVME, nv(sanicap=0x7, fna=0x4), "nvme-sanitize-crypto",
     "nvme-sanitize-crypto"),
    ("nvme sanitize block", NVME, nv(sanicap=0x2), "nvme-sanitize-block", "nvme-sanitize-block"),
    ("nvme sanitize overwrite", NVME, nv(sanicap=0x4, fna=0x4), "nvme-sanitize-overwrite",
     "nvme-sanitize-overwrite"),
    ("nvme format crypto", NVME, nv(fna=0x4), "nvme-format-crypto", "nvme-format-crypto"),
    ("nvme format ses1", NVME, nv(), "nvme-format-user-data", "nvme-format-user-data"),
    ("nvme no format", NVME, nv(oacs=0), "host-overwrite", DESTROY),
    ("nvme busy", NVME, nv(sanicap=0x7, fna=0x4, busy=True), "host-overwrite", DESTROY),
    # USB, MMC, unknown: Clear at most in software.
    ("usb stick", STICK, Capabilities(Transport.USB, sat_passthrough=False), "host-overwrite",
     DESTROY),
    ("usb disk behind bridge", USB_DISK, BRIDGED,
     "host-overwrite", DESTROY),
    ("mmc", CARD, Capabilities(Transport.MMC), "host-overwrite", DESTROY),
    # eMMC: erase + sanitize, then secure erase, then secure trim: all Clear (DELL-KB).
    ("emmc sanitize", CARD, emmc(0x55), "mmc-sanitize", DESTROY),
    ("emmc 4.41 secure erase", CARD, emmc(0x15, revision=5), "mmc-secure-erase", DESTROY),
    ("emmc secure erase only", CARD, emmc(0x01), "mmc-secure-erase", DESTROY),
    ("emmc no secure features", CARD, emmc(0x00), "host-overwrite", DESTROY),
    ("unknown", ODD, Capabilities(Transport.UNKNOWN), "host-overwrite", DESTROY),
    # Virtual: host overwrite (Clear) is all there is, under every policy.
    ("loop", LOOP, Capabilities(Transport.LOOP), "host-overwrite", "host-overwrite"),
    ("virtio", VIRTIO, Capabilities(Transport.VIRTIO), "host-overwrite", "host-overwrite"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("d", "caps", "expected"),
    [pytest.param(d, c, n, id=i) for i, d, c, n, _ in TABLE],
)
def test_nist_choice(d: Drive, caps: Capabilities, expected: str) -> None:
    """The NIST default picks the first usable technique per media kind, else downgrades."""
    plan = select_method(d, caps, UNKNOWN_HEALTH, NIST)
    assert plan.chosen.technique == expected
    check_invariants(plan, caps)
    assert plan.policy_name == "nist-800-88"
    if plan.chosen.nist_category is NistCategory.CLEAR and d.media_kind is not MediaKind.VIRTUAL:
        assert plan.downgrade.startswith("no usable purge technique")
        assert expected in plan.downgrade


@pytest.mark.parametrize(
    ("d", "caps", "expected"),
    [pytest.param(d, c, s, id=i) for i, d, c, _, s in TABLE],
)
def test_strict_choice(d: Drive, caps: Capabilities, expected: str) -> None:
    """Strict picks a Purge technique or sends the drive to destruction; it never downgrades."""
    plan = select_method(d, caps, UNKNOWN_HEALTH, STRICT)
    assert plan.chosen.technique == expected
    check_invariants(plan, caps)
    assert plan.downgrade == ""
    if expected == DESTROY:
        assert plan.destroy
        assert plan.verification == "none"
        assert plan.estimated_seconds is None


def check_invariants(plan: Plan, caps: Capabilities) -> None:
    """What holds for every plan: usable choice, honest downgrade, complete alternatives."""
    assert plan.chosen.reason
    assert plan.chosen.usable
    if not plan.destroy:
        assert Technique(plan.chosen.technique) in caps.usable
    assert bool(plan.downgrade) == (rank(plan.chosen.nist_category) < rank(plan.required_category))
    names = [a.technique for a in plan.alternatives]
    assert plan.chosen.technique not in names
    assert len(names) == len(set(names))
    advertised = {o.technique.value for o in caps.options}
    assert set(names) == advertised - {plan.chosen.technique}
    assert all(a.reason for a in plan.alternatives)
    for a in plan.alternatives:
        option = next(o for o in caps.options if o.technique.value == a.technique)
        assert a.usable is option.usable
        if not option.usable:
            assert option.reason in a.reason


# --- reasons and plan details -----------------------------------------------------------------


def test_frozen_ssd_downgrade_names_the_blocked_technique_in_alternatives() -> None:
    """Frozen SSD: host overwrite, the downgrade recorded, and 'frozen' given for security erase."""
    caps = sata(ata(security=True, enhanced=True, frozen=True))
    plan = select_method(SSD, caps, UNKNOWN_HEALTH, NIST)
    assert plan.required_category is NistCategory.PURGE
    assert plan.chosen.nist_category is NistCategory.CLEAR
    blocked = {a.technique: a.reason for a in plan.alternatives}
    assert "frozen" in blocked["ata-security-erase-enhanced"]
    assert plan.verification == "sampled"
    assert plan.overwrite_scheme == "zeros"
    assert plan.overwrite_passes == ("zeros",)


def test_strict_destroy_tells_how_to_unblock() -> None:
    """Strict, Purge blocked: destroy, unless the blocker is fixed (the reason says how)."""
    caps = Capabilities(Transport.USB, ata=FULL_ATA, sat_passthrough=True)
    plan = select_method(USB_DISK, caps, UNKNOWN_HEALTH, STRICT)
    assert plan.destroy
    assert "USB bridge" in plan.chosen.reason
    assert "forbids a downgrade" in plan.chosen.reason
    assert "fix the blocker and probe again" in plan.chosen.reason


def test_strict_destroy_when_nothing_is_offered_does_not_mention_blockers() -> None:
    """Nothing offered at all: the reason says so and does not invent a blocker."""
    plan = select_method(SSD, sata(ata()), UNKNOWN_HEALTH, STRICT)
    assert plan.destroy
    assert "offers none of the purge techniques" in plan.chosen.reason
    assert "fix the blocker" not in plan.chosen.reason


def test_usb_stick_is_cleared_twice_under_nist_and_destroyed_under_strict() -> None:
    """Table A-8 removable flash: Clear by pattern + complement, or destruction when strict."""
    caps = Capabilities(Transport.USB, sat_passthrough=False)
    plan = select_method(STICK, caps, UNKNOWN_HEALTH, NIST)
    assert plan.media_kind == "usb-flash"
    assert plan.overwrite_scheme == "pattern-complement"
    assert plan.overwrite_passes == ("ones", "zeros")
    assert plan.estimated_seconds == 2 * 32 * GB // OVERWRITE_BYTES_PER_SECOND[MediaKind.USB_FLASH]
    assert plan.downgrade
    strict = select_method(STICK, caps, UNKNOWN_HEALTH, STRICT)
    assert strict.destroy
    assert "requires destruction for usb-flash" in strict.chosen.reason


@pytest.mark.parametrize("d", [LOOP, VIRTIO], ids=["loop", "virtio"])
@pytest.mark.parametrize("policy", [NIST, STRICT], ids=["nist", "strict"])
def test_virtual_is_host_overwrite_and_says_so(d: Drive, policy: Policy) -> None:
    """A virtual device: host overwrite, Clear, no downgrade, and the reason says why."""
    caps = Capabilities(d.transport)
    plan = select_method(d, caps, UNKNOWN_HEALTH, policy)
    assert plan.chosen.technique == "host-overwrite"
    assert plan.chosen.nist_category is NistCategory.CLEAR
    assert plan.required_category is NistCategory.CLEAR
    assert plan.downgrade == ""
    assert plan.media_kind == "virtual"
    assert "virtual device" in plan.chosen.reason
    assert "not sanitised" in plan.chosen.reason


def test_firmware_method_plan_fields() -> None:
    """A firmware purge: canary verification, no overwrite scheme, policy identity recorded."""
    plan = select_method(NVME, nv(sanicap=0x1), UNKNOWN_HEALTH, NIST)
    assert plan.chosen.technique == "nvme-sanitize-crypto"
    assert plan.verification == "canary"
    assert plan.overwrite_scheme == ""
    assert plan.overwrite_passes == ()
    assert plan.policy_version == NIST.version
    assert plan.standard == NIST.standard
    assert any("crypto erase trusts" in n for n in plan.notes)
    assert any(n.startswith("policy note (nvme)") for n in plan.notes)


def test_strict_verifies_overwrites_in_full() -> None:
    """Strict reads every block back after a host overwrite (virtual drives here)."""
    plan = select_method(LOOP, Capabilities(Transport.LOOP), UNKNOWN_HEALTH, STRICT)
    assert plan.verification == "full"


def test_hidden_sectors_are_noted() -> None:
    """HPA/DCO-hidden sectors go into the plan's notes."""
    hpa = HpaInfo(visible_sectors=900, native_sectors=1000, hpa_enabled=True)
    plan = select_method(HDD, sata(ata(), hpa=hpa), UNKNOWN_HEALTH, NIST)
    assert any("HPA/DCO hide 100 sectors" in n for n in plan.notes)


def test_probe_notes_are_carried() -> None:
    """What the probe could not find out is carried into the plan's notes."""
    caps = Capabilities(Transport.USB, sat_passthrough=False, notes=("no ATA pass-through",))
    plan = select_method(STICK, caps, UNKNOWN_HEALTH, NIST)
    assert "probe: no ATA pass-through" in plan.notes


# --- health -----------------------------------------------------------------------------------


def test_failing_drive_under_strict_is_destroyed_with_the_reason() -> None:
    """Strict: health FAIL sends even a purgeable drive to destruction, with SMART's reasons."""
    plan = select_method(SSD, sata(FULL_ATA), FAILING, STRICT)
    assert plan.destroy
    assert "health FAIL (1200 reallocated sectors)" in plan.chosen.reason
    assert {a.technique for a in plan.alternatives} == {
        o.technique.value for o in sata(FULL_ATA).options
    }
    assert all(a.reason for a in plan.alternatives)


def test_failing_drive_under_nist_is_still_sanitised() -> None:
    """NIST default: a failing drive is still purged, and the plan notes the health."""
    plan = select_method(SSD, sata(FULL_ATA), FAILING, NIST)
    assert plan.chosen.technique == "ata-sanitize-crypto"
    assert any("health FAIL" in n for n in plan.notes)


@pytest.mark.parametrize(
    "grade", [HealthGrade.A, HealthGrade.B, HealthGrade.C, HealthGrade.UNKNOWN]
)
def test_other_grades_do_not_change_the_choice(grade: HealthGrade) -> None:
    """Only FAIL matters to selection; A/B/C/unknown are for routing."""
    plan = select_method(SSD, sata(FULL_ATA), Health(grade=grade), STRICT)
    assert plan.chosen.technique == "ata-sanitize-crypto"


def test_operator_cannot_override_health_destruction() -> None:
    """--method on a failing drive under strict is refused, not silently ignored."""
    with pytest.raises(OverrideRefusedError, match="failed its health check"):
        select_method(SSD, sata(FULL_ATA), FAILING, STRICT,
                      technique_override=T.ATA_SANITIZE_BLOCK)  # fmt: skip


@pytest.mark.parametrize(
    ("flags", "who"),
    [
        ({"technique_override": "destroy"}, "--method destroy"),
        ({"category_override": NistCategory.DESTROY}, "--category destroy"),
    ],
)
def test_operator_destroy_on_a_failing_drive_is_recorded_with_the_health_reason(
    flags: dict[str, Any], who: str
) -> None:
    """Strict + FAIL + the operator asking for destruction: the plan destroys, records the
    operator's choice, and keeps the health reason (either would have decided alone)."""
    plan = select_method(SSD, sata(FULL_ATA), FAILING, STRICT, **flags)
    assert plan.destroy
    assert f"operator's choice ({who})" in plan.chosen.reason
    assert "health FAIL (1200 reallocated sectors)" in plan.chosen.reason
    assert f"operator's choice ({who})" in plan.notes


# --- operator overrides -----------------------------------------------------------------------


def test_method_override_is_recorded_as_the_operators_choice() -> None:
    """--method picks a usable, accepted technique over the policy's first choice."""
    plan = select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, NIST,
                         technique_override="ata-sanitize-block")  # fmt: skip
    assert plan.chosen.technique == "ata-sanitize-block"
    assert plan.chosen.nist_category is NistCategory.PURGE
    assert "operator's choice (--method ata-sanitize-block)" in plan.chosen.reason
    assert "operator's choice (--method ata-sanitize-block)" in plan.notes
    assert plan.downgrade == ""
    alt = {a.technique: a.reason for a in plan.alternatives}
    assert alt["ata-sanitize-crypto"] == "usable, but the operator chose ata-sanitize-block"


def test_method_override_to_clear_is_a_recorded_downgrade() -> None:
    """--method host-overwrite where Purge is possible: allowed by NIST, recorded as downgrade."""
    plan = select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, NIST,
                         technique_override=T.HOST_OVERWRITE)  # fmt: skip
    assert plan.chosen.technique == "host-overwrite"
    assert plan.downgrade.startswith("operator chose host-overwrite (clear)")


def test_method_override_to_clear_is_refused_by_strict() -> None:
    """Strict does not list host overwrite for SSDs: the override is refused with the list."""
    with pytest.raises(OverrideRefusedError, match="does not accept it for ssd drives"):
        select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, STRICT,
                      technique_override="host-overwrite")  # fmt: skip


def test_method_override_blocked_technique_is_refused_with_the_blocker() -> None:
    """A frozen drive: --method ata-security-erase-enhanced says it is frozen."""
    caps = sata(ata(security=True, enhanced=True, frozen=True))
    with pytest.raises(OverrideRefusedError, match="cannot be used on sdx now: security is frozen"):
        select_method(HDD, caps, UNKNOWN_HEALTH, NIST,
                      technique_override=T.ATA_SECURITY_ERASE_ENHANCED)  # fmt: skip


def test_method_override_not_offered_is_refused() -> None:
    """A technique the drive does not advertise is refused."""
    with pytest.raises(OverrideRefusedError, match="does not offer it"):
        select_method(SSD, sata(ata()), UNKNOWN_HEALTH, NIST,
                      technique_override="ata-sanitize-crypto")  # fmt: skip


def test_method_override_unknown_name_lists_the_techniques() -> None:
    """A misspelt --method lists the valid names."""
    with pytest.raises(OverrideRefusedError, match=r"no such technique .*host-overwrite, destroy"):
        select_method(SSD, sata(ata()), UNKNOWN_HEALTH, NIST, technique_override="shred")


def test_method_override_on_virtual_only_accepts_overwrite() -> None:
    """A loop device refuses a firmware technique even if one were named."""
    with pytest.raises(OverrideRefusedError, match="accepts: host-overwrite"):
        select_method(LOOP, Capabilities(Transport.LOOP), UNKNOWN_HEALTH, NIST,
                      technique_override="nvme-format-crypto")  # fmt: skip


@pytest.mark.parametrize("policy", [NIST, STRICT], ids=["nist", "strict"])
def test_destroy_override_is_always_accepted(policy: Policy) -> None:
    """--method destroy and --category destroy send the drive to destruction under any policy."""
    a = select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, policy, technique_override="destroy")
    b = select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, policy,
                      category_override=NistCategory.DESTROY)  # fmt: skip
    assert a.destroy
    assert b.destroy
    assert "operator's choice" in a.chosen.reason


def test_category_clear_override_under_nist() -> None:
    """--category clear: purge still satisfies it; a Clear choice records the operator's ask."""
    purgeable = select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, NIST,
                              category_override=NistCategory.CLEAR)  # fmt: skip
    assert purgeable.chosen.technique == "ata-sanitize-crypto"
    assert purgeable.downgrade == ""
    se_only = select_method(SSD, sata(ata(security=True, enhanced=True)), UNKNOWN_HEALTH, NIST,
                            category_override=NistCategory.CLEAR)  # fmt: skip
    assert se_only.chosen.technique == "ata-security-erase-enhanced"
    assert se_only.downgrade == "operator asked for clear; policy nist-800-88 requires purge"
    assert any("operator asked for at least clear" in n for n in se_only.notes)


def test_category_clear_override_refused_by_strict() -> None:
    """Strict does not let operators ask for less than Purge."""
    with pytest.raises(OverrideRefusedError, match="does not let operators ask for less"):
        select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, STRICT,
                      category_override=NistCategory.CLEAR)  # fmt: skip


def test_category_purge_override_raises_the_bar() -> None:
    """--category purge on a policy rule that asks only for Clear: the plan requires Purge."""
    media = dict(NIST.media)
    media[MediaKind.SSD] = dataclasses.replace(media[MediaKind.SSD], required=NistCategory.CLEAR)
    relaxed = dataclasses.replace(NIST, media=media)
    caps = sata(ata(security=True, enhanced=True))
    assert select_method(SSD, caps, UNKNOWN_HEALTH, relaxed).downgrade == ""
    plan = select_method(SSD, caps, UNKNOWN_HEALTH, relaxed, category_override=NistCategory.PURGE)
    assert plan.required_category is NistCategory.PURGE
    assert plan.chosen.technique == "ata-security-erase-enhanced"
    assert plan.downgrade.startswith("no usable purge technique")


def test_category_purge_on_virtual_is_refused() -> None:
    """A virtual device cannot be purged, and asking for it is refused."""
    with pytest.raises(OverrideRefusedError, match="virtual device"):
        select_method(LOOP, Capabilities(Transport.LOOP), UNKNOWN_HEALTH, NIST,
                      category_override=NistCategory.PURGE)  # fmt: skip


# --- estimates --------------------------------------------------------------------------------


def test_estimate_from_security_erase_minutes() -> None:
    """The drive's own SECURITY ERASE UNIT estimate (IDENTIFY words 89/90) is used."""
    caps = sata(ata(security=True, enhanced=True, minutes=(180, 62)))
    plan = select_method(HDD, caps, UNKNOWN_HEALTH, NIST)
    assert plan.chosen.technique == "ata-security-erase-enhanced"
    assert plan.estimated_seconds == 62 * 60
    assert estimate_seconds(T.ATA_SECURITY_ERASE, HDD, caps) == 180 * 60


def test_estimate_from_the_nvme_sanitize_log() -> None:
    """NVMe sanitize: the log's time estimate for the chosen action; None when not reported."""
    caps = nv(sanicap=0x3, estimates=(("time_block_erase", 90), ("time_crypto_erase", 12)))
    assert select_method(NVME, caps, UNKNOWN_HEALTH, NIST).estimated_seconds == 12
    assert estimate_seconds(T.NVME_SANITIZE_BLOCK, NVME, caps) == 90
    unknown = nv(sanicap=0x1, estimates=(("time_crypto_erase", None),))
    assert select_method(NVME, unknown, UNKNOWN_HEALTH, NIST).estimated_seconds is None


def test_estimate_for_overwrite_scales_with_size_and_kind() -> None:
    """Overwrite: size x passes / the kind's assumed rate; an HDD is slower than an NVMe."""
    assert estimate_seconds(T.HOST_OVERWRITE, HDD, NONE) == 500 * GB // 150_000_000 + 1
    assert estimate_seconds(T.HOST_OVERWRITE, HDD, NONE, passes=3) == 10_000
    assert estimate_seconds(T.ATA_SANITIZE_OVERWRITE, HDD, NONE) == 3334
    fast = estimate_seconds(T.HOST_OVERWRITE, NVME, nv())
    assert fast is not None
    assert fast < 3334
    assert estimate_seconds(T.HOST_OVERWRITE, drive(Transport.SATA, size=0), NONE) is None


def test_method_estimator_is_preferred_with_fallback() -> None:
    """The method's own estimate wins; when it has none, the built-in estimate is used."""
    asked: list[Technique] = []

    def method_estimate(t: Technique) -> int | None:
        asked.append(t)
        return 7 if t is T.ATA_SANITIZE_CRYPTO else None

    plan = select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, NIST, estimator=method_estimate)
    assert (plan.estimated_seconds, asked) == (7, [T.ATA_SANITIZE_CRYPTO])
    plan = select_method(SSD, sata(ata()), UNKNOWN_HEALTH, NIST, estimator=method_estimate)
    assert plan.estimated_seconds == 500 * GB // 400_000_000


# --- realistic cases through the emulators and real outputs -------------------------------------


@pytest.fixture
def backing(tmp_path: Path) -> Path:
    """A 2 MiB medium."""
    path = tmp_path / "disk.img"
    path.write_bytes(b"\x11" * (2 << 20))
    return path


def test_e2e_frozen_sata_ssd(backing: Path) -> None:
    """Emulated frozen SATA SSD with SANITIZE: block erase is still usable (not frozen-gated)."""
    emu = AtaDriveEmulator(backing, sanitize=("block",), frozen=True)
    d = dataclasses.replace(SSD, path="/dev/sda", name="sda", size_bytes=2 << 20)
    caps = probe(d, EmulatedRunner({"/dev/sda": emu}))
    plan = select_method(d, caps, UNKNOWN_HEALTH, STRICT)
    assert plan.chosen.technique == "ata-sanitize-block"
    frozen = {a.technique: a.reason for a in plan.alternatives}
    assert "frozen" in frozen["ata-security-erase-enhanced"]
    bare = AtaDriveEmulator(backing, sanitize=(), frozen=True)
    caps = probe(d, EmulatedRunner({"/dev/sda": bare}))
    assert select_method(d, caps, UNKNOWN_HEALTH, NIST).chosen.technique == "host-overwrite"
    assert select_method(d, caps, UNKNOWN_HEALTH, STRICT).destroy


def test_e2e_nvme_with_sanitize_crypto(backing: Path) -> None:
    """Emulated NVMe advertising Sanitize crypto erase only: crypto sanitize under both."""
    emu = NvmeDriveEmulator(backing, sanicap=0x1, fna=0x0)
    d = dataclasses.replace(NVME, path="/dev/nvme0n1", size_bytes=2 << 20)
    caps = probe(d, EmulatedRunner({"/dev/nvme0n1": emu}))
    for policy in (NIST, STRICT):
        plan = select_method(d, caps, UNKNOWN_HEALTH, policy)
        assert plan.chosen.technique == "nvme-sanitize-crypto"
        assert plan.verification == "canary"
        assert [a.technique for a in plan.alternatives] == [
            "nvme-format-user-data", "host-overwrite"
        ]  # fmt: skip


def test_e2e_qemu_nvme_format_ses1_only(reference: Path) -> None:
    """Real QEMU 7.2 NVMe outputs (no sanicap, fna=0): Format SES=1 is the Purge chosen."""
    q = reference / "qemu-7.2"
    runner = (
        FakeRunner()
        .reply(("nvme", "id-ctrl"), (q / "nvme-id-ctrl.json").read_text())
        .reply(("nvme", "id-ns"), (q / "nvme-id-ns.json").read_text())
    )
    caps = probe(NVME, runner)
    assert caps.nvme is not None
    assert caps.nvme.fna == 0
    for policy in (NIST, STRICT):
        plan = select_method(NVME, caps, UNKNOWN_HEALTH, policy)
        assert plan.chosen.technique == "nvme-format-user-data"
        assert plan.chosen.nist_category is NistCategory.PURGE
        assert plan.downgrade == ""


def test_e2e_usb_stick(reference: Path) -> None:
    """Real sg_inq/sg_readcap of a USB stick without SAT: Clear twice (NIST) or destroy (strict)."""
    q = reference / "qemu-7.2"
    failed = json.dumps({"smartctl": {"exit_status": 1}, "device": {}})
    runner = (
        FakeRunner()
        .reply(("smartctl",), failed, returncode=1)
        .reply(("sg_inq",), (q / "sg_inq-sdc.txt").read_text())
        .reply(("sg_readcap",), (q / "sg_readcap-sdc.txt").read_text())
    )
    caps = probe(STICK, runner)
    plan = select_method(STICK, caps, UNKNOWN_HEALTH, NIST)
    assert plan.chosen.technique == "host-overwrite"
    assert plan.overwrite_passes == ("ones", "zeros")
    assert "no ATA pass-through" in " ".join(plan.notes)
    assert select_method(STICK, caps, UNKNOWN_HEALTH, STRICT).destroy


# --- properties -------------------------------------------------------------------------------

transports = st.sampled_from(list(Transport))


@st.composite
def ata_caps(draw: st.DrawFn) -> AtaCapabilities:
    """Any combination of ATA security/sanitize facts."""
    flag = st.booleans()
    minutes = st.none() | st.integers(1, 600)
    return AtaCapabilities(
        security_supported=draw(flag), security_enabled=draw(flag), security_locked=draw(flag),
        security_frozen=draw(flag), security_count_expired=draw(flag),
        enhanced_erase_supported=draw(flag), sanitize_supported=draw(flag),
        sanitize_crypto_scramble=draw(flag), sanitize_block_erase=draw(flag),
        sanitize_overwrite=draw(flag),
        sense_warnings=draw(st.sampled_from([(), ("SG_IO: missing sense data",)])),
        erase_minutes_normal=draw(minutes), erase_minutes_enhanced=draw(minutes),
    )  # fmt: skip


@st.composite
def capabilities(draw: st.DrawFn) -> tuple[Drive, Capabilities]:
    """A drive and any capabilities its transport could report."""
    transport = draw(transports)
    d = drive(transport, rotational=draw(st.booleans()), removable=draw(st.booleans()),
              size=draw(st.integers(0, 20 * 10**12)))  # fmt: skip
    a = draw(st.none() | ata_caps())
    n = log = None
    if draw(st.booleans()):
        n, log = nvme(sanicap=draw(st.integers(0, 7)), fna=draw(st.integers(0, 15)),
                      oacs=draw(st.integers(0, 0xF)), busy=draw(st.booleans()))  # fmt: skip
    s = None
    if draw(st.booleans()):
        commands = [(SANITIZE, SA_OVERWRITE), (SANITIZE, SA_BLOCK_ERASE),
                    (SANITIZE, SA_CRYPTO_ERASE), (FORMAT_UNIT, None)]  # fmt: skip
        ops = draw(st.sets(st.sampled_from(commands)))
        s = scsi(*ops, reported=draw(st.booleans()))
    sat = draw(st.none() | st.booleans())
    caps = Capabilities(transport, ata=a, nvme=n, sanitize_log=log, scsi=s, sat_passthrough=sat)
    return d, caps


categories = st.sampled_from([NistCategory.CLEAR, NistCategory.PURGE])


@st.composite
def media_rules(draw: st.DrawFn, kind: MediaKind) -> MediaRule:
    """Any rule a policy file could give `kind` (host overwrite always Clear)."""
    techs = draw(st.permutations(list(Technique)))
    chosen = techs[: draw(st.integers(0, len(techs)))]
    rules = tuple(
        TechniqueRule(t, NistCategory.CLEAR if t is Technique.HOST_OVERWRITE else draw(categories))
        for t in chosen
    )
    if kind is MediaKind.VIRTUAL:
        rules = (TechniqueRule(Technique.HOST_OVERWRITE, NistCategory.CLEAR),)
    required = NistCategory.CLEAR if kind is MediaKind.VIRTUAL else draw(
        st.sampled_from(list(NistCategory)) if rules else st.just(NistCategory.DESTROY)
    )  # fmt: skip
    return MediaRule(
        kind=kind, required=required, techniques=rules, allow_downgrade=draw(st.booleans()),
        operator_may_downgrade=draw(st.booleans()),
        on_health_fail=draw(st.sampled_from(["proceed", "destroy"])),
        verify_overwrite="sampled", verify_firmware="canary", overwrite_scheme="zeros",
    )  # fmt: skip


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """The shipped policies, or any policy a valid file could describe."""
    if draw(st.booleans()):
        return draw(st.sampled_from([NIST, STRICT]))
    media = {k: draw(media_rules(k)) for k in MediaKind}
    return Policy(name="random", version="0", title="t", standard="s", media=media)


healths = st.sampled_from(list(HealthGrade)).map(lambda g: Health(grade=g, reasons=("r",)))
PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@PROPERTY
@given(capabilities(), healths, policies())
def test_property_never_an_unusable_technique(
    dc: tuple[Drive, Capabilities], health: Health, policy: Policy
) -> None:
    """Whatever the drive and policy: the choice is usable (or destroy) and the plan is honest."""
    d, caps = dc
    plan = select_method(d, caps, health, policy)
    check_invariants(plan, caps)
    rule = policy.rule(MediaKind.VIRTUAL if caps.virtual else d.media_kind)
    if plan.downgrade:
        assert rule.allow_downgrade
    if not plan.destroy:
        entry = rule.rule_for(Technique(plan.chosen.technique))
        assert entry is not None
        assert entry.category is plan.chosen.nist_category
    assert select_method(d, caps, health, policy) == plan


@PROPERTY
@given(capabilities(), healths)
def test_property_strict_never_downgrades(dc: tuple[Drive, Capabilities], health: Health) -> None:
    """Strict: Purge, Clear only on a virtual device, or destroy; FAIL health always destroys."""
    d, caps = dc
    plan = select_method(d, caps, health, STRICT)
    assert plan.downgrade == ""
    if health.grade is HealthGrade.FAIL:
        assert plan.destroy
        assert "health FAIL" in plan.chosen.reason
    elif plan.chosen.nist_category is NistCategory.CLEAR:
        assert plan.media_kind == "virtual"


@PROPERTY
@given(capabilities(), healths, policies(), st.sampled_from([*Technique, DESTROY]),
       st.none() | st.sampled_from(list(NistCategory)))  # fmt: skip
def test_property_overrides_are_honoured_or_refused(
    dc: tuple[Drive, Capabilities],
    health: Health,
    policy: Policy,
    override: Technique | str,
    category: NistCategory | None,
) -> None:
    """--method is either honoured exactly (usable, recorded) or refused with a reason."""
    d, caps = dc
    try:
        plan = select_method(d, caps, health, policy, technique_override=override,
                             category_override=category)  # fmt: skip
    except OverrideRefusedError as exc:
        refusal = str(exc)
        assert refusal.startswith(("--method", "--category"))
        return
    check_invariants(plan, caps)
    if plan.chosen.technique != override:
        assert plan.destroy  # health or --category destroy took precedence
    else:
        assert "operator's choice" in plan.chosen.reason
    if plan.downgrade:
        rule = policy.rule(MediaKind.VIRTUAL if caps.virtual else d.media_kind)
        assert rule.operator_may_downgrade or rule.allow_downgrade


# --- the recorded plan ------------------------------------------------------------------------


def test_a_recorded_plan_reads_back_equal() -> None:
    """A plan with alternatives, passes, notes and a downgrade survives asdict -> JSON -> Plan."""
    plan = select_method(SSD, sata(FULL_ATA), UNKNOWN_HEALTH, NIST,
                         technique_override="host-overwrite")  # fmt: skip
    assert plan.alternatives
    assert plan.overwrite_passes
    assert plan.notes
    text = json.dumps(dataclasses.asdict(plan))
    back = plan_from_json(json.loads(text))
    assert back == plan
    assert isinstance(back.alternatives, tuple)
    assert back.chosen.nist_category is plan.chosen.nist_category


def test_a_recorded_plan_missing_a_required_field_is_refused() -> None:
    """A record without the chosen method is not silently turned into a plan."""
    d = json.loads(json.dumps(dataclasses.asdict(select_method(SSD, sata(FULL_ATA),
                                                               UNKNOWN_HEALTH, NIST))))  # fmt: skip
    del d["chosen"]
    with pytest.raises(KeyError):
        plan_from_json(d)


@PROPERTY
@given(capabilities(), healths, policies())
def test_property_every_plan_round_trips_through_its_record(
    dc: tuple[Drive, Capabilities], health: Health, policy: Policy
) -> None:
    """Whatever plan selection makes, the job's recorded form reads back to the same plan."""
    d, caps = dc
    plan = select_method(d, caps, health, policy)
    assert plan_from_json(json.loads(json.dumps(dataclasses.asdict(plan)))) == plan
