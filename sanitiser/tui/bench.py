"""What the TUI asks of the core, in one place (no Textual here): plans, jobs, records, routing.

Every method may block (probe commands, database, signing): the TUI calls them from thread
workers only. The logic stays in the core (`sanitiser.jobs`, `sanitiser.policy`,
`sanitiser.certificate`, `sanitiser.store`); this is the seam the TUI tests replace.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sanitiser.app.devices import DEVICE_CERTIFICATES, DeviceDesk, IssuedDevice, file_issued
from sanitiser.app.jobs import plan_for, shown_method
from sanitiser.app.labels import LabelDesk
from sanitiser.app.routes import RouteInfo, override_route, route_of
from sanitiser.app.services import Services
from sanitiser.certificate.keys import StationSigner
from sanitiser.domain import Drive, Health
from sanitiser.errors import SanitiserError
from sanitiser.jobs.events import JobEvent
from sanitiser.jobs.model import AbortReply
from sanitiser.jobs.orchestrator import Orchestrator
from sanitiser.policy.plan import Plan
from sanitiser.probe.capabilities import Capabilities
from sanitiser.store import JobEventView, JobView, drive_key
from sanitiser.tui.model import REMOTE_SCHEME, duration, qr_lines, search_jobs

if TYPE_CHECKING:
    from sanitiser.agent.service import AgentService, ComputerView
    from sanitiser.agent.serving import AgentServing
    from sanitiser.routing.destinations import DestinationView

log = logging.getLogger(__name__)


def is_remote(drive: Drive) -> bool:
    """A drive inside a computer running the agent (only its agent touches it)."""
    return drive.path.startswith(REMOTE_SCHEME)


def shown_methods(plans: Sequence[DrivePlan]) -> dict[str, str]:
    """What each confirmed plan showed, by drive path (plans that could not be made show none)."""
    return {p.drive.path: p.method for p in plans if p.plan is not None}


@dataclass(frozen=True, slots=True)
class DrivePlan:
    """What will happen to one drive if the technician confirms (or why it cannot be planned)."""

    drive: Drive
    plan: Plan | None = None
    error: str = ""

    @property
    def method(self) -> str:
        """The technique, ``DESTROY`` or ``?`` when it could not be planned."""
        return "?" if self.plan is None else shown_method(self.plan)

    @property
    def category(self) -> str:
        """The NIST category of the chosen method."""
        return "" if self.plan is None else self.plan.chosen.nist_category.value

    @property
    def estimate(self) -> str:
        """Estimated time (``H:MM:SS``), "" when unknown."""
        if self.plan is None or self.plan.estimated_seconds is None:
            return ""
        return duration(self.plan.estimated_seconds)

    @property
    def remark(self) -> str:
        """The downgrade, the destruction reason or the planning error ("" when none)."""
        if self.plan is None:
            return self.error
        if self.plan.destroy:
            return self.plan.chosen.reason or "no acceptable method: to destruction"
        return self.plan.downgrade


@dataclass(frozen=True, slots=True)
class CertificatePreview:
    """A certificate as the technician sees it before printing: facts and the QR code."""

    certificate_id: str
    record: dict[str, Any]
    url: str
    qr: tuple[str, ...]


@dataclass
class Bench:
    """The TUI's view of the core. Thread-safe for the calls the TUI makes from its workers.

    Drives inside computers running the agent (``agent://`` names) are planned, started and
    aborted through `agent` (their plan is the one the policy made on the device; their jobs
    run on `AgentService.jobs`); everything else through `orchestrator`.

    Args:
        services: the shared services (store, settings, drive source).
        orchestrator: the job orchestrator the TUI drives (`make_orchestrator(services)`).
        policy: the policy to plan with (None: the orchestrator's default).
        agent: the agent service whose computers join the bench (None: no computers).
        serving: the network boot serving those computers (`tui --serve-agents IF`), which
            the technician can stop and start again (`toggle_network_boot`).
    """

    services: Services
    orchestrator: Orchestrator
    policy: str | None = None
    agent: AgentService | None = None
    serving: AgentServing | None = None
    _signer: StationSigner | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def station(self) -> str:
        """This bench's station name."""
        return self.services.settings.station

    def desk(self, operator: str) -> DeviceDesk:
        """The device desk (`sanitiser.app.devices`) for `operator` at this station: intake,
        links, grades and readiness go through it, as the CLI's ``sanitiser device`` does."""
        return DeviceDesk(self.services, operator)

    def labels(self, operator: str) -> LabelDesk:
        """The label desk (`sanitiser.app.labels`) for `operator`: printing, the queue, retries,
        as the CLI's ``sanitiser label`` does (with this bench's signer)."""
        return LabelDesk(
            self.services.settings, self.services.store, operator, signer=self.signer()
        )

    def drive_certificate(self, drive: Drive) -> str | None:
        """The certificate id of the newest job for this drive, if it has one."""
        from sanitiser.jobs.detail import detail_of

        view = self.latest_job(drive)
        return detail_of(view).certificate_id if view is not None else None

    def certify_device(self, operator: str, tag: str) -> tuple[IssuedDevice, list[Path]]:
        """Issue the device's signed certificate (`DeviceDesk.certify`, with this station's
        signer) and file its PDF, signed record and 62 x 29 mm label under
        ``<data_dir>/device-certificates`` (`file_issued`); the certificate and the paths.

        Raises:
            DeviceError: an unknown tag, or a linked drive without a certificate yet.
            CertificateError: a drive's certificate does not verify (nothing is issued).
            SanitiserError: issued, but the files could not be written.
        """
        issued = self.desk(operator).certify(tag, self.signer())
        directory = self.services.settings.data_dir / DEVICE_CERTIFICATES
        try:
            return issued, file_issued(issued, directory)
        except OSError as e:
            raise SanitiserError(
                f"device certificate {issued.certificate_id} is issued and kept in the store, "
                f"but its files could not be written to {directory}: {e.strerror or e}",
                title="Device certificate",
            ) from e

    # --- before a job -----------------------------------------------------------------------

    def health(self, drive: Drive) -> Health:
        """The drive's SMART summary (through the same seam as the jobs)."""
        deps = self.orchestrator.deps
        return deps.health_of(drive, deps.runner_for(drive))

    def capabilities(self, drive: Drive) -> Capabilities:
        """What the drive can do (read-only identify commands).

        Raises:
            SanitiserError: a drive inside a computer (its agent probed it there).
        """
        if is_remote(drive):
            raise SanitiserError("probed on the computer by its agent; its plan is shown")
        deps = self.orchestrator.deps
        return deps.probe(drive, deps.runner_for(drive))

    def plan(self, drive: Drive) -> DrivePlan:
        """The policy's plan for `drive`, exactly as a job would make it now (for a drive
        inside a computer: the plan its agent made there, which the device checks again)."""
        if is_remote(drive):
            return self._remote_plan(drive)
        try:
            return DrivePlan(drive, plan_for(self.orchestrator, drive, policy=self.policy))
        except SanitiserError as e:
            return DrivePlan(drive, error=e.msg)

    def _remote_plan(self, drive: Drive) -> DrivePlan:
        if self.agent is None:
            return DrivePlan(drive, error="no agent service on this bench")
        try:
            found = self.agent.bench.drive(drive.path)
        except SanitiserError as e:
            return DrivePlan(drive, error=e.msg)
        if found.plan is None:
            return DrivePlan(drive, error=found.plan_error or "its agent made no plan for it")
        return DrivePlan(drive, found.plan)

    # --- computers running the agent ------------------------------------------------------

    def computers(self) -> list[ComputerView]:
        """The computers on the bench network, as shown now (none without an agent service)."""
        return self.agent.computers() if self.agent is not None else []

    def watch_computers(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(key)` when a computer says hello or its device record changes."""
        if self.agent is None:
            return lambda: None
        return self.agent.bench.watch(callback)

    def computer_of(self, drive: Drive) -> str:
        """The key of the computer holding `drive` ("" for a drive of this bench)."""
        if self.agent is None or not is_remote(drive):
            return ""
        found = self.agent.bench.host_of(drive.path)
        return found.host if found is not None else ""

    def toggle_network_boot(self) -> str:
        """Stop the network boot if it runs, else start it again; what it is now.

        Raises:
            SanitiserError: no network boot on this bench; starting failed (the reason).
        """
        if self.serving is None:
            raise SanitiserError(
                "this bench serves no network boot (open it with 'sanitiser tui --serve-agents IF')"
            )
        where = self.serving.interface or self.serving.advertise
        if self.serving.booting:
            self.serving.pause()
            return f"Network boot stopped on {where}; booted computers go on reporting."
        self.serving.resume()
        return f"Network boot started on {where}."

    def attach_computer(self, key: str, tag: str, operator: str) -> list[str]:
        """Attach computer `key` to device `tag` (its scanned tag): its facts recorded and its
        internal drives linked (`AgentService.attach`); what was done, a line each.

        Raises:
            DeviceError: refused (the reason); nothing linked.
            SanitiserError: no agent service, or no such computer.
        """
        if self.agent is None:
            raise SanitiserError("no agent service on this bench")
        attachment = self.agent.attach(key, tag, operator=operator)
        return [attachment.message, *attachment.lines]

    def set_operator(self, operator: str) -> None:
        """Who is operating now (custody entries of computers attached at hello name them)."""
        if self.agent is not None and operator:
            self.agent.operator = operator

    # --- jobs -------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[JobEvent], None]) -> Callable[[], None]:
        """Follow every job's events: this bench's and its computers'."""
        stops = [self.orchestrator.subscribe(callback)]
        if self.agent is not None:
            stops.append(self.agent.jobs.subscribe(callback))

        def stop() -> None:
            for each in stops:
                each()

        return stop

    def start(
        self, drives: Sequence[Drive], operator: str, confirmed: Sequence[DrivePlan] = ()
    ) -> list[str]:
        """Start one job per drive (the technician has confirmed `confirmed`, the plans shown);
        returns the job ids, in the order of `drives`. A job whose plan differs from the one
        shown is refused (for a drive inside a computer: by the bench and again on it)."""
        shown = shown_methods(confirmed)
        local = [d for d in drives if not is_remote(d)]
        remote = [d for d in drives if is_remote(d)]
        ids: dict[str, str] = {}
        if remote:
            if self.agent is None:
                raise SanitiserError("no agent service on this bench")
            paths = [d.path for d in remote]
            started = self.agent.bench.start(
                paths,
                operator=operator,
                confirmed={p: shown.get(p, "") for p in paths},
                policy=self.policy,
            )
            ids.update(zip(paths, started, strict=True))
        if local:
            started = self.orchestrator.start(
                local, operator=operator, policy=self.policy, confirmed_plans=shown
            )
            ids.update(zip((d.path for d in local), started, strict=True))
        return [ids[d.path] for d in drives]

    def abort(self, job_id: str) -> AbortReply:
        """Abort a job, here or on a computer (the method decides whether it can stop)."""
        if self.agent is not None and job_id in self.agent.jobs.running():
            return self.agent.jobs.abort(job_id)
        return self.orchestrator.abort(job_id)

    def abort_all(self) -> None:
        """`abort` every running job, here and on computers."""
        self.orchestrator.abort_all()
        if self.agent is not None:
            self.agent.jobs.abort_all()

    def running(self) -> list[str]:
        """The ids of the jobs running now, here and on computers."""
        found = self.orchestrator.running()
        if self.agent is not None:
            found += self.agent.jobs.running()
        return found

    def latest_job(self, drive: Drive) -> JobView | None:
        """The newest job recorded for this drive (by identity), or None."""
        key = drive_key(drive)
        return next((v for v in self.orchestrator.jobs() if v.drive_key == key), None)

    def job(self, job_id: str) -> JobView | None:
        """One job as recorded."""
        return self.services.store.job(job_id)

    def job_log(self, job_id: str) -> list[JobEventView]:
        """A job's journal, oldest first."""
        return self.services.store.job_events(job_id)

    def search(self, query: str) -> list[JobView]:
        """Past jobs matching `query` (serial, certificate id, date, operator...), newest first."""
        return search_jobs(self.orchestrator.jobs(), query)

    # --- after a job ------------------------------------------------------------------------

    def signer(self) -> StationSigner:
        """The station signer (loaded once)."""
        with self._lock:
            if self._signer is None:
                self._signer = self.orchestrator.deps.signer()
            return self._signer

    def certificate_preview(self, certificate_id: str) -> CertificatePreview | None:
        """The signed record of a certificate and a fresh QR token for it (None when unknown)."""
        from sanitiser.certificate.issue import token_for
        from sanitiser.certificate.qr import DEFAULT_BASE_URL, qr_matrix
        from sanitiser.certificate.sign import parse_envelope

        raw = self.services.store.certificate_record(certificate_id)
        if raw is None:
            return None
        signed = parse_envelope(raw)
        base = self.services.settings.verify_base_url
        _token, url = token_for(
            signed, self.signer(), base or DEFAULT_BASE_URL, certificate_id=certificate_id
        )
        return CertificatePreview(
            certificate_id, dict(signed.record), url, tuple(qr_lines(qr_matrix(url)))
        )

    def route_of(self, job_id: str) -> RouteInfo:
        """The job's destination: the routing decision, or the technician's override."""
        return route_of(self.services.store, job_id)

    def override_route(
        self, job_id: str, destination: str, reason: str, *, operator: str
    ) -> RouteInfo:
        """Record the technician's destination for a job's drive (`app.routes.override_route`).

        Raises:
            SanitiserError: unknown job or destination, or no reason given.
        """
        return override_route(
            self.services.store, self.station, job_id, destination, reason, operator=operator
        )

    def export_label(self, certificate_id: str, fmt: str = "62mm", suffix: str = ".pdf") -> Path:
        """Write a QR label for a certificate under ``<data_dir>/labels``; returns its path.

        Raises:
            SanitiserError: unknown certificate, or the label cannot be rendered.
        """
        from sanitiser.certificate.label import (
            label_format,
            labels_pdf,
            labels_png,
        )

        preview = self.certificate_preview(certificate_id)
        if preview is None:
            raise SanitiserError(f"no certificate {certificate_id}", title="Label")
        out_dir = self.services.settings.data_dir / "labels"
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{certificate_id}{suffix}"
        items = [(preview.record, preview.url)]
        if suffix == ".png":
            target.write_bytes(labels_png(items, label_format(fmt))[0])
        else:
            target.write_bytes(labels_pdf(items, label_format(fmt)))
        return target

    def open_consignments(self) -> list[Any]:
        """The open consignments (`ConsignmentView`), newest first."""
        from sanitiser.store.consignments import list_consignments

        return [c for c in list_consignments(self.services.store) if c.is_open]

    # --- the destinations registry -----------------------------------------------------------

    def destinations(self, *, include_removed: bool = False) -> list[DestinationView]:
        """The registered destinations by name: active ones, and removed ones when asked."""
        from sanitiser.store.destinations import list_destinations

        return list_destinations(self.services.store, include_removed=include_removed)

    def add_destination(
        self,
        name: str,
        *,
        kind: str,
        contact: str,
        accepts: Sequence[str],
        scheme: str = "",
        notes: str = "",
        operator: str,
    ) -> DestinationView:
        """Register a destination at this station, the operator recorded in the audit log.

        Raises:
            DestinationError: a bad name, kind, contact or device kind, or the name is taken.
        """
        from sanitiser.store.destinations import add_destination

        return add_destination(
            self.services.store,
            name,
            kind=kind,
            contact=contact,
            accepts=accepts,
            station=self.station,
            scheme=scheme,
            notes=notes,
            actor=operator,
        )

    def remove_destination(self, name: str, *, operator: str) -> DestinationView:
        """Retire a destination (past consignments keep naming it), audited with the operator.

        Raises:
            DestinationError: no such active destination, or it has an open consignment.
        """
        from sanitiser.store.destinations import remove_destination

        return remove_destination(self.services.store, name, station=self.station, actor=operator)

    def add_to_consignment(self, certificate_id: str, target: str, *, operator: str) -> str:
        """Add a certificate's drive to a consignment; returns the consignment id.

        Args:
            certificate_id: the drive's certificate.
            target: an open consignment id, or a destination name (a consignment is opened).
            operator: who does it.

        Raises:
            SanitiserError: the consignment or destination refuses the drive (with the reason).
        """
        from sanitiser.store.consignments import (
            add_certificates,
            cancel_consignment,
            get_consignment,
            open_consignment,
        )

        store = self.services.store
        consignment = get_consignment(store, target)
        opened = consignment is None
        if consignment is None:
            consignment = open_consignment(store, target, station=self.station, operator=operator)
        try:
            add_certificates(
                store, consignment.id, [certificate_id], station=self.station, operator=operator
            )
        except SanitiserError:
            if opened:  # opened for this one only: an empty consignment would block its destination
                try:
                    cancel_consignment(
                        store,
                        consignment.id,
                        reason=f"opened for {certificate_id}, which it refused",
                        operator=operator,
                        station=self.station,
                    )
                except SanitiserError as not_cancelled:  # the refusal is what the technician needs
                    log.warning("consignment %s left open: %s", consignment.id, not_cancelled.msg)
            raise
        return consignment.id
