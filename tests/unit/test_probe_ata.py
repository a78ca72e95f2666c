"""ATA probe parsers over real hdparm output: QEMU 7.2 and real `hdparm --Istdin` renders."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sanitiser.errors import ToolOutputError
from sanitiser.probe.ata import (
    AtaSanitizeState,
    capabilities_from_words,
    parse_dco_identify,
    parse_hdparm_identify,
    parse_hdparm_identify_words,
    parse_hdparm_N,
    parse_identify_words,
    parse_sanitize_status,
    sense_warnings,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "ata"

# Expected facts per IDENTIFY variant, read off the hdparm renders by eye (tests/data/ata/*.txt).
VARIANTS = {
    "frozen-sanitize": dict(
        security_supported=True, security_frozen=True, enhanced_erase_supported=True,
        erase_minutes_normal=2, erase_minutes_enhanced=2, master_password_revision=65534,
        sanitize_supported=True, sanitize_crypto_scramble=True, sanitize_block_erase=True,
    ),
    "not-frozen": dict(
        security_supported=True, enhanced_erase_supported=True, erase_minutes_normal=2,
        erase_minutes_enhanced=2, master_password_revision=65534, sanitize_supported=True,
        sanitize_crypto_scramble=True, sanitize_block_erase=True,
    ),
    "enabled": dict(
        security_supported=True, security_enabled=True, enhanced_erase_supported=True,
        erase_minutes_normal=2, erase_minutes_enhanced=2, master_password_revision=65534,
        sanitize_supported=True, sanitize_crypto_scramble=True, sanitize_block_erase=True,
    ),
    "enabled-max": dict(
        security_supported=True, security_enabled=True, enhanced_erase_supported=True,
        security_level_maximum=True, erase_minutes_normal=2, erase_minutes_enhanced=2,
        master_password_revision=65534, sanitize_supported=True,
        sanitize_crypto_scramble=True, sanitize_block_erase=True,
    ),
    "locked": dict(
        security_supported=True, security_enabled=True, security_locked=True,
        enhanced_erase_supported=True, erase_minutes_normal=2, erase_minutes_enhanced=2,
        master_password_revision=65534, sanitize_supported=True,
        sanitize_crypto_scramble=True, sanitize_block_erase=True,
    ),
    "expired": dict(
        security_supported=True, security_enabled=True, security_locked=True,
        security_count_expired=True, enhanced_erase_supported=True, erase_minutes_normal=2,
        erase_minutes_enhanced=2, master_password_revision=65534, sanitize_supported=True,
        sanitize_crypto_scramble=True, sanitize_block_erase=True,
    ),
    "no-enhanced-ext-time": dict(
        security_supported=True, erase_minutes_normal=300, master_password_revision=65534,
        sanitize_supported=True, sanitize_overwrite=True, sanitize_antifreeze=True,
    ),
    "more-than-508": dict(
        security_supported=True, enhanced_erase_supported=True, erase_minutes_normal=508,
        erase_minutes_enhanced=508, master_password_revision=65534,
    ),
    "no-security": dict(),
}  # fmt: skip
ALL_FLAGS = (
    "security_supported", "security_enabled", "security_locked", "security_frozen",
    "security_count_expired", "enhanced_erase_supported", "security_level_maximum",
    "sanitize_supported", "sanitize_crypto_scramble", "sanitize_block_erase",
    "sanitize_overwrite", "sanitize_antifreeze",
)  # fmt: skip


def _expected(name: str) -> dict[str, object]:
    facts: dict[str, object] = dict.fromkeys(ALL_FLAGS, False)
    facts.update(erase_minutes_normal=None, erase_minutes_enhanced=None)
    facts["master_password_revision"] = None
    facts.update(VARIANTS[name])
    return facts


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_words_path_decodes_each_security_state(name: str) -> None:
    """The IDENTIFY words give the state hdparm itself prints for that dump."""
    caps = parse_hdparm_identify_words((DATA / f"identify-{name}.hex").read_text())
    for key, value in _expected(name).items():
        assert getattr(caps, key) == value, key
    assert caps.model == "Samsung SSD 860 EVO 500GB"
    assert caps.serial == "S3Z9NB0K123456"
    assert caps.firmware == "1B6Q"
    assert caps.user_sectors == 976756736
    assert caps.hpa_supported
    assert caps.dco_supported
    assert caps.source == "words"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_text_path_agrees_with_words_path(name: str) -> None:
    """Parsing real `hdparm --Istdin` text gives the same value as decoding the words."""
    words = parse_hdparm_identify_words((DATA / f"identify-{name}.hex").read_text())
    text = parse_hdparm_identify((DATA / f"identify-{name}.txt").read_text())
    assert text.source == "text"
    assert text == replace(words, source="text")


def test_reference_synthetic_dump_parses(reference: Path) -> None:
    """The shared synthetic frozen drive decodes to frozen, enhanced, sanitize crypto+block."""
    hex_text = (reference / "synthetic" / "ata-identify-security-frozen-sanitize.hex").read_text()
    caps = parse_hdparm_identify_words(hex_text)
    assert caps.security_frozen
    assert not caps.security_erase_ready
    assert caps.sanitize_any
    assert not caps.sanitize_overwrite


def test_qemu_ahci_text_has_no_security_and_is_untrustworthy(reference: Path) -> None:
    """QEMU's AHCI disk: no Security section, no sanitize, and SG_IO sense noise flagged."""
    out = (reference / "qemu-7.2" / "hdparm-I-qemu-ahci.txt").read_text()
    err = (reference / "qemu-7.2" / "hdparm-I-qemu-ahci.stderr").read_text()
    caps = parse_hdparm_identify(out, err)
    assert caps.model == "LabSATA"
    assert caps.serial == "SATA0001"
    assert caps.firmware == "2.5+"
    assert caps.user_sectors == 131072
    assert not caps.security_supported
    assert not caps.sanitize_supported
    assert not caps.trustworthy
    assert caps.sense_warnings[0].startswith("SG_IO: bad/missing sense data")


