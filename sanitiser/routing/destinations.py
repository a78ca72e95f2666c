"""Destinations (reuse schemes, recyclers, destruction providers) as values, and the pure rules
over them: a name, a kind, the device kinds accepted, and which device a destination may take
(`refusal_reason`). The store keeps them (`sanitiser.store.destinations`); these rules are
its functional core, here below it so the store, the CLI and the TUI share one copy.

Which device a destination may take is a pure rule over the destination and the signed
certificate record: the device kind must be accepted, a device whose sanitisation did not
succeed may only go to destruction (whatever route its record named), and a sanitised device
whose record names a route (reuse, recycling, destruction) may only go to a destination of
that kind.

A device (a laptop, a monitor ...) travels by its device certificate's record
(`device_refusal_reason`): its route (the policy's reuse / recycle / destroy) must be the
destination's kind, and the drives still inside it must be media the destination accepts and
must all have been sanitised, unless it goes to destruction. A drive that failed can be taken
out and consigned on its own to destruction first; the device then travels without it (the
issue's "the drive to destruction, the device to reuse marked needs storage").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sanitiser.domain import DestinationKind, MediaKind
from sanitiser.errors import SanitiserError

ROUTE_KINDS: Mapping[str, DestinationKind] = {
    "internal-reuse": DestinationKind.REUSE,
    "external-reuse": DestinationKind.REUSE,
    "recycling": DestinationKind.RECYCLE,
    "manufacturer": DestinationKind.RECYCLE,
    "destruction": DestinationKind.DESTROY,
}
"""The destination kind each certificate route implies (``other``/``undecided`` imply none)."""

DEVICE_ROUTE_KINDS: Mapping[str, DestinationKind] = {
    "reuse": DestinationKind.REUSE,
    "recycle": DestinationKind.RECYCLE,
    "destroy": DestinationKind.DESTROY,
}
"""The destination kind each device route (a device policy's decision) implies; a device whose
route is ``undecided`` (still waiting for a grade or a drive) may only go to destruction."""


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


def refusal_reason(
    destination: DestinationView, record: Mapping[str, Any], *, route_override: str = ""
) -> str | None:
    """Why `destination` may not take the device of a certificate record, or None.

    Args:
        destination: where the device would go.
        record: the signed certificate record of the device.
        route_override: the technician's later route for it ("" : the record's stands); a
            device that was not sanitised still goes to destruction only.
    """
    device = record.get("device") or {}
    outcome = record.get("outcome") or {}
    route = route_override or str((record.get("destination") or {}).get("route") or "undecided")
    named = "the technician routed the device" if route_override else "the record routes the device"
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
            f"certificate {cert}: {named} to {route}, not to a {destination.kind.value} destination"
        )
    return None


def device_refusal_reason(
    destination: DestinationView, record: Mapping[str, Any], *, drives_gone: Collection[str] = ()
) -> str | None:
    """Why `destination` may not take the device of a device certificate record, or None.

    Args:
        destination: where the device would go.
        record: the signed device certificate record (schema ``sanitiser.device/1``).
        drives_gone: certificate ids of drives named in the record that already left in a
            consignment of their own (taken out of the device): the device travels without them.
    """
    device = record.get("device") or {}
    tag = str(device.get("tag") or "?")
    cert = record.get("certificate_id", "?")
    if not destination.active:
        return f"destination {destination.name!r} has been removed"
    accepted = {k.value for k in destination.accepts}
    inside = [d for d in record.get("drives") or [] if d.get("certificate_id") not in drives_gone]
    for drive in inside:
        name = str(drive.get("serial") or drive.get("certificate_id") or "?")
        media = str(drive.get("media_kind") or "unknown")
        if media not in accepted:
            return (
                f"device {tag} ({cert}): its drive {name} is {media}, which {destination.name!r} "
                f"does not accept (it accepts {', '.join(sorted(accepted))})"
            )
        if drive.get("outcome") != "sanitised" and destination.kind is not DestinationKind.DESTROY:
            return (
                f"device {tag} ({cert}): its drive {name} was not sanitised "
                f"({drive.get('outcome') or 'no outcome'}); take it out and consign it to "
                "destruction first, or send the whole device to a destruction provider"
            )
    if destination.kind is DestinationKind.DESTROY:
        return None
    route = str((record.get("destination") or {}).get("route") or "undecided")
    implied = DEVICE_ROUTE_KINDS.get(route)
    if implied is None:
        reason = str((record.get("readiness") or {}).get("reason") or "no reason recorded")
        return (
            f"device {tag} ({cert}): its route is {route} ({reason}); only a destruction "
            "provider takes it as it is: grade it, finish its drives and certify it again"
        )
    if implied is not destination.kind:
        return (
            f"device {tag} ({cert}): its policy routes it to {route}, not to a "
            f"{destination.kind.value} destination"
        )
    return None
