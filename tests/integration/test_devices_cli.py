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
    grouped = json.loads(ok(tmp_path, "report", "--group-by", "device_kind", "--format", "json"))
    by_kind = {g["device_kind"]: g for g in grouped["groups"]}
    assert (by_kind["laptop"]["devices"], by_kind["laptop"]["sanitised"]) == (2, 2)


REAL = Path(__file__).parents[1] / "data/real"


def test_the_computers_facts_from_a_real_capture_or_typed(tmp_path: Path) -> None:
    ok(tmp_path, "device", "add", "--kind", "laptop", "--tag", "T480", "--make", "Lenovo")
    garbage = tmp_path / "not-dmi.txt"
    garbage.write_text("hello\n", encoding="utf-8")
    assert "this is not dmidecode output" in refused(
        tmp_path, "device", "inventory", "T480", "--dmidecode", str(garbage)
    )
    assert show(tmp_path, "T480")["inventory"] is None  # nothing half-recorded
    shown = json.loads(
        ok(
            tmp_path, "device", "inventory", "T480",
            "--dmidecode", str(REAL / "dmidecode/lenovo-thinkpad-t480-20l5.txt"),
            "--battery-uevent", str(REAL / "power_supply/smp-42t4977-energy.uevent"),
            "--tpm", "2.0", "--secure-boot", "enabled", "--json",
        )
    )  # fmt: skip
    facts = shown["inventory"]
    assert shown["inventory_source"] == "dmidecode + typed"
    assert (facts["system"]["version"], facts["cpu"]["generation"]) == ("ThinkPad T480", 8)
    assert facts["memory"]["total_bytes"] == 32 * 2**30
    assert facts["bios"]["release_date"] == "2021-04-20"
    [battery] = facts["batteries"]
    assert 60 < battery["health_pct"] < 70
    conditions = {c["name"]: c for c in shown["readiness"]["conditions"]}
    assert conditions["memory"]["held"]
    assert conditions["battery"]["held"]
    assert shown["readiness"]["windows11"]["eligible"] is True
    assert "facts (dmidecode + typed):" in ok(tmp_path, "device", "show", "T480")

    ok(tmp_path, "device", "add", "--kind", "desktop", "--tag", "OLD-1")
    typed = json.loads(
        ok(tmp_path, "device", "inventory", "OLD-1", "--ram-gb", "4", "--cpu",
           "Intel(R) Core(TM) i5-4590 CPU @ 3.30GHz", "--json")
    )  # fmt: skip
    assert typed["inventory_source"] == "typed"
    win = typed["readiness"]["windows11"]
    assert win["eligible"] is False
    assert "Intel generation 4 (needs 8+)" in win["text"]
    assert "TPM not recorded" in win["text"]
    conditions = {c["name"]: c for c in typed["readiness"]["conditions"]}
    assert conditions["memory"]["detail"] == "4 GB, below 8 GB"
    store = settings_store(Settings(data_dir=tmp_path))
    kinds = [e.kind for e in entries(store, subject="device:OLD-1")]
    assert kinds == ["received", "inventoried"]


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)


def test_a_device_certificate_binds_its_drives_and_verifies_offline(tmp_path: Path) -> None:
    """Intake, link two lab drives, wipe, inventory, grade; the device certificate's PDF is
    valid to pdfsig, its label's QR decodes (zbarimg) to a token `verify` accepts, and with
    the drives' certificates `verify --drives` checks each one it names; altering one fails."""
    data = tmp_path / "data"
    ok(data, "device", "add", "--kind", "laptop", "--tag", "LBC-7", "--make", "Lenovo",
       "--model", "ThinkPad T480")  # fmt: skip
    assert "no certificate yet for drive(s)" in (
        ok(data, "device", "link", "LBC-7", "SIM-SSD-0001", "SIM-NVME-0001")
        and refused(data, "device", "certificate", "LBC-7")
    )
    assert cli(data, "wipe", "SIM-SSD-0001", "SIM-NVME-0001", "--yes").returncode == 0
    ok(data, "device", "inventory", "LBC-7", "--dmidecode",
       str(REAL / "dmidecode/lenovo-thinkpad-t480-20l5.txt"), "--tpm", "2.0")  # fmt: skip
    checks = ("screen", "keyboard", "trackpad", "charger-included")
    ok(data, "device", "grade", "LBC-7", "--cosmetic", "A",
       *(x for c in checks for x in ("--check", f"{c}=pass")))  # fmt: skip
    pdf, record, label = tmp_path / "d.pdf", tmp_path / "d.json", tmp_path / "d.png"
    issued = ok(data, "device", "certificate", "LBC-7", "--pdf", str(pdf), "--json", str(record),
                "--label", str(label))  # fmt: skip
    assert "LBC-7: device certificate" in issued
    signed = parse_envelope(record.read_bytes()).record
    assert signed["schema"] == "sanitiser.device/1"
    assert (signed["device"]["tag"], signed["grade"]["cosmetic"], signed["simulated"]) == (
        "LBC-7",
        "A",
        True,
    )
    assert [d["outcome"] for d in signed["drives"]] == ["sanitised", "sanitised"]
    shown = show(data, "LBC-7")  # the device names its drives by the digest the certificate does
    assert [d["record_sha256"] for d in shown["drives"]] == [
        d["record_sha256"] for d in signed["drives"]
    ]

    assert "Signature Validation: Signature is Valid." in _tool("pdfsig", str(pdf)).stdout
    token = _tool("zbarimg", "-q", "--raw", str(label)).stdout.strip()
    assert token.startswith("https://")
    for what in (str(pdf), str(record), token):
        out = cli(data, "verify", what)
        assert out.returncode == 0, out.stdout
        assert "Asset tag:           LBC-7" in out.stdout

    drives = tmp_path / "drives"
    drives.mkdir()
    for d in signed["drives"]:
        ok(data, "cert", "export", d["certificate_id"], "--json",
           str(drives / f"{d['certificate_id']}.json"))  # fmt: skip
    checked = cli(data, "verify", str(pdf), "--drives", str(drives))
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.count("verifies and is the one named") == 2

    first = drives / f"{signed['drives'][0]['certificate_id']}.json"
    first.write_bytes(first.read_bytes().replace(b'"sanitised"', b'"sanitized"', 1))
    altered = cli(data, "verify", str(pdf), "--drives", str(drives))
    assert altered.returncode == 1
    assert f"no valid certificate {signed['drives'][0]['certificate_id']} given" in altered.stdout
    # it leaves: not for reuse (the lab's 4 MiB drives are under the policy's storage), so it
    # cannot be handed over; recycled, once; then it has left
    assert "only a ready, certified device is handed over" in refused(
        data, "device", "release", "LBC-7", "--as", "handed-over", "--to", "Community TechAid"
    )
    assert "LBC-7: recycled (WEEE Ltd)" in ok(
        data, "device", "release", "LBC-7", "--as", "recycled", "--to", "WEEE Ltd"
    )
    assert "has left our custody (recycled on " in refused(
        data, "device", "release", "LBC-7", "--as", "destroyed", "--to", "X"
    )
    store = settings_store(Settings(data_dir=data))
    certified = entries(store, subject="device:LBC-7", kind="device-certified")
    assert [e.ref for e in certified] == [signed["certificate_id"]]
    [gone] = entries(store, subject="device:LBC-7", kind="recycled")
    assert (gone.data["to"], gone.ref) == ("WEEE Ltd", signed["certificate_id"])
    assert ok(data, "audit", "verify").startswith("audit log intact")
