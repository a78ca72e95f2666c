"""The pure rules of pushing a device kept on two sides: the lifecycle only moves forward, a
device leaves by one end only, and an older copy never blanks what a newer one lacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sanitiser.assets.model import DeviceError, DeviceState, later_state
from sanitiser.store.sync import device_origin, merge_device

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "tag_key": "LBC-1",
        "tag": "LBC-1",
        "station": "bench-1",
        "received_at": T0,
        "state": "received",
        "cosmetic": "",
        "checks": "{}",
        "locks": "{}",
        "inventory": "{}",
        "destination": "",
        "certificate_id": "",
        "updated_at": T0,
    }
    return {**row, **changes}


@pytest.mark.parametrize(
    ("a", "b", "held"),
    [
        (DeviceState.RECEIVED, DeviceState.GRADED, DeviceState.GRADED),
        (DeviceState.READY, DeviceState.SANITISED, DeviceState.READY),
        (DeviceState.READY, DeviceState.HANDED_OVER, DeviceState.HANDED_OVER),
        (DeviceState.RECYCLED, DeviceState.RECEIVED, DeviceState.RECYCLED),
        (DeviceState.DESTROYED, DeviceState.DESTROYED, DeviceState.DESTROYED),
    ],
)
def test_the_state_further_on_holds_whichever_side_has_it(
    a: DeviceState, b: DeviceState, held: DeviceState
) -> None:
    assert later_state(a, b) is held
    assert later_state(b, a) is held


def test_a_device_that_left_by_two_ends_has_no_state() -> None:
    with pytest.raises(DeviceError, match="left as handed-over on one side and as destroyed"):
        later_state(DeviceState.HANDED_OVER, DeviceState.DESTROYED)


def test_the_same_copy_needs_nothing_and_naive_sqlite_times_are_utc() -> None:
    """A journal's copy (SQLite: times without a zone) of what central holds changes nothing."""
    central = _row(cosmetic="B", state="graded")
    local = {**central, "received_at": T0.replace(tzinfo=None), "updated_at": T0}
    assert device_origin(local) == device_origin(central)
    assert merge_device(central, local) is None


def test_a_newer_copy_without_a_grade_keeps_the_older_grade() -> None:
    """Nothing recorded on one side is blanked by the other; checks keep the one made last."""
    central = _row(
        cosmetic="A",
        state="graded",
        checks=json.dumps({"screen": {"result": "pass", "operator": "a", "at": "10"}}),
        locks=json.dumps({"bios-password": "present"}),
    )
    local = _row(
        updated_at=T0 + timedelta(minutes=5),
        checks=json.dumps({"screen": {"result": "fail", "operator": "b", "at": "11"}}),
        locks=json.dumps({"bios-password": "cleared", "mdm-enrolment": "none"}),
        inventory=json.dumps({"source": "typed", "facts": {}}),
    )
    merged = merge_device(central, local)
    assert merged is not None
    assert (merged["state"], merged["cosmetic"]) == ("graded", "A")
    assert json.loads(merged["checks"])["screen"]["result"] == "fail"
    assert json.loads(merged["locks"]) == {"bios-password": "cleared", "mdm-enrolment": "none"}
    assert json.loads(merged["inventory"])["source"] == "typed"
    assert merged["updated_at"] == T0 + timedelta(minutes=5)


def test_an_older_copy_loses_to_a_newer_one_field_by_field() -> None:
    central = _row(
        updated_at=T0 + timedelta(hours=1),
        locks=json.dumps({"bios-password": "cleared"}),
        destination="reuse",
    )
    local = _row(locks=json.dumps({"bios-password": "present"}), destination="recycling")
    assert merge_device(central, local) is None
