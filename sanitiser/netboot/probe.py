"""The host report the boot image prints in its self-test (shell): the computer's facts
(`collect_inventory`: dmidecode, batteries, TPM, Secure Boot) and its drives as udev names them.
"""

from __future__ import annotations

from typing import Any

from sanitiser.devices.discover import DriveSource
from sanitiser.devices.host import collect_inventory
from sanitiser.inventory.model import inventory_to_json
from sanitiser.runner import CommandRunner


def host_report(runner: CommandRunner, drives: DriveSource) -> dict[str, Any]:
    """``{"inventory": ..., "drives": [...]}``: the facts and every whole disk found."""
    return {
        "inventory": inventory_to_json(collect_inventory(runner)),
        "drives": [
            {
                "path": d.path,
                "transport": d.transport.value,
                "serial": d.serial,
                "model": d.model,
                "size_bytes": d.size_bytes,
            }
            for d in drives.list()
        ],
    }
