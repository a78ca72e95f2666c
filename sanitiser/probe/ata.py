"""ATA capabilities from hdparm output: IDENTIFY words (primary), ``hdparm -I`` text, ``-N``, DCO.

Pure functions over text (docs/DEVICE-COMMANDS.md §1). The IDENTIFY words path
(``hdparm --Istdout``) is primary because it does not depend on hdparm's wording; the text path
(``hdparm -I``) decodes the same facts from the rendered lines, and both give equal
`AtaCapabilities` for the same drive. Everything that cannot be parsed raises `ToolOutputError`
carrying the raw text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from sanitiser.errors import ToolOutputError

IDENTIFY_WORDS = 256
"""An IDENTIFY DEVICE block is 256 16-bit words (512 bytes)."""

SENSE_WARNINGS = (
    "SG_IO: questionable sense data",
    "SG_IO: missing sense data",
    "SG_IO: bad/missing sense data",
)
"""hdparm's stderr lines that mean the result registers cannot be trusted, even with rc 0 (§1.9)."""

# Word 59 (sanitize), docs/DEVICE-COMMANDS.md §1.2.
_W59_SANITIZE = 1 << 12
_W59_CRYPTO = 1 << 13
_W59_OVERWRITE = 1 << 14
_W59_BLOCK = 1 << 15
_W59_ANTIFREEZE = 1 << 10
# Word 82/83 (command sets supported), word 128 (security status).
_W82_SECURITY = 1 << 1
_W82_HPA = 1 << 10
_W83_LBA48 = 1 << 10
_W83_DCO = 1 << 11
_W128_BITS = ("supported", "enabled", "locked", "frozen", "expired", "enhanced")
_W128_LEVEL_MAX = 1 << 8

# Lines of "Commands/features" that matter, mapped to the fact they state (identify.c names).
_SANITIZE_LINES = {
    "SANITIZE feature set": "sanitize_supported",
    "CRYPTO_SCRAMBLE_EXT command": "sanitize_crypto_scramble",
    "OVERWRITE_EXT command": "sanitize_overwrite",
    "BLOCK_ERASE_EXT command": "sanitize_block_erase",
    "SANITIZE_ANTIFREEZE_LOCK_EXT command": "sanitize_antifreeze",
}
_SECURITY_LABELS = {
    "supported": "security_supported",
    "enabled": "security_enabled",
    "locked": "security_locked",
    "frozen": "security_frozen",
    "expired: security count": "security_count_expired",
    "supported: enhanced erase": "enhanced_erase_supported",
}


@dataclass(frozen=True, slots=True)
class AtaCapabilities:
    """What an ATA drive advertises in IDENTIFY DEVICE, for choosing a purge technique."""

    model: str = ""
    serial: str = ""
    firmware: str = ""
    user_sectors: int = 0
    """Addressable sectors as the drive reports them now (LBA48 when supported; after any HPA)."""
    logical_sector_size: int = 512
    security_supported: bool = False
    """Security feature set supported (word 82 bit 1, word 128 bit 0)."""
    security_enabled: bool = False
    """A user password is set (word 128 bit 1)."""
    security_locked: bool = False
    """The drive refuses media access until unlocked (word 128 bit 2)."""
    security_frozen: bool = False
    """SECURITY FREEZE LOCK was sent (usually by the BIOS): set-pass and erase abort (bit 3)."""
    security_count_expired: bool = False
    """Too many wrong passwords: unlock/erase abort until a power cycle (bit 4)."""
    enhanced_erase_supported: bool = False
    """ENHANCED SECURITY ERASE UNIT supported (bit 5)."""
    security_level_maximum: bool = False
    """Security level is maximum (bit 8; only meaningful when enabled)."""
    master_password_revision: int | None = None
    """Word 92, when neither 0 nor 0xFFFF (65534 is the usual factory value)."""
    erase_minutes_normal: int | None = None
    """The drive's own SECURITY ERASE UNIT estimate; for "more than N min" this is N."""
    erase_minutes_enhanced: int | None = None
    """The drive's own ENHANCED SECURITY ERASE UNIT estimate; for "more than N min" this is N."""
    sanitize_supported: bool = False
    """SANITIZE feature set (word 59 bit 12): hdparm refuses every sanitize without it."""
    sanitize_crypto_scramble: bool = False
    sanitize_block_erase: bool = False
    sanitize_overwrite: bool = False
    sanitize_antifreeze: bool = False
    """SANITIZE ANTIFREEZE LOCK EXT supported (word 59 bit 10)."""
    hpa_supported: bool = False
    """Host Protected Area feature set (word 82 bit 10)."""
    dco_supported: bool = False
    """Device Configuration Overlay feature set (word 83 bit 11)."""
    sense_warnings: tuple[str, ...] = ()
    """``SG_IO: ... sense data`` lines hdparm printed on stderr (§9 #3)."""
    source: str = "words"
    """``words`` (hdparm --Istdout) or ``text`` (hdparm -I)."""
    raw: str = field(default="", compare=False, repr=False)
    """The stdout the value was parsed from, kept for the record."""

    @property
    def trustworthy(self) -> bool:
        """False when hdparm warned that the ATA result registers could not be read (§1.9)."""
        return not self.sense_warnings

    @property
    def security_erase_ready(self) -> bool:
        """Security erase can start now: supported, no password yet, not locked/frozen/expired."""
        return (
            self.security_supported
            and not self.security_enabled
            and not self.security_locked
            and not self.security_frozen
            and not self.security_count_expired
        )

    @property
    def sanitize_any(self) -> bool:
        """At least one SANITIZE operation is advertised."""
        return self.sanitize_supported and (
            self.sanitize_crypto_scramble or self.sanitize_block_erase or self.sanitize_overwrite
        )


