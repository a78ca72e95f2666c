"""The facts form's pure rules: filled from what is recorded, read back field by field with
each refusal naming its field, and confirming as shown loses no fact (real dmidecode dumps)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sanitiser.assets.facts import from_captures
from sanitiser.assets.facts_form import (
    FACT_FIELDS,
    FactsFormError,
    confirmed_source,
    facts_from_form,
    form_values,
)
from sanitiser.assets.model import Device, DeviceState, check_intake

REAL = Path(__file__).parents[1] / "data/real"
DUMPS = sorted((REAL / "dmidecode").glob("*.txt"))


def _device(**changes: object) -> Device:
    device = Device(
        intake=check_intake(kind="laptop", tag="LT-1", make="Dell", model="Latitude", serial="S1"),
        state=DeviceState.RECEIVED,
        received_at=datetime(2026, 1, 5, tzinfo=UTC),
        received_by="ana",
        station="bench-1",
    )
    return replace(device, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("dump", DUMPS, ids=[p.stem for p in DUMPS])
def test_confirming_a_captured_inventory_as_shown_changes_nothing(dump: Path) -> None:
    """Every real dump, with a real battery: the form filled and sent back unchanged gives the
    same facts (to the byte of memory, the BIOS date as printed, the TPM as read)."""
    uevent = (REAL / "power_supply/lgc-42t4969-bat1-energy.uevent").read_text(encoding="utf-8")
    inventory = from_captures(dump.read_text(encoding="utf-8"), uevents=[("BAT1", uevent)])
    device = _device(inventory=inventory, inventory_source="dmidecode")
    form = facts_from_form(device, form_values(device))
    assert form.changed == ()
    assert form.inventory == inventory
    assert confirmed_source("dmidecode", bool(form.changed)) == "dmidecode"


def test_the_form_of_a_device_without_facts_starts_from_its_intake() -> None:
    values = form_values(_device())
    assert (values["vendor"], values["product"], values["serial"]) == ("Dell", "Latitude", "S1")
    assert values["ram_gb"] == ""
    assert values["tpm"] == ""  # not recorded: no claim either way
    assert set(values) == {f.key for f in FACT_FIELDS}


@pytest.mark.parametrize(
    ("key", "typed", "said"),
    [
        ("ram_gb", "eight", "RAM total GB: 'eight' is not a number"),
        ("ram_gb", "0.1", "RAM total GB: 0.1 is out of range"),
        ("serial", "4XQ2\nLN2", "DMI serial contains a control character"),
        ("product", "x" * 121, "DMI product is 121 characters long"),
        ("cores", "4.5", "CPU cores: '4.5' is not a whole number"),
        ("bios_date", "03/14/2019", "BIOS date: '03/14/2019': give it as YYYY-MM-DD"),
        ("bios_date", "2019-02-30", "BIOS date: '2019-02-30': there is no such day"),
        ("ram_slots", "3/2", "RAM slots: 3/2"),
        ("resolution", "1080p", "Resolution: '1080p': give WIDTHxHEIGHT"),
        ("tpm", "3.0", "TPM version: '3.0' is not one of 2.0, 1.2, none"),
        ("secure_boot", "on", "Secure Boot: 'on' is not one of enabled"),
        ("lock:mdm-enrolment", "gone", "mdm-enrolment: 'gone' is not one of present"),
        ("battery_design_wh", "60", "Battery full Wh: give both design and full Wh"),
    ],
)
def test_a_bad_field_is_refused_by_name(key: str, typed: str, said: str) -> None:
    device = _device()
    values = {**form_values(device), key: typed}
    with pytest.raises(FactsFormError) as refused:
        facts_from_form(device, values)
    assert said in refused.value.msg
    expected = "battery_full_wh" if key == "battery_design_wh" else key
    assert refused.value.field == expected


def test_battery_health_is_derived_from_design_and_full_and_checked_against_a_typed_one() -> None:
    device = _device()
    values = {**form_values(device), "battery_design_wh": "60", "battery_full_wh": "45"}
    [battery] = facts_from_form(device, values).inventory.batteries
    assert battery.health_pct == 75.0
    with pytest.raises(FactsFormError, match="90% disagrees with full/design"):
        facts_from_form(device, {**values, "battery_health": "90"})


def test_a_changed_field_is_named_and_the_source_says_typed() -> None:
    inventory = from_captures(DUMPS[0].read_text(encoding="utf-8"))
    device = _device(inventory=inventory, inventory_source="dmidecode")
    values = {**form_values(device), "ram_gb": "4", "lock:bios-password": "present"}
    form = facts_from_form(device, values)
    assert form.changed == ("ram_gb", "lock:bios-password")
    assert form.inventory.memory.total_bytes == 4 * 2**30
    assert form.inventory.memory.modules == inventory.memory.modules  # not on the form: kept
    assert dict(form.locks) == {"bios-password": "present"}
    assert confirmed_source("dmidecode", True) == "dmidecode + typed"
    assert confirmed_source("", False) == "typed"


def test_a_lock_noted_before_cannot_be_blanked() -> None:
    device = _device(locks={"activation-lock": "present"})
    values = {**form_values(device), "lock:activation-lock": ""}
    with pytest.raises(FactsFormError, match="cannot be un-noted"):
        facts_from_form(device, values)
