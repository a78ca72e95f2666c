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
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from sanitiser.domain import DestinationKind, MediaKind
from sanitiser.errors import RecordStoreError
from sanitiser.routing.destinations import (
    DestinationError,
    DestinationView,
    check_name,
    parse_accepts,
    parse_kind,
)
from sanitiser.store.audit import AuditKind, append_event, run_in_transaction
from sanitiser.store.repository import Store
from sanitiser.store.tables import ConsignmentRow, DestinationRow
from sanitiser.text import clean_text

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
                "close them, or cancel them ('sanitiser consignment cancel ID --reason ...')"
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
    with store.reading() as s:
        row = get_row(s, name)
        return None if row is None else destination_view(row)


def list_destinations(store: Store, *, include_removed: bool = False) -> list[DestinationView]:
    """Registered destinations by name (active ones only unless `include_removed`)."""
    try:
        with store.reading() as s:
            query = select(DestinationRow).order_by(col(DestinationRow.name))
            if not include_removed:
                query = query.where(col(DestinationRow.active).is_(True))
            return [destination_view(r) for r in s.exec(query).all()]
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read destinations: {e}") from e