def test_istdout_header_is_skipped() -> None:
    """`hdparm --Istdout` prints a device header before the 32 lines of words."""
    body = (DATA / "identify-not-frozen.hex").read_text()
    words = parse_identify_words("\n/dev/sda:\n" + body)
    assert len(words) == 256
    assert words[128] == 0x0021


@pytest.mark.parametrize("text", ["", "\n/dev/sda:\n", "0000 0000\n", "zzzz " * 8])
def test_short_or_garbage_words_raise_with_raw_text(text: str) -> None:
    """Anything that is not 256 words is a ToolOutputError carrying the raw text."""
    with pytest.raises(ToolOutputError) as info:
        parse_identify_words(text)
    assert info.value.raw == text


def test_all_zero_identify_is_rejected() -> None:
    """An all-zero IDENTIFY block (failed command) is not a drive."""
    with pytest.raises(ToolOutputError):
        capabilities_from_words((0,) * 256)


def test_text_without_identify_report_raises() -> None:
    """hdparm's failure text (no report) raises instead of giving an empty drive."""
    with pytest.raises(ToolOutputError):
        parse_hdparm_identify("\n/dev/sda:\n HDIO_DRIVE_CMD(identify) failed: Invalid argument\n")


def test_sense_warnings_finds_each_kind() -> None:
    """All three SG_IO warnings are recognised, other stderr is not."""
    err = (
        "SG_IO: questionable sense data, results may be incorrect\n"
        "something else\nSG_IO: missing sense data, results may be incorrect\n"
        "SG_IO: bad/missing sense data, sb[]:  70 00\n"
    )
    assert len(sense_warnings(err)) == 3
    assert sense_warnings("SECURITY_ERASE: Input/output error\n") == ()


def test_hdparm_N_real_qemu_output(reference: Path) -> None:
    """The real `hdparm -N` line: visible == native, HPA disabled."""
    info = parse_hdparm_N((reference / "qemu-7.2" / "hdparm-N-qemu-ahci.txt").read_text())
    assert (info.visible_sectors, info.native_sectors) == (131072, 131072)
    assert not info.hpa_enabled
    assert info.hidden_sectors == 0


@pytest.mark.parametrize(
    ("line", "hpa", "ama", "invalid", "hidden"),
    [
        (" max sectors   = 976754688/976773168, HPA is enabled\n", True, False, False, 18480),
        (" max sectors   = 100/200, ACCESSIBLE MAX ADDRESS enabled\n", True, True, False, 100),
        (" max sectors   = 200/200, ACCESSIBLE MAX ADDRESS disabled\n", False, True, False, 0),
        (" max sectors   = 300/200(400?), HPA setting seems invalid\n", False, False, True, 0),
    ],
)
def test_hdparm_N_variants(line: str, hpa: bool, ama: bool, invalid: bool, hidden: int) -> None:
    """Every verdict hdparm prints after `max sectors` (hdparm.c) is decoded."""
    info = parse_hdparm_N("\n/dev/sda:\n" + line)
    assert (info.hpa_enabled, info.accessible_max_address, info.invalid) == (hpa, ama, invalid)
    assert info.hidden_sectors == hidden


def test_hdparm_N_failure_raises() -> None:
    """No `max sectors` line is an error, not zero sectors."""
    with pytest.raises(ToolOutputError):
        parse_hdparm_N("\n/dev/sda:\n SG_IO: bad/missing sense data\n")


DCO_TEXT = (
    "\n/dev/sda:\nDCO Checksum verified.\nDCO Revision: 0x0002\n"
    "The following features can be selectively disabled via DCO:\n"
    "\tTransfer modes:\n\t\t mdma0 mdma1 mdma2\n\t\t udma0 udma1 udma2 udma3 udma4 udma5 udma6\n"
    "\tReal max sectors: 976773168\n"
    "\tATA command/feature sets:\n\t\t SMART self_test error_log security PUIS AAM HPA 48_bit\n"
)


