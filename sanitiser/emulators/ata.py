"""An emulated SATA drive that answers hdparm 9.65 as a real one would (docs/DEVICE-COMMANDS.md §1).

The drive keeps its state as IDENTIFY words (rendered for ``-I`` in hdparm's own layout and
dumped for ``--Istdout`` exactly as hdparm does), the ATA security state machine
(disabled -> enabled -> erase -> disabled; frozen, locked, count expired), SANITIZE with
background progress and a failure (SD3) path, HPA and DCO. Erases really rewrite the backing
file. ``lies=True`` is the QEMU 7.2 AHCI disk: no Security section, SG_IO sense noise on stderr,
and rc 0 "success" for security erase while nothing is erased (§9 #12).

Why one module of ~690 lines: it is one state machine (a drive's ATA security and sanitize
states as hdparm shows them), built from the real outputs; its parts only make sense together.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from sanitiser.emulators import BackingFile, result, tool_name
from sanitiser.runner import CommandResult

SECTOR = 512
EPERM, EIO, EINVAL = 1, 5, 22
SANITIZE_ACTIONS = ("crypto", "block", "overwrite")
QEMU_SENSE = (
    "SG_IO: bad/missing sense data, sb[]:  70 00 0b 00 00 00 00 0a 04 41 e0 01 00 00 00 00 "
    "80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n"
)
"""The stderr line QEMU 7.2's AHCI disk makes hdparm print (reference/outputs/qemu-7.2)."""
_YES = "--yes-i-know-what-i-am-doing"
_SECURITY_ACTIONS = {
    "--security-set-pass": "SECURITY_SET_PASS",
    "--security-erase": "SECURITY_ERASE",
    "--security-erase-enhanced": "SECURITY_ERASE",
    "--security-unlock": "SECURITY_UNLOCK",
    "--security-disable": "SECURITY_DISABLE",
}
_SANITIZE_FLAGS = {
    "--sanitize-status": "SANITIZE_STATUS",
    "--sanitize-block-erase": "SANITIZE_BLOCK_ERASE",
    "--sanitize-crypto-scramble": "SANITIZE_CRYPTO_SCRAMBLE",
    "--sanitize-overwrite": "SANITIZE_OVERWRITE",
    "--sanitize-freeze-lock": "SANITIZE_FREEZE_LOCK",
    "--sanitize-antifreeze-lock": "SANITIZE_ANTIFREEZE_LOCK",
}
_SANITIZE_STATES = (
    "SD0 Sanitize Idle",
    "SD1 Sanitize Frozen",
    "SD2 Sanitize operation In Process",
    "SD3 Sanitize Operation Failed",
)
_SANITIZE_REASONS = (
    "Reason not reported",
    "Last Sanitize Command completed unsuccessfully",
    "Unsupported command",
    "Device in FROZEN state",
    "Antifreeze lock enabled",
)
_DANGER = (
    "Use of {opt} is VERY DANGEROUS.\n{why}\n"
    "Please supply the --yes-i-know-what-i-am-doing flag if you really want this.\n"
    "Program aborted.\n"
)
_SHRINK = (
    "You have requested reducing the apparent size of the drive.\n"
    "This is a BAD idea, and can easily destroy all of the drive's contents."
)
_SANITIZE_DANGER = "This sanitize command destroys all user data."
_DCO_RESTORE = (
    "You are trying to deliberately reset your drive configuration back to the factory "
    "defaults.\nThis may change the apparent capacity and feature set of the drive, making all "
    "data on it inaccessible.\nYou could lose *everything*."
)

# identify.c feature names, bit 0 first (print_features walks bits 0..15).
_W82 = {0: "SMART feature set", 1: "Security Mode feature set", 3: "Power Management feature set",
        5: "Write cache", 6: "Look-ahead", 10: "Host Protected Area feature set",
        12: "WRITE_BUFFER command", 13: "READ_BUFFER command", 14: "NOP cmd"}  # fmt: skip
