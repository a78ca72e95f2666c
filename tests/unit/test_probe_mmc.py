"""The eMMC parsers over real ``mmc extcsd read`` captures and sysfs attributes.

Every expected value below was read off the capture by eye (tests/data/real/mmc/SOURCES says
where each came from), never copied from the parser's output.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.errors import ToolOutputError
from sanitiser.probe.mmc import parse_extcsd, parse_mmc_sysfs

REAL = Path(__file__).resolve().parents[1] / "data" / "real" / "mmc"

EXTCSD = {
    "samsung-emmc51-8gb-extcsd.txt": dict(
        revision=8, version="5.1", sec_count=0x00E90000, features=0x55, hc_erase=0x01,
        boot_mult=0x20, rpmb_mult=0x04, life=(0x01, 0x01), pre_eol=0x01,
    ),
    "bredos-wiki-emmc51-233gb-extcsd.txt": dict(
        revision=8, version="5.1", sec_count=0x1D200000, features=0x55, hc_erase=0x01,
        boot_mult=0x20, rpmb_mult=0x20, life=(0x01, 0x01), pre_eol=0x01,
    ),
    "arista-emmc50-7gb-extcsd.txt": dict(
        revision=7, version="5.0", sec_count=0x00EB8000, features=0x55, hc_erase=0x10,
        boot_mult=0x20, rpmb_mult=0x20, life=(0x0B, 0x02), pre_eol=0x01,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXTCSD))
def test_extcsd_real_capture(name: str) -> None:
    """Each capture reads as a human reads it: revision, size, features, partitions, wear."""
    want = EXTCSD[name]
    ext = parse_extcsd((REAL / name).read_text())
    assert (ext.revision, ext.version) == (want["revision"], want["version"])
    assert ext.sec_count == want["sec_count"]
    assert ext.capacity_bytes == want["sec_count"] * 512
    assert ext.block_addressed
    assert ext.sec_feature_support == want["features"]
    assert ext.hc_erase_grp_size == want["hc_erase"]
    assert ext.erase_group_def == 1
    assert ext.erase_group_bytes == want["hc_erase"] * 512 * 1024
    assert ext.boot_size_mult == want["boot_mult"]
    assert ext.boot_partition_bytes == want["boot_mult"] * 128 * 1024
    assert ext.rpmb_size_mult == want["rpmb_mult"]
    assert (ext.life_time_a, ext.life_time_b) == want["life"]
    assert ext.pre_eol == want["pre_eol"]
    assert ext.erased_mem_cont == 0
    assert ext.erased_pattern == b"\x00"


@pytest.mark.parametrize("name", sorted(EXTCSD))
def test_extcsd_features_decoded(name: str) -> None:
    """SEC_FEATURE_SUPPORT 0x55 in every capture: sanitize, secure erase and trim, bad blocks."""
    ext = parse_extcsd((REAL / name).read_text())
    assert ext.sanitize
    assert ext.secure_erase
    assert ext.secure_trim
    assert ext.bad_blocks_sanitised


def test_extcsd_life_time_exceeded_on_the_worn_switch() -> None:
    """The Arista capture's life-time estimate A is 0x0B: the rated life is used up."""
    worn = parse_extcsd((REAL / "arista-emmc50-7gb-extcsd.txt").read_text())
    fresh = parse_extcsd((REAL / "samsung-emmc51-8gb-extcsd.txt").read_text())
    assert worn.life_time_exceeded
    assert not fresh.life_time_exceeded


def test_extcsd_secure_removal_type_when_printed() -> None:
    """SECURE_REMOVAL_TYPE as printed (0x3b on the BredOS board, 0x01 on the switch)."""
    bred = parse_extcsd((REAL / "bredos-wiki-emmc51-233gb-extcsd.txt").read_text())
    arista = parse_extcsd((REAL / "arista-emmc50-7gb-extcsd.txt").read_text())
    assert (bred.secure_removal_type, arista.secure_removal_type) == (0x3B, 0x01)


def test_extcsd_truncated_real_capture_fails_loudly() -> None:
    """The ROCK 5B dump its poster cut after PARTITION_CONFIG is refused, naming what is missing."""
    text = (REAL / "radxa-rock5b-emmc51-truncated-extcsd.txt").read_text()
    with pytest.raises(ToolOutputError, match=r"ERASE_GROUP_DEF.*RPMB_SIZE_MULT"):
        parse_extcsd(text)