@dataclass(frozen=True, slots=True)
class HpaInfo:
    """``hdparm -N``: the visible and native maximum sectors (§1.3)."""

    visible_sectors: int
    native_sectors: int
    hpa_enabled: bool
    """The visible size is smaller than the native size (HPA or Accessible Max Address)."""
    accessible_max_address: bool = False
    """The drive uses ACS-3 Accessible Max Address rather than the older HPA commands."""
    invalid: bool = False
    """hdparm said "HPA setting seems invalid" (visible > native)."""
    raw: str = field(default="", compare=False, repr=False)

    @property
    def hidden_sectors(self) -> int:
        """Sectors beyond the visible end that an OS-level overwrite cannot reach."""
        return max(0, self.native_sectors - self.visible_sectors)


@dataclass(frozen=True, slots=True)
class DcoInfo:
    """``hdparm --dco-identify``: the factory maximum a DCO may hide (§1.3)."""

    real_max_sectors: int
    checksum_ok: bool
    revision: int
    raw: str = field(default="", compare=False, repr=False)

    def hidden_sectors(self, native_sectors: int) -> int:
        """Sectors hidden by DCO beyond `native_sectors` (from ``hdparm -N``)."""
        return max(0, self.real_max_sectors - native_sectors)


class AtaSanitizeState(StrEnum):
    """The ACS sanitize states as hdparm names them."""

    IDLE = "SD0"
    FROZEN = "SD1"
    IN_PROCESS = "SD2"
    FAILED = "SD3"


@dataclass(frozen=True, slots=True)
class AtaSanitizeStatus:
    """``hdparm --sanitize-status`` (§1.8)."""

    state: AtaSanitizeState
    progress_raw: int | None = None
    """The 16-bit progress value (only in SD2)."""
    progress_percent: int | None = None
    completed_without_error: bool = False
    antifreeze: bool = False
    error_reason: str = ""
    """hdparm's ``SANITIZE device error reason`` text, when the status command failed."""
    sense_warnings: tuple[str, ...] = ()
    raw: str = field(default="", compare=False, repr=False)

    @property
    def succeeded(self) -> bool:
        """The last sanitize finished well: SD0, "Completed Without Error", and trustworthy."""
        return (
            self.state is AtaSanitizeState.IDLE
            and self.completed_without_error
            and not self.sense_warnings
        )


def sense_warnings(stderr: str) -> tuple[str, ...]:
    """The SG_IO sense-data warning lines in hdparm's stderr (each stripped), in order."""
    return tuple(
        line.strip() for line in stderr.splitlines() if any(w in line for w in SENSE_WARNINGS)
    )


def parse_identify_words(text: str) -> tuple[int, ...]:
    """The 256 IDENTIFY words from ``hdparm --Istdout`` output (or a saved ``--Istdin`` dump).

    Lines that are not eight 4-digit hex words (the ``/dev/sda:`` header, blank lines) are
    skipped.

    Raises:
        ToolOutputError: when there are not exactly 256 words.
    """
    words: list[int] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 8 and all(re.fullmatch(r"[0-9a-fA-F]{4}", p) for p in parts):
            words.extend(int(p, 16) for p in parts)
    if len(words) != IDENTIFY_WORDS:
        raise ToolOutputError(
            "hdparm", f"expected {IDENTIFY_WORDS} IDENTIFY words, found {len(words)}", text
        )
    return tuple(words)