_W83 = {0: "DOWNLOAD_MICROCODE", 8: "SET_MAX security extension",
        10: "48-bit Address feature set", 11: "Device Configuration Overlay feature set",
        12: "Mandatory FLUSH_CACHE", 13: "FLUSH_CACHE_EXT"}  # fmt: skip
_W84 = {0: "SMART error logging", 1: "SMART self-test", 5: "General Purpose Logging feature set",
        6: "WRITE_{DMA|MULTIPLE}_FUA_EXT", 8: "64-bit World wide name",
        13: "IDLE_IMMEDIATE with UNLOAD"}  # fmt: skip
_W59 = {10: "SANITIZE_ANTIFREEZE_LOCK_EXT command", 12: "SANITIZE feature set",
        13: "CRYPTO_SCRAMBLE_EXT command", 14: "OVERWRITE_EXT command",
        15: "BLOCK_ERASE_EXT command"}  # fmt: skip
_SECU = ("supported", "enabled", "locked", "frozen", "expired: security count",
         "supported: enhanced erase")  # fmt: skip


def identify_checksum(words: list[int]) -> int:
    """Word 255 for `words`: signature 0xA5 and a checksum byte making all 512 bytes sum to 0."""
    total = sum((w & 0xFF) + (w >> 8) for w in words[:255]) + 0xA5
    return ((-total) & 0xFF) << 8 | 0xA5


def _put_string(words: list[int], first: int, count: int, text: str) -> None:
    raw = text.encode("ascii", errors="replace")[: count * 2].ljust(count * 2)
    for i in range(count):
        words[first + i] = raw[2 * i] << 8 | raw[2 * i + 1]


def dump_words(words: Iterable[int]) -> str:
    """hdparm's ``--Istdout`` body: 32 lines of eight ``%04x`` words."""
    w = list(words)
    return "".join(" ".join(f"{x:04x}" for x in w[i : i + 8]) + "\n" for i in range(0, len(w), 8))


def _features(word: int, enabled: int, names: dict[int, str]) -> str:
    return "".join(
        f"\t   {'*' if enabled & (1 << bit) else ' '}\t{names[bit]}\n"
        for bit in range(16)
        if word & (1 << bit) and bit in names
    )


def _erase_time(word: int) -> tuple[int, str]:
    ext = bool(word & 0x8000)
    value = word & (0x7FFF if ext else 0xFF)
    if value == 0:
        return 0, ""
    if (ext and value == 0x7FFF) or (not ext and value == 0xFF):
        return value, f"more than {65532 if ext else 508}"
    return value, str(value * 2)


