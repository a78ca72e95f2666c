"""A drive's age for routing: from its date of manufacture (SCSI log page, exact to a week) or
else its power-on hours (a lower bound only), through the real smartctl JSON parser."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sanitiser.devices.health import manufacture_week, parse_smartctl_json
from sanitiser.domain import Health, HealthGrade
from sanitiser.routing.age import HOURS_PER_YEAR, DeviceAge, device_age

DAY = date(2026, 11, 23)


def scsi_output(reference: Path, year: str, week: str) -> str:
    """QEMU's real smartctl JSON turned into a SAS drive's, with the Start-Stop Cycle Counter
    log page as smartctl prints it (`scsiprint.cpp`: four- and two-character strings)."""
    doc: dict[str, Any] = json.loads((reference / "qemu-7.2" / "smartctl-sda.json").read_text())
    del doc["ata_smart_attributes"]
    doc["device"] = {"name": "/dev/sdc", "type": "scsi", "protocol": "SCSI"}
    doc["scsi_grown_defect_list"] = 0
    doc["scsi_start_stop_cycle_counter"] = {
        "year_of_manufacture": year,
        "week_of_manufacture": week,
        "specified_cycle_count_over_device_lifetime": 50000,
        "accumulated_start_stop_cycles": 97,
    }
    return json.dumps(doc)


def test_scsi_date_of_manufacture_is_parsed_and_gives_an_exact_age(reference: Path) -> None:
    """Week 48 of 2014 -> ``2014-W48``; on 2026-11-23 the drive is 12.0 years old (not a bound)."""
    health = parse_smartctl_json(scsi_output(reference, "2014", "48"))
    assert health.manufactured == "2014-W48"
    age = device_age(health, on=DAY)
    assert age is not None
    assert not age.at_least
    assert age.years == pytest.approx((DAY - date(2014, 11, 24)).days / 365.25)
    assert age.describe() == "age 12.0 years (manufactured 2014-W48, from the drive)"


@pytest.mark.parametrize(
    ("year", "week"),
    [("    ", "  "), ("0000", "00"), ("2014", "53"), ("20x4", "12"), ("2014", "0")],
)
def test_blank_or_impossible_dates_are_no_date(reference: Path, year: str, week: str) -> None:
    """Blank, zero, a week 53 in a 52-week year, or junk: no date (and no error)."""
    assert manufacture_week(year, week) is None
    assert parse_smartctl_json(scsi_output(reference, year, week)).manufactured is None


def test_ata_and_nvme_outputs_have_no_date_but_their_hours_bound_the_age(reference: Path) -> None:
    """The real SATA and NVMe outputs report power-on hours, no date: a lower bound."""
    for name in ("smartctl-sda.json", "smartctl-nvme0.json"):
        health = parse_smartctl_json((reference / "qemu-7.2" / name).read_text())
        assert health.manufactured is None
        assert health.power_on_hours is not None
        age = device_age(health, on=DAY)
        assert age is not None
        assert age.at_least
        assert age.years == health.power_on_hours / HOURS_PER_YEAR


def test_a_date_in_the_future_is_ignored_for_the_hours() -> None:
    """A date after the job's day (bad clock or field) is not used; the hours still are."""
    health = Health(grade=HealthGrade.A, manufactured="2030-W01", power_on_hours=17_532)
    age = device_age(health, on=DAY)
    assert age == DeviceAge(2.0, "17,532 power-on hours, from SMART", at_least=True)
    assert device_age(Health(grade=HealthGrade.A, manufactured="2030-W01"), on=DAY) is None


def test_no_source_no_age() -> None:
    """Without a date or hours the age is unknown (None), never 0."""
    assert device_age(Health(grade=HealthGrade.UNKNOWN), on=DAY) is None


@given(
    st.dates(min_value=date(1990, 1, 1), max_value=DAY),
    st.one_of(st.none(), st.integers(0, 300_000)),
)
def test_a_date_wins_over_hours_and_ages_are_never_negative(made: date, hours: int | None) -> None:
    """With a (past) date the age is exact and counted from that week's Monday; it never goes
    below zero whatever the inputs."""
    year, week, _ = made.isocalendar()
    health = Health(
        grade=HealthGrade.B, manufactured=f"{year:04d}-W{week:02d}", power_on_hours=hours
    )
    age = device_age(health, on=DAY)
    monday = date.fromisocalendar(year, week, 1)
    if monday > DAY:
        assert age is None or age.at_least
        return
    assert age is not None
    assert not age.at_least
    assert age.years == (DAY - monday).days / 365.25 >= 0
