"""Consignments carry devices as well as drives (issue 18, item 8): a laptop and a monitor
leave by their device certificates; the destination's rules read the device record; the
manifest lists them; closing moves each device to its last state with its custody entry; and a
device cannot leave twice, nor its drives without it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from sanitiser.certificate.sign import parse_envelope
from sanitiser.config import Settings
from sanitiser.store.audit import entries
from sanitiser.store.sync import settings_store
from tests.integration.test_devices_cli import _tool, cli, ok, refused, show


def _certify(data: Path, tag: str, out: Path) -> dict[str, object]:
    path = out / f"{tag}.json"
    ok(data, "device", "certificate", tag, "--json", str(path))
    return dict(parse_envelope(path.read_bytes()).record)


def test_devices_leave_in_a_consignment_by_their_device_certificates(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok(data, "device", "add", "--kind", "laptop", "--tag", "LBC-1", "--make", "Dell",
       "--model", "Latitude 7490", "--serial", "4XQ2LN2")  # fmt: skip
    ok(data, "device", "add", "--kind", "monitor", "--tag", "MON-1", "--make", "Dell",
       "--model", "P2419H")  # fmt: skip
    ok(data, "device", "link", "LBC-1", "SIM-SSD-0001", "SIM-NVME-0001")
    assert cli(data, "wipe", "SIM-SSD-0001", "SIM-NVME-0001", "--yes").returncode == 0
    for tag, checks in (  # the policy's checks for a laptop, and for a monitor
        ("LBC-1", ("screen", "keyboard", "trackpad", "charger-included")),
        ("MON-1", ("screen", "ports")),
    ):
        ok(data, "device", "grade", tag, "--cosmetic", "B",
           *(x for c in checks for x in ("--check", f"{c}=pass")))  # fmt: skip
    for name, kind, accepts in (
        ("Community TechAid", "reuse", "ssd,nvme"),
        ("WEEE Ltd", "recycle", "hdd"),
        ("WEEE Two", "recycle", "ssd,nvme"),
    ):
        ok(data, "destinations", "add", name, "--kind", kind, "--contact", "c",
           "--accepts", accepts)  # fmt: skip

    recycle = ok(data, "consignment", "open", "WEEE Ltd").strip()
    assert "has no device certificate yet" in refused(data, "consignment", "add", recycle, "LBC-1")
    laptop = _certify(data, "LBC-1", tmp_path)
    monitor = _certify(data, "MON-1", tmp_path)
    # the lab's 4 MiB drives are under the policy's storage minimum: the laptop is not ready
    # and its policy sends it to recycling; the monitor holds no data and goes to reuse
    assert laptop["destination"] == {"route": "recycle", "reason": laptop["readiness"]["reason"]}  # type: ignore[index]
    assert monitor["destination"]["route"] == "reuse", monitor["readiness"]  # type: ignore[index]

    # refused, each with its reason, and nothing added
    assert "its drive SIM-SSD-0001 is ssd, which 'WEEE Ltd' does not accept" in refused(
        data, "consignment", "add", recycle, "LBC-1"
    )
    reuse = ok(data, "consignment", "open", "Community TechAid").strip()
    assert "its policy routes it to recycle, not to a reuse destination" in refused(
        data, "consignment", "add", reuse, "lbc-1"
    )
    assert "no certificate or device 'NOPE' in the store" in refused(
        data, "consignment", "add", reuse, "NOPE"
    )
    # by tag and by certificate id: one device, named twice
    assert "is named twice" in refused(
        data, "consignment", "add", reuse, "MON-1", str(monitor["certificate_id"])
    )
    assert "added" in ok(data, "consignment", "add", reuse, "MON-1")
    weee = ok(data, "consignment", "open", "WEEE Two").strip()
    ok(data, "consignment", "add", weee, str(laptop["certificate_id"]))
    # its drives cannot leave on their own now, nor the device by another way
    drive_cert = laptop["drives"][0]["certificate_id"]  # type: ignore[index]
    assert "the drive is inside device LBC-1, which is in consignment" in refused(
        data, "consignment", "add", reuse, drive_cert
    )
    assert f"is in consignment {weee}" in refused(
        data, "device", "release", "LBC-1", "--as", "recycled", "--to", "X"
    )
    assert f"is already in consignment {weee}" in refused(
        data, "consignment", "add", reuse, "LBC-1"
    )

    # the manifest lists the device with its tag and drives; the CSV has its line
    out = tmp_path / "m"
    out.mkdir()
    ok(data, "consignment", "manifest", weee, "--json", str(out / "m.json"),
       "--csv", str(out / "m.csv"), "--pdf", str(out / "m.pdf"))  # fmt: skip
    [item] = parse_envelope((out / "m.json").read_bytes()).record["items"]
    assert (item["item"], item["tag"], item["media_kind"], item["outcome"]) == (
        "device",
        "LBC-1",
        "laptop",
        "sanitised",
    )
    assert item["drives"] == [d["certificate_id"] for d in laptop["drives"]]  # type: ignore[attr-defined]
    [row] = list(csv.DictReader(io.StringIO((out / "m.csv").read_text())))
    assert (row["certificate_id"], row["media_kind"], row["manufacturer"], row["health_grade"]) == (
        laptop["certificate_id"],
        "laptop",
        "Dell",
        "B",
    )
    assert "Signature is Valid." in _tool("pdfsig", str(out / "m.pdf")).stdout

    # closing hands it over: the device reaches its last state, its chain says to whom
    ok(data, "consignment", "close", weee, "--collector", "Sam (WEEE Two)", "--operator", "ana")
    shown = show(data, "LBC-1")
    assert shown["state"] == "recycled"
    assert "WEEE Two" in shown["destination"]
    ok(data, "consignment", "manifest", reuse, "--json", str(out / "r.json"))
    ok(data, "consignment", "close", reuse, "--collector", "Jo", "--operator", "ana")
    assert show(data, "MON-1")["state"] == "handed-over"
    assert "has left our custody (handed-over on " in refused(
        data, "device", "release", "MON-1", "--as", "destroyed", "--to", "X"
    )

    store = settings_store(Settings(data_dir=data))
    [consigned] = entries(store, subject="device:LBC-1", kind="consigned")
    [handed] = entries(store, subject="device:LBC-1", kind="handed-over")
    assert consigned.ref == handed.ref == laptop["certificate_id"]
    assert handed.data["collector"] == "Sam (WEEE Two)"
    listed = json.loads(ok(data, "consignment", "show", weee, "--json"))
    assert [d["certificate_id"] for d in listed["devices"]] == [laptop["certificate_id"]]
    # the report: the laptop's two drives left inside it, for WEEE Two
    grouped = json.loads(ok(data, "report", "--group-by", "destination", "--format", "json"))
    by_destination = {g["destination"]: g["devices"] for g in grouped["groups"]}
    assert by_destination == {"WEEE Two": 2}
    assert ok(data, "audit", "verify").startswith("audit log intact")
