"""`sanitiser wipe` on real kernel drivers in the QEMU drive lab, checked on the host's images.

Issue 3: one boot with an NVMe drive (QEMU: Format supported, no Sanitize), two SATA disks on
AHCI (QEMU has no ATA Security feature set, yet ``hdparm --security-erase`` exits 0 and erases
nothing: see `test_lab_erase_truth`), a virtio-scsi disk and a usb-storage disk. This checkout's
CLI wipes each drive with ``--method auto``; a forced ``--method ata-security-erase`` on the
second SATA disk must be refused without touching it. Every claim in the JSON outcomes is checked
against the backing files from the host: exit status is not proof.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from sanitiser.domain import MediaKind
from sanitiser.policy.loader import DEFAULT_POLICY, load_policy
from sanitiser.probe.capabilities import Technique
from tests.lab.drivelab import DriveSpec, ImageVerdict, LabPlan, LabRun

pytestmark = [pytest.mark.qemu, pytest.mark.serial, pytest.mark.root]

REPO = Path(__file__).resolve().parents[2]
# The guest has no host name ("(none)"): the default station name must cope with that.
CLI = (
    f"cd {shlex.quote(str(REPO))} && env SANITISER_DATA_DIR=/tmp/sanitiser-data "
    f"SANITISER_CONFIG_FILE=/dev/null SANITISER_POLL_INTERVAL=0.2 "
    f"{shlex.quote(sys.executable)} -m sanitiser"
)

NVME, SATA, SATA_FORCED, SCSI, USB = "WIPNVME1", "WIPSATA1", "WIPSATA2", "WIPSCSI1", "WIPUSB01"
DRIVES = (
    DriveSpec("nvme", NVME, 32),
    DriveSpec("sata", SATA, 32, model="WipeSATA", extra="rotation_rate=1"),
    DriveSpec("sata", SATA_FORCED, 32, model="LyingSATA", extra="rotation_rate=1"),
    DriveSpec("vscsi", SCSI, 32),
    DriveSpec("usb", USB, 32),
)
AUTO_WIPED = (NVME, SATA, SCSI, USB)
PURGE_BY_FIRMWARE = {t.value for t in Technique if t is not Technique.HOST_OVERWRITE}


def wipe_step(serial: str, method: str = "auto") -> str:
    """The guest step wiping the drive with `serial` by `method`, JSON lines out."""
    return f'{CLI} wipe "$(dev {serial})" --method {method} --yes --json --operator lab'


LAB_PLAN = LabPlan(
    DRIVES,
    {
        f"forced.{SATA_FORCED}": wipe_step(SATA_FORCED, Technique.ATA_SECURITY_ERASE.value),
        f"hdparm.{SATA_FORCED}": f'hdparm -I "$(dev {SATA_FORCED})"',
        **{f"wipe.{s}": wipe_step(s) for s in AUTO_WIPED},
        "jobs": f"{CLI} jobs --json",
    },
    timeout=420,
    step_timeout=200,
)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a ``--json`` output, one per line (other lines are not events)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def outcome_of_step(lab_run: LabRun, name: str) -> tuple[int, dict[str, Any], str]:
    """The exit status, the single ``outcome`` event and the raw output of step `name`."""
    step = lab_run.step(name)
    outcomes = [e for e in json_lines(step.out) if e.get("event") == "outcome"]
    detail = f"{name}: rc={step.rc}\nstdout:\n{step.out}\nstderr:\n{step.err}"
    assert len(outcomes) == 1, detail
    assert step.rc is not None, detail
    return step.rc, outcomes[0], detail


def test_nvme_is_purged_by_format_and_the_medium_is_zeroed(lab_run: LabRun) -> None:
    """NVMe auto: Format SES=1 (the best technique QEMU offers), the policy's category, zeros."""
    rc, out, detail = outcome_of_step(lab_run, f"wipe.{NVME}")
    assert rc == 0, detail
    assert out["method"] == Technique.NVME_FORMAT_USER_DATA.value, detail
    rule = (
        load_policy(DEFAULT_POLICY).rule(MediaKind.NVME).rule_for(Technique.NVME_FORMAT_USER_DATA)
    )
    assert rule is not None
    assert out["nist_category"] == rule.category.value, detail
    assert out["status"] == "sanitised", detail
    assert out["verified"] is True, detail
    assert out["serial"] == NVME
    state = lab_run.image_state(NVME)
    assert state.verdict is ImageVerdict.ZEROED, state


