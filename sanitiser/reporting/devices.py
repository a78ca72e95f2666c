"""The report's rows, asked of the store: one per certificate issued in a period (with its
drive's identity, so a drive wiped twice counts once in the report), with the
destination its device left for (in a consignment of its own, or inside the laptop, desktop ...
it came out of, consigned by its device certificate) and that device."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from sanitiser.assets.model import device_subject
from sanitiser.errors import RecordStoreError
from sanitiser.reporting.aggregate import DeviceRow, device_row
from sanitiser.store import Store
from sanitiser.store.consignments import consigned_destinations, consigned_device_destinations
from sanitiser.store.devices import devices_by_drive
from sanitiser.store.identity import is_identity, record_drive_key

_SLACK = timedelta(days=1)
"""The store's issue time and the record's may differ a little; the record's decides."""


def _shifted(moment: datetime, delta: timedelta) -> datetime:
    """`moment` + `delta`, held at the calendar's ends (a bound in year 1 or 9999)."""
    try:
        return moment + delta
    except OverflowError:
        return (datetime.max if delta > timedelta(0) else datetime.min).replace(tzinfo=UTC)


def load_devices(
    store: Store, *, start: datetime | None = None, end: datetime | None = None
) -> list[DeviceRow]:
    """Report rows of the certificates issued about ``[start, end)`` (the record's own time
    decides; `build_report` filters exactly), with the destination each left for."""
    try:
        envelopes = store.certificate_records_issued(
            None if start is None else _shifted(start, -_SLACK),
            None if end is None else _shifted(end, _SLACK),
        )
        consigned = consigned_destinations(store)
        in_devices = consigned_device_destinations(store)
        owners = devices_by_drive(store)
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read certificates: {e}") from e
    rows = []
    for raw in envelopes:
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # not a record this report can read; `sanitiser verify` says why
        if isinstance(record, dict):
            row = device_row(record)
            destination = consigned.get(row.certificate_id, "")
            if destination:
                row = replace(row, destination=destination)
            inner = record.get("record")
            key = record_drive_key(inner if isinstance(inner, dict) else record)
            if is_identity(key):  # else known by its certificate alone: each one counts
                row = replace(row, drive_key=key)
            owner = owners.get(key)
            if owner is not None:
                row = replace(row, device_tag=owner[0], device_kind=owner[1])
                carried = in_devices.get(device_subject(owner[0]))
                if carried and not destination:  # the drive left inside its device
                    row = replace(row, destination=carried)
            rows.append(row)
    return rows