def ata_string(words: tuple[int, ...], first: int, last: int) -> str:
    """An ATA string from words `first`..`last` (high byte first in each word), stripped."""
    chars = bytearray()
    for w in words[first : last + 1]:
        chars += bytes(((w >> 8) & 0xFF, w & 0xFF))
    return chars.decode("ascii", errors="replace").strip(" \x00")


def _erase_minutes(word: int) -> int | None:
    """Decode word 89/90 as hdparm does: ACS-3 extended format when bit 15 is set."""
    if word & 0x8000:
        value = word & 0x7FFF
        return None if value == 0 else (65532 if value == 0x7FFF else value * 2)
    value = word & 0x00FF
    return None if value == 0 else (508 if value == 0xFF else value * 2)


def capabilities_from_words(
    words: tuple[int, ...], *, stderr: str = "", raw: str = ""
) -> AtaCapabilities:
    """Decode IDENTIFY words into `AtaCapabilities` (words 59, 82, 83, 85, 89, 90, 92, 128).

    The security facts are taken only when hdparm would print its ``Security:`` section (word 82
    bit 1 and any of words 128/89/90 non-zero), so both paths agree.

    Raises:
        ToolOutputError: when `words` is not a 256-word block or is all zeros.
    """
    if len(words) != IDENTIFY_WORDS or not any(words):
        raise ToolOutputError("hdparm", "IDENTIFY data is missing or empty", raw)
    lba48 = bool(words[83] & _W83_LBA48)
    if lba48:
        sectors = words[100] | words[101] << 16 | words[102] << 32 | words[103] << 48
    else:
        sectors = words[60] | words[61] << 16
    sector_size = 512
    if words[106] & 0xC000 == 0x4000 and words[106] & (1 << 12):
        sector_size = 2 * (words[117] | words[118] << 16)
    security_shown = bool(words[82] & _W82_SECURITY) and bool(words[128] or words[89] or words[90])
    flags = dict.fromkeys(_W128_BITS, False)
    level_max = False
    revision: int | None = None
    normal = enhanced = None
    if security_shown:
        flags = {name: bool(words[128] & (1 << i)) for i, name in enumerate(_W128_BITS)}
        level_max = flags["enabled"] and bool(words[128] & _W128_LEVEL_MAX)
        revision = words[92] if words[92] not in (0, 0xFFFF) else None
        normal, enhanced = _erase_minutes(words[89]), _erase_minutes(words[90])
    sanitize = bool(words[59] & _W59_SANITIZE)
    return AtaCapabilities(
        model=ata_string(words, 27, 46),
        serial=ata_string(words, 10, 19),
        firmware=ata_string(words, 23, 26),
        user_sectors=sectors,
        logical_sector_size=sector_size,
        security_supported=flags["supported"],
        security_enabled=flags["enabled"],
        security_locked=flags["locked"],
        security_frozen=flags["frozen"],
        security_count_expired=flags["expired"],
        enhanced_erase_supported=flags["enhanced"],
        security_level_maximum=level_max,
        master_password_revision=revision,
        erase_minutes_normal=normal,
        erase_minutes_enhanced=enhanced,
        sanitize_supported=sanitize,
        sanitize_crypto_scramble=sanitize and bool(words[59] & _W59_CRYPTO),
        sanitize_block_erase=sanitize and bool(words[59] & _W59_BLOCK),
        sanitize_overwrite=sanitize and bool(words[59] & _W59_OVERWRITE),
        sanitize_antifreeze=sanitize and bool(words[59] & _W59_ANTIFREEZE),
        hpa_supported=bool(words[82] & _W82_HPA),
        dco_supported=bool(words[83] & _W83_DCO),
        sense_warnings=sense_warnings(stderr),
        source="words",
        raw=raw,
    )


def parse_hdparm_identify_words(stdout: str, stderr: str = "") -> AtaCapabilities:
    """`AtaCapabilities` from ``hdparm --Istdout DEV`` (the primary path, §1.1).

    Raises:
        ToolOutputError: when the output does not hold a valid IDENTIFY block.
    """
    return capabilities_from_words(parse_identify_words(stdout), stderr=stderr, raw=stdout)