def test_forced_unadvertised_security_erase_is_refused_and_not_sent(lab_run: LabRun) -> None:
    """--method ata-security-erase on a disk without the Security feature set is refused, and
    the disk keeps every block: the erase that would have lied (exit 0) was never accepted."""
    hdparm = lab_run.step(f"hdparm.{SATA_FORCED}")
    assert hdparm.rc == 0, hdparm.err
    rc, out, detail = outcome_of_step(lab_run, f"forced.{SATA_FORCED}")
    assert rc != 0, detail
    assert out["status"] == "refused", detail
    assert out["nist_category"] != "purge", detail
    assert out["reason"], detail
    state = lab_run.image_state(SATA_FORCED)
    assert state.verdict is ImageVerdict.UNTOUCHED, state


@pytest.mark.parametrize("serial", [SATA, SCSI, USB])
def test_drives_without_firmware_purge_get_an_honest_clear(lab_run: LabRun, serial: str) -> None:
    """SATA, SCSI and USB in QEMU advertise no usable purge: auto picks what they really offer,
    and a host overwrite is only ever called Clear, verified, with no pattern block left."""
    rc, out, detail = outcome_of_step(lab_run, f"wipe.{serial}")
    assert rc == 0, detail
    assert out["status"] == "sanitised", detail
    assert out["verified"] is True, detail
    assert out["serial"] == serial
    assert out["method"] not in (
        Technique.ATA_SECURITY_ERASE.value,
        Technique.ATA_SECURITY_ERASE_ENHANCED.value,
    ), detail
    if out["method"] == Technique.HOST_OVERWRITE.value:
        assert out["nist_category"] == "clear", detail
    state = lab_run.image_state(serial)
    assert state.verdict in (ImageVerdict.OVERWRITTEN, ImageVerdict.ZEROED), state
    assert state.pattern == 0, state


def test_every_outcome_is_certified_and_no_purge_is_claimed_without_firmware(
    lab_run: LabRun,
) -> None:
    """Each wiped drive has a certificate; purge is claimed only for a firmware technique."""
    for serial in AUTO_WIPED:
        _, out, detail = outcome_of_step(lab_run, f"wipe.{serial}")
        assert out["certificate_id"], detail
        if out["nist_category"] == "purge":
            assert out["method"] in PURGE_BY_FIRMWARE, detail
    purges = {
        s: o["method"]
        for s in AUTO_WIPED
        if (o := outcome_of_step(lab_run, f"wipe.{s}")[1])["nist_category"] == "purge"
    }
    assert purges == {NVME: Technique.NVME_FORMAT_USER_DATA.value}


def test_jobs_lists_every_wipe_with_its_outcome(lab_run: LabRun) -> None:
    """``sanitiser jobs --json`` lists the four wipes as the outcomes printed at the time."""
    step = lab_run.step("jobs")
    assert step.rc == 0, step.err
    jobs = json.loads(step.out)
    by_serial = {j["serial"]: j for j in jobs if j["serial"] in AUTO_WIPED}
    assert set(by_serial) == set(AUTO_WIPED), jobs
    for serial, job in by_serial.items():
        _, out, _ = outcome_of_step(lab_run, f"wipe.{serial}")
        got = {k: job[k] for k in ("job_id", "method", "nist_category", "status", "certificate_id")}
        want = {k: out[k] for k in got}
        assert got == want
