"""Our drive parsers over tool outputs captured by other people on physical machines.

The files are in tests/data/real/ (each directory's SOURCES names where each came from). Every
expected value below was read off the file by eye (model line, sector count, Security section,
JSON fields), never copied from a parser's output. Cross-checks use a second line of the same
file: hdparm's "device size with M = 1000*1000" against sectors x sector size.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sanitiser.devices.health import parse_smartctl_json
from sanitiser.domain import HealthGrade
from sanitiser.errors import ToolOutputError
from sanitiser.probe.ata import parse_hdparm_identify
from sanitiser.probe.nvme import parse_id_ctrl

REAL = Path(__file__).resolve().parents[1] / "data" / "real"

# hdparm -I: identity, size, and the Security section as printed.
HDPARM = {
    "intel-ssdsc2kw512g8.txt": dict(
        model="INTEL SSDSC2KW512G8", serial="PHLA75210153512DGN", firmware="LHF002C",
        user_sectors=1000215216, megabytes=512110, security_frozen=True,
        enhanced_erase_supported=True, erase_minutes=2, hpa_supported=True, dco_supported=False,
    ),
    "intel-ssdsa2m160g2gc.txt": dict(
        model="INTEL SSDSA2M160G2GC", serial="CVPO930600GU160AGN", firmware="2CV102G9",
        user_sectors=312581808, megabytes=160041, security_frozen=True,
        enhanced_erase_supported=True, erase_minutes=2, hpa_supported=True, dco_supported=True,
    ),
    "wdc-wd3200bevt-22zct0-spaces.txt": dict(
        model="WDC WD3200BEVT-22ZCT0", serial="WD-WXC0A6922599", firmware="11.01A11",
        user_sectors=625142448, megabytes=320072, security_frozen=False,
        enhanced_erase_supported=True, erase_minutes=102, hpa_supported=True,
        dco_supported=True,
    ),
    "seagate-st2000dl003-spaces.txt": dict(
        model="ST2000DL003-9VT166", serial="5YD5PWTA", firmware="CC3C",
        user_sectors=3907029168, megabytes=2000398, security_frozen=True,
        enhanced_erase_supported=True, erase_minutes=326, hpa_supported=True,
        dco_supported=True,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HDPARM))
def test_hdparm_identify_real_report(name: str) -> None:
    """Each report reads as a human reads it: identity, size, and the security state."""
    want = HDPARM[name]
    caps = parse_hdparm_identify((REAL / "hdparm-I" / name).read_text())
    assert (caps.model, caps.serial, caps.firmware) == (
        want["model"],
        want["serial"],
        want["firmware"],
    )
    assert caps.user_sectors == want["user_sectors"]
    assert caps.logical_sector_size == 512
    assert caps.user_sectors * caps.logical_sector_size // 1_000_000 == want["megabytes"]
    # All four print the same Security section apart from "frozen": supported, no password.
    assert caps.security_supported
    assert not caps.security_enabled
    assert not caps.security_locked
    assert not caps.security_count_expired
    assert not caps.security_level_maximum
    assert caps.security_frozen is want["security_frozen"]
    assert caps.security_erase_ready is not want["security_frozen"]
    assert caps.enhanced_erase_supported is want["enhanced_erase_supported"]
    assert caps.master_password_revision == 65534
    assert caps.erase_minutes_normal == want["erase_minutes"]
    assert caps.erase_minutes_enhanced == want["erase_minutes"]
    # None of these drives lists the SANITIZE feature set.
    assert not caps.sanitize_supported
    assert not caps.sanitize_any
    assert caps.hpa_supported is want["hpa_supported"]
    assert caps.dco_supported is want["dco_supported"]
    assert caps.source == "text"


def test_hdparm_spaces_report_really_has_no_tabs() -> None:
    """The forum copies are kept as captured: spaces where hdparm printed tabs."""
    for name in ("wdc-wd3200bevt-22zct0-spaces.txt", "seagate-st2000dl003-spaces.txt"):
        assert "\t" not in (REAL / "hdparm-I" / name).read_text()
    assert "\t" in (REAL / "hdparm-I" / "intel-ssdsc2kw512g8.txt").read_text()


# nvme id-ctrl -o json: identity strings (padded in the JSON) and the capability bit fields.
NVME = {
    "wdc-pc-sn730-256g.json": dict(
        serial="1951B3444502", model="WDC PC SN730 SDBQNTY-256G-1001", firmware="11170101",
        oacs=23, sanicap=1610612739, fna=4, namespaces=1,
        security_send_receive=True, namespace_management=False,
    ),
    "solidigm-sbfpf2bu153t.json": dict(
        serial="XXXXXXXXXXXXXXXXXXXXX", model="SOLIDIGM SBFPF2BU153T", firmware="6CV10100",
        oacs=94, sanicap=1610612739, fna=4, namespaces=128,
        security_send_receive=False, namespace_management=True,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(NVME))
def test_nvme_id_ctrl_real_output(name: str) -> None:
    """Identity strips the padding; sanicap 0x60000003 = crypto + block, NDI, NODMMAS 1."""
    want = NVME[name]
    caps = parse_id_ctrl((REAL / "nvme-id-ctrl" / name).read_text())
    assert (caps.serial, caps.model, caps.firmware) == (
        want["serial"],
        want["model"],
        want["firmware"],
    )
    assert (caps.oacs, caps.sanicap, caps.fna) == (want["oacs"], want["sanicap"], want["fna"])
    assert caps.namespaces == want["namespaces"]
    assert caps.format_supported
    assert caps.security_send_receive is want["security_send_receive"]
    assert caps.namespace_management is want["namespace_management"]
    assert caps.sanitize_crypto
    assert caps.sanitize_block
    assert not caps.sanitize_overwrite
    assert caps.no_dealloc_inhibited
    assert caps.nodmmas == 1
    assert caps.format_crypto_erase
    assert not caps.format_applies_to_all
    assert not caps.crypto_erase_applies_to_all


def test_smartctl_healthy_sata_ssd() -> None:
    """WD Red SA500 4 TB over SAT: PASSED, no defect counters, 8244 hours: grade A."""
    health = parse_smartctl_json(
        (REAL / "smartctl" / "wdc-red-sa500-4tb-sata-ssd.json").read_text()
    )
    assert health.grade is HealthGrade.A
    assert health.smart_available
    assert health.smart_passed is True
    assert health.exit_status == 0
    assert health.power_on_hours == 8244
    assert health.temperature_c == 27
    assert health.reallocated_sectors == 0
    assert health.reported_uncorrectable == 0
    assert health.pending_sectors is None  # the drive has no attribute 197
    assert health.failed_attributes == ()


def test_smartctl_healthy_nvme() -> None:
    """Seagate FireCuda 530: PASSED, 0% used, spare 100% (threshold 5%), no media errors."""
    health = parse_smartctl_json((REAL / "smartctl" / "seagate-firecuda530-nvme.json").read_text())
    assert health.grade is HealthGrade.A
    assert health.smart_passed is True
    assert health.exit_status == 0
    assert health.power_on_hours == 4733
    assert health.temperature_c == 36
    assert health.critical_warning == 0
    assert health.percentage_used == 0
    assert health.media_errors == 0
    assert (health.available_spare, health.available_spare_threshold) == (100, 5)


def test_smartctl_failing_hdd_behind_usb_bridge() -> None:
    """WD Scorpio Blue on a JMicron USB bridge: FAILED, attribute 5 failing now (535), FAIL."""
    text = (REAL / "smartctl" / "wdc-wd3200bevt-usbjmicron-failing.json").read_text()
    assert json.loads(text)["device"]["type"] == "usbjmicron"
    health = parse_smartctl_json(text)
    assert health.grade is HealthGrade.FAIL
    assert health.smart_passed is False
    assert health.exit_status == 216  # bits 3, 4, 6, 7
    assert health.reasons[0] == "SMART overall-health self-assessment: FAILED"
    assert "smartctl: the self-test log has errors" in health.reasons
    assert health.reallocated_sectors == 535
    assert health.pending_sectors == 1
    assert health.offline_uncorrectable == 0
    assert health.reported_uncorrectable == 84
    assert health.power_on_hours == 16402
    assert health.temperature_c == 27
    assert "5 Reallocated_Sector_Ct (now)" in health.failed_attributes
    assert "190 Airflow_Temperature_Cel (past)" in health.failed_attributes


@pytest.mark.parametrize("kind", ["hdparm-I", "nvme-id-ctrl", "smartctl"])
def test_every_real_file_has_a_source_line(kind: str) -> None:
    """SOURCES names each data file (first word of a non-comment line), and only those."""
    directory = REAL / kind
    lines = (directory / "SOURCES").read_text().splitlines()
    listed = {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}
    present = {p.name for p in directory.iterdir() if p.name != "SOURCES"}
    assert listed == present


def test_hdparm_combined_sector_size_line_is_read() -> None:
    """Older hdparm prints one "Logical/Physical Sector size" line when both are the same (the
    WD report above); a 4Kn drive printed so is 4096, not the 512 default; a line that says no
    size is an error, not a guess."""
    text = (REAL / "hdparm-I" / "wdc-wd3200bevt-22zct0-spaces.txt").read_text()
    line = "    Logical/Physical Sector size:           512 bytes\n"
    assert line in text
    assert parse_hdparm_identify(text).logical_sector_size == 512
    four_k = text.replace(line, line.replace("512", "4096"))
    assert parse_hdparm_identify(four_k).logical_sector_size == 4096
    for bad in ("?? bytes", "0 bytes", "bytes"):
        with pytest.raises(ToolOutputError, match="unreadable logical sector size"):
            parse_hdparm_identify(text.replace(line, line.replace("512 bytes", bad)))
