"""Batteries from real power_supply uevent files (tests/data/real/power_supply, see SOURCES).

Expected values are the file's own numbers (µWh / µAh) divided by a million; health is
full / design as a percentage, worked out by hand from the same two lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.power import battery_from_uevent, parse_uevent

POWER = Path(__file__).resolve().parents[1] / "data" / "real" / "power_supply"


def read(name: str) -> str:
    return (POWER / name).read_text()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "dell-xps15-9560-charge.uevent",
            (
                "BAT0",
                "LGC-LGC4.64",
                "DELL 5D91C78",
                "1946",
                "Li-ion",
                "Discharging",
                None,
                None,
                4.912,
                4.901,
                99.8,
            ),
        ),
        (
            "dell-pn1vn08-charge-type.uevent",
            (
                "BAT0",
                "SMP-ATL4.49",
                "DELL PN1VN08",
                "2958",
                "Li-poly",
                "Charging",
                None,
                None,
                4.474,
                3.75,
                83.8,
            ),
        ),
        (
            "lgc-42t4865-worn-charge.uevent",
            ("BAT0", "LGC", "42T4865", "10153", "Li-ion", "Charging", None, None, 5.6, 1.802, 32.2),
        ),
        (
            "lgc-42t4969-bat1-energy.uevent",
            ("BAT1", "LGC", "42T4969", "7392", "Li-ion", None, 93.6, 93.55, None, None, 99.9),
        ),
        (
            "smp-42t4977-energy.uevent",
            ("BAT0", "SMP", "42T4977", "973", "Li-poly", None, 38.92, 25.5, None, None, 65.5),
        ),
    ],
)
def test_real_uevent(name: str, expected: tuple[object, ...]) -> None:
    b = battery_from_uevent(read(name))
    assert b is not None
    assert (
        b.name,
        b.manufacturer,
        b.model,
        b.serial,
        b.technology,
        b.status,
        b.energy_full_design_wh,
        b.energy_full_wh,
        b.charge_full_design_ah,
        b.charge_full_ah,
        b.health_pct,
    ) == expected
    assert b.cycle_count is None  # every real file says CYCLE_COUNT=0: "not available"


def test_cycle_count_reported() -> None:
    text = read("smp-42t4977-energy.uevent").replace("CYCLE_COUNT=0", "CYCLE_COUNT=197")
    b = battery_from_uevent(text)
    assert b is not None
    assert b.cycle_count == 197


def test_not_a_battery_or_not_present() -> None:
    mains = "POWER_SUPPLY_NAME=AC\nPOWER_SUPPLY_TYPE=Mains\nPOWER_SUPPLY_ONLINE=1\n"
    assert battery_from_uevent(mains) is None
    assert battery_from_uevent("POWER_SUPPLY_NAME=AC\nPOWER_SUPPLY_ONLINE=1\n") is None
    assert battery_from_uevent(read("dell-xps15-9560-charge.uevent"), supply_type="USB") is None
    empty_bay = read("dell-pn1vn08-charge-type.uevent").replace("PRESENT=1", "PRESENT=0")
    assert battery_from_uevent(empty_bay) is None


def test_name_from_the_directory() -> None:
    text = read("dell-xps15-9560-charge.uevent").replace("POWER_SUPPLY_NAME=BAT0\n", "")
    b = battery_from_uevent(text, name="BAT0")
    assert b is not None
    assert b.name == "BAT0"
    with pytest.raises(ToolOutputError, match="no POWER_SUPPLY_NAME"):
        battery_from_uevent(text)


def test_unreadable_uevent_raises() -> None:
    with pytest.raises(ToolOutputError, match="not a power_supply uevent"):
        parse_uevent(read("dell-xps15-1p6kd54.upower-i.txt"))
    bad = read("smp-42t4977-energy.uevent").replace("ENERGY_FULL=25500000", "ENERGY_FULL=25.5Wh")
    with pytest.raises(ToolOutputError, match="is not a number"):
        battery_from_uevent(bad)


def test_zero_design_gives_no_health() -> None:
    text = read("smp-42t4977-energy.uevent").replace("FULL_DESIGN=38920000", "FULL_DESIGN=0")
    b = battery_from_uevent(text)
    assert b is not None
    assert (b.energy_full_design_wh, b.health_pct) == (None, None)
