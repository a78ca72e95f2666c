"""An emulated eMMC that answers mmc-utils (``mmc extcsd read``, ``mmc erase``, ``mmc sanitize``).

Built from mmc-utils' own source (``mmc_cmds.c``: ``do_read_extcsd``, ``do_erase``,
``do_sanitize``) and the real captures in tests/data/real/mmc: the ``extcsd read`` lines it prints
are those captures' lines, with the size, feature bits and erase unit of this emulated part.

The state machine, as on a real part and kernel:

- ``mmc erase <type> <start> <end> DEV`` addresses 512-byte sectors, ``end`` inclusive. The
  erase types and their SEC_FEATURE_SUPPORT checks are mmc-utils': ``secure-erase`` needs
  SECURE_ER_EN, ``secure-trim1``/``secure-trim2`` need SECURE_ER_EN and SEC_GB_CL_EN; when a bit
  is missing mmc-utils prints "<type> is not supported in DEV" and exits with -ENOTSUP (161),
  sending nothing. ``legacy`` and ``secure-erase`` erase whole erase groups (the part rounds the
  range out to the high-capacity erase unit); ``secure-trim1`` only marks the blocks and
  ``secure-trim2`` erases the marked ones. Erased blocks read as ERASED_MEM_CONT (zeros).
- ``mmc sanitize DEV [timeout_ms]`` is one synchronous SWITCH (EXT_CSD[165] = 1); it removes
  data from every *unmapped* block (erased, trimmed or discarded ones) and never touches mapped
  data. Without SEC_SANITIZE the part answers SWITCH_ERROR: the kernel returns -EBADMSG and
  mmc-utils prints "ioctl: Bad message" and "Could not write 0x01 to EXT_CSD[165] in DEV",
  exit 1. When the timeout (the kernel's 240 s when 0 or absent) is shorter than the part
  needs, the kernel aborts the sanitize with HPI and returns -ETIMEDOUT ("Connection timed
  out"): the unmapped blocks are then only partly sanitised.
- ``fail_next_erase`` makes the next erase fail half-way (the ioctl's -EIO: "Erase multi-cmd
  ioctl: Input/output error", " <type> Failed!", exit 255), leaving the rest of the range as it was.
- ``lies=True`` answers success to every erase and sanitize and changes nothing.

The emulator keeps which sectors are *unmapped but not yet sanitised* (``residue``): the data an
erase or trim only unmapped, which a sanitize removes.
"""

from __future__ import annotations

import os

from sanitiser.emulators import BackingFile, result, tool_name
from sanitiser.runner import CommandResult

SECTOR = 512
ERASE_UNIT = 512 * 1024
ENOTSUP_EXIT = 256 - 95
"""mmc-utils' ``exit(-ENOTSUP)`` as the shell sees it."""
KERNEL_SANITIZE_TIMEOUT_MS = 240_000
"""MMC_SANITIZE_TIMEOUT_MS: the kernel's sanitize timeout when the ioctl gives none."""

_ERASE_TYPES = {
    "legacy": ("Legacy Erase", 0x00),
    "discard": ("Discard", 0x00),
    "secure-erase": ("Secure Erase", 0x01),
    "secure-trim1": ("Secure Trim Step 1", 0x11),
    "secure-trim2": ("Secure Trim Step 2", 0x11),
    "trim": ("Trim", 0x10),
}
"""mmc-utils' erase types: the name it prints and the SEC_FEATURE_SUPPORT bits it checks."""


