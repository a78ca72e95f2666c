"""The device desk the CLI and the TUI share: take a device in, link its drives, record its
facts and grades, say whether it is ready and where it goes, and move it along its life.

Every step is one store transaction with its custody entry (`sanitiser.custody.devices`).
The device's state moves forward only as its facts allow (`advance`): ``received`` ->
``sanitised`` once every linked drive's signed record says so -> ``graded`` -> ``ready`` once
the policy's readiness rules all hold; each move appends its custody event. A device whose
drives are not sanitised can be graded (nothing is lost), but it is not "ready".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sanitiser import __version__
from sanitiser.app.naming import names_drive
from sanitiser.app.services import Services
from sanitiser.assets.facts_form import confirmed_source, facts_from_form, form_values
from sanitiser.assets.model import (
    LIFECYCLE,
    Check,
    Device,
    DeviceError,
    DeviceState,
    check_grade,
    check_intake,
    parse_check,
    parse_lock,
)
from sanitiser.assets.readiness import ReadinessReport, assess
from sanitiser.assets.record import build_device_record
from sanitiser.certificate.device_token import make_device_token
from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.qr import DEFAULT_BASE_URL, token_url
from sanitiser.certificate.record import DEVICE_SCHEMA, Record, new_certificate_id
from sanitiser.certificate.sign import SignedRecord, parse_envelope, sign_record
from sanitiser.custody import devices as custody
from sanitiser.errors import SanitiserError
from sanitiser.inventory.model import HostInventory
from sanitiser.policy.loader import Policy, load_policy
from sanitiser.store import devices as records
from sanitiser.store import drive_key
from sanitiser.store.audit import GENESIS, AuditKind, chain_head
from sanitiser.store.consignments import consignment_of
from sanitiser.text import clean_text

DEVICE_CERTIFICATES = "device-certificates"
"""Where the TUI files each device certificate it issues, under the data directory."""

_ORDER = LIFECYCLE
"""The states `advance` moves a device through (hand-over and the like are steps of their own)."""


@dataclass(frozen=True, slots=True)
class IssuedDevice:
    """A device certificate as issued: the signed record, its token and URL, the signed PDF."""

    signed: SignedRecord
    token: str
    url: str
    pdf: bytes

    @property
    def record(self) -> Record:
        """The signed record."""
        return self.signed.record

    @property
    def certificate_id(self) -> str:
        """The certificate's id."""
        return self.signed.certificate_id

    def label_png(self, label_format: str = "62x29") -> bytes:
        """The device's QR label, one PNG page (300 dpi, 1-bit).

        Raises:
            CertificateError: an unknown label format.
        """
        from sanitiser.certificate.label import label_format as format_of  # noqa: PLC0415 - PIL
        from sanitiser.certificate.label import labels_png  # noqa: PLC0415

        return labels_png([(self.record, self.url)], format_of(label_format))[0]


def write_issued(
    issued: IssuedDevice,
    *,
    pdf: Path | None = None,
    json: Path | None = None,
    label: Path | None = None,
    label_format: str = "62x29",
) -> list[Path]:
    """Write the parts of an issued device certificate asked for: the signed PDF, the signed
    record (canonical JSON) and the QR label (PNG); the paths written, in that order. What both
    shells write (``sanitiser device certificate``, the TUI's device screen)."""
    parts: list[tuple[Path | None, Callable[[], bytes]]] = [
        (pdf, lambda: issued.pdf),
        (json, issued.signed.to_bytes),
        (label, lambda: issued.label_png(label_format)),
    ]
    written = []
    for path, content in parts:
        if path is not None:
            path.write_bytes(content())
            written.append(path)
    return written