def _text_field(text: str, label: str) -> str:
    match = re.search(rf"^[ \t]+{re.escape(label)}:[ \t]*(.*?)[ \t]*$", text, re.MULTILINE)
    return match.group(1) if match else ""


def _parse_text_minutes(line: str, label: str) -> int | None:
    match = re.search(rf"(more than )?(\d+)min for {label}\.", line)
    return int(match.group(2)) if match else None


def parse_hdparm_identify(stdout: str, stderr: str = "") -> AtaCapabilities:
    """`AtaCapabilities` from ``hdparm -I DEV`` text (the fallback path, §1.1, §1.2).

    Raises:
        ToolOutputError: when the text is not an ATA identify report.
    """
    if "Model Number:" not in stdout or "Commands/features:" not in stdout:
        raise ToolOutputError("hdparm", "no ATA IDENTIFY report in the output", stdout)
    facts: dict[str, bool] = {}
    # Whitespace-tolerant throughout: reports copied from forums and issue trackers have their
    # tabs turned into spaces, and must read the same (or fail below, never come out blank).
    lba28 = re.search(r"^[ \t]+LBA[ \t]+user addressable sectors:\s+(\d+)", stdout, re.M)
    lba48 = re.search(r"^[ \t]+LBA48[ \t]+user addressable sectors:\s+(\d+)", stdout, re.M)
    sectors_match = lba48 or lba28
    # "Logical Sector size:" (hdparm 9.x with different sizes, and current hdparm), or
    # "Logical/Physical Sector size:" (older hdparm, when both are the same): a 4Kn drive read
    # as 512 would have its size and every offset wrong. Absent (very old hdparm): 512.
    size_line = re.search(r"^[ \t]+Logical(?:/Physical)?[ \t]+Sector size:(.*)$", stdout, re.M)
    size = re.match(r"\s*(\d+) bytes\b", size_line.group(1)) if size_line else None
    if size_line and (size is None or not 512 <= int(size.group(1)) <= 65536):
        raise ToolOutputError(
            "hdparm", f"unreadable logical sector size: {size_line.group(0).strip()!r}", stdout
        )
    commands = re.search(r"^Commands/features:[^\n]*\n((?:[ \t].*\n?)*)", stdout, re.MULTILINE)
    features = set(
        re.findall(r"^[ \t]+\*?[ \t]+(.+?)\s*$", commands.group(1) if commands else "", re.M)
    )
    for line, name in _SANITIZE_LINES.items():
        facts[name] = line in features
    section = re.search(r"^Security:[ \t]*\n((?:[ \t].*\n?)*)", stdout, re.MULTILINE)
    revision: int | None = None
    normal: int | None = None
    enhanced: int | None = None
    level_max = False
    if section:
        body = section.group(1)
        for state in re.finditer(r"^[ \t]+(not|\(\?\))?[ \t]+(.+?)\s*$", body, re.M):
            label = _SECURITY_LABELS.get(state.group(2))
            if label is not None:
                facts[label] = state.group(1) is None
        rev = re.search(r"Master password revision code = (\d+)", body)
        revision = int(rev.group(1)) if rev else None
        level_max = re.search(r"^[ \t]+Security level maximum", body, re.MULTILINE) is not None
        normal = _parse_text_minutes(body, "SECURITY ERASE UNIT")
        enhanced = _parse_text_minutes(body, "ENHANCED SECURITY ERASE UNIT")
    sanitize = facts["sanitize_supported"]
    model = _text_field(stdout, "Model Number")
    if not model or sectors_match is None:
        missing = " and ".join(
            what for what, ok in (("model", model), ("sector count", sectors_match)) if not ok
        )
        raise ToolOutputError(
            "hdparm",
            f"an ATA IDENTIFY report whose {missing} cannot be read (was it reformatted?)",
            stdout,
        )
    return AtaCapabilities(
        model=model,
        serial=_text_field(stdout, "Serial Number"),
        firmware=_text_field(stdout, "Firmware Revision"),
        user_sectors=int(sectors_match.group(1)),
        logical_sector_size=int(size.group(1)) if size else 512,
        security_supported=facts.get("security_supported", False),
        security_enabled=facts.get("security_enabled", False),
        security_locked=facts.get("security_locked", False),
        security_frozen=facts.get("security_frozen", False),
        security_count_expired=facts.get("security_count_expired", False),
        enhanced_erase_supported=facts.get("enhanced_erase_supported", False),
        security_level_maximum=level_max,
        master_password_revision=revision,
        erase_minutes_normal=normal,
        erase_minutes_enhanced=enhanced,
        sanitize_supported=sanitize,
        sanitize_crypto_scramble=sanitize and facts["sanitize_crypto_scramble"],
        sanitize_block_erase=sanitize and facts["sanitize_block_erase"],
        sanitize_overwrite=sanitize and facts["sanitize_overwrite"],
        sanitize_antifreeze=sanitize and facts["sanitize_antifreeze"],
        hpa_supported="Host Protected Area feature set" in features,
        dco_supported="Device Configuration Overlay feature set" in features,
        sense_warnings=sense_warnings(stderr),
        source="text",
        raw=stdout,
    )


