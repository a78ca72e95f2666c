"""``sanitiser device``: a laptop taken in, two lab drives linked and wiped, graded, shown,
exported; every refusal a clear one-line error that loses nothing; the custody chain records
each step and stays whole; the drive certificates carry the device's tag."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

from sanitiser.certificate.sign import parse_envelope
from sanitiser.config import Settings
from sanitiser.store.audit import entries
from sanitiser.store.sync import settings_store
from tests.cli import run_sanitiser


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_sanitiser("--lab", *args, data=data, env={"SANITISER_OPERATOR": "ana"})


def ok(data: Path, *args: str) -> str:
    out = cli(data, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def refused(data: Path, *args: str) -> str:
    out = cli(data, *args)
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()[-1:]
    return line


def show(data: Path, tag: str) -> dict[str, Any]:
    return dict(json.loads(ok(data, "device", "show", tag, "--json")))


def test_a_laptop_from_intake_to_its_sanitised_drives(tmp_path: Path) -> None:
    added = json.loads(
        ok(
            tmp_path,
            "device", "add", "--kind", "laptop", "--tag", "LBC-0199", "--make", "Dell",
            "--model", "Latitude 7490", "--serial", "4XQ2LN2", "--lot", "Camden 2026", "--json",
        )
    )  # fmt: skip
    assert (added["tag"], added["state"], added["holds_data"]) == ("LBC-0199", "received", True)
    # refusals: each one line, nothing changed
    assert "already device 'LBC-0199'" in refused(
        tmp_path, "device", "add", "--kind", "desktop", "--tag", "lbc-0199"
    )
    assert "no device has the tag 'NOPE'" in refused(tmp_path, "device", "show", "NOPE")
    assert "control character" in refused(
        tmp_path, "device", "add", "--kind", "laptop", "--tag", "A\nB"
    )
    ok(tmp_path, "device", "add", "--kind", "monitor", "--tag", "MON-1")
    assert "holds no data-bearing media" in refused(
        tmp_path, "device", "link", "MON-1", "lab-sata-hdd0"
    )
    assert "no drive 'sdz'" in refused(tmp_path, "device", "link", "LBC-0199", "sdz")

    linked = ok(tmp_path, "device", "link", "LBC-0199", "SIM-SSD-0001", "SIM-NVME-0001")
    assert "SIM-SSD-0001: linked to LBC-0199" in linked
    ok(tmp_path, "device", "add", "--kind", "laptop", "--tag", "OTHER")
    assert "already linked to device 'LBC-0199'" in refused(
        tmp_path, "device", "link", "OTHER", "SIM-SSD-0001"
    )

    # grading before the wipe is allowed, but the device is not ready
    graded = json.loads(
        ok(tmp_path, "device", "grade", "LBC-0199", "--cosmetic", "B", "--check", "screen=pass",
           "--lock", "bios-password=cleared", "--json")
    )  # fmt: skip
    assert graded["state"] == "received"
    assert graded["readiness"]["ready"] is False
    assert graded["checks"]["screen"]["operator"] == "ana"

    wiped = cli(tmp_path, "wipe", "SIM-SSD-0001", "SIM-NVME-0001", "--yes")
    assert wiped.returncode == 0, wiped.stderr
    device = show(tmp_path, "LBC-0199")
    assert device["state"] == "graded"  # moved on by the wipes: sanitised, then its grade
    assert [d["outcome"] for d in device["drives"]] == ["sanitised", "sanitised"]
    assert all(d["simulated"] for d in device["drives"])
    readiness = device["readiness"]
    assert (readiness["ready"], readiness["destination"]) == (False, "recycle")
    assert "memory: memory not recorded" in readiness["reason"]

    store = settings_store(Settings(data_dir=tmp_path))
    for d in device["drives"]:  # the drive certificates name the device
        raw = store.certificate_record(d["certificate_id"])
        assert raw is not None
        record = parse_envelope(raw).record
        assert record["device"]["property_number"] == "LBC-0199"
        assert record["device"]["source"] == "laptop Dell Latitude 7490 serial 4XQ2LN2"
    trail = [(e.kind, e.actor) for e in entries(store, subject="device:LBC-0199")]
    assert trail == [
        ("received", "ana"),
        ("drive-linked", "ana"),
        ("drive-linked", "ana"),
        ("graded", "ana"),
        ("sanitised", "ana"),
    ]
    assert ok(tmp_path, "audit", "verify").startswith("audit log intact")

    listed = json.loads(ok(tmp_path, "device", "list", "--json"))
    assert [d["tag"] for d in listed] == ["LBC-0199", "MON-1", "OTHER"]
    exported = json.loads(ok(tmp_path, "device", "export", "--format", "json"))
    assert exported["schema"] == "sanitiser.device-export/1"
    row = exported["devices"][0]
    assert (row["tag"], row["simulated"], len(row["drives"])) == ("LBC-0199", True, 2)
    assert all(len(d["record_sha256"]) == 64 for d in row["drives"])
    table = list(csv.DictReader(io.StringIO(ok(tmp_path, "device", "export", "--format", "csv"))))
    assert [r["tag"] for r in table] == ["LBC-0199", "MON-1", "OTHER"]
    assert (table[1]["kind"], table[1]["destination"], table[1]["drives"]) == (
        "monitor",
        "undecided",
        "",
    )
