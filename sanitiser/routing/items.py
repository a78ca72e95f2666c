"""One line per drive or device of a consignment, from its signed certificate record: what the
store keeps per item, the manifest lists and its CSV carries. Pure; one copy for all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sanitiser.certificate.record import DEVICE_SCHEMA, record_digest


def _device_line(record: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest line of a device (a laptop ...), from its signed device certificate record.

    The CSV columns are the drives' (the collector's spreadsheet has one shape): the media kind
    column holds the device kind, capacity the sum of its drives', method / technique / NIST
    category what its drives had, outcome ``sanitised``, ``not-sanitised`` or ``no-data`` (a
    monitor, a dock), and the grade its cosmetic grade. The record's line also names the tag
    and each drive certificate inside (not in the CSV).
    """
    device = record.get("device") or {}
    drives = [d for d in record.get("drives") or [] if isinstance(d, Mapping)]

    def joined(key: str) -> str:
        return "; ".join(sorted({str(d.get(key) or "") for d in drives} - {""}))

    if not device.get("holds_data"):
        outcome = "no-data"
    else:
        outcome = "sanitised" if record.get("all_sanitised") else "not-sanitised"
    verified = bool(drives) and all(d.get("verification") == "passed" for d in drives)
    return {
        "item": "device",
        "tag": str(device.get("tag") or ""),
        "drives": [str(d.get("certificate_id") or "") for d in drives],
        "certificate_id": str(record.get("certificate_id", "")),
        "certificate_sha256": record_digest(dict(record)).hex(),
        "serial": str(device.get("serial") or ""),
        "manufacturer": str(device.get("make") or ""),
        "model": str(device.get("model") or ""),
        "media_kind": str(device.get("kind") or "other"),
        "capacity_bytes": sum(
            d["capacity_bytes"] for d in drives if isinstance(d.get("capacity_bytes"), int)
        ),
        "method": joined("method"),
        "nist_category": joined("nist_category"),
        "technique": joined("technique"),
        "outcome": outcome,
        "verification": "passed" if verified else "",
        "health_grade": str((record.get("grade") or {}).get("cosmetic") or ""),
        "simulated": bool(record.get("simulated")),
        "station": str(record.get("station") or ""),
    }


def consignment_line(record: Mapping[str, Any]) -> dict[str, Any]:
    """The consignment / manifest line of one drive, or of a device (`_device_line`), from its
    signed certificate record (which the caller verified)."""
    if record.get("schema") == DEVICE_SCHEMA:
        return _device_line(record)
    device = record.get("device") or {}
    san = record.get("sanitisation") or {}
    health = record.get("health") or {}
    grade = (health.get("after") or health.get("before") or {}).get("grade", "unknown")
    capacity = device.get("capacity_bytes")
    return {
        "certificate_id": str(record.get("certificate_id", "")),
        "certificate_sha256": record_digest(dict(record)).hex(),
        "serial": str(device.get("serial") or ""),
        "manufacturer": str(device.get("manufacturer") or ""),
        "model": str(device.get("model") or ""),
        "media_kind": str(device.get("media_kind") or "unknown"),
        "capacity_bytes": capacity if isinstance(capacity, int) else 0,
        "method": str(san.get("method") or ""),
        "nist_category": str(san.get("nist_category") or ""),
        "technique": str(san.get("technique") or ""),
        "outcome": str((record.get("outcome") or {}).get("status") or ""),
        "verification": str((record.get("verification") or {}).get("result") or ""),
        "health_grade": str(grade),
        "simulated": bool(record.get("simulated")),
        "station": str(record.get("station") or ""),
    }
