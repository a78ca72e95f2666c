"""The custody rules of a device (a laptop, a monitor ...): the events its trail is made of.

A device's entries share the station's hash chain with the drives' and are told apart by
their subject, ``device:`` and the tag as compared (`device_subject`): ``received`` when it is
taken in, ``drive-linked`` per drive, ``inventoried``, ``graded``, ``sanitised`` once every
linked drive's record says so, ``ready``, ``device-certified``. Each function returns the
``also`` step that `sanitiser.store.devices` runs in the same transaction as the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from sanitiser.assets.model import INTAKE_FIELDS, Device, device_subject
from sanitiser.store.audit import AuditKind, append_in
from sanitiser.store.devices import Also


def event(
    kind: AuditKind,
    *,
    station: str,
    actor: str,
    ref: str = "",
    data: Mapping[str, Any] | None = None,
) -> Also:
    """The step appending one `kind` entry about the device written (its facts in `data`)."""

    def append(session: Session, device: Device) -> None:
        append_in(
            session,
            station=station,
            kind=kind,
            subject=device_subject(device.tag),
            ref=ref,
            actor=actor,
            data=dict(data or {}),
            at=None,
        )

    return append


def received(*, station: str, actor: str) -> Also:
    """Custody of a device begins: ``received`` with what was typed or scanned at intake."""

    def append(session: Session, device: Device) -> None:
        facts = device.as_json()
        intake = {k: facts[k] for k in (*INTAKE_FIELDS, "notes")}
        event(AuditKind.RECEIVED, station=station, actor=actor, data=intake)(session, device)

    return append
