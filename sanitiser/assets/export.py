"""The device export: one versioned, documented schema for reuse and ITAD systems, as JSON and
CSV (``sanitiser device export``).

Its fields line up with what a device's digital product passport and DeviceHub-style reuse
records carry (make, model, serial, CPU, RAM, storage, battery, condition) plus the
sanitisation evidence: each drive's certificate id and the SHA-256 of its signed record, so a
receiving system can ask for the certificate and check it is the one named.

Schema ``sanitiser.device-export/1`` (JSON: ``{"schema": ..., "exported_at": ...,
"devices": [ROW, ...]}``; CSV: one line per device, the scalar columns of ROW in
`CSV_COLUMNS` order, drives joined as ``serial:certificate_id:sha256`` with ``;``; a text cell
that a spreadsheet would take for a formula starts with ``'``)::

    tag, service_tag, kind, make, model, serial, lot   as taken in
    state               received / sanitised / graded / ready / handed-over / ...
    cpu                 the processor's model string ("" when not recorded)
    ram_bytes           installed memory (null when not recorded)
    storage_bytes       the sanitised drives' capacity, together
    battery_health_pct  the worst battery's full/design charge (null: none recorded)
    tpm                 TPM version ("" none or not recorded)
    windows11           true / false / null (not enough recorded)
    cosmetic            A-D ("" not graded)
    checks              {check: pass/fail/n/a}
    ready, destination, destination_reason   the device policy's decision
    drives              [{drive_key, serial, model, capacity_bytes, certificate_id,
                          record_sha256, outcome, method, verification, simulated}]
    device_certificate  its signed device certificate's id ("" none yet)
    simulated           true when any of its drives is a simulated lab drive
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sanitiser.assets.model import INTAKE_FIELDS, Device
from sanitiser.assets.readiness import ReadinessReport, battery_health, ram_bytes
from sanitiser.text import spreadsheet_text

EXPORT_SCHEMA: Final = "sanitiser.device-export/1"

CSV_COLUMNS: Final = (
    "tag",
    "service_tag",
    "kind",
    "make",
    "model",
    "serial",
    "lot",
    "state",
    "cpu",
    "ram_bytes",
    "storage_bytes",
    "battery_health_pct",
    "tpm",
    "windows11",
    "cosmetic",
    "ready",
    "destination",
    "destination_reason",
    "drives",
    "device_certificate",
    "simulated",
)


def export_row(device: Device, readiness: ReadinessReport) -> dict[str, Any]:
    """One device as an export row (see the module docstring)."""
    inv = device.inventory
    cpu = inv.cpu if inv is not None else None
    tpm = inv.tpm if inv is not None else None
    facts = device.as_json()
    return {
        **{k: facts[k] for k in INTAKE_FIELDS},
        "state": device.state.value,
        "cpu": (cpu.model or "") if cpu is not None else "",
        "ram_bytes": ram_bytes(inv),
        "storage_bytes": sum(d.capacity_bytes for d in device.drives if d.sanitised),
        "battery_health_pct": battery_health(inv),
        "tpm": (tpm.version or "") if tpm is not None else "",
        "windows11": readiness.windows11.eligible if readiness.windows11 is not None else None,
        "cosmetic": device.cosmetic,
        "checks": {k: c.result for k, c in sorted(device.checks.items())},
        "ready": readiness.ready,
        "destination": readiness.destination,
        "destination_reason": readiness.reason,
        "drives": [
            {k: v for k, v in d.as_json().items() if k not in ("linked_at", "linked_by")}
            for d in device.drives
        ],
        "device_certificate": device.certificate_id,
        "simulated": any(d.simulated for d in device.drives),
    }


def export_json(rows: Sequence[dict[str, Any]], *, at: datetime) -> dict[str, Any]:
    """The JSON export document."""
    return {"schema": EXPORT_SCHEMA, "exported_at": at.isoformat(), "devices": list(rows)}


def _cell(column: str, value: Any) -> str:
    if column == "drives":
        return ";".join(
            f"{d['serial'] or d['drive_key']}:{d['certificate_id']}:{d['record_sha256']}"
            for d in value
        )
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return spreadsheet_text(str(value))


def export_csv(rows: Iterable[dict[str, Any]]) -> str:
    """The CSV export: a header line of `CSV_COLUMNS`, then a line per device."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(c, row[c]) for c in CSV_COLUMNS])
    return out.getvalue()
