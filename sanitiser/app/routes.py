"""Where a job's drive goes: the routing decision as recorded, and the technician's override.

One place for both shells: the TUI's drive detail (``o``) and ``sanitiser jobs route`` read and
override a job's route through these functions. The certificate is never edited: an override is
a new fact on the job (``route_override``), a line in its journal and a ``routed`` entry in the
station's custody chain naming the operator and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from sanitiser.assets.model import refuse_if_left
from sanitiser.certificate.record import DESTINATION_ROUTES
from sanitiser.certificate.sign import parse_envelope
from sanitiser.domain import DestinationKind
from sanitiser.errors import SanitiserError
from sanitiser.jobs.detail import JobDetail, detail_of
from sanitiser.routing.destinations import ROUTE_KINDS
from sanitiser.store import Store
from sanitiser.store.audit import AuditKind, append_event
from sanitiser.store.consignments import consignment_of
from sanitiser.store.devices import drive_departure
from sanitiser.store.identity import record_drive_key
from sanitiser.text import clean_text

OVERRIDE_ROUTES = tuple(r for r in DESTINATION_ROUTES if r != "undecided")
"""The destinations a technician may route a drive to by hand."""


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """Where a job's drive goes: the routing decision and any technician override."""

    destination: str
    """The kind of destination: reuse, recycle, destroy or undecided (as a job records it)."""
    reason: str
    overridden_by: str = ""
    route: str = ""
    """The route in a certificate's words (internal-reuse, recycling, destruction ...): the
    technician's, else the certificate record's ("" before there is a certificate)."""


def effective_destination(detail: JobDetail) -> str:
    """The kind of destination a job's drive goes to: the technician's override's, else the
    routing decision's (``undecided`` when there is neither, or the override names none)."""
    override = detail.route_override or {}
    if override:
        kind = ROUTE_KINDS.get(str(override.get("destination", "")))
        return kind.value if kind is not None else "undecided"
    return detail.destination or "undecided"


def route_of(store: Store, job_id: str) -> RouteInfo:
    """The job's destination: the routing decision, or the technician's override."""
    view = store.job(job_id)
    if view is None:
        return RouteInfo("undecided", "no such job")
    detail = detail_of(view)
    override = detail.route_override or {}
    if override:
        return RouteInfo(
            effective_destination(detail),
            str(override.get("reason", "")),
            str(override.get("operator", "")),
            str(override.get("destination", "")),
        )
    routing = detail.routing or {}
    reason = str(routing.get("reason") or routing.get("summary") or "")
    reason = reason or detail.destination_reason
    route = ""
    if detail.certificate_id and (raw := store.certificate_record(detail.certificate_id)):
        route = str((parse_envelope(raw).record.get("destination") or {}).get("route") or "")
    return RouteInfo(effective_destination(detail), reason, route=route)


def override_route(
    store: Store, station: str, job_id: str, destination: str, reason: str, *, operator: str
) -> RouteInfo:
    """Record the technician's destination for a job's drive, with the reason.

    Raises:
        SanitiserError: unknown job or destination, no reason given, or text a record may not
            carry.
    """
    if destination not in OVERRIDE_ROUTES:
        raise SanitiserError(
            f"unknown destination {destination!r} (one of: {', '.join(OVERRIDE_ROUTES)})",
            title="Routing",
        )
    reason = clean_text(reason, "reason", required=True)
    operator = clean_text(operator, "operator", required=True)
    view = store.job(job_id)
    if view is None:
        raise SanitiserError(f"no job {job_id}", title="Routing")
    detail = detail_of(view)
    if detail.status != "sanitised" and ROUTE_KINDS.get(destination) is not DestinationKind.DESTROY:
        raise SanitiserError(
            f"job {job_id}'s drive was not sanitised ({detail.status or view.state}): "
            "it may only go to destruction",
            title="Routing",
        )
    cert_id = detail.certificate_id
    subject = view.drive_key
    if cert_id:
        raw = store.certificate_record(cert_id)
        if raw is not None:
            subject = record_drive_key(parse_envelope(raw).record)
    with store.reading() as s:  # a drive that left, or is leaving, keeps the route it left by
        refuse_if_left(f"drive {view.serial or subject}", drive_departure(s, subject), "re-routed")
    held = consignment_of(store, cert_id) if cert_id else None
    if held is not None:
        raise SanitiserError(
            f"job {job_id}'s drive is in consignment {held.consignment_id}, which it leaves by "
            "its present route: cancel that consignment first to route it elsewhere",
            title="Routing",
        )
    before = route_of(store, job_id)
    facts = {
        "destination": destination,
        "previous": before.route or before.destination,
        "reason": reason.strip(),
        "operator": operator,
    }
    store.update_job_detail(job_id, route_override=facts)
    store.append_job_event(job_id, "route-override", facts)
    append_event(
        store,
        station=station,
        kind=AuditKind.ROUTED,
        subject=subject,
        ref=cert_id or job_id,
        actor=operator,
        data={**facts, "job_id": job_id, "override": True},
    )
    return route_of(store, job_id)
