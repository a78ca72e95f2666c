"""The device certificate's record: one canonical, signed statement per device, binding what it
is (intake and its own facts), how it was graded, whether it is ready and where it goes, and
each of its drives' certificates by id and the SHA-256 of that signed record.

The record states only what the bench recorded: a fact nobody recorded is absent, not blank; a
drive's outcome is copied from its own signed record (which the caller has verified), never
re-decided here. Pure: the caller verifies the drive records, signs, renders and keeps.

Schema ``sanitiser.device/1`` (`DEVICE_SCHEMA`), beside the drive records'
``sanitiser.record/1``: ``sanitiser verify`` tells them apart and checks either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sanitiser.assets.facts import spec_lines
from sanitiser.assets.model import INTAKE_FIELDS, Device
from sanitiser.assets.readiness import ReadinessReport, battery_health, ram_bytes
from sanitiser.certificate.record import (
    DEVICE_SCHEMA,
    Record,
    canonical_json,
    check_typed_text,
    record_digest,
    utc_text,
)
from sanitiser.errors import CertificateError


def drive_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    """A drive as the device certificate names it, from its (verified) signed record."""
    dev = record.get("device") or {}
    san = record.get("sanitisation") or {}
    capacity = dev.get("capacity_bytes")
    return {
        "certificate_id": str(record.get("certificate_id") or ""),
        "record_sha256": record_digest(dict(record)).hex(),
        "serial": str(dev.get("serial") or ""),
        "manufacturer": str(dev.get("manufacturer") or ""),
        "model": str(dev.get("model") or ""),
        "media_kind": str(dev.get("media_kind") or ""),
        "capacity_bytes": capacity if isinstance(capacity, int) else 0,
        "outcome": str((record.get("outcome") or {}).get("status") or ""),
        "nist_category": str(san.get("nist_category") or ""),
        "technique": str(san.get("technique") or ""),
        "method": str(san.get("method") or ""),
        "verification": str((record.get("verification") or {}).get("result") or ""),
        "finished_at": str(san.get("finished_at") or ""),
        "station": str(record.get("station") or ""),
        "simulated": bool(record.get("simulated")),
    }


def _facts(device: Device) -> Record | None:
    """The computer's own facts as a record holds them (text and whole numbers, no floats)."""
    inv = device.inventory
    if inv is None:
        return None
    health = battery_health(inv)
    return {
        "source": device.inventory_source,
        "vendor": inv.system.vendor or "",
        "product": inv.system.product or "",
        "version": inv.system.version or "",
        "serial": inv.system.serial or "",
        "cpu": (inv.cpu.model or "") if inv.cpu is not None else "",
        "ram_bytes": ram_bytes(inv),
        "battery_health_pct": health,
        "tpm": (inv.tpm.version or "") if inv.tpm is not None else "none",
        "secure_boot": inv.secure_boot,
        "bios_date": (inv.bios.release_date or "") if inv.bios is not None else "",
        "lines": [[label, value] for label, value in spec_lines(inv)],
    }


def _readiness(readiness: ReadinessReport) -> Record:
    win = readiness.windows11
    return {
        "policy": readiness.policy,
        "ready": readiness.ready,
        "destination": readiness.destination,
        "reason": readiness.reason,
        "conditions": [[c.name, c.held, c.detail] for c in readiness.conditions],
        "windows11": None if win is None else {"eligible": win.eligible, "text": win.text},
        "notes": list(readiness.notes),
    }


def build_device_record(
    device: Device,
    readiness: ReadinessReport,
    drive_records: Sequence[Mapping[str, Any]],
    *,
    certificate_id: str,
    organisation: str,
    station: str,
    operator: str,
    issued_at: datetime,
    development: bool,
    custody: tuple[int, str] | None,
    tool_version: str,
) -> Record:
    """The device certificate's record (facts only; signed by the caller).

    Args:
        device: the device as recorded.
        readiness: what its policy made of it.
        drive_records: the signed records of its drives' latest certificates, verified by the
            caller, in the device's order; one per linked drive.
        certificate_id: the new certificate's id.
        custody: the station chain's head when issued (seq, hash), or None.

    Raises:
        CertificateError: a drive record is not one of the device's drives, or typed text a
            record may not carry.
    """
    linked = [d.certificate_id for d in device.drives]
    named = [str(r.get("certificate_id") or "") for r in drive_records]
    if named != linked:
        raise CertificateError(
            f"device {device.tag}: the drive records given ({', '.join(named) or 'none'}) are "
            f"not its drives' certificates ({', '.join(linked) or 'none'})"
        )
    intake = device.as_json()
    check_typed_text(
        [
            ("organisation", organisation, "organisation"),
            ("station", station, "station"),
            ("operator", operator, "operator"),
            *((f"device.{k}", str(intake[k]), "name") for k in ("make", "lot")),
        ]
    )
    drives = [drive_entry(r) for r in drive_records]
    record: Record = {
        "schema": DEVICE_SCHEMA,
        "certificate_id": certificate_id,
        "issued_at": utc_text(issued_at),
        **(
            {"custody": {"station": station, "seq": custody[0], "hash": custody[1]}}
            if custody is not None
            else {}
        ),
        "simulated": any(d["simulated"] for d in drives),
        "development_key": development,
        "organisation": organisation,
        "station": station,
        "operator": {"name": operator},
        "device": {
            **{k: intake[k] for k in INTAKE_FIELDS},
            "holds_data": device.holds_data,
            "received_at": utc_text(device.received_at),
            "received_by": device.received_by,
            "received_station": device.station,
        },
        "facts": _facts(device),
        "grade": {
            "cosmetic": device.cosmetic,
            "checks": {k: c.as_json() for k, c in sorted(device.checks.items())},
            "locks": dict(sorted(device.locks.items())),
        },
        "readiness": _readiness(readiness),
        "destination": {"route": readiness.destination, "reason": readiness.reason},
        "drives": drives,
        "all_sanitised": bool(drives) and all(d["outcome"] == "sanitised" for d in drives),
        "tool": {"name": "sanitiser", "version": tool_version},
    }
    canonical_json(record)  # fail here, not at signing, if something is not representable
    return record
