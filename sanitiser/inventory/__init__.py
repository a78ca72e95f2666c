"""The computer's own facts (issue 18 item 3): the functional core.

Pure parsers (`dmi`, `power`, `security`, `edid`, `cpu`) over text and bytes handed to them, and
the values they build (`model`). The shell that runs ``dmidecode`` and reads sysfs is
`sanitiser.devices.host.collect_inventory`.
"""

from sanitiser.inventory.model import (
    Baseboard,
    Battery,
    Bios,
    Chassis,
    Cpu,
    Display,
    DmiFacts,
    HostInventory,
    Memory,
    MemoryModule,
    SystemInfo,
    Tpm,
    inventory_from_dmi,
    inventory_from_json,
    inventory_to_json,
)

__all__ = [
    "Baseboard",
    "Battery",
    "Bios",
    "Chassis",
    "Cpu",
    "Display",
    "DmiFacts",
    "HostInventory",
    "Memory",
    "MemoryModule",
    "SystemInfo",
    "Tpm",
    "inventory_from_dmi",
    "inventory_from_json",
    "inventory_to_json",
]