class MmcDriveEmulator:
    """An eMMC user area (``/dev/mmcblkN``) on `backing_file`.

    Args:
        features: SEC_FEATURE_SUPPORT (0x55 on every real capture: all four bits).
        revision: EXT_CSD_REV (8 = eMMC 5.1; sanitize needs 6 or later).
        hc_erase_grp_size: the erase unit in 512 KiB (1 on three captures, 0x10 on the switch).
        sanitize_ms: how long a sanitize takes on this part.
    """

    def __init__(
        self,
        backing_file: str | os.PathLike[str],
        *,
        device: str,
        features: int = 0x55,
        revision: int = 8,
        hc_erase_grp_size: int = 1,
        boot_size_mult: int = 0x20,
        rpmb_size_mult: int = 0x04,
        sanitize_ms: int = 60_000,
        lies: bool = False,
        timeout_arg: bool = True,
    ) -> None:
        self.medium = BackingFile(backing_file)
        self.device = device
        self.features = features
        self.revision = revision
        self.hc_erase_grp_size = hc_erase_grp_size
        self.boot_size_mult = boot_size_mult
        self.rpmb_size_mult = rpmb_size_mult
        self.sanitize_ms = sanitize_ms
        self.lies = lies
        self.timeout_arg = timeout_arg
        """False: an mmc-utils without ``[timeout_ms]`` (Debian 12's 0+git20220624 prints
        "Usage: mmc sanitize </path/to/mmcblkX>" and exits 1 when given one)."""
        self.residue: set[int] = set()
        """Erase groups unmapped by an erase or trim whose old data a sanitize would remove."""
        self.trim_marked: tuple[int, int] | None = None
        self.fail_next_erase = False
        self.erases: list[str] = []
        self.sanitizes = 0

    @property
    def sectors(self) -> int:
        """SEC_COUNT: the user area in sectors."""
        return self.medium.size // SECTOR

    def handle(self, argv: tuple[str, ...]) -> CommandResult | None:
        """Answer one mmc-utils command addressed to this part."""
        if tool_name(argv) != "mmc" or len(argv) < 3:
            return None
        if argv[1:3] == ("extcsd", "read"):
            return self._extcsd(argv)
        if argv[1] == "erase":
            return self._erase(argv)
        if argv[1] == "sanitize":
            return self._sanitize(argv)
        return None

    # -- extcsd read ------------------------------------------------------------------------
    def extcsd_text(self) -> str:
        """``mmc extcsd read`` as mmc-utils prints it (the lines the real captures show)."""
        ver = {8: "5.1", 7: "5.0", 6: "4.5", 5: "4.41"}[self.revision]
        hc = self.hc_erase_grp_size
        lines = [
            "=============================================",
            f"  Extended CSD rev 1.{self.revision} (MMC {ver})",
            "=============================================",
            "",
            "Card Supported Command sets [S_CMD_SET: 0x01]",
            "HPI Features [HPI_FEATURE: 0x01]: implementation based on CMD13",
            "Background operations support [BKOPS_SUPPORT: 0x01]",
            "TRIM Multiplier [TRIM_MULT: 0x02]",
            f"Secure Feature support [SEC_FEATURE_SUPPORT: 0x{self.features:02x}]",
            "Boot Information [BOOT_INFO: 0x07]",
            f"Boot partition size [BOOT_SIZE_MULTI: 0x{self.boot_size_mult:02x}]",
            "Access size [ACC_SIZE: 0x07]",
            f"High-capacity erase unit size [HC_ERASE_GRP_SIZE: 0x{hc:02x}]",
            f" i.e. {512 * hc} KiB",
            "High-capacity erase timeout [ERASE_TIMEOUT_MULT: 0x01]",
            f"Sector Count [SEC_COUNT: 0x{self.sectors:08x}]",
            " Device is block-addressed",
            "Erased memory content [ERASED_MEM_CONT: 0x00]",
            "Boot configuration bytes [PARTITION_CONFIG: 0x08]",
            " Boot Partition 1 enabled",
            " No access to boot partition",
            "High-density erase group definition [ERASE_GROUP_DEF: 0x01]",
            f"RPMB Size [RPMB_SIZE_MULT]: 0x{self.rpmb_size_mult:02x}",
        ]
        if self.revision >= 7:
            lines += [
                "eMMC Life Time Estimation A [EXT_CSD_DEVICE_LIFE_TIME_EST_TYP_A]: 0x01",
                "eMMC Life Time Estimation B [EXT_CSD_DEVICE_LIFE_TIME_EST_TYP_B]: 0x01",
                "eMMC Pre EOL information [EXT_CSD_PRE_EOL_INFO]: 0x01",
                "Secure Removal Type [SECURE_REMOVAL_TYPE]: 0x39",
            ]
        return "\n".join(lines) + "\n"

    def _extcsd(self, argv: tuple[str, ...]) -> CommandResult:
        if len(argv) != 4:
            return result(argv, 1, "", "Usage: mmc extcsd read </path/to/mmcblkX>\n")
        return result(argv, 0, self.extcsd_text())

    # -- erase ------------------------------------------------------------------------------
    @property
    def _group(self) -> int:
        return max(1, self.hc_erase_grp_size * ERASE_UNIT // SECTOR)

    def _erase(self, argv: tuple[str, ...]) -> CommandResult:
        if len(argv) != 6:
            usage = "Usage: erase <type> <start addr> <end addr> </path/to/mmcblkX>\n"
            return result(argv, 1, "", usage)
        kind, first, last = argv[2], _number(argv[3]), _number(argv[4])
        if last < first:
            return result(argv, 1, "", f"erase start [0x{first:08x}] > erase end [0x{last:08x}]\n")
        if kind not in _ERASE_TYPES:
            return result(argv, 1, "", f"Unknown erase type: {kind}\n")
        name, needs = _ERASE_TYPES[kind]
        if needs and self.features & needs != needs:
            return result(
                argv, ENOTSUP_EXIT, f" {name} Failed!\n\n",
                f"{name} is not supported in {self.device}\n",
            )  # fmt: skip
        info = (
            f"High Capacity Erase Unit Size={self.hc_erase_grp_size * ERASE_UNIT} bytes\n"
            "High Capacity Erase Timeout=300 ms\n"
            f"High Capacity Write Protect Group Size={16 * self.hc_erase_grp_size * ERASE_UNIT}"
            " bytes\n"
        )
        said = f"Executing {name} from 0x{first:08x} to 0x{last:08x}\n"
        if last >= self.sectors:
            return result(
                argv, 255, said + f" {name} Failed!\n\n",
                info + "Erase multi-cmd ioctl: Invalid argument\n",
            )  # fmt: skip
        self.erases.append(kind)
        if self.lies:
            return result(argv, 0, said + f" {name} Succeed!\n\n", info)
        if self.fail_next_erase:
            self.fail_next_erase = False
            half = first + (last - first + 1) // 2
            self._erase_range(kind, first, max(first, half - 1))
            return result(
                argv, 255, said + f" {name} Failed!\n\n",
                info + "Erase multi-cmd ioctl: Input/output error\n",
            )  # fmt: skip
        self._erase_range(kind, first, last)
        return result(argv, 0, said + f" {name} Succeed!\n\n", info)

    def _erase_range(self, kind: str, first: int, last: int) -> None:
        if kind == "secure-trim1":
            self.trim_marked = (first, last)
            return
        if kind == "secure-trim2":
            if self.trim_marked is None:
                return
            first, last = self.trim_marked
            self.trim_marked = None
        elif kind in ("legacy", "secure-erase"):
            g = self._group
            first, last = first // g * g, min(self.sectors - 1, (last // g + 1) * g - 1)
        self.medium.fill(first * SECTOR, (last + 1) * SECTOR)
        if kind in ("legacy", "trim", "discard"):
            # the blocks are unmapped, their old cells not yet physically purged
            g = self._group
            self.residue.update(range(first // g, last // g + 1))

    # -- sanitize ---------------------------------------------------------------------------
    def _sanitize(self, argv: tuple[str, ...]) -> CommandResult:
        if len(argv) not in ((3, 4) if self.timeout_arg else (3,)):
            usage = "Usage: mmc sanitize </path/to/mmcblkX>"
            usage += " [timeout_in_ms]\n" if self.timeout_arg else "\n"
            return result(argv, 1, "", usage)
        timeout = _number(argv[3]) if len(argv) == 4 else 0
        timeout = timeout or KERNEL_SANITIZE_TIMEOUT_MS
        failed = f"Could not write 0x01 to EXT_CSD[165] in {self.device}\n"
        if self.revision < 6 or not self.features & 0x40:
            return result(argv, 1, "", "ioctl: Bad message\n" + failed)
        self.sanitizes += 1
        if self.lies:
            return result(argv, 0)
        if timeout < self.sanitize_ms:
            # aborted by HPI: only the share that fitted in the timeout was purged
            share = len(self.residue) * timeout // self.sanitize_ms
            for group in sorted(self.residue)[:share]:
                self.residue.discard(group)
            return result(argv, 1, "", "ioctl: Connection timed out\n" + failed)
        self.residue.clear()
        return result(argv, 0)


def _number(text: str) -> int:
    """mmc-utils' reading of an address: hex with 0x, else decimal (strtol)."""
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        return 0


__all__ = ["ENOTSUP_EXIT", "KERNEL_SANITIZE_TIMEOUT_MS", "MmcDriveEmulator"]