def test_extcsd_empty_output_is_refused() -> None:
    """mmc-utils prints nothing (exit 0) for a revision it does not know: never 'no features'."""
    with pytest.raises(ToolOutputError, match="banner"):
        parse_extcsd("")


def test_extcsd_unreadable_value_fails() -> None:
    """A recognised field whose value is not hex raises instead of reading as 0."""
    text = (REAL / "samsung-emmc51-8gb-extcsd.txt").read_text()
    bad = text.replace("[SEC_FEATURE_SUPPORT: 0x55]", "[SEC_FEATURE_SUPPORT: 0x5?]")
    with pytest.raises(ToolOutputError, match="SEC_FEATURE_SUPPORT"):
        parse_extcsd(bad)


def test_extcsd_conflicting_repeat_fails() -> None:
    """A field printed twice with two values (a spliced paste) is refused."""
    text = (REAL / "samsung-emmc51-8gb-extcsd.txt").read_text()
    spliced = text + "Sector Count [SEC_COUNT: 0x00000001]\n"
    with pytest.raises(ToolOutputError, match="SEC_COUNT printed twice"):
        parse_extcsd(spliced)


def test_extcsd_old_revision_without_feature_bits() -> None:
    """Below revision 5 mmc-utils prints no SEC_FEATURE_SUPPORT: no secure feature is assumed."""
    text = (REAL / "samsung-emmc51-8gb-extcsd.txt").read_text()
    old = text.replace("Extended CSD rev 1.8 (MMC 5.1)", "Extended CSD rev 1.3 (MMC 4.3)")
    old = "\n".join(
        line for line in old.splitlines() if "SEC_FEATURE_SUPPORT" not in line
        and "RPMB_SIZE_MULT" not in line
    )  # fmt: skip
    ext = parse_extcsd(old)
    assert ext.sec_feature_support is None
    assert not (ext.sanitize)
    assert not (ext.secure_erase)
    assert not (ext.secure_trim)


def test_extcsd_sanitize_needs_emmc_45() -> None:
    """The SEC_SANITIZE bit means nothing before revision 6 (sanitize arrived in eMMC 4.5)."""
    text = (REAL / "samsung-emmc51-8gb-extcsd.txt").read_text()
    ext = parse_extcsd(text.replace("rev 1.8 (MMC 5.1)", "rev 1.5 (MMC 4.41)"))
    assert ext.secure_erase
    assert not ext.sanitize


SYSFS = {
    "type": "MMC\n", "name": "BJTD4R\n", "manfid": "0x000015\n", "oemid": "0x0100\n",
    "serial": "0x2a5b3c4d\n", "cid": "150100424a5444345206a5b3c4d7a1c3\n",
}  # fmt: skip


def test_mmc_sysfs_identity() -> None:
    """The card's sysfs attributes decode to type, name, maker and serial."""
    ident = parse_mmc_sysfs(SYSFS)
    assert ident.is_emmc
    assert ident.name == "BJTD4R"
    assert (ident.manfid, ident.oemid, ident.serial) == (0x15, 0x100, 0x2A5B3C4D)
    assert ident.manufacturer == "Samsung"
    assert ident.serial_text == "0x2a5b3c4d"


def test_mmc_sysfs_sd_card_is_not_emmc() -> None:
    """An SD card (type SD) is told apart: it has no EXT_CSD and no secure erase."""
    assert not parse_mmc_sysfs({**SYSFS, "type": "SD\n"}).is_emmc


@pytest.mark.parametrize(("key", "value"), [("manfid", "zz"), ("cid", "1501"), ("type", "UFS")])
def test_mmc_sysfs_unreadable_fails(key: str, value: str) -> None:
    """A present attribute that does not read raises, naming it."""
    with pytest.raises(ToolOutputError, match=key):
        parse_mmc_sysfs({**SYSFS, key: value})


def test_mmc_sysfs_missing_attribute_fails() -> None:
    """A missing attribute is named, never filled with a blank."""
    attrs = {k: v for k, v in SYSFS.items() if k != "serial"}
    with pytest.raises(ToolOutputError, match="serial"):
        parse_mmc_sysfs(attrs)
