"""What a label says: the QR data and the lines of text, for each kind of label.

The QR data is the certificate's own verification URL (``<base_url>#<token>``, the token of
`sanitiser.certificate.qr` for a drive, of `sanitiser.certificate.device_token` for a device):
a label carries exactly what the certificate's PDF carries. A charger or battery label is
linked to its device by carrying the device's URL. A consignment label carries the consignment
id, which ``sanitiser consignment show`` takes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sanitiser.certificate.label import label_lines
from sanitiser.certificate.qr import make_model
from sanitiser.certificate.record import Record
from sanitiser.errors import SanitiserError


class LabelKind(StrEnum):
    """What a label is stuck on."""

    DRIVE = "drive"
    DEVICE = "device"
    CHARGER = "charger"
    BATTERY = "battery"
    CONSIGNMENT = "consignment"


@dataclass(frozen=True, slots=True)
class Label:
    """One label's content, independent of the printer: what the queue keeps."""

    kind: LabelKind
    subject: str
    """The certificate id, device tag or consignment id the label is for."""
    qr: str
    """The data in the QR code."""
    lines: tuple[tuple[str, bool], ...]
    """The text, top to bottom, as (text, bold)."""

    def to_json(self) -> str:
        """The label as JSON (for the print queue)."""
        return json.dumps(
            {
                "kind": self.kind.value,
                "subject": self.subject,
                "qr": self.qr,
                "lines": [[t, b] for t, b in self.lines],
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Label:
        """A label from `to_json` text.

        Raises:
            SanitiserError: not a label.
        """
        try:
            data: dict[str, Any] = json.loads(text)
            lines = tuple((str(t), bool(b)) for t, b in data["lines"])
            return cls(LabelKind(data["kind"]), str(data["subject"]), str(data["qr"]), lines)
        except (ValueError, KeyError, TypeError) as e:
            raise SanitiserError(f"a stored label cannot be read ({e})", title="Label") from e


def drive_label(record: Record, url: str) -> Label:
    """The label of a drive certificate: outcome, serial, model, date and method, id."""
    return Label(LabelKind.DRIVE, str(record["certificate_id"]), url, tuple(label_lines(record)))


def device_label(record: Record, url: str) -> Label:
    """The label of a device certificate: tag, make and model, grade, drives, id."""
    tag = str((record.get("device") or {}).get("tag") or "")
    return Label(LabelKind.DEVICE, tag, url, tuple(label_lines(record)))


def accessory_label(record: Record, url: str, kind: LabelKind) -> Label:
    """A charger's or battery's label, linked to its device: it carries the device's QR."""
    if kind not in (LabelKind.CHARGER, LabelKind.BATTERY):
        raise SanitiserError(f"{kind.value} is not an accessory", title="Label")
    device: Mapping[str, Any] = record.get("device") or {}
    tag = str(device.get("tag") or "")
    names = " ".join(str(device.get(k) or "") for k in ("make", "model")).strip()
    lines = (
        (f"{kind.value.upper()} of {tag}", True),
        (names or make_model(device), False),
        (f"ID {record.get('certificate_id', '')}", False),
    )
    return Label(kind, tag, url, lines)


def consignment_label(
    consignment_id: str,
    *,
    destination: str,
    items: int,
    closed_at: str,
    manifest_sha256: str,
    notes: Sequence[str] = (),
) -> Label:
    """A 4x6 in consignment (shipping) label: the consignment id in the QR, where it goes,
    how many items, when it was closed and the manifest's SHA-256 (first 16 hex digits)."""
    lines = [
        (f"CONSIGNMENT {consignment_id}", True),
        (f"To {destination}", True),
        (f"{items} item{'s' if items != 1 else ''}", False),
        (f"Closed {closed_at[:10] or 'not yet'}", False),
        (f"Manifest SHA-256 {manifest_sha256[:16] or '-'}", False),
        *((n, False) for n in notes),
    ]
    return Label(LabelKind.CONSIGNMENT, consignment_id, consignment_id, tuple(lines))
