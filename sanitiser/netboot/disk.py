"""The USB image's partition table (pure): one bootable FAT32 partition behind an MBR."""

from __future__ import annotations

import struct

SECTOR = 512
PART_START = 2048
"""First sector of the partition (1 MiB, as partitioning tools align)."""
FAT32_LBA = 0x0C
BOOT_CODE_SIZE = 440


def mbr_sector(boot_code: bytes, part_sectors: int, disk_id: int) -> bytes:
    """Sector 0: `boot_code` (syslinux's mbr.bin, at most 440 bytes), the disk identifier, and
    one active FAT32 (LBA) partition from `PART_START` for `part_sectors` sectors.

    The CHS fields hold the "beyond CHS" values (LBA only), as modern tools write them.

    Raises:
        ValueError: boot code too long, or a partition that does not fit an MBR.
    """
    if len(boot_code) > BOOT_CODE_SIZE:
        raise ValueError(f"MBR boot code is {len(boot_code)} bytes; at most {BOOT_CODE_SIZE}")
    if not 0 < part_sectors < 2**32 - PART_START:
        raise ValueError(f"partition of {part_sectors} sectors does not fit an MBR")
    chs_max = b"\xfe\xff\xff"
    entry = (
        b"\x80"
        + chs_max
        + bytes([FAT32_LBA])
        + chs_max
        + struct.pack("<II", PART_START, part_sectors)
    )
    head = boot_code.ljust(BOOT_CODE_SIZE, b"\0") + struct.pack("<IH", disk_id, 0)
    return head + entry + bytes(16 * 3) + b"\x55\xaa"


def fat_size_sectors(payload_bytes: int, slack_mib: int = 16, minimum_mib: int = 64) -> int:
    """Sectors for a FAT32 partition holding `payload_bytes` of files with room to spare
    (evidence the offline agent writes), in whole MiB, never below FAT32's comfortable
    minimum."""
    mib = max(minimum_mib, -(-payload_bytes // (1 << 20)) + slack_mib)
    return mib * (1 << 20) // SECTOR
