"""Which destination may take a device, by its device certificate record (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sanitiser.domain import DestinationKind, MediaKind
from sanitiser.routing.destinations import DestinationView, device_refusal_reason
from sanitiser.routing.items import consignment_line

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def dest(kind: DestinationKind, *accepts: MediaKind, active: bool = True) -> DestinationView:
    return DestinationView(
        f"{kind.value}-co", kind, "c", accepts or (MediaKind.SSD,), "", "", active, NOW, NOW
    )


def drive(cert: str, outcome: str = "sanitised", media: str = "ssd") -> dict[str, Any]:
    return {"certificate_id": cert, "serial": f"S-{cert}", "media_kind": media,
            "outcome": outcome, "verification": "passed", "method": "ata-sanitize-crypto",
            "capacity_bytes": 256}  # fmt: skip


def record(route: str, *drives: dict[str, Any], holds_data: bool = True) -> dict[str, Any]:
    return {
        "schema": "sanitiser.device/1",
        "certificate_id": "dev-1",
        "device": {
            "tag": "LBC-1",
            "kind": "laptop",
            "make": "Dell",
            "model": "7490",
            "serial": "4XQ",
            "holds_data": holds_data,
        },
        "grade": {"cosmetic": "B"},
        "readiness": {"reason": "waiting: grade"},
        "destination": {"route": route},
        "drives": list(drives),
        "all_sanitised": bool(drives) and all(d["outcome"] == "sanitised" for d in drives),
    }


def test_the_policy_route_must_be_the_destinations_kind() -> None:
    ready = record("reuse", drive("a"))
    assert device_refusal_reason(dest(DestinationKind.REUSE), ready) is None
    reason = device_refusal_reason(dest(DestinationKind.RECYCLE), ready)
    assert reason is not None
    assert "routes it to reuse, not to a recycle destination" in reason


def test_an_undecided_device_goes_to_destruction_only() -> None:
    waiting = record("undecided", drive("a"))
    for kind in (DestinationKind.REUSE, DestinationKind.RECYCLE):
        reason = device_refusal_reason(dest(kind), waiting)
        assert reason is not None
        assert "its route is undecided (waiting: grade)" in reason
    assert device_refusal_reason(dest(DestinationKind.DESTROY), waiting) is None


@pytest.mark.parametrize("kind", [DestinationKind.REUSE, DestinationKind.RECYCLE])
def test_a_drive_not_sanitised_keeps_the_device_from_all_but_destruction(
    kind: DestinationKind,
) -> None:
    failed = record(kind.value, drive("a"), drive("b", outcome="failed"))
    reason = device_refusal_reason(dest(kind), failed)
    assert reason is not None
    assert "its drive S-b was not sanitised (failed); take it out" in reason
    assert device_refusal_reason(dest(DestinationKind.DESTROY), failed) is None
    # taken out and consigned on its own (to destruction): the device travels without it
    assert device_refusal_reason(dest(kind), failed, drives_gone={"b"}) is None


def test_the_drives_inside_must_be_media_the_destination_accepts() -> None:
    laptop = record("recycle", drive("a", media="nvme"))
    reason = device_refusal_reason(dest(DestinationKind.RECYCLE, MediaKind.HDD), laptop)
    assert reason is not None
    assert "its drive S-a is nvme, which 'recycle-co' does not accept (it accepts hdd)" in reason
    assert device_refusal_reason(dest(DestinationKind.RECYCLE, MediaKind.NVME), laptop) is None


def test_a_device_without_data_media_and_a_removed_destination() -> None:
    monitor = record("reuse", holds_data=False)
    assert device_refusal_reason(dest(DestinationKind.REUSE, MediaKind.HDD), monitor) is None
    reason = device_refusal_reason(dest(DestinationKind.REUSE, active=False), monitor)
    assert reason == "destination 'reuse-co' has been removed"


def test_a_device_line_sums_its_drives_and_names_them() -> None:
    line = consignment_line(record("recycle", drive("a"), drive("b", outcome="failed")))
    assert (line["item"], line["tag"], line["drives"]) == ("device", "LBC-1", ["a", "b"])
    assert (line["media_kind"], line["capacity_bytes"], line["outcome"]) == (
        "laptop",
        512,
        "not-sanitised",
    )
    assert consignment_line(record("reuse", holds_data=False))["outcome"] == "no-data"
