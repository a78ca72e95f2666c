"""Reuse readiness: the ``[devices]`` rules over a device's facts, each condition explained;
an unrecorded fact never holds; a failed drive routes the device by policy; a monitor is routed
without an erase; Windows 11 eligibility or a ChromeOS Flex candidate."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sanitiser.assets.facts import drives_summary
from sanitiser.assets.model import (
    Check,
    Device,
    DeviceError,
    DeviceKind,
    DeviceState,
    LinkedDrive,
    check_intake,
    check_tag,
    parse_check,
    parse_kind,
    parse_lock,
)
from sanitiser.assets.readiness import assess, windows11
from sanitiser.errors import ConfigError, SanitiserError
from sanitiser.inventory.cpu import cpu_family
from sanitiser.inventory.dmi import parse_dmidecode
from sanitiser.inventory.model import Battery, Bios, Cpu, HostInventory, Tpm, inventory_from_dmi
from sanitiser.policy import builtin
from sanitiser.policy.devices import KIND_NAMES, Windows11
from sanitiser.policy.loader import load_policy, parse_policy

TODAY = date(2026, 12, 4)
RULES = load_policy("digital-inclusion").devices
NOW = datetime(2026, 12, 1, tzinfo=UTC)

T480 = Path(__file__).parents[1] / "data/real/dmidecode/lenovo-thinkpad-t480-20l5.txt"
"""A real ThinkPad T480 (i7-8550U, 2 x 16 GB DDR4, BIOS of 2021-04-20)."""
BATTERY = Battery(
    name="BAT0",
    manufacturer="SMP",
    model="01AV489",
    serial=None,
    technology="Li-poly",
    status="Discharging",
    energy_full_design_wh=24.0,
    energy_full_wh=19.56,
    charge_full_design_ah=None,
    charge_full_ah=None,
    health_pct=81.5,
    cycle_count=None,
)
GOOD_INVENTORY = inventory_from_dmi(
    parse_dmidecode(T480.read_text(encoding="utf-8")),
    batteries=(BATTERY,),
    tpm=Tpm(version="2.0", manufacturer="STM", firmware=None, source="sysfs"),
    secure_boot="enabled",
)


def inv(**changes: Any) -> HostInventory:
    return replace(GOOD_INVENTORY, **changes)


def cpu(model: str) -> Cpu:
    assert GOOD_INVENTORY.cpu is not None
    family, generation = cpu_family(model)
    return replace(GOOD_INVENTORY.cpu, model=model, family=family, generation=generation)


PASSED = {c: Check("pass", "ana", "2026-12-01T10:00:00Z") for c in RULES.readiness.checks}


def drive(serial: str, outcome: str = "sanitised", size: int = 256 * 10**9) -> LinkedDrive:
    return LinkedDrive(
        drive_key=f"nvme:{serial}:",
        serial=serial,
        model="PC SN730",
        linked_at=NOW,
        linked_by="ana",
        certificate_id=f"cert-{serial}" if outcome else "",
        record_sha256="ab" * 32 if outcome else "",
        outcome=outcome,
        capacity_bytes=size,
    )


def laptop(**changes: Any) -> Device:
    base = Device(
        intake=check_intake(kind="laptop", tag="LBC-0199", make="Dell", model="Latitude 7490"),
        state=DeviceState.RECEIVED,
        received_at=NOW,
        received_by="ana",
        station="bench-1",
        cosmetic="B",
        checks=PASSED,
        locks={"bios-password": "cleared"},
        inventory=GOOD_INVENTORY,
        drives=(drive("S1"),),
    )
    return replace(base, **changes)


def test_a_good_laptop_is_ready_for_reuse_and_says_why() -> None:
    report = assess(laptop(), RULES, today=TODAY, policy="digital-inclusion v1")
    assert report.ready
    assert report.destination == "reuse"
    assert all(c.held for c in report.conditions)
    assert [c.name for c in report.conditions][:5] == [
        "drives",
        "memory",
        "storage",
        "battery",
        "age",
    ]
    text = report.explain()
    assert "held: memory: 32 GB (at least 8 GB)" in text
    assert "held: battery: 81 % (at least 60 %)" in text
    assert "Windows 11 eligible" in text
    assert report.windows11 is not None
    assert report.windows11.eligible is True


@pytest.mark.parametrize(
    ("changes", "failed", "destination"),
    [
        (
            {"inventory": inv(memory=replace(GOOD_INVENTORY.memory, total_bytes=4 * 2**30))},
            "memory",
            "recycle",
        ),
        ({"inventory": inv(batteries=(replace(BATTERY, health_pct=41.0),))}, "battery", "recycle"),
        (
            {"inventory": inv(bios=Bios("LENOVO", "x", "2012-01-01", "01/01/2012"))},
            "age",
            "recycle",
        ),
        ({"drives": (drive("S1", size=64 * 10**9),)}, "storage", "recycle"),
        ({"cosmetic": "D"}, "grade", "recycle"),
        ({"locks": {"mdm-enrolment": "present"}}, "locks", "recycle"),
        ({"checks": {**PASSED, "screen": Check("fail", "ana", "t")}}, "check screen", "recycle"),
    ],
)
def test_each_threshold_can_fail_and_names_itself(
    changes: dict[str, Any], failed: str, destination: str
) -> None:
    report = assess(laptop(**changes), RULES, today=TODAY)
    assert not report.ready
    assert [c.name for c in report.conditions if not c.held] == [failed]
    assert report.destination == destination
    assert report.reason.startswith(f"not ready for reuse: {failed}:")


def test_an_unrecorded_fact_never_holds() -> None:
    report = assess(laptop(inventory=None), RULES, today=TODAY)
    details = {c.name: c.detail for c in report.conditions if not c.held}
    assert details == {
        "memory": "memory not recorded",
        "battery": "battery health not recorded",
        "age": "BIOS date not recorded",
    }
    assert report.windows11 is not None
    assert report.windows11.eligible is None
    assert "unknown" in report.windows11.text


def test_waiting_for_a_wipe_or_a_grade_is_undecided_not_recycled() -> None:
    pending = assess(laptop(drives=(drive("S1", outcome=""),)), RULES, today=TODAY)
    assert (pending.ready, pending.destination) == (False, "undecided")
    assert "no certificate yet: S1" in pending.reason
    ungraded = assess(laptop(cosmetic=""), RULES, today=TODAY)
    assert (ungraded.destination, ungraded.ready) == ("undecided", False)
    assert "grade: not graded yet" in ungraded.reason
    none = assess(laptop(drives=()), RULES, today=TODAY)
    assert "no drive linked to it" in none.reason


def test_a_failed_drive_routes_the_device_by_policy_with_its_note() -> None:
    report = assess(laptop(drives=(drive("S1"), drive("S2", "not-sanitised"))), RULES, today=TODAY)
    assert not report.ready
    assert report.destination == RULES.routes.drive_failed == "reuse"
    assert report.notes == ("needs storage: its drive was removed for destruction",)
    assert "not sanitised: S2" in report.reason


MONITOR_PASSED = {c: Check("pass", "ana", "2026-12-01T10:00:00Z") for c in ("screen", "ports")}


def test_a_monitor_is_routed_without_an_erase() -> None:
    monitor = laptop(
        intake=check_intake(kind="monitor", tag="MON-1"),
        drives=(),
        locks={},
        checks=MONITOR_PASSED,
    )
    report = assess(monitor, RULES, today=TODAY)
    assert report.ready
    assert report.destination == "reuse"
    assert "holds no data-bearing media: nothing to erase" in report.reason
    assert report.windows11 is None
    assert [c.name for c in report.conditions] == ["grade", "check screen", "check ports"]


def test_each_kind_is_held_to_its_own_checks() -> None:
    """A monitor is not asked for a keyboard or a trackpad (the policy's ``checks_by_kind``),
    but its ports must pass; a kind the policy does not list takes ``checks``."""
    assert RULES.readiness.checks_for("monitor") == ("screen", "ports")
    assert RULES.readiness.checks_for("laptop") == RULES.readiness.checks
    assert RULES.readiness.checks_for("other") == RULES.readiness.checks
    failed = {**MONITOR_PASSED, "ports": Check("fail", "ana", "2026-12-01T10:00:00Z")}
    monitor = laptop(intake=check_intake(kind="monitor", tag="MON-2"), drives=(), locks={})
    unchecked = assess(monitor, RULES, today=TODAY)
    assert not unchecked.ready
    assert "check ports" in unchecked.reason
    assert "not checked yet" in unchecked.reason
    assert not assess(replace(monitor, checks=failed), RULES, today=TODAY).ready
    # the laptop's own list is unchanged: ports are not asked of it
    assert assess(laptop(), RULES, today=TODAY).ready


def test_the_kinds_a_policy_may_name_are_the_device_kinds() -> None:
    assert set(KIND_NAMES) == {k.value for k in DeviceKind}


def test_windows11_needs_tpm2_a_supported_cpu_and_uefi() -> None:
    rules = Windows11()
    assert windows11(GOOD_INVENTORY, rules).eligible is True
    verdict = windows11(inv(cpu=cpu("Intel(R) Core(TM) i7-6600U CPU @ 2.60GHz")), rules)
    assert verdict.eligible is False
    assert "ChromeOS Flex candidate" in verdict.text
    assert "Intel generation 6 (needs 8+)" in verdict.text
    tpm12 = Tpm(version="1.2", manufacturer=None, firmware=None, source="sysfs")
    assert windows11(inv(tpm=tpm12), rules).reasons == ("TPM 1.2 (needs 2.0)",)
    assert windows11(inv(tpm=None), rules).reasons == ("no TPM found",)
    assert windows11(inv(secure_boot="unsupported"), rules).eligible is False
    assert windows11(inv(secure_boot="unknown"), rules).eligible is None
    for model, eligible in (
        ("AMD Ryzen 5 3500U with Radeon Vega Mobile Gfx", True),
        ("AMD Ryzen 5 1600 Six-Core Processor", False),
        ("11th Gen Intel(R) Core(TM) i3-1115G4 @ 3.00GHz", True),
        ("Intel(R) Core(TM) Ultra 7 155H", True),
        ("Intel(R) Celeron(R) N4020 CPU @ 1.10GHz", None),
    ):
        assert windows11(inv(cpu=cpu(model)), rules).eligible is eligible, model
    assert windows11(None, rules).eligible is None


def test_intake_text_is_checked_at_one_place() -> None:
    assert parse_kind("Dock") is DeviceKind.DOCK
    with pytest.raises(DeviceError, match="unknown device kind 'toaster'"):
        parse_kind("toaster")
    for bad in ("", " ", "LBC 0199", "-LBC", "LBC\n0199", "x" * 65):
        with pytest.raises(SanitiserError):
            check_tag(bad)
    assert check_tag("  LBC-0199 ") == "LBC-0199"
    assert parse_check("Screen = PASS") == ("screen", "pass")
    assert parse_lock("bios-password=cleared") == ("bios-password", "cleared")
    for text, message in (
        ("screen", r"write NAME=pass\|fail\|n/a, e.g. screen=pass"),
        ("toaster=pass", "unknown check 'toaster'"),
        ("screen=ok", "is not one of pass, fail, n/a"),
    ):
        with pytest.raises(DeviceError, match=message):
            parse_check(text)


def test_policy_device_rules_are_checked_when_loaded() -> None:
    base = (Path(builtin.__file__).parent / "nist-800-88.toml").read_text(encoding="utf-8")
    assert parse_policy(base).devices == load_policy("nist-800-88").devices
    for section, message in (
        ("\n[devices.readiness]\nmin_ram_gb = -1", "min_ram_gb"),
        ("\n[devices.readiness]\nmin_ramgb = 8", "min_ramgb"),
        ("\n[devices.routes]\nno_data = 'destroy'", "no_data"),
        ("\n[devices.readiness]\nchecks = ['toaster']", "checks"),
        ("\n[devices.readiness.checks_by_kind]\ntoaster = ['screen']", "toaster"),
        ("\n[devices.readiness.checks_by_kind]\nmonitor = ['keys']", "keys"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_policy(base + section)


def test_a_device_list_says_its_drives_in_a_few_words() -> None:
    assert drives_summary(laptop(drives=(drive("A"), drive("B")))) == "2/2 drives sanitised"
    assert drives_summary(laptop(drives=(drive("A"), drive("B", "not-sanitised")))) == (
        "1/2 drives sanitised"
    )
    assert drives_summary(laptop(drives=())) == "no drive linked"
    monitor = laptop(intake=check_intake(kind="monitor", tag="MON-1"), drives=())
    assert drives_summary(monitor) == "no drives"
