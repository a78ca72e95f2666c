"""A device or drive that has left our custody (its consignment closed: handed over, recycled,
destroyed) is changed, linked, certified or consigned no more: every step is refused in the
application layer (the CLI's commands and the TUI's keys both go through `DeviceDesk`), saying
how, when and in which consignment it left, and nothing recorded is lost or added."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sanitiser.app.devices import DeviceDesk
from sanitiser.app.services import build_services, station_signer
from sanitiser.assets.model import LeftCustodyError
from sanitiser.certificate.sign import parse_envelope
from sanitiser.config import Settings
from sanitiser.store.audit import entries
from sanitiser.store.sync import settings_store
from tests.integration.test_consignment_devices import _certify
from tests.integration.test_devices_cli import cli, ok, refused, show

LAPTOP_CHECKS = ("screen", "keyboard", "trackpad", "charger-included")


def _drive_certificates(data: Path, serial: str) -> list[str]:
    """The ids of a drive's certificates, oldest first."""
    store = settings_store(Settings(data_dir=data))
    records = [parse_envelope(raw).record for raw in store.certificate_records_issued(None, None)]
    return [
        str(r["certificate_id"])
        for r in sorted(records, key=lambda r: str(r["issued_at"]))
        if r["device"]["serial"] == serial
    ]


def _close(data: Path, consignment: str, out: Path) -> None:
    ok(data, "consignment", "manifest", consignment, "--json", str(out / f"{consignment}.json"))
    ok(data, "consignment", "close", consignment, "--collector", "Sam", "--operator", "ana")


def test_a_device_that_left_in_a_closed_consignment_is_changed_no_more(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ok(data, "device", "add", "--kind", "laptop", "--tag", "LBC-1", "--make", "Dell")
    ok(data, "device", "add", "--kind", "laptop", "--tag", "LBC-2", "--make", "Dell")
    ok(data, "device", "link", "LBC-1", "SIM-SSD-0001")
    assert cli(data, "wipe", "SIM-SSD-0001", "SIM-NVME-0001", "--yes").returncode == 0
    ok(data, "device", "grade", "LBC-1", "--cosmetic", "B",
       *(x for c in LAPTOP_CHECKS for x in ("--check", f"{c}=pass")))  # fmt: skip
    ok(data, "destinations", "add", "WEEE", "--kind", "recycle", "--contact", "c",
       "--accepts", "ssd,nvme")  # fmt: skip
    laptop = _certify(data, "LBC-1", tmp_path)  # 4 MiB lab drives: routed to recycling
    first = ok(data, "consignment", "open", "WEEE").strip()
    ok(data, "consignment", "add", first, "LBC-1")
    nvme_cert = _drive_certificates(data, "SIM-NVME-0001")[-1]
    ok(data, "consignment", "add", first, nvme_cert)  # a loose drive, leaving on its own
    _close(data, first, tmp_path)
    before = show(data, "LBC-1")
    assert before["state"] == "recycled"
    store = settings_store(Settings(data_dir=data))
    trail = len(entries(store))

    left = "has left our custody (recycled on "
    where = f" in consignment {first} to WEEE (Sam))"
    for args, step in (
        (("device", "link", "LBC-1", "SIM-HDD-0001"), "cannot be linked to a drive now"),
        (("device", "grade", "LBC-1", "--cosmetic", "A"), "cannot be changed now"),
        (("device", "inventory", "LBC-1", "--ram-gb", "8"), "cannot be changed now"),
        (("device", "certificate", "LBC-1", "--pdf", str(tmp_path / "again.pdf")),
         "cannot be certified now"),
    ):  # fmt: skip
        said = refused(data, *args)
        assert said.startswith("sanitiser: device LBC-1 " + left), said
        assert where in said, said
        assert said.endswith(step), said
    assert not (tmp_path / "again.pdf").exists()

    # nor may it, or the drives that left with it or alone, leave a second time
    second = ok(data, "consignment", "open", "WEEE").strip()
    said = refused(data, "consignment", "add", second, "LBC-1")
    assert left in said, said
    assert where in said, said
    assert said.endswith("cannot be consigned again now"), said
    ssd_cert = laptop["drives"][0]["certificate_id"]  # type: ignore[index]
    said = refused(data, "consignment", "add", second, str(ssd_cert))
    assert f"drive SIM-SSD-0001 (certificate {ssd_cert}) has left our custody (inside " in said
    assert "(inside device LBC-1, recycled on " in said, said
    assert where in said, said
    # the loose drive wiped again: its new certificate does not make it ours again
    assert cli(data, "wipe", "SIM-NVME-0001", "--yes").returncode == 0
    again = _drive_certificates(data, "SIM-NVME-0001")[-1]
    assert again != nvme_cert
    said = refused(data, "consignment", "add", second, again)
    assert f"drive SIM-NVME-0001 (certificate {again}) has left our custody (handed-over on " in (
        said
    )
    assert where in said, said
    # a drive that left cannot be linked to another device (alone, or inside its device)
    for drive in ("SIM-NVME-0001", "SIM-SSD-0001"):
        said = refused(data, "device", "link", "LBC-2", drive)
        assert f"drive {drive} has left our custody (" in said, said
        assert where in said, said
        assert said.endswith("cannot be linked now")

    # nothing changed, nothing was added to the trail but the second wipe's own entries
    assert show(data, "LBC-1") == before
    assert show(data, "LBC-2")["drives"] == []
    assert ok(data, "consignment", "show", second).split()[2:4] == ["WEEE", "0"]
    wiped_again = {e.kind for e in entries(store)[trail:]}
    assert wiped_again <= {"received", "not-sanitised", "sanitised", "routed", "consignment-opened"}

    # the TUI's steps are the desk's: the same refusals in the application layer
    services = build_services(Settings(data_dir=data), lab=True)
    desk = DeviceDesk(services, "ana")
    with pytest.raises(LeftCustodyError, match="device LBC-1 has left our custody"):
        desk.link("LBC-1", ["SIM-HDD-0001"])  # the TUI's `l`
    with pytest.raises(LeftCustodyError, match="cannot be changed now"):
        desk.confirm_facts("LBC-1", desk.facts_form("LBC-1")[1])  # the TUI's facts form
    with pytest.raises(LeftCustodyError, match="cannot be changed now"):
        desk.grade("LBC-1", checks=["screen=fail"])  # the TUI's grading keys
    with pytest.raises(LeftCustodyError, match="cannot be certified now"):
        desk.certify("LBC-1", station_signer(services.settings))  # the TUI's ctrl+s
    assert show(data, "LBC-1") == before
    assert ok(data, "audit", "verify").startswith("audit log intact")


def test_a_released_device_says_when_and_to_whom(tmp_path: Path) -> None:
    """Left by ``device release`` (no consignment): its custody entry says when and to whom."""
    data = tmp_path / "data"
    ok(data, "device", "add", "--kind", "monitor", "--tag", "MON-1")
    ok(data, "device", "release", "MON-1", "--as", "destroyed", "--to", "Shredder Co")
    said = refused(data, "device", "grade", "MON-1", "--cosmetic", "A")
    assert re.fullmatch(
        r"sanitiser: device MON-1 has left our custody \(destroyed on \d{4}-\d\d-\d\d \d\d:\d\d "
        r"UTC to Shredder Co\): it cannot be changed now",
        said,
    ), said
    assert show(data, "MON-1")["destination"] == "destroyed: Shredder Co"
    assert "cannot be released again now" in refused(
        data, "device", "release", "MON-1", "--as", "recycled", "--to", "X"
    )
