"""Reuse readiness: the ``[devices]`` rules over a device's facts, each condition explained;
an unrecorded fact never holds; a failed drive routes the device by policy; a monitor is routed
without an erase; Windows 11 eligibility or a ChromeOS Flex candidate."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

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
from sanitiser.assets.readiness import assess, intel_generation, ryzen_series, windows11
from sanitiser.errors import ConfigError, SanitiserError
from sanitiser.policy import builtin
from sanitiser.policy.devices import Windows11
from sanitiser.policy.loader import load_policy, parse_policy

TODAY = date(2026, 12, 4)
RULES = load_policy("digital-inclusion").devices
NOW = datetime(2026, 12, 1, tzinfo=UTC)

GOOD_INVENTORY: dict[str, Any] = {
    "memory": {"total_bytes": 16 * 2**30},
    "cpu": {"model": "Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz"},
    "batteries": [{"health_pct": 81.5}],
    "bios": {"date": "2019-05-14"},
    "tpm": {"version": "2.0"},
    "secure_boot": "enabled",
}
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
    assert "held: memory: 16 GB (at least 8 GB)" in text
    assert "held: battery: 81 % (at least 60 %)" in text
    assert "Windows 11 eligible" in text
    assert report.windows11 is not None
    assert report.windows11.eligible is True


@pytest.mark.parametrize(
    ("changes", "failed", "destination"),
    [
        (
            {"inventory": {**GOOD_INVENTORY, "memory": {"total_bytes": 4 * 2**30}}},
            "memory",
            "recycle",
        ),
        (
            {"inventory": {**GOOD_INVENTORY, "batteries": [{"health_pct": 41}]}},
            "battery",
            "recycle",
        ),
        ({"inventory": {**GOOD_INVENTORY, "bios": {"date": "2012-01-01"}}}, "age", "recycle"),
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
    report = assess(laptop(inventory={}), RULES, today=TODAY)
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


def test_a_monitor_is_routed_without_an_erase() -> None:
    monitor = laptop(intake=check_intake(kind="monitor", tag="MON-1"), drives=(), locks={})
    report = assess(monitor, RULES, today=TODAY)
    assert report.ready
    assert report.destination == "reuse"
    assert "holds no data-bearing media: nothing to erase" in report.reason
    assert report.windows11 is None
    assert [c.name for c in report.conditions] == [
        "grade",
        *[f"check {c}" for c in RULES.readiness.checks],
    ]


@pytest.mark.parametrize(
    ("model", "gen", "series"),
    [
        ("Intel(R) Core(TM) i5-8350U CPU @ 1.70GHz", 8, None),
        ("Intel(R) Core(TM) i7-6600U CPU @ 2.60GHz", 6, None),
        ("11th Gen Intel(R) Core(TM) i7-1165G7 @ 2.80GHz", 11, None),
        ("Intel(R) Core(TM) i5-10210U CPU @ 1.60GHz", 10, None),
        ("Intel(R) Core(TM) Ultra 7 155H", 14, None),
        ("AMD Ryzen 5 3500U with Radeon Vega Mobile Gfx", None, 3000),
        ("AMD Ryzen 7 PRO 4750U with Radeon Graphics", None, 4000),
        ("Intel(R) Celeron(R) N4020 CPU @ 1.10GHz", None, None),
    ],
)
def test_cpu_generations(model: str, gen: int | None, series: int | None) -> None:
    assert intel_generation(model) == gen
    assert ryzen_series(model) == series


def test_windows11_needs_tpm2_a_supported_cpu_and_uefi() -> None:
    rules = Windows11()
    old = {**GOOD_INVENTORY, "cpu": {"model": "Intel(R) Core(TM) i7-6600U CPU @ 2.60GHz"}}
    verdict = windows11(old, rules)
    assert verdict.eligible is False
    assert "ChromeOS Flex candidate" in verdict.text
    assert "Intel generation 6 (needs 8+)" in verdict.text
    assert windows11({**GOOD_INVENTORY, "tpm": {"version": "1.2"}}, rules).reasons == (
        "TPM 1.2 (needs 2.0)",
    )
    assert windows11({**GOOD_INVENTORY, "tpm": None}, rules).reasons == ("no TPM",)
    assert windows11({**GOOD_INVENTORY, "secure_boot": "unsupported"}, rules).eligible is False


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
    ):
        with pytest.raises(ConfigError, match=message):
            parse_policy(base + section)
