"""The host inventory against a real kernel and a real dmidecode, inside the QEMU drive lab.

The guest's firmware tables carry SMBIOS strings set on QEMU's command line (``-smbios``); the
guest runs the host's dmidecode (seen over 9p) and this checkout's `collect_inventory` with the
real `SubprocessRunner` and the guest's /sys. The tests parse what came out and find the strings
that went in.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from sanitiser.inventory.dmi import parse_dmidecode
from sanitiser.inventory.model import inventory_from_json
from tests.lab.drivelab import DriveSpec, LabPlan, LabRun

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
UUID = "5a1e5a1e-0001-4c4b-9a1b-000000000042"
SMBIOS = (
    "type=0,vendor=SanitiserLab BIOS,version=LAB.1.2.3,date=03/14/2024",
    "type=1,manufacturer=SanitiserLab,product=LabBook 14,version=G1,serial=LAB-SN-0001,"
    f"uuid={UUID},sku=LAB-SKU-7,family=LabFamily",
    "type=3,manufacturer=SanitiserLab Chassis,serial=LAB-CH-0042,asset=LAB-ASSET-9",
)
COLLECT = (
    "import json; from pathlib import Path; from sanitiser.runner import SubprocessRunner; "
    "from sanitiser.devices.host import collect_inventory; "
    "from sanitiser.inventory.model import inventory_to_json; "
    "print(json.dumps(inventory_to_json(collect_inventory(SubprocessRunner()))))"
)
LAB_PLAN = LabPlan(
    drives=(DriveSpec("vblk", "LABINV01", 16),),
    steps={
        "dmidecode": "dmidecode",
        "collect": f"cd {shlex.quote(str(REPO))} && {shlex.quote(sys.executable)} -c "
        + shlex.quote(COLLECT),
    },
    smbios=SMBIOS,
)


def test_dmidecode_in_the_guest_reads_back_the_smbios_strings(lab_run: LabRun) -> None:
    step = lab_run.step("dmidecode")
    assert step.rc == 0, step.err
    facts = parse_dmidecode(step.out)
    s = facts.system
    assert (s.vendor, s.product, s.version, s.serial) == (
        "SanitiserLab",
        "LabBook 14",
        "G1",
        "LAB-SN-0001",
    )
    assert (s.sku, s.family, s.uuid) == ("LAB-SKU-7", "LabFamily", UUID)
    assert facts.chassis is not None
    assert (facts.chassis.vendor, facts.chassis.serial, facts.chassis.asset_tag) == (
        "SanitiserLab Chassis",
        "LAB-CH-0042",
        "LAB-ASSET-9",
    )
    assert facts.bios is not None
    assert (facts.bios.vendor, facts.bios.version, facts.bios.release_date) == (
        "SanitiserLab BIOS",
        "LAB.1.2.3",
        "2024-03-14",
    )
    assert facts.memory.total_bytes == 1024 << 20  # the lab's -m 1024
    assert facts.cpu is not None


def test_collect_inventory_in_the_guest(lab_run: LabRun) -> None:
    step = lab_run.step("collect")
    assert step.rc == 0, step.err
    inv = inventory_from_json(json.loads(step.out))
    assert (inv.system.vendor, inv.system.serial) == ("SanitiserLab", "LAB-SN-0001")
    assert inv.batteries == ()  # a VM has no battery
    assert inv.displays == ()  # nor a display (-display none)
    assert inv.secure_boot == "unsupported"  # QEMU's SeaBIOS: no /sys/firmware/efi
