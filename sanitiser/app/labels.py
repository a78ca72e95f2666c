"""Printing labels, for both shells: what a label for a certificate id, a device tag or a
consignment says (the certificate's own QR token), which printer it goes to, the retry queue in
the store, and the optional auto-print when a certificate is issued.

Every label is queued in the store before it is sent (`sanitiser.store.printjobs`), so a
printer that is offline, out of paper or loaded with the wrong roll costs nothing: the label
waits, and the next ``sanitiser label retry`` (or ``p`` in the TUI, or the next print) sends it.
A label is sent once: one whose data reached the printer unconfirmed is never sent again on its
own, and printing something already printed needs ``--reprint``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sanitiser.app.services import station_signer
from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.qr import DEFAULT_BASE_URL
from sanitiser.certificate.record import DEVICE_SCHEMA
from sanitiser.certificate.sign import parse_envelope
from sanitiser.config import Settings
from sanitiser.errors import SanitiserError
from sanitiser.labels.address import PrinterAddress, PrinterAddressError, parse_address
from sanitiser.labels.content import (
    Label,
    LabelKind,
    accessory_label,
    consignment_label,
    device_label,
    drive_label,
)
from sanitiser.printing.direct import Opener, open_channel
from sanitiser.printing.errors import PrinterError
from sanitiser.printing.send import Timeouts, print_label
from sanitiser.runner import CommandRunner, SubprocessRunner
from sanitiser.store import Store, printjobs
from sanitiser.store import devices as device_records
from sanitiser.store.consignments import get_consignment
from sanitiser.store.printjobs import PrintJobView, PrintState

log = logging.getLogger(__name__)

ACCESSORIES = (LabelKind.CHARGER, LabelKind.BATTERY)


@dataclass(frozen=True, slots=True)
class Printer:
    """A printer chosen for a label: its name in the settings ("" for a bare address)."""

    name: str
    address: PrinterAddress

    @property
    def shown(self) -> str:
        """The name, or the address."""
        return self.name or self.address.text


@dataclass(frozen=True, slots=True)
class PrintOutcome:
    """What happened to one queued label."""

    job: PrintJobView
    printed: bool
    message: str


class LabelDesk:
    """Labels for one operator at one station (needs no drives: only the settings and store)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        operator: str,
        *,
        runner: CommandRunner | None = None,
        opener: Opener = open_channel,
        signer: StationSigner | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.operator = operator
        # not services.runner: the lab bench answers drive tools, never lp
        self.runner = runner or SubprocessRunner()
        self.opener = opener
        self._signer = signer
        printers = self.settings.printers
        self.timeouts = Timeouts(answer=printers.timeout, cups_job=printers.cups_wait)

    # --- which printer -----------------------------------------------------------------------

    def printer(self, wanted: str | None = None) -> Printer:
        """The printer `wanted` names (a name in the settings, or an address), else the
        default.

        Raises:
            PrinterAddressError: no printer named and no default, an unknown name, or a bad
                address (naming the setting it came from).
        """
        printers = self.settings.printers
        choice = wanted or printers.default
        if not choice:
            raise PrinterAddressError(
                "no printer named and no default: give --printer NAME|ADDRESS, or set "
                "[printers] default in the settings",
                title="Printer",
            )
        if choice in printers.named:
            try:
                return Printer(choice, parse_address(printers.named[choice]))
            except PrinterAddressError as e:
                raise PrinterAddressError(f"printer {choice!r} in the settings: {e}") from e
        if "://" not in choice:
            known = ", ".join(printers.named) or "none"
            raise PrinterAddressError(
                f"no printer named {choice!r} (printers in the settings: {known}); give a name "
                "or an address such as zpl://HOST",
                title="Printer",
            )
        return Printer("", parse_address(choice))

    # --- what the label says -----------------------------------------------------------------

    def signer(self) -> StationSigner:
        """The station signer (loaded once): it signs each label's token."""
        if self._signer is None:
            self._signer = station_signer(self.settings)
        return self._signer

    def _base_url(self) -> str:
        return self.settings.verify_base_url or DEFAULT_BASE_URL

    def labels_for(self, subject: str, accessories: Sequence[LabelKind] = ()) -> list[Label]:
        """The labels for a drive certificate id, a device tag (or device certificate id), or
        a consignment id; a device's charger and battery labels when asked.

        Raises:
            SanitiserError: nothing has that name, a device without a certificate yet, or a
                certificate that does not verify (nothing is printed from it).
        """
        subject = subject.strip()
        if not subject:
            raise SanitiserError("name a certificate id, device tag or consignment", title="Label")
        envelope = self.store.certificate_record(subject)
        if envelope is not None:
            if accessories:
                raise SanitiserError("charger and battery labels are for devices", title="Label")
            return [self._drive(subject, envelope)]
        device_cert = device_records.device_certificate(self.store, subject)
        device = device_records.get_device(self.store, subject)
        if device is not None:
            if not device.certificate_id:
                raise SanitiserError(
                    f"device {device.tag} has no certificate yet: issue it first "
                    f"(sanitiser device certificate {device.tag})",
                    title="Label",
                )
            device_cert = device_records.device_certificate(self.store, device.certificate_id)
            subject = device.certificate_id
        if device_cert is not None:
            return self._device(subject, device_cert[0], accessories)
        consignment = get_consignment(self.store, subject)
        if consignment is not None:
            if accessories:
                raise SanitiserError("charger and battery labels are for devices", title="Label")
            closed = consignment.closed_at.isoformat() if consignment.closed_at else ""
            return [
                consignment_label(
                    consignment.id,
                    destination=consignment.destination,
                    items=consignment.items,
                    closed_at=closed,
                    manifest_sha256=consignment.manifest_sha256,
                )
            ]
        raise SanitiserError(f"no certificate, device or consignment {subject!r}", title="Label")

    def _drive(self, certificate_id: str, envelope: bytes) -> Label:
        from sanitiser.certificate.issue import token_for  # noqa: PLC0415 - pyHanko, ~1 s

        signed = parse_envelope(envelope)
        _token, url = token_for(
            signed, self.signer(), self._base_url(), certificate_id=certificate_id
        )
        return drive_label(signed.record, url)

    def _device(
        self, certificate_id: str, envelope: bytes, accessories: Sequence[LabelKind]
    ) -> list[Label]:
        from sanitiser.certificate.device_token import make_device_token  # noqa: PLC0415
        from sanitiser.certificate.issue import signing_trust  # noqa: PLC0415 - pyHanko
        from sanitiser.certificate.qr import token_url  # noqa: PLC0415
        from sanitiser.certificate.verify import require_verified  # noqa: PLC0415

        signer = self.signer()
        verified = require_verified(
            parse_envelope(envelope),
            signing_trust(signer),
            certificate_id=certificate_id,
            schema=DEVICE_SCHEMA,
        )
        url = token_url(make_device_token(verified, signer), self._base_url())
        record = verified.record
        return [
            device_label(record, url),
            *(accessory_label(record, url, kind) for kind in accessories),
        ]

    # --- the queue ---------------------------------------------------------------------------

    def request(
        self,
        subject: str,
        *,
        printer: str | None = None,
        copies: int = 1,
        reprint: bool = False,
        accessories: Sequence[LabelKind] = (),
    ) -> list[PrintJobView]:
        """Queue the labels for `subject` (nothing is sent yet); the rows queued or waiting.

        Raises:
            SanitiserError: a bad printer, subject or copies; a label already printed and not
                a reprint.
        """
        if not 1 <= copies <= 99:
            raise SanitiserError(f"copies must be 1 to 99, not {copies}", title="Label")
        chosen = self.printer(printer)
        jobs = []
        for label in self.labels_for(subject, accessories):
            job, _new = printjobs.enqueue(
                self.store,
                subject=label.subject,
                kind=label.kind.value,
                printer=chosen.address.text,
                printer_name=chosen.name,
                label_json=label.to_json(),
                copies=copies,
                station=self.settings.station,
                requested_by=self.operator,
                reprint=reprint,
            )
            jobs.append(job)
        return jobs

    def run(self, job: PrintJobView) -> PrintOutcome:
        """Send one pending job (taken by this process only) and record how it ended.

        Never raises for a printer fault: the outcome says it, and the job is ``failed`` (sent
        again by the next retry) or ``unconfirmed`` (never sent again on its own).
        """
        claimed = printjobs.claim(self.store, job.id)
        if claimed is None:
            current = printjobs.print_job(self.store, job.id) or job
            return PrintOutcome(current, False, f"not pending ({current.state.value})")
        try:
            message = print_label(
                Label.from_json(claimed.label_json),
                parse_address(claimed.printer),
                claimed.copies,
                self.runner,
                self.timeouts,
                opener=self.opener,
            )
        except PrinterError as e:
            state = PrintState.UNCONFIRMED if e.delivered else PrintState.FAILED
            return PrintOutcome(printjobs.finish(self.store, job.id, state, str(e)), False, str(e))
        except SanitiserError as e:  # the label cannot be made for this printer
            failed = printjobs.finish(self.store, job.id, PrintState.FAILED, str(e))
            return PrintOutcome(failed, False, str(e))
        except Exception as e:
            log.exception("printing label job %s failed", job.id)
            printjobs.finish(self.store, job.id, PrintState.FAILED, f"internal error: {e!r}")
            raise SanitiserError(f"printing failed: {e!r}", title="Label") from e
        return PrintOutcome(printjobs.finish(self.store, job.id, PrintState.PRINTED), True, message)

    def print(
        self,
        subject: str,
        *,
        printer: str | None = None,
        copies: int = 1,
        reprint: bool = False,
        accessories: Sequence[LabelKind] = (),
    ) -> list[PrintOutcome]:
        """Queue the labels for `subject` and send them now; one outcome per label."""
        jobs = self.request(
            subject, printer=printer, copies=copies, reprint=reprint, accessories=accessories
        )
        return [self.run(job) for job in jobs]

    def retry(self, job_id: str | None = None) -> list[PrintOutcome]:
        """Send the waiting labels again (all, or the one `job_id` names), oldest first.

        Raises:
            SanitiserError: `job_id` names no job.
        """
        if job_id is None:
            return [self.run(job) for job in printjobs.pending_jobs(self.store)]
        job = printjobs.print_job(self.store, job_id)
        if job is None:
            raise SanitiserError(f"no print job {job_id}", title="Label")
        return [self.run(job)]

    def queue(self, *, limit: int = 50) -> list[PrintJobView]:
        """The latest print jobs, newest first."""
        return printjobs.print_jobs(self.store, limit=limit)

    def pending(self) -> list[PrintJobView]:
        """The labels waiting for a printer."""
        return printjobs.pending_jobs(self.store)

    # --- auto-print ----------------------------------------------------------------------------

    def auto_print(self, subject: str) -> str | None:
        """When ``[printers] auto_print`` is on: queue and send the label for a certificate
        just issued, on the default printer. Never raises (a job is never failed or held by
        its label): the result for people, or None when auto-print is off."""
        printers = self.settings.printers
        if not printers.auto_print:
            return None
        try:
            outcomes = self.print(subject)
        except SanitiserError as e:
            return f"label for {subject} not printed: {e}"
        except Exception as e:  # the job is done whatever its label does
            log.warning("auto-print of %s failed", subject, exc_info=True)
            return f"label for {subject} not printed: {e!r}"
        return "; ".join(
            f"label for {subject}: {o.message}"
            + ("" if o.printed else f" ({o.job.state.value}: 'sanitiser label retry')")
            for o in outcomes
        )
