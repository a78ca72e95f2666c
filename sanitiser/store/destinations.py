"""The destinations registry: reuse schemes, recyclers and destruction providers.

A destination has a unique name, a kind (`DestinationKind`), a contact, the device kinds it
accepts (`MediaKind` values) and optionally the scheme or accreditation it works under. Removing
a destination retires it (its consignments keep naming it); adding the name again brings it
back with the new details. Every change is an entry in the audit log.

Which device a destination may take (`refusal_reason`) is a pure rule over the destination and
the signed certificate record: the device kind must be accepted, a device whose sanitisation did
not succeed may only go to destruction (whatever route its record named), and a sanitised
device whose record names a route (reuse, recycling, destruction) may only go to a destination
of that kind.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from sanitiser.domain import DestinationKind, MediaKind
from sanitiser.errors import RecordStoreError, SanitiserError
from sanitiser.store.audit import AuditKind, append_event, run_in_transaction
from sanitiser.store.repository import Store
from sanitiser.store.tables import ConsignmentRow, DestinationRow
from sanitiser.text import clean_text

ROUTE_KINDS: Mapping[str, DestinationKind] = {
    "internal-reuse": DestinationKind.REUSE,
    "external-reuse": DestinationKind.REUSE,
    "recycling": DestinationKind.RECYCLE,
    "manufacturer": DestinationKind.RECYCLE,
    "destruction": DestinationKind.DESTROY,
}
"""The destination kind each certificate route implies (``other``/``undecided`` imply none)."""


class DestinationError(SanitiserError):
    """A destination cannot be added, found or used as asked."""


@dataclass(frozen=True, slots=True)
class DestinationView:
    """A destination as plain values."""

    name: str
    kind: DestinationKind
    contact: str
    accepts: tuple[MediaKind, ...]
    scheme: str
    notes: str
    active: bool
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        """JSON-ready facts (for ``--json`` output and manifests)."""
        return {
            "name": self.name,
            "kind": str(self.kind),
            "contact": self.contact,
            "accepts": [str(k) for k in self.accepts],
            "scheme": self.scheme,
            "notes": self.notes,
            "active": self.active,
        }


# --- the functional core -------------------------------------------------------------------


def check_name(name: str) -> str:
    """A destination name, stripped; refused when empty, too long or holding control
    characters (it is printed on manifests)."""
    text = name.strip()
    if not text:
        raise DestinationError("a destination needs a name")
    if len(text) > 200:
        raise DestinationError("a destination name is at most 200 characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise DestinationError("a destination name cannot hold control characters")
    return text


def parse_kind(text: str) -> DestinationKind:
    """The `DestinationKind` named by `text`."""
    try:
        return DestinationKind(text.strip().lower())
    except ValueError:
        choices = ", ".join(k.value for k in DestinationKind)
        raise DestinationError(f"unknown destination kind {text!r}; use {choices}") from None


def parse_accepts(values: str | Iterable[str]) -> tuple[MediaKind, ...]:
    """Accepted device kinds from ``"hdd,ssd,nvme"`` or a list; sorted, no duplicates.

    Raises:
        DestinationError: an unknown kind, or none at all.
    """
    items = values.split(",") if isinstance(values, str) else list(values)
    kinds: set[MediaKind] = set()
    for item in items:
        text = item.strip().lower()
        if not text:
            continue
        try:
            kinds.add(MediaKind(text))
        except ValueError:
            choices = ", ".join(k.value for k in MediaKind)
            raise DestinationError(f"unknown device kind {text!r}; use {choices}") from None
    if not kinds:
        raise DestinationError("a destination must accept at least one device kind")
    return tuple(sorted(kinds, key=lambda k: k.value))


def refusal_reason(destination: DestinationView, record: Mapping[str, Any]) -> str | None:
    """Why `destination` may not take the device of a certificate record, or None.

    Args:
        destination: where the device would go.
        record: the signed certificate record of the device.
    """
    device = record.get("device") or {}
    outcome = record.get("outcome") or {}
    route = str((record.get("destination") or {}).get("route") or "undecided")
    cert = record.get("certificate_id", "?")
    if not destination.active:
        return f"destination {destination.name!r} has been removed"
    media = str(device.get("media_kind") or "unknown")
    if media not in {k.value for k in destination.accepts}:
        accepted = ", ".join(k.value for k in destination.accepts)
        return (
            f"certificate {cert}: {destination.name!r} does not accept {media} devices "
            f"(it accepts {accepted})"
        )
    status = str(outcome.get("status") or "")
    if status != "sanitised" and destination.kind is not DestinationKind.DESTROY:
        return (
            f"certificate {cert}: the device was not sanitised ({status or 'no outcome'}); "
            "it may only go to a destruction provider"
        )
    implied = ROUTE_KINDS.get(route)
    if status == "sanitised" and implied is not None and implied is not destination.kind:
        return (
            f"certificate {cert}: the record routes the device to {route}, not to a "
            f"{destination.kind.value} destination"
        )
    return None


# --- the imperative shell ------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def destination_view(row: DestinationRow) -> DestinationView:
    """A destination row as plain values."""
    return DestinationView(
        row.name,
        DestinationKind(row.kind),
        row.contact,
        tuple(MediaKind(k) for k in json.loads(row.accepts)),
        row.scheme,
        row.notes,
        row.active,
        row.created_at,
        row.updated_at,
    )


def get_row(session: Session, name: str) -> DestinationRow | None:
    """The destination row called `name` (for the store's own modules)."""
    return session.get(DestinationRow, name.strip())


def add_destination(
    store: Store,
    name: str,
    *,
    kind: DestinationKind | str,
    contact: str,
    accepts: str | Iterable[str],
    station: str,
    scheme: str = "",
    notes: str = "",
    actor: str = "",
) -> DestinationView:
    """Register a destination (or bring back a removed one with these details).

    Raises:
        DestinationError: a bad name, kind or device kind, or an active destination of that
            name exists already.
    """
    clean = check_name(clean_text(name, "name"))
    dest_kind = parse_kind(str(kind))
    kinds = parse_accepts(accepts)
    contact = clean_text(contact, "contact")
    scheme = clean_text(scheme, "scheme")
    notes = clean_text(notes, "notes")
    actor = clean_text(actor, "operator", kind="operator")
    if not contact:
        raise DestinationError("a destination needs a contact (who collects, how to reach them)")

    def work(s: Session) -> DestinationView:
        now = _now()
        row = s.get(DestinationRow, clean)
        if row is not None and row.active:
            raise DestinationError(f"destination {clean!r} exists already")
        if row is None:
            row = DestinationRow(name=clean, kind=dest_kind.value, created_at=now, updated_at=now)
        row.kind = dest_kind.value
        row.contact = contact.strip()
        row.accepts = json.dumps([k.value for k in kinds])
        row.scheme = scheme.strip()
        row.notes = notes
        row.active = True
        row.updated_at = now
        s.add(row)
        s.flush()
        view = destination_view(row)
        append_event(
            s,
            station=station,
            kind=AuditKind.DESTINATION_ADDED,
            subject=clean,
            actor=actor,
            data=view.as_json(),
            at=now,
        )
        return view

    return run_in_transaction(store, work)


def remove_destination(
    store: Store, name: str, *, station: str, actor: str = ""
) -> DestinationView:
    """Retire a destination: it takes no new consignments; past ones keep naming it.

    Raises:
        DestinationError: no such active destination, or it still has an open consignment.
    """
    clean = name.strip()

    def work(s: Session) -> DestinationView:
        row = s.get(DestinationRow, clean)
        if row is None or not row.active:
            raise DestinationError(f"no destination {clean!r}")
        open_ids = s.exec(
            select(ConsignmentRow.id).where(
                ConsignmentRow.destination == clean, ConsignmentRow.state == "open"
            )
        ).all()
        if open_ids:
            raise DestinationError(
                f"destination {clean!r} has open consignment(s) {', '.join(open_ids)}; "
                "close them first"
            )
        row.active = False
        row.updated_at = _now()
        s.add(row)
        s.flush()
        view = destination_view(row)
        append_event(
            s,
            station=station,
            kind=AuditKind.DESTINATION_REMOVED,
            subject=clean,
            actor=actor,
            data={"name": clean},
            at=row.updated_at,
        )
        return view

    return run_in_transaction(store, work)


def get_destination(store: Store, name: str) -> DestinationView | None:
    """The destination called `name` (active or removed), or None."""
    with Session(store.engine) as s:
        row = get_row(s, name)
        return None if row is None else destination_view(row)


def list_destinations(store: Store, *, include_removed: bool = False) -> list[DestinationView]:
    """Registered destinations by name (active ones only unless `include_removed`)."""
    try:
        with Session(store.engine) as s:
            query = select(DestinationRow).order_by(col(DestinationRow.name))
            if not include_removed:
                query = query.where(col(DestinationRow.active).is_(True))
            return [destination_view(r) for r in s.exec(query).all()]
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read destinations: {e}") from e