def render_identify(words: list[int], device: str) -> str:
    """``hdparm -I`` text for `words`, in identify.c's layout for the lines that matter."""

    def text(first: int, count: int) -> str:
        return "".join(chr(w >> 8) + chr(w & 0xFF) for w in words[first : first + count])

    lba28 = words[60] | words[61] << 16
    lba48 = words[100] | words[101] << 16 | words[102] << 32 | words[103] << 48
    size = (lba48 or lba28) * SECTOR
    out = [
        f"\n{device}:\n\nATA device, with non-removable media\n",
        f"\t{'Model Number:':<20}{text(27, 20).lstrip()}\n",
        f"\t{'Serial Number:':<20}{text(10, 10).lstrip()}\n",
        f"\t{'Firmware Revision:':<20}{text(23, 4).lstrip()}\n",
        "\tTransport:          Serial, ATA8-AST, SATA 1.0a, SATA II Extensions, SATA Rev 2.5,"
        " SATA Rev 2.6, SATA Rev 3.0\n",
        "Standards:\n\tSupported: 10 9 8 7 6 5 \n\tLikely used: 10\n",
        "Configuration:\n\tCHS addressing not supported\n",
        f"\tLBA    user addressable sectors:{lba28:12d}\n",
    ]
    if words[83] & (1 << 10):
        out.append(f"\tLBA48  user addressable sectors:{lba48:12d}\n")
    gb = size // 1000 // 1000
    out += [
        f"\t{'Logical  Sector size:':<31} {SECTOR:11d} bytes\n",
        f"\t{'Physical Sector size:':<31} {SECTOR:11d} bytes\n",
        f"\tdevice size with M = 1024*1024: {size // (1024 * 1024):11d} MBytes\n",
        f"\tdevice size with M = 1000*1000: {gb:11d} MBytes "
        + (f"({size // 1000 // 1000_000} GB)\n" if size // 1000 > 1000 else "\n"),
        "\tcache/buffer size  = unknown\n\tNominal Media Rotation Rate: Solid State Device\n",
        "Capabilities:\n\tLBA, IORDY(can be disabled)\n\tStandby timer values: spec'd by Vendor\n",
        "\tR/W multiple sector transfer: Max = 1\tCurrent = ?\n",
        "\tDMA: udma0 udma1 udma2 udma3 udma4 udma5 *udma6 \n\tPIO: unknown\n",
        "Commands/features:\n\tEnabled\tSupported:\n",
        _features(words[82] & 0x7FFF, words[85], _W82),
        _features(words[83] & 0x3FFF, words[86], _W83),
        _features(words[84] & 0x3FFF, words[87], _W84),
    ]
    if words[59] & 0x1000:
        out.append(_features(words[59], words[59], _W59))
    if words[82] & 0x2 and (words[128] or words[89] or words[90]):
        out.append(_security_section(words))
    out.append("Checksum: correct\n")
    return "".join(out)


def _security_section(words: list[int]) -> str:
    out = ["Security: \n"]
    if words[92] and words[92] != 0xFFFF:
        out.append(f"\tMaster password revision code = {words[92]}\n")
    status = words[128]
    if status:
        for i, label in enumerate(_SECU):
            prefix = "\t\t" if status & (1 << i) else ("\tnot\t" if i else "\t(?)\t")
            out.append(f"{prefix}{label}\n")
        if status & 0x2:
            out.append(f"\tSecurity level {'maximum' if status & 0x100 else 'high'}\n")
    normal, normal_text = _erase_time(words[89])
    enhanced, enhanced_text = _erase_time(words[90])
    line = ""
    if normal:
        line += f"{normal_text}min for SECURITY ERASE UNIT."
    if normal and enhanced:
        line += " "
    if enhanced:
        line += f"{enhanced_text}min for ENHANCED SECURITY ERASE UNIT."
    out.append(("\t" + line if line else "") + "\n")
    return "".join(out)


class AtaDriveEmulator:
    """A SATA drive behind libata, as hdparm 9.65 sees it, acting on `backing_file`.

    The backing file is the whole medium: `sectors` native sectors (default: what fits, less
    `dco`) plus `dco` sectors a Device Configuration Overlay hides; `hpa` sectors at the end of
    the native area are hidden by a Host Protected Area (so the OS sees `visible_size_bytes`).

    Knobs a test may set between commands: `interrupt_next_erase` (power loss during the next
    security erase: half erased, drive left locked), `fail_next_sanitize` (the next sanitize
    ends in SD3), `polls_per_sanitize` (status polls until done) and `tick(seconds)`.
    """

    def __init__(
        self,
        backing_file: str | os.PathLike[str],
        serial: str = "EMU-ATA-0001",
        model: str = "Emulated SATA SSD",
        sectors: int | None = None,
        *,
        device: str = "/dev/sda",
        firmware: str = "EMU1",
        security: bool = True,
        enhanced_erase: bool = True,
        erase_minutes: tuple[int, int] = (2, 2),
        sanitize: Iterable[str] = SANITIZE_ACTIONS,
        antifreeze: bool = True,
        hpa: int = 0,
        dco: int = 0,
        frozen: bool = False,
        freeze_on_boot: bool = False,
        sanitize_frozen: bool = False,
        lies: bool = False,
        skips_erase: bool = False,
        master_password: str = "",
        max_attempts: int = 5,
        polls_per_sanitize: int = 3,
        sanitize_seconds: float = 60.0,
    ) -> None:
        self.medium = BackingFile(backing_file)
        total = self.medium.size // SECTOR
        self.native_sectors = sectors if sectors is not None else total - dco
        if self.native_sectors + dco > total or self.native_sectors <= hpa:
            raise ValueError("backing file too small for sectors + dco, or hpa too large")
        self.device = device
        self.serial, self.model, self.firmware = serial, model, firmware
        self.sanitize_actions = frozenset(sanitize)
        if not self.sanitize_actions <= set(SANITIZE_ACTIONS):
            raise ValueError(f"sanitize actions must be among {SANITIZE_ACTIONS}")
        self.lies = lies
        self.security = security and not lies
        self.enhanced_erase = enhanced_erase
        self.erase_minutes = erase_minutes
        self.antifreeze_supported = antifreeze
        self.skips_erase = skips_erase
        self.freeze_on_boot = freeze_on_boot
        self.master_password = master_password
        self.max_attempts = max_attempts
        self.polls_per_sanitize = polls_per_sanitize
        self.sanitize_seconds = sanitize_seconds
        self.dco_hidden = dco
        self.dco_frozen = False
        self.visible_sectors = self.native_sectors - hpa
        self.hpa_permanent = hpa > 0
        # Security state (word 128).
        self.enabled = False
        self.locked = False
        self.frozen = frozen and self.security
        self.expired = False
        self.level_max = False
        self.user_password: str | None = None
        self.attempts_left = max_attempts
        self.master_revision = 0xFFFE
        # Sanitize state.
        self.sanitize_frozen = sanitize_frozen
        self.antifreeze_set = False
        self.sanitize_running: str | None = None
        self.sanitize_pattern = b"\x00\x00\x00\x00"
        self.sanitize_progress = 0.0
        self.sanitize_failed = False
        self.sanitize_ok = False
        self.interrupt_next_erase = False
        self.fail_next_sanitize = False
        self.erases = 0
        """How many erases (security or sanitize) really rewrote the medium."""

    # -- facts ------------------------------------------------------------------------------
    @property
    def visible_size_bytes(self) -> int:
        """What the OS sees (after HPA): the size a lab loop device should have."""
        return self.visible_sectors * SECTOR

    @property
    def real_sectors(self) -> int:
        """The factory maximum: native sectors plus whatever DCO hides."""
        return self.native_sectors + self.dco_hidden

    @property
    def readable(self) -> bool:
        """Media access is allowed (not locked, no sanitize running or failed)."""
        return not (self.locked or self.sanitize_running or self.sanitize_failed)

    def identify_words(self) -> list[int]:
        """The 256 IDENTIFY DEVICE words for the current state."""
        w = [0] * 256
        w[0], w[47], w[49], w[53], w[63], w[64] = 0x0040, 0x8001, 0x0F00, 0x0007, 0x0007, 0x0003
        w[80], w[88], w[217] = 0x07F0, 0x407F, 0x0001
        _put_string(w, 10, 10, self.serial)
        _put_string(w, 23, 4, self.firmware)
        _put_string(w, 27, 20, self.model)
        visible = self.visible_sectors
        lba28 = min(visible, 0x0FFFFFFF)
        w[60], w[61] = lba28 & 0xFFFF, lba28 >> 16
        for i in range(4):
            w[100 + i] = (visible >> (16 * i)) & 0xFFFF
        if self.lies:  # QEMU's AHCI disk: SMART, write cache, NOP; no HPA, DCO or security
            w[82] = w[85] = 0x4021
            w[83], w[86] = 0x7400, 0x3400
        else:
            w[82] = 0x7469 | (0x2 if self.security else 0)
            w[83] = 0x7D01
            w[85] = 0x7469 | (0x2 if self.enabled else 0)
            w[86] = 0xBC01
        w[84] = w[87] = 0x6163
        w[106] = 0x4000
        w[108:112] = [0x5002, 0x5380, 0x0000, 0x0001]
        if self.sanitize_actions and not self.lies:
            w[59] = 0x1000
            w[59] |= 0x2000 if "crypto" in self.sanitize_actions else 0
            w[59] |= 0x4000 if "overwrite" in self.sanitize_actions else 0
            w[59] |= 0x8000 if "block" in self.sanitize_actions else 0
            w[59] |= 0x0400 if self.antifreeze_supported else 0
        if self.security:
            w[89] = max(1, self.erase_minutes[0] // 2) & 0xFF
            w[90] = (max(1, self.erase_minutes[1] // 2) & 0xFF) if self.enhanced_erase else 0
            w[92] = self.master_revision
            bits = (True, self.enabled, self.locked, self.frozen, self.expired, self.enhanced_erase)
            w[128] = sum(1 << i for i, on in enumerate(bits) if on)
            w[128] |= 0x100 if self.enabled and self.level_max else 0
        w[255] = identify_checksum(w)
        return w

    # -- power ------------------------------------------------------------------------------
    def power_cycle(self) -> None:
        """Power off and on: unfreezes (unless frozen on boot), locks an enabled drive,
        resets the password attempt counter, drops temporary HPA; a sanitize keeps running."""
        self.frozen = self.freeze_on_boot and self.security
        self.expired = False
        self.attempts_left = self.max_attempts
        self.locked = self.enabled
        self.antifreeze_set = False
        self.sanitize_frozen = False
        self.dco_frozen = False
        if not self.hpa_permanent:
            self.visible_sectors = self.native_sectors

    def tick(self, seconds: float) -> None:
        """Advance the drive's clock: a running sanitize progresses `seconds` worth."""
        if self.sanitize_running:
            self._advance(seconds / self.sanitize_seconds)

    # -- command dispatch -------------------------------------------------------------------
    def handle(self, argv: tuple[str, ...]) -> CommandResult | None:
        """Answer one hdparm command addressed to this drive (None for other tools/flags)."""
        if tool_name(argv) != "hdparm" or len(argv) < 3 or argv[-1] != self.device:
            return None
        flags = list(argv[1:-1])
        yes = _YES in flags
        flags = [f for f in flags if f != _YES]
        head = f"\n{self.device}:\n"
        noise = QEMU_SENSE if self.lies else ""
        if flags == ["-I"]:
            return result(argv, 0, render_identify(self.identify_words(), self.device), noise)
        if flags == ["--Istdout"]:
            return result(argv, 0, head + dump_words(self.identify_words()), noise)
        if flags and flags[0].startswith("-N"):
            return self._max_sectors(argv, flags, yes, head)
        if flags == ["--dco-identify"]:
            return self._dco_identify(argv, head)
        if flags == ["--dco-restore"]:
            return self._dco_restore(argv, yes, head)
        if flags == ["--dco-freeze"]:
            self.dco_frozen = True
            return result(argv, 0, head + " issuing DCO freeze command\n")
        if flags == ["--security-freeze"]:
            return self._security_freeze(argv, head)
        security = [f for f in flags if f in _SECURITY_ACTIONS]
        if security:
            return self._security(argv, flags, security[0], head)
        sanitize = [f for f in flags if f in _SANITIZE_FLAGS]
        if sanitize:
            return self._sanitize(argv, flags, sanitize[0], yes, head)
        return None

    # -- HPA / DCO --------------------------------------------------------------------------
    def _max_line(self) -> str:
        verdict = (
            "HPA is enabled" if self.visible_sectors < self.native_sectors else "HPA is disabled"
        )
        return f" max sectors   = {self.visible_sectors}/{self.native_sectors}, {verdict}\n"

    def _max_sectors(
        self, argv: tuple[str, ...], flags: list[str], yes: bool, head: str
    ) -> CommandResult:
        value = "".join(flags)[2:]
        if not value:
            return result(argv, 0, head + self._max_line())
        match = re.fullmatch(r"(p?)(\d+)", value)
        if match is None or not 1 <= int(match.group(2)) <= self.native_sectors:
            return result(argv, EINVAL, "", "  -N: bad/missing sector value (1..)\n")
        permanent, count = bool(match.group(1)), int(match.group(2))
        kind = "permanent" if permanent else "temporary"
        out = head + f" setting max visible sectors to {count} ({kind})\n"
        if count < self.visible_sectors and not yes:
            return result(argv, EPERM, out, _DANGER.format(opt="-Nnnnnn", why=_SHRINK))
        if self.locked:
            return result(argv, EIO, out, " SET_MAX_ADDRESS(_EXT) failed: Input/output error\n")
        self.visible_sectors = count
        self.hpa_permanent = permanent and count < self.native_sectors
        return result(argv, 0, out + self._max_line())

    def _dco_words(self) -> list[int]:
        d = [0] * 256
        d[0], d[1], d[2] = 0x0002, 0x0007, 0x007F
        last = self.real_sectors - 1
        d[3], d[4], d[5] = last & 0xFFFF, (last >> 16) & 0xFFFF, (last >> 32) & 0xFFFF
        d[7], d[8] = 0x01CF, 0x001F
        total = sum((w & 0xFF) + (w >> 8) for w in d[:155]) + 0xA5
        d[255] = ((-total) & 0xFF) << 8 | 0xA5
        return d

    def _dco_identify(self, argv: tuple[str, ...], head: str) -> CommandResult:
        if self.lies:
            return result(
                argv, 0, head, " HDIO_DRIVE_CMD(dco_identify) failed: Input/output error\n"
            )
        d = self._dco_words()
        real = (d[5] << 32 | d[4] << 16 | d[3]) + 1
        text = (
            "DCO Checksum verified.\n"
            f"DCO Revision: 0x{d[0]:04x}\n"
            "The following features can be selectively disabled via DCO:\n"
            "\tTransfer modes:\n\t\t mdma0 mdma1 mdma2\n"
            "\t\t udma0 udma1 udma2 udma3 udma4 udma5 udma6\n"
            f"\tReal max sectors: {real}\n"
            "\tATA command/feature sets:\n\t\t SMART self_test error_log security AAM HPA 48_bit\n"
            "\tSATA command/feature sets:\n"
            "\t\t NCQ NZ_buffer_offsets interface_power_management async_notification SSP\n"
        )
        return result(argv, 0, head + text)

    def _dco_restore(self, argv: tuple[str, ...], yes: bool, head: str) -> CommandResult:
        if not yes:
            return result(argv, EPERM, head, _DANGER.format(opt="--dco-restore", why=_DCO_RESTORE))
        out = head + " issuing DCO restore command\n"
        if self.lies or self.dco_frozen or self.hpa_permanent or self.locked:
            return result(
                argv, EIO, out, " HDIO_DRIVE_CMD(dco_restore) failed: Input/output error\n"
            )
        self.native_sectors += self.dco_hidden
        self.dco_hidden = 0
        self.visible_sectors = self.native_sectors
        return result(argv, 0, out)

    # -- security ---------------------------------------------------------------------------
    def _security_freeze(self, argv: tuple[str, ...], head: str) -> CommandResult:
        out = head + " issuing security freeze command\n"
        if self.locked or not self.security:
            return result(
                argv, EIO, out, " HDIO_DRIVE_CMD(security_freeze) failed: Input/output error\n"
            )
        self.frozen = True
        return result(argv, 0, out)

    def _security(
        self, argv: tuple[str, ...], flags: list[str], action: str, head: str
    ) -> CommandResult:
        i = flags.index(action)
        if i + 1 >= len(flags):
            return result(argv, EINVAL, "", "hdparm: missing PASSWD\n")
        password = flags[i + 1]
        rest = flags[:i] + flags[i + 2 :]
        master = False
        mode_max = False
        while rest:
            opt = rest.pop(0)
            value = rest.pop(0) if rest else ""
            if opt == "--user-master" and value in ("u", "m"):
                master = value == "m"
            elif opt == "--security-mode" and value in ("h", "m"):
                mode_max = value == "m"
            else:
                return result(argv, EINVAL, "", "Excess flags given.\n")
        if password == "NULL":  # noqa: S105 - hdparm's spelling of the empty password
            password = ""
        echo = f'security_password: "{password}"\n'
        name = _SECURITY_ACTIONS[action]
        who = "master" if master else "user"
        issuing = f' Issuing {name} command, password="{password}", user={who}'
        if action == "--security-set-pass":
            issuing += f", mode={'max' if mode_max else 'high'}"
        out = echo + head + issuing + "\n"
        if self.lies:
            noise = QEMU_SENSE * (2 if name == "SECURITY_ERASE" else 1)
            return result(argv, 0, out, noise)
        if not self.security:
            return result(argv, EIO, out, f"{name}: Input/output error\n")
        fail = self._security_step(action, password, master=master, mode_max=mode_max)
        if fail:
            return result(argv, EIO, out, f"{fail}: Input/output error\n")
        return result(argv, 0, out)

    def _password_ok(self, password: str, *, master: bool) -> bool:
        if master:
            return password == self.master_password and not (self.level_max and self.enabled)
        return self.enabled and password == self.user_password

    def _wrong_password(self) -> None:
        self.attempts_left -= 1
        if self.attempts_left <= 0:
            self.expired = True

    def _security_step(self, action: str, password: str, *, master: bool, mode_max: bool) -> str:
        """Apply one security command; return the failing ATA step's name, or ""."""
        if action == "--security-set-pass":
            if self.frozen or self.locked:
                return "SECURITY_SET_PASS"
            if master:
                self.master_password = password
                self.master_revision = (
                    1 if self.master_revision == 0xFFFE else self.master_revision + 1
                )
                return ""
            self.user_password, self.enabled, self.level_max = password, True, mode_max
            return ""
        if action in ("--security-erase", "--security-erase-enhanced"):
            if self.frozen:
                return "ERASE_PREPARE"
            if action.endswith("enhanced") and not self.enhanced_erase:
                return "SECURITY_ERASE"
            if self.expired or not self.enabled:
                return "SECURITY_ERASE"
            if not self._password_ok(password, master=master):
                self._wrong_password()
                return "SECURITY_ERASE"
            return self._security_erase()
        if self.frozen or self.expired:
            return "SECURITY_UNLOCK"
        if not self._password_ok(password, master=master):
            if self.enabled:
                self._wrong_password()
            return "SECURITY_UNLOCK"
        self.locked = False
        self.attempts_left = self.max_attempts
        if action == "--security-disable":
            self.enabled, self.user_password, self.level_max = False, None, False
        return ""

    def _security_erase(self) -> str:
        end = self.native_sectors * SECTOR
        if self.interrupt_next_erase:
            self.interrupt_next_erase = False
            if not self.skips_erase:
                self.medium.fill(0, end // 2)
            self.locked = True
            return "SECURITY_ERASE"
        if not self.skips_erase:
            self.medium.fill(0, end)
            self.erases += 1
        self.enabled, self.locked, self.user_password, self.level_max = False, False, None, False
        self.attempts_left = self.max_attempts
        return ""

    # -- sanitize ---------------------------------------------------------------------------
    def _sanitize(
        self, argv: tuple[str, ...], flags: list[str], action: str, yes: bool, head: str
    ) -> CommandResult:
        name = _SANITIZE_FLAGS[action]
        pattern = b"\x00\x00\x00\x00"
        if action == "--sanitize-overwrite":
            i = flags.index(action)
            value = flags[i + 1] if i + 1 < len(flags) else ""
            match = re.fullmatch(r"hex:([0-9a-fA-F]{8})", value)
            if match is None:
                return result(argv, EINVAL, "", "sanitize overwrite pattern must be hex:XXXXXXXX\n")
            pattern = bytes.fromhex(match.group(1))
        if not self.sanitize_actions or self.lies:
            return result(
                argv,
                EINVAL,
                head,
                (QEMU_SENSE if self.lies else "") + "SANITIZE feature set is not supported\n",
            )
        starts = name in ("SANITIZE_BLOCK_ERASE", "SANITIZE_CRYPTO_SCRAMBLE", "SANITIZE_OVERWRITE")
        if starts and not yes:
            return result(
                argv, EPERM, head,
                _DANGER.format(opt="--sanitize", why=_SANITIZE_DANGER),
            )  # fmt: skip
        out = head + f"Issuing {name} command\n"
        if name == "SANITIZE_STATUS":
            return self._sanitize_status(argv, out)
        reason = self._sanitize_refusal(name)
        if reason is not None:
            err = (
                "SANITIZE failed: Input/output error\n"
                f"SANITIZE device error reason: {_SANITIZE_REASONS[reason]}\n"
            )
            return result(argv, EIO, out, err)
        if name == "SANITIZE_FREEZE_LOCK":
            self.sanitize_frozen = True
            return result(argv, 0, out)
        if name == "SANITIZE_ANTIFREEZE_LOCK":
            self.antifreeze_set = True
            return result(argv, 0, out)
        self.sanitize_running = {
            "SANITIZE_BLOCK_ERASE": "block",
            "SANITIZE_CRYPTO_SCRAMBLE": "crypto",
        }.get(name, "overwrite")
        self.sanitize_pattern = pattern
        self.sanitize_progress = 0.0
        self.sanitize_failed = False
        self.sanitize_ok = False
        return result(
            argv,
            0,
            out + "Operation started in background\n"
            "You may use `--sanitize-status` to check progress\n",
        )

    def _sanitize_refusal(self, name: str) -> int | None:
        """The hdparm error-reason index for refusing `name`, or None when it may run."""
        if name == "SANITIZE_FREEZE_LOCK":
            return 4 if self.antifreeze_set else None
        if name == "SANITIZE_ANTIFREEZE_LOCK":
            return None if self.antifreeze_supported else 2
        wanted = {"SANITIZE_BLOCK_ERASE": "block", "SANITIZE_CRYPTO_SCRAMBLE": "crypto"}.get(
            name, "overwrite"
        )
        if wanted not in self.sanitize_actions:
            return 2
        if self.sanitize_frozen:
            return 3
        if self.sanitize_running:
            return 0
        return None

    def _sanitize_status(self, argv: tuple[str, ...], out: str) -> CommandResult:
        if self.sanitize_running:
            self._advance(1 / max(1, self.polls_per_sanitize))
        if self.sanitize_failed:
            err = (
                "SANITIZE failed: Input/output error\n"
                f"SANITIZE device error reason: {_SANITIZE_REASONS[1]}\n"
                f"Drive in {_SANITIZE_STATES[3]} state\n"
            )
            return result(argv, EIO, out, err)
        lines = ["Sanitize status:\n"]
        if self.sanitize_running:
            progress = min(0xFFFE, int(self.sanitize_progress * 0x10000))
            percent = 100 * (progress + 1) // 0xFFFF
            lines += [
                f"    State:    {_SANITIZE_STATES[2]}\n",
                f"    Progress: 0x{progress:x} ({percent}%)\n",
            ]
        else:
            lines.append(f"    State:    {_SANITIZE_STATES[1 if self.sanitize_frozen else 0]}\n")
        if self.sanitize_ok:
            lines.append("    Last Sanitize Operation Completed Without Error\n")
        if self.antifreeze_set:
            lines.append("    Antifreeze bit set\n")
        return result(argv, 0, out + "".join(lines))

    def _advance(self, fraction: float) -> None:
        self.sanitize_progress += fraction
        if self.sanitize_progress < 1.0 - 1e-9:
            return
        op, self.sanitize_running = self.sanitize_running, None
        end = self.real_sectors * SECTOR
        if self.fail_next_sanitize:
            self.fail_next_sanitize = False
            self.medium.fill(0, end // 2)
            self.sanitize_failed, self.sanitize_ok = True, False
            return
        if not self.skips_erase:
            if op == "crypto":
                self.medium.fill(0, end, random=True)
            elif op == "overwrite":
                self.medium.fill(0, end, self.sanitize_pattern)
            else:
                self.medium.fill(0, end)
            self.erases += 1
        self.sanitize_failed, self.sanitize_ok = False, True
