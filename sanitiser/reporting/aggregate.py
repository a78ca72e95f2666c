"""Fleet reports: devices by period, station, outcome, method and destination. Pure functions.

A report is built from certificate records (the signed facts, one per sanitised or attempted
device) and, for each, the destination of the consignment it left in (if any). A record that a
later record supersedes (a correction) is counted once, as the later record. A drive is counted
once, by its latest certificate in the period: a drive wiped twice (two certificates) is one
drive, reported as its last record says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sanitiser.errors import SanitiserError

GROUP_KEYS = (
    "station",
    "outcome",
    "method",
    "destination",
    "media",
    "device_kind",
    "day",
    "month",
)
"""What a report can group devices by."""

NOT_CONSIGNED = "(not consigned)"
NO_DEVICE = "(no device)"
"""The device kind of a drive that was never linked to a device (a loose drive)."""


class ReportError(SanitiserError):
    """A report was asked for with bad arguments."""


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """One device in a report: the facts of its certificate."""

    certificate_id: str
    issued_at: datetime
    station: str
    outcome: str
    method: str
    nist_category: str
    destination: str
    """The destination of the consignment the device left in, else `NOT_CONSIGNED`."""
    route: str
    """The route the certificate record named (reuse, recycling, destruction, undecided)."""
    media_kind: str
    model: str
    serial: str
    capacity_bytes: int
    simulated: bool
    supersedes: str = ""
    device_tag: str = ""
    """The device (laptop, desktop ...) the drive came out of ("" when none was linked)."""
    device_kind: str = NO_DEVICE
    drive_key: str = ""
    """The drive's identity (`record_drive_key`): rows of one drive count once. "" when
    unknown, or when the key names no one drive (`sanitiser.store.identity.is_identity`: no
    serial or WWN, a placeholder serial): each such row counts, one per certificate."""

    def as_json(self) -> dict[str, Any]:
        """JSON-ready facts."""
        return {
            "certificate_id": self.certificate_id,
            "issued_at": self.issued_at.isoformat(),
            "station": self.station,
            "outcome": self.outcome,
            "method": self.method,
            "nist_category": self.nist_category,
            "destination": self.destination,
            "route": self.route,
            "media_kind": self.media_kind,
            "model": self.model,
            "serial": self.serial,
            "capacity_bytes": self.capacity_bytes,
            "simulated": self.simulated,
            "device_tag": self.device_tag,
            "device_kind": self.device_kind,
        }


@dataclass(frozen=True, slots=True)
class GroupRow:
    """Counts for one group of devices."""

    key: tuple[str, ...]
    devices: int
    capacity_bytes: int
    sanitised: int
    """Devices whose outcome is ``sanitised``."""
    simulated: int

    @property
    def not_sanitised(self) -> int:
        """Devices with any other outcome (failed, aborted, ...)."""
        return self.devices - self.sanitised


@dataclass(frozen=True, slots=True)
class Report:
    """A fleet report."""

    start: datetime | None
    end: datetime | None
    """Exclusive."""
    group_by: tuple[str, ...]
    groups: tuple[GroupRow, ...]
    devices: tuple[DeviceRow, ...]
    generated_at: datetime
    totals: GroupRow = field(default_factory=lambda: GroupRow((), 0, 0, 0, 0))


def parse_time(text: str, *, end: bool = False) -> datetime:
    """A report bound: ``YYYY-MM-DD`` (a whole day: with `end`, the day after it) or an ISO
    date-time (UTC unless it has an offset).

    Raises:
        ReportError: the text is neither.
    """
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None and len(value) == 10:
        moment = datetime.combine(day, time(), UTC)
        try:
            return moment + timedelta(days=1) if end else moment
        except OverflowError as e:
            raise ReportError(f"{value} is past the last date this report can cover") from e
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"{text!r} is not a date (YYYY-MM-DD) or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_group_by(keys: Iterable[str]) -> tuple[str, ...]:
    """The group keys, checked (no duplicates kept; order kept)."""
    out: list[str] = []
    for key in keys:
        name = key.strip().lower()
        if name not in GROUP_KEYS:
            raise ReportError(f"cannot group by {key!r}; use {', '.join(GROUP_KEYS)}")
        if name not in out:
            out.append(name)
    return tuple(out)


def _time_of(text: object) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def device_row(record: Mapping[str, Any], *, destination: str = "") -> DeviceRow:
    """The report row of a certificate record (``record``, or a signed envelope holding one).

    Args:
        record: the certificate record.
        destination: the destination of the consignment it left in ("" when none).
    """
    inner = record.get("record")
    facts: Mapping[str, Any] = inner if isinstance(inner, Mapping) else record
    device = facts.get("device") or {}
    san = facts.get("sanitisation") or {}
    outcome = facts.get("outcome") or {}
    route = (facts.get("destination") or {}).get("route") or "undecided"
    capacity = device.get("capacity_bytes")
    return DeviceRow(
        certificate_id=str(facts.get("certificate_id", "")),
        issued_at=_time_of(facts.get("issued_at", "")),
        station=str(facts.get("station") or "(unknown)"),
        outcome=str(outcome.get("status") or "(unknown)"),
        method=str(san.get("method") or "(none)"),
        nist_category=str(san.get("nist_category") or ""),
        destination=destination or NOT_CONSIGNED,
        route=str(route),
        media_kind=str(device.get("media_kind") or "unknown"),
        model=str(device.get("model") or ""),
        serial=str(device.get("serial") or ""),
        capacity_bytes=capacity if isinstance(capacity, int) and capacity > 0 else 0,
        simulated=bool(facts.get("simulated")),
        supersedes=str(facts.get("supersedes") or ""),
    )


def group_value(row: DeviceRow, key: str) -> str:
    """The value of `row` a report groups by under `key`."""
    if key == "day":
        return row.issued_at.astimezone(UTC).strftime("%Y-%m-%d")
    if key == "month":
        return row.issued_at.astimezone(UTC).strftime("%Y-%m")
    if key == "media":
        return row.media_kind
    return str(getattr(row, key))


def _count(key: tuple[str, ...], rows: Sequence[DeviceRow]) -> GroupRow:
    return GroupRow(
        key,
        len(rows),
        sum(r.capacity_bytes for r in rows),
        sum(1 for r in rows if r.outcome == "sanitised"),
        sum(1 for r in rows if r.simulated),
    )


def build_report(
    rows: Iterable[DeviceRow],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    group_by: Sequence[str] = ("station",),
    include_simulated: bool = True,
    generated_at: datetime | None = None,
) -> Report:
    """Aggregate devices issued in ``[start, end)`` by `group_by`.

    Superseded records are left out (their correction counts), and so is every certificate of
    a drive but its latest in the period (a drive counts once); groups are sorted by key,
    devices by time then certificate id.
    """
    keys = check_group_by(group_by)
    if start is not None and end is not None and end <= start:
        raise ReportError("the report period ends before it starts")
    every = list(rows)
    superseded = {r.supersedes for r in every if r.supersedes}
    chosen = sorted(
        (
            r
            for r in every
            if r.certificate_id not in superseded
            and (start is None or r.issued_at >= start)
            and (end is None or r.issued_at < end)
            and (include_simulated or not r.simulated)
        ),
        key=lambda r: (r.issued_at, r.certificate_id),
    )
    latest = {r.drive_key: r.certificate_id for r in chosen if r.drive_key}  # sorted: last wins
    chosen = [r for r in chosen if not r.drive_key or latest[r.drive_key] == r.certificate_id]
    buckets: dict[tuple[str, ...], list[DeviceRow]] = {}
    for r in chosen:
        buckets.setdefault(tuple(group_value(r, k) for k in keys), []).append(r)
    groups = tuple(_count(k, buckets[k]) for k in sorted(buckets))
    return Report(
        start=start,
        end=end,
        group_by=keys,
        groups=groups,
        devices=tuple(chosen),
        generated_at=generated_at or datetime.now(UTC),
        totals=_count((), chosen),
    )