_MAX_SECTORS = re.compile(
    r"^ max sectors\s+=\s+(\d+)/(\d+)(?:\(\d+\?\))?,\s*"
    r"(HPA is enabled|HPA is disabled|ACCESSIBLE MAX ADDRESS enabled|"
    r"ACCESSIBLE MAX ADDRESS disabled|HPA setting seems invalid)",
    re.MULTILINE,
)


def parse_hdparm_N(stdout: str) -> HpaInfo:
    """`HpaInfo` from ``hdparm -N DEV`` (§1.3).

    Raises:
        ToolOutputError: when there is no ``max sectors`` line.
    """
    match = _MAX_SECTORS.search(stdout)
    if match is None:
        raise ToolOutputError("hdparm", "no 'max sectors' line in hdparm -N output", stdout)
    visible, native, verdict = int(match.group(1)), int(match.group(2)), match.group(3)
    return HpaInfo(
        visible_sectors=visible,
        native_sectors=native,
        hpa_enabled=visible < native,
        accessible_max_address=verdict.startswith("ACCESSIBLE"),
        invalid=verdict == "HPA setting seems invalid",
        raw=stdout,
    )


def parse_dco_identify(stdout: str) -> DcoInfo:
    """`DcoInfo` from ``hdparm --dco-identify DEV`` (§1.3).

    Raises:
        ToolOutputError: when there is no ``Real max sectors`` line (DCO unsupported or failed).
    """
    real = re.search(r"^\tReal max sectors: (\d+)", stdout, re.MULTILINE)
    rev = re.search(r"^DCO Revision: 0x([0-9a-fA-F]+)", stdout, re.MULTILINE)
    if real is None or rev is None:
        raise ToolOutputError("hdparm", "no DCO identify data in the output", stdout)
    return DcoInfo(
        real_max_sectors=int(real.group(1)),
        checksum_ok="DCO Checksum verified." in stdout,
        revision=int(rev.group(1), 16),
        raw=stdout,
    )


def parse_sanitize_status(stdout: str, stderr: str = "", returncode: int = 0) -> AtaSanitizeStatus:
    """`AtaSanitizeStatus` from ``hdparm --sanitize-status DEV`` (§1.8).

    A failed status command whose reason is "Last Sanitize Command completed unsuccessfully"
    is the SD3 path; other failures (unsupported, frozen) raise.

    Raises:
        ToolOutputError: when the output shows no state and no SD3 failure.
    """
    warnings = sense_warnings(stderr)
    reason_match = re.search(r"SANITIZE device error reason: (.+)", stderr)
    reason = reason_match.group(1).strip() if reason_match else ""
    if returncode != 0 or reason:
        if "SD3 Sanitize Operation Failed" in stderr:
            return AtaSanitizeStatus(
                state=AtaSanitizeState.FAILED,
                error_reason=reason,
                sense_warnings=warnings,
                raw=stdout + stderr,
            )
        raise ToolOutputError(
            "hdparm",
            f"sanitize status failed (rc {returncode}): {reason or stderr.strip()}",
            stderr,
        )
    state_match = re.search(r"^\s+State:\s+(SD[0-3])\b", stdout, re.MULTILINE)
    if state_match is None:
        raise ToolOutputError("hdparm", "no sanitize state in the output", stdout)
    progress = re.search(r"^\s+Progress: 0x([0-9a-fA-F]+) \((\d+)%\)", stdout, re.MULTILINE)
    return AtaSanitizeStatus(
        state=AtaSanitizeState(state_match.group(1)),
        progress_raw=int(progress.group(1), 16) if progress else None,
        progress_percent=int(progress.group(2)) if progress else None,
        completed_without_error="Last Sanitize Operation Completed Without Error" in stdout,
        antifreeze="Antifreeze bit set" in stdout,
        sense_warnings=warnings,
        raw=stdout,
    )