def file_issued(issued: IssuedDevice, directory: Path) -> list[Path]:
    """Write an issued device certificate into `directory` (made if missing) as
    ``TAG-ID.pdf``, ``TAG-ID.json`` and ``TAG-ID.png`` (the 62 x 29 mm label), where a tag's
    ``/ : #`` become ``_`` in the name; the paths, in that order."""
    tag = str(issued.record["device"]["tag"])
    stem = f"{re.sub(r'[^A-Za-z0-9._-]', '_', tag)}-{issued.certificate_id}"
    directory.mkdir(parents=True, exist_ok=True)
    return write_issued(
        issued,
        pdf=directory / f"{stem}.pdf",
        json=directory / f"{stem}.json",
        label=directory / f"{stem}.png",
    )


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """A device with what its policy makes of it (what ``device show`` prints)."""

    device: Device
    readiness: ReadinessReport

    def as_json(self) -> dict[str, Any]:
        """Plain JSON: the device, its drives with their certificates, readiness, destination."""
        return {**self.device.as_json(), "readiness": self.readiness.as_json()}


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeviceDesk:
    """Device steps for one operator at one station."""

    def __init__(self, services: Services, operator: str, *, policy: str | None = None) -> None:
        self.services = services
        self.store = services.store
        self.station = services.settings.station
        self.operator = operator
        self.policy_name = policy or services.settings.device_policy

    # --- intake ------------------------------------------------------------------------------

    def intake(self, **typed: str) -> Device:
        """Take a device in (``kind``, ``tag`` and optionally ``service_tag``, ``make``,
        ``model``, ``serial``, ``lot``, ``notes``): its record and ``received`` together.

        Raises:
            DeviceError, TextInputError: a bad field, or a tag already taken in.
        """
        intake = check_intake(**typed)
        return records.add_device(
            self.store,
            intake,
            station=self.station,
            actor=self.operator,
            also=custody.received(station=self.station, actor=self.operator),
        )

    # --- drives ------------------------------------------------------------------------------

    def resolve_drive(self, wanted: str) -> records.DriveRef:
        """The drive `wanted` names: an attached drive (path, kernel name, by-id link or
        serial), else one the store has seen (its key or serial).

        Raises:
            DeviceError: it names none, or more than one.
        """
        if not wanted.strip():
            raise DeviceError("an empty name matches no drive (an unset variable?)")
        try:
            attached = [d for d in self.services.source.list() if names_drive(d, wanted)]
        except SanitiserError:
            attached = []
        refs = {
            drive_key(d): records.DriveRef(drive_key(d), d.serial, d.model, d.simulated)
            for d in attached
        }
        if not refs:
            refs = {
                v.key: records.DriveRef(v.key, v.serial, v.model, v.simulated)
                for v in self.store.drives()
                if wanted in (v.key, v.serial) or (v.path == wanted and not v.serial)
            }
        if len(refs) > 1:
            raise DeviceError(f"{wanted!r} names more than one drive: use its device path")
        if not refs:
            raise DeviceError(f"no drive {wanted!r} is attached or recorded (see 'sanitiser scan')")
        return next(iter(refs.values()))

    def link(self, tag: str, wanted: Sequence[str]) -> tuple[Device, list[str]]:
        """Link drives to a device; each link is a ``drive-linked`` custody entry.

        Returns:
            The device, and a line per drive saying what was done.

        Raises:
            DeviceError: an unknown tag or drive, a monitor or dock, or a drive that is another
                device's (nothing is linked when any drive named is refused).
        """
        refs = [self.resolve_drive(w) for w in wanted]
        if not refs:
            raise DeviceError("name at least one drive to link")
        return self.link_refs(tag, refs)

    def link_refs(self, tag: str, refs: Sequence[records.DriveRef]) -> tuple[Device, list[str]]:
        """Link the drives `refs` name (already resolved: e.g. a computer's drives as its agent
        reported them) to a device; all or nothing, as `link`.

        Raises:
            DeviceError: an unknown tag, a monitor or dock, or a drive that is another device's.
            LeftCustodyError: the device, or a drive, has left our custody.
        """
        lines: list[str] = []
        device = records.require_held(self.store, tag, "linked to a drive")
        for ref in refs:  # every refusal before the first link: all or nothing
            records.require_drive_held(
                self.store, ref.key, f"drive {ref.serial or ref.key}", "linked"
            )
            other = records.device_of_drive(self.store, ref.key)
            if other is not None and other.tag != device.tag:
                raise DeviceError(
                    f"drive {ref.serial or ref.key} is already linked to device {other.tag!r}; "
                    "a drive belongs to one device"
                )
        for ref in refs:
            device, new = records.link_drive(
                self.store,
                tag,
                ref,
                actor=self.operator,
                also=custody.event(
                    AuditKind.DRIVE_LINKED,
                    station=self.station,
                    actor=self.operator,
                    data={"drive_key": ref.key, "serial": ref.serial, "model": ref.model},
                ),
            )
            name = ref.serial or ref.key
            lines.append(f"{name}: {'linked' if new else 'already linked'} to {device.tag}")
        return self.advance(device.tag).device, lines

    # --- facts and grades ---------------------------------------------------------------------

    def grade(
        self,
        tag: str,
        *,
        cosmetic: str | None = None,
        checks: Sequence[str] = (),
        locks: Sequence[str] = (),
    ) -> DeviceReport:
        """Record a cosmetic grade, functional checks (``screen=pass``) and locks
        (``bios-password=cleared``), each with the operator and time: one ``graded`` entry.

        Raises:
            DeviceError: an unknown tag, grade, check or lock; nothing given.
        """
        grade = check_grade(cosmetic) if cosmetic is not None else None
        at = _utc_text(datetime.now(UTC))
        parsed_checks = {n: Check(r, self.operator, at) for n, r in map(parse_check, checks)}
        parsed_locks = dict(map(parse_lock, locks))
        if grade is None and not parsed_checks and not parsed_locks:
            raise DeviceError("give a cosmetic grade, a check or a lock to record")
        facts: dict[str, Any] = {
            "cosmetic": grade,
            "checks": {k: c.result for k, c in parsed_checks.items()},
            "locks": parsed_locks,
        }
        records.update_device(
            self.store,
            tag,
            cosmetic=grade,
            checks=parsed_checks,
            locks=parsed_locks,
            also=custody.event(
                AuditKind.GRADED, station=self.station, actor=self.operator, data=facts
            ),
        )
        return self.advance(tag)

    def record_inventory(
        self,
        tag: str,
        inventory: HostInventory,
        *,
        source: str,
        locks: Mapping[str, str] | None = None,
        confirmed: Sequence[str] | None = None,
    ) -> DeviceReport:
        """Record the computer's own facts (read by the agent, from a dmidecode file, or typed)
        and where they came from, with the locks noted alongside: one ``inventoried`` entry
        (the operator and the time are the technician who confirmed them, and when).

        Args:
            confirmed: from the facts form, the fields the technician changed (empty: each
                confirmed as it was); None when the facts were not confirmed on a form.

        Raises:
            DeviceError: an unknown tag.
        """
        data: dict[str, Any] = {
            "source": source,
            "vendor": inventory.system.vendor or "",
            "product": inventory.system.product or "",
            "serial": inventory.system.serial or "",
        }
        if confirmed is not None:
            data["confirmed"] = True
            data["changed"] = ",".join(confirmed)
        if locks:
            data["locks"] = dict(locks)
        records.update_device(
            self.store,
            tag,
            inventory=(inventory, source),
            locks=locks,
            also=custody.event(
                AuditKind.INVENTORIED, station=self.station, actor=self.operator, data=data
            ),
        )
        return self.advance(tag)

    def facts_form(self, tag: str) -> tuple[Device, dict[str, str]]:
        """The device and its facts form filled with what is recorded (nothing is written).

        Raises:
            DeviceError: an unknown tag.
        """
        device = records.require_device(self.store, tag)
        return device, form_values(device)

    def confirm_facts(self, tag: str, values: Mapping[str, str]) -> DeviceReport:
        """Record the facts as the technician typed or confirmed them on the form (the TUI's),
        checked field by field, over what was recorded; the locks noted with them. One
        ``inventoried`` entry saying who confirmed, when, and which fields they changed.

        Raises:
            FactsFormError: a field that cannot be kept (named; nothing is recorded).
            DeviceError: an unknown tag.
        """
        device = records.require_device(self.store, tag)
        form = facts_from_form(device, values)
        return self.record_inventory(
            tag,
            form.inventory,
            source=confirmed_source(device.inventory_source, bool(form.changed)),
            locks=form.locks,
            confirmed=form.changed,
        )

    # --- what it is now ------------------------------------------------------------------------

    @functools.cached_property
    def _policy(self) -> Policy:
        """The device policy, read once per desk (an export judges every device by it)."""
        return load_policy(self.policy_name)

    def readiness(self, device: Device, *, today: date | None = None) -> ReadinessReport:
        """What the device policy makes of `device` now."""
        policy = self._policy
        return assess(
            device,
            policy.devices,
            today=today or datetime.now(UTC).date(),
            policy=f"{policy.name} v{policy.version}",
        )

    def report(self, tag: str) -> DeviceReport:
        """The device and its readiness (nothing is written).

        Raises:
            DeviceError: an unknown tag.
        """
        device = records.require_device(self.store, tag)
        return DeviceReport(device, self.readiness(device))

    def advance(self, tag: str) -> DeviceReport:
        """Move the device forward as far as its facts allow, a custody entry per step, and
        keep the destination its policy names. Never moves back: a device already ``ready``
        stays so in its trail even if a later grade would not make it so (the report says)."""
        device = records.require_device(self.store, tag)
        report = DeviceReport(device, self.readiness(device))
        if device.state not in _ORDER:
            return report
        target = self._reached(report)
        current = device.state
        for state in _ORDER[_ORDER.index(current) + 1 : _ORDER.index(target) + 1]:
            if state is DeviceState.SANITISED and not device.holds_data:
                continue  # a monitor or dock: nothing was erased, and its trail never says so
            moved = records.move_state(
                self.store, tag, current, state, also=self._step_entry(state, report)
            )
            if moved is None:  # another process moved it first: it carries on from there
                return self.advance(tag)
            current = state
        destination = report.readiness.destination
        if destination != device.destination:
            records.update_device(self.store, tag, destination=destination)
        device = records.require_device(self.store, tag)
        return DeviceReport(device, report.readiness)

    def _step_entry(self, state: DeviceState, report: DeviceReport) -> records.Also:
        """The custody entry of a step: ``sanitised`` (naming the drives' certificates) and
        ``ready`` (naming the policy). Reaching ``graded`` adds none: the grade's own
        ``graded`` entry is that step, in the order it happened."""
        if state is DeviceState.SANITISED:
            certs = ",".join(d.certificate_id for d in report.device.drives)
            data = {"state": state.value, "drives": certs}
            return custody.event(
                AuditKind.SANITISED, station=self.station, actor=self.operator, data=data
            )
        if state is DeviceState.READY:
            data = {"state": state.value, "policy": report.readiness.policy}
            return custody.event(
                AuditKind.READY, station=self.station, actor=self.operator, data=data
            )
        return records.nothing

    @staticmethod
    def _reached(report: DeviceReport) -> DeviceState:
        device, readiness = report.device, report.readiness
        sanitised = device.all_sanitised or not device.holds_data
        if not sanitised:
            return DeviceState.RECEIVED
        if not device.graded:
            return DeviceState.SANITISED
        return DeviceState.READY if readiness.ready else DeviceState.GRADED

    def certify(self, tag: str, signer: StationSigner) -> IssuedDevice:
        """Issue the device's signed certificate: its record (binding each drive's certificate
        by id and SHA-256, each verified before anything is signed from it), the device
        token for its QR label, the signed PDF; kept with a ``device-certified`` entry.

        Raises:
            DeviceError: an unknown tag, or a linked drive without a certificate yet.
            LeftCustodyError: the device has left our custody (no new certificate for it).
            CertificateError: a drive's certificate in the store does not verify (altered).
        """
        # pyHanko (PDF signing and checking) costs about a second to import: only when issuing
        from sanitiser.certificate.device_pdf import device_certificate_pdf  # noqa: PLC0415
        from sanitiser.certificate.issue import signing_trust  # noqa: PLC0415
        from sanitiser.certificate.verify import require_verified  # noqa: PLC0415

        records.require_held(self.store, tag, "certified")  # before anything is signed
        report = self.advance(tag)
        device = report.device
        waiting = [d.serial or d.drive_key for d in device.drives if not d.certificate_id]
        if waiting:
            raise DeviceError(
                f"device {device.tag}: no certificate yet for drive(s) {', '.join(waiting)}: "
                "wipe them (or unlink them) before the device is certified"
            )
        trust = signing_trust(signer)
        drive_records = []
        for d in device.drives:
            envelope = self.store.certificate_record(d.certificate_id)
            if envelope is None:
                raise DeviceError(f"certificate {d.certificate_id} is not in the store")
            verified = require_verified(
                parse_envelope(envelope), trust, certificate_id=d.certificate_id
            )
            drive_records.append(verified.record)
        now = datetime.now(UTC)
        record = build_device_record(
            device,
            report.readiness,
            drive_records,
            certificate_id=new_certificate_id(),
            organisation=signer.organisation,
            station=signer.name,
            operator=self.operator,
            issued_at=now,
            development=signer.development,
            custody=chain_head(self.store, self.station) or (0, GENESIS),
            tool_version=__version__,
        )
        verified = require_verified(sign_record(record, signer), trust, schema=DEVICE_SCHEMA)
        token = make_device_token(verified, signer, now)
        url = token_url(token, self.services.settings.verify_base_url or DEFAULT_BASE_URL)
        pdf = device_certificate_pdf(verified, signer, url)
        signed = verified.signed
        records.save_device_certificate(
            self.store,
            tag,
            signed.certificate_id,
            signed.to_bytes(),
            pdf,
            also=custody.event(
                AuditKind.DEVICE_CERTIFIED,
                station=self.station,
                actor=self.operator,
                ref=signed.certificate_id,
                data={
                    "record_sha256": signed.digest.hex(),
                    "drives": ",".join(d.certificate_id for d in device.drives),
                    "destination": report.readiness.destination,
                },
            ),
        )
        return IssuedDevice(signed, token, url, pdf)

    def release(self, tag: str, *, outcome: str, to: str, reason: str = "") -> Device:
        """The device leaves our custody: handed over (to a reuse scheme), recycled or
        destroyed; its last custody entry, naming who took it and why.

        Handed over needs the device ``ready`` and its certificate issued (the scheme receives
        the proof); recycled needs every drive sanitised (a drive that was not can only go to
        destruction); destroyed is always possible.

        Raises:
            DeviceError: an unknown tag or outcome, a rule above, or the device already gone.
        """
        target = {
            "handed-over": DeviceState.HANDED_OVER,
            "recycled": DeviceState.RECYCLED,
            "destroyed": DeviceState.DESTROYED,
        }.get(outcome)
        if target is None:
            raise DeviceError(f"{outcome!r}: a device is handed-over, recycled or destroyed")
        to = clean_text(to, "--to", kind="name", required=True)
        reason = clean_text(reason, "--reason", kind="reason")
        records.require_held(self.store, tag, "released again")
        device = self.advance(tag).device
        consigned = (
            consignment_of(self.store, device.certificate_id) if device.certificate_id else None
        )
        if consigned:
            raise DeviceError(
                f"device {device.tag} is in consignment {consigned.consignment_id}: it leaves "
                "when that consignment is closed"
            )
        if target is DeviceState.HANDED_OVER and (
            device.state is not DeviceState.READY or not device.certificate_id
        ):
            raise DeviceError(
                f"device {device.tag} is {device.state.value}"
                + ("" if device.certificate_id else ", with no device certificate")
                + ": only a ready, certified device is handed over for reuse"
            )
        if target is DeviceState.RECYCLED and device.holds_data and not device.all_sanitised:
            raise DeviceError(
                f"device {device.tag}: not every drive in it is sanitised; it can only go to "
                "destruction"
            )
        kind = {
            DeviceState.HANDED_OVER: AuditKind.HANDED_OVER,
            DeviceState.RECYCLED: AuditKind.RECYCLED,
            DeviceState.DESTROYED: AuditKind.DESTROYED,
        }[target]
        data = {"to": to, "reason": reason, "certificate_id": device.certificate_id}
        moved = records.move_state(
            self.store,
            tag,
            device.state,
            target,
            destination=f"{outcome}: {to}",
            also=custody.event(
                kind,
                station=self.station,
                actor=self.operator,
                ref=device.certificate_id,
                data=data,
            ),
        )
        if moved is None:  # another process moved it first
            return self.release(tag, outcome=outcome, to=to, reason=reason)
        return moved

    def device_of_drive(self, key: str) -> Device | None:
        """The device the drive with key `key` is linked to, if any (nothing is written)."""
        return records.device_of_drive(self.store, key)

    def list(self, *, kind: str | None = None, state: str | None = None) -> list[Device]:
        """Devices, oldest intake first."""
        return records.list_devices(self.store, kind=kind, state=state)


def advance_linked(services: Services, key: str, operator: str) -> None:
    """Move along the device a drive is linked to, if any (after the drive's certificate)."""
    device = records.device_of_drive(services.store, key)
    if device is not None:
        DeviceDesk(services, operator).advance(device.tag)