def test_dco_identify_real_max() -> None:
    """`--dco-identify` gives the factory maximum and the checksum verdict."""
    dco = parse_dco_identify(DCO_TEXT)
    assert dco.real_max_sectors == 976773168
    assert dco.checksum_ok
    assert dco.revision == 2
    assert dco.hidden_sectors(976773168 - 1000) == 1000
    bad = parse_dco_identify(DCO_TEXT.replace("verified.", "FAILED!"))
    assert not bad.checksum_ok


def test_dco_identify_failure_raises() -> None:
    """A failed DCO IDENTIFY (only the perror line) raises."""
    with pytest.raises(ToolOutputError):
        parse_dco_identify(
            "\n/dev/sda:\n HDIO_DRIVE_CMD(dco_identify) failed: Input/output error\n"
        )


def test_sanitize_status_in_progress() -> None:
    """SD2 with the progress line hdparm prints."""
    out = (
        "\n/dev/sda:\nIssuing SANITIZE_STATUS command\nSanitize status:\n"
        "    State:    SD2 Sanitize operation In Process\n    Progress: 0x4000 (25%)\n"
    )
    status = parse_sanitize_status(out)
    assert status.state is AtaSanitizeState.IN_PROCESS
    assert (status.progress_raw, status.progress_percent) == (0x4000, 25)
    assert not status.succeeded


def test_sanitize_status_completed() -> None:
    """SD0 plus "Completed Without Error" is success; antifreeze is noticed."""
    out = (
        "\n/dev/sda:\nIssuing SANITIZE_STATUS command\nSanitize status:\n"
        "    State:    SD0 Sanitize Idle\n    Last Sanitize Operation Completed Without Error\n"
        "    Antifreeze bit set\n"
    )
    status = parse_sanitize_status(out)
    assert status.succeeded
    assert status.antifreeze
    noisy = parse_sanitize_status(out, "SG_IO: questionable sense data, results may be incorrect\n")
    assert not noisy.succeeded


def test_sanitize_status_sd3_failure() -> None:
    """The SD3 path: rc 5 and hdparm's two stderr lines give a FAILED state."""
    err = (
        "SANITIZE failed: Input/output error\n"
        "SANITIZE device error reason: Last Sanitize Command completed unsuccessfully\n"
        "Drive in SD3 Sanitize Operation Failed state\n"
    )
    status = parse_sanitize_status("\n/dev/sda:\nIssuing SANITIZE_STATUS command\n", err, 5)
    assert status.state is AtaSanitizeState.FAILED
    assert status.error_reason == "Last Sanitize Command completed unsuccessfully"
    assert not status.succeeded


def test_sanitize_status_unsupported_raises() -> None:
    """ "SANITIZE feature set is not supported" (rc 22) is not a state."""
    with pytest.raises(ToolOutputError):
        parse_sanitize_status("\n/dev/sda:\n", "SANITIZE feature set is not supported\n", 22)


def _spaced(text: str, how: str) -> str:
    """`text` with its tabs turned into spaces, as forums and issue trackers turn them."""
    if how == "expanded":
        return text.expandtabs(8)
    return text.replace("\t", "    ")


@pytest.mark.parametrize("how", ["expanded", "four-spaces"])
@pytest.mark.parametrize(
    "name", sorted(p.stem.removeprefix("identify-") for p in DATA.glob("*.txt"))
)
def test_a_report_whose_tabs_became_spaces_reads_the_same(name: str, how: str) -> None:
    """Every fixture reads to the same capabilities with its tabs turned into spaces (before,
    such a copy came out with a blank model and 0 sectors, and no error)."""
    text = (DATA / f"identify-{name}.txt").read_text()
    tabbed, spaced = parse_hdparm_identify(text), parse_hdparm_identify(_spaced(text, how))
    assert spaced.model
    assert spaced.user_sectors > 0
    assert replace(spaced, raw="") == replace(tabbed, raw="")


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: re.sub(r"(?m)^\s*LBA(48)?\s+user addressable sectors:.*\n", "", t),
        lambda t: re.sub(r"(?m)^(\s*Model Number:).*$", r"\1", t),
    ],
    ids=["no-sector-count", "blank-model"],
)
def test_a_recognised_report_that_cannot_be_read_raises(damage: Callable[[str], str]) -> None:
    """An hdparm -I report (header and feature list there) whose model or size cannot be read
    raises with the raw text; it never yields blanks."""
    text = damage((DATA / "identify-enabled.txt").read_text())
    with pytest.raises(ToolOutputError, match="cannot be read") as failed:
        parse_hdparm_identify(text)
    assert failed.value.raw == text
