"""The bench's side of the agent: the computers that booted the agent, their drives, the
technician's go, and the jobs that follow them to a certificate the bench signs.

`AgentBench` is the `ReportSink` of the `AgentReceiver`: a hello makes (or refreshes) a
`RemoteHost` with its inventory and drives; a job report is handed to the job it belongs to.
`RemoteJobs` is the job engine for those drives: the same `Orchestrator` (journal, events,
conclusion: routing, the certificate, custody) whose per-job run (`_work`) sends the order to
the device and follows its reports instead of touching a drive here. The bench alone signs.

A drive on a device is named on the bench ``agent://HOST/dev/NAME`` (HOST: the computer's
identity from its inventory), and nothing on the bench can open it: `RemoteDrives` refuses.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from sanitiser.agent.credentials import AgentSession
from sanitiser.agent.protocol import JobEvent, Order, OrderAction, Report, ReportKind
from sanitiser.app.computers import Attachment, internal_drives
from sanitiser.devices.guard import DriveIdentity, Opened, SystemState
from sanitiser.domain import UNKNOWN_HEALTH, Drive, Health, Protection, Transport
from sanitiser.errors import DriveBusyError, DriveDetectionError, SanitiserError
from sanitiser.inventory.model import HostInventory, identifier, inventory_from_json
from sanitiser.jobs.events import JobPhase, JobProgress
from sanitiser.jobs.journal import (
    drive_from_json,
    drive_to_json,
    health_from_json,
    notes_to_json,
    outcome_from_json,
)
from sanitiser.jobs.model import BACKGROUND_KEYS, HOST_OVERWRITE, RunningJob
from sanitiser.jobs.orchestrator import Orchestrator
from sanitiser.jobs.states import FINAL, JobState
from sanitiser.policy.plan import Plan, plan_from_json

log = logging.getLogger(__name__)

REMOTE_SCHEME: Final = "agent://"
ON_DEVICE: Final = "on-device"
OFF_BENCH: Final = "off-bench"
REMOTE_REASON: Final = "a drive inside a computer on the bench network: only its agent touches it"
_WAKE_S: Final = 1.0
_LATE_LOGGED: Final = frozenset(
    {JobEvent.OUTCOME.value, JobEvent.FAILED.value, JobEvent.REFUSED.value}
)
"""The reports on a given-up job kept in its log (how it ended on the computer)."""
LINK_LOST_AFTER_S: Final = 10.0
"""A computer not heard from (a report, or its poll for orders, every second) for this long is
shown with its link lost."""
CONNECTED: Final = "connected"
LINK_LOST: Final = "link lost"


def link_state(last_seen: float, now: float, lost_after: float = LINK_LOST_AFTER_S) -> str:
    """``connected``, or ``link lost`` when the computer was last heard from `lost_after`
    seconds or more before `now` (monotonic seconds both)."""
    return CONNECTED if now - last_seen < lost_after else LINK_LOST


def remote_path(host: str, path: str) -> str:
    """The bench's name of drive `path` on computer `host`."""
    return f"{REMOTE_SCHEME}{host}{path}"


def is_remote(drive: Drive) -> bool:
    """True for a drive inside a computer served by the agent."""
    return drive.path.startswith(REMOTE_SCHEME)


DRIVES_KEY: Final = "drives-"
"""How a computer known by its own drives is named (see `own_drives_identity`)."""
IDENTITY_TRANSPORTS: Final = frozenset(
    {Transport.SATA, Transport.NVME, Transport.SCSI, Transport.MMC, Transport.VIRTIO}
)
"""The transports of the drives that may name a computer (`app.computers.internal_drives`
decides which are its own; a loop or unknown device names nothing)."""


def host_key(inventory: HostInventory | None, agent: str, drives: Sequence[Drive] = ()) -> str:
    """A computer's identity on the bench: its DMI UUID, else its serial; with no DMI identity,
    its own drives (`own_drives_identity`), which a restart does not change; with none of
    those, the agent's boot id (such a computer is a new one at each boot)."""
    system = inventory.system if inventory is not None else None
    for value in (system.uuid if system else None, system.serial if system else None):
        text = identifier(value)
        if text:
            return hashlib.sha256(text.encode()).hexdigest()[:16]
    own = own_drives_identity(drives)
    if own:
        return DRIVES_KEY + hashlib.sha256(own.encode()).hexdigest()[:16]
    return f"boot-{agent[:12]}"


def own_drives_identity(drives: Sequence[Drive]) -> str:
    """The computer's own drives as one text (model, serial and size of each, in order), or ""
    when it has none that names itself: only internal, fixed drives (not USB, not removable)
    whose serial is not a placeholder count. A job follows its drive; a drive pulled between
    boots makes a new computer. Cheap drives can report one serial between them, so a second
    computer answering with the same drives while the first still answers is never taken for
    it (`AgentBench.record_hello`)."""
    named = sorted(
        f"{d.model.strip()}\x1f{serial}\x1f{d.size_bytes}"
        for d in internal_drives(drives)
        if d.transport in IDENTITY_TRANSPORTS
        and (serial := identifier(d.serial.lower().removeprefix("0x")))
    )
    return "\x1e".join(named)


@dataclass(frozen=True, slots=True)
class RemoteDrives:
    """The guard's backend for a drive inside a computer: the bench opens nothing of it."""

    def assess(self, drive: Drive, state: SystemState) -> Protection:
        """Always protected here (its agent applies the guard on the device)."""
        return Protection(True, (REMOTE_REASON,))

    def read_identity(self, drive: Drive) -> DriveIdentity:
        """Refused: not a drive of this machine."""
        raise DriveDetectionError(f"{drive.path}: {REMOTE_REASON}")

    def open(
        self, drive: Drive, confirmed: Drive, identity: DriveIdentity, state: SystemState
    ) -> Opened:
        """Refused: not a drive of this machine."""
        raise DriveBusyError(f"{drive.path}: {REMOTE_REASON}", reasons=(REMOTE_REASON,))

    def gone(self, drive: Drive) -> str:
        """Unknown here: the agent says (never invented)."""
        return ""

    def nvme_controller(self, drive: Drive) -> str:
        """Not here."""
        return ""

    def rescan(self, drive: Drive) -> bool:
        """Not here."""
        return False

    def native_bytes(self, native_sectors: int) -> int | None:
        """Not here."""
        return None


REMOTE_DRIVES: Final = RemoteDrives()


@dataclass
class RemoteDrive:
    """One drive of a computer, as its agent reported it."""

    drive: Drive
    """As the bench names it (``agent://HOST/dev/...``)."""
    reported: Mapping[str, Any]
    """As the agent reported it (its own path): what an order names."""
    protected: tuple[str, ...]
    health: Health
    shown: str
    """The technique the policy chose on the device (or ``DESTROY``); "" when none."""
    plan_error: str = ""
    plan: Plan | None = None
    """The plan the policy made on the device (what the technician is shown and confirms)."""


@dataclass
class RemoteHost:
    """One computer that booted the agent."""

    host: str
    session: str
    agent: str
    """Its current boot's agent id."""
    inventory: HostInventory | None
    drives: dict[str, RemoteDrive] = field(default_factory=dict)
    captured: str = ON_DEVICE
    last_seen: float = field(default_factory=time.monotonic)
    """When it was last heard from (a report or a poll for orders; monotonic seconds)."""
    attachment: Attachment | None = None
    """Its device record (`sanitiser.app.computers`); None until looked for."""


@dataclass
class Follow:
    """A job the bench sent to a device, and the reports it is waiting for."""

    job_id: str
    host: str
    order: Order
    mailbox: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    given_up: bool = False
    """The job was recorded interrupted while the computer was not answering: a report that
    comes later is kept in the job's log, never acted on."""


class RemoteJobs(Orchestrator):
    """The job engine for drives inside computers (see the module). Set `bench` before use."""

    bench: AgentBench

    def _captured(self, job_id: str) -> str:
        view = self.store.job(job_id)
        return str(view.detail.get("captured") or "") if view is not None else ""

    def _work(self, run: RunningJob) -> None:
        self._move(run, JobState.PROBING)
        if self._check_cancel(run):
            return
        try:
            follow = self.bench.send_order(run)
        except SanitiserError as exc:
            self._end(run, JobState.FAILED, reason=exc.msg, status="refused")
            return
        self._record(run.job_id, captured=self.bench.captured_of(follow.host))
        self._follow(run, follow)

    def _follow(self, run: RunningJob, follow: Follow) -> None:
        """Apply the device's reports to the job until it ends (or is interrupted)."""
        health, version, abort_sent = UNKNOWN_HEALTH, "", False
        while True:
            try:
                facts = follow.mailbox.get(timeout=_WAKE_S)
            except queue.Empty:
                if run.cancel.is_set() and not abort_sent:
                    abort_sent = True
                    self.bench.send_abort(follow)
                elif (
                    abort_sent
                    and self.bench.link_lost(follow.host)
                    and self.bench.give_up(follow)  # False: a report came meanwhile
                ):
                    self._given_up(run)  # nobody will take the abort: end it here
                    return
                continue
            event = facts.get("event")
            if event == "rebooted":
                follow = self._interrupted(run, follow)
                if follow.order.action is not OrderAction.RESUME:
                    return
                continue
            if event == JobEvent.REFUSED:
                reason = str(facts.get("reason") or "refused on the device")
                if facts.get("record") and run.plan is not None:
                    self._fail(run, reason=reason, status="refused")
                else:
                    self._end(run, JobState.FAILED, reason=reason, status="refused")
                return
            if event == JobEvent.PLANNED:
                plan = plan_from_json(facts["plan"])
                health = health_from_json(facts.get("health") or {})
                version = str(facts.get("policy_version") or plan.policy_version)
                run.policy_name = plan.policy_name
                run.plan, run.health = plan, health
                run.loaded_policy = self.deps.load_policy(run.policy)
                run.overwrite_scheme = plan.overwrite_scheme
                run.overwrite_passes = plan.overwrite_passes
                run.verification = plan.verification
                self._record(
                    run.job_id,
                    plan=dict(facts["plan"]),
                    policy_name=plan.policy_name,
                    policy_version=version,
                    health=dict(facts.get("health") or {}),
                )
            elif event == JobEvent.PHASE:
                state = JobState(str(facts["state"]))
                extra: dict[str, Any] = {}
                if state is JobState.SANITISING:
                    run.chosen = str(facts.get("technique") or "")
                    extra = {
                        "technique": run.chosen,
                        "nist_category": str(facts.get("nist_category") or ""),
                        "downgrade": facts.get("downgrade"),
                    }
                self._move(run, state, why=str(facts.get("why") or ""), **extra)
            elif event == JobEvent.PROGRESS:
                self._progress(run, facts)
            elif event == JobEvent.LOG:
                self._log(run, str(facts.get("message", "")), str(facts.get("level") or "info"))
            elif event == JobEvent.NOTES:
                self.store.save_job_journal(run.job_id, dict(facts.get("notes") or {}))
            elif event == JobEvent.OUTCOME:
                if not version:
                    version = self._recorded_version(run.job_id)
                    health = run.health
                self._finish(run, outcome_from_json(facts["outcome"]), health, version)
                return
            elif event == JobEvent.FAILED:
                self._finish(
                    run, str(facts.get("reason") or "failed on the device"), health, version
                )
                return

    def _recorded_version(self, job_id: str) -> str:
        view = self.store.job(job_id)
        return str(view.detail.get("policy_version") or "") if view is not None else ""

    def _progress(self, run: RunningJob, facts: Mapping[str, Any]) -> None:
        phase = str(facts.get("phase") or "")
        if phase.lower().startswith("verif") and run.journal.state is JobState.SANITISING:
            self._move(run, JobState.VERIFYING, why=phase)
        eta = facts.get("eta_s")
        self._publish(
            JobProgress(
                run.job_id,
                run.drive.path,
                phase,
                int(facts.get("bytes_done") or 0),
                int(facts.get("total") or 0),
                float(facts.get("mbps_avg") or 0.0),
                None if eta is None else float(eta),
            )
        )

    def _given_up(self, run: RunningJob) -> None:
        """Cancelled at the bench while the computer is not answering (powered off, cable out):
        recorded ``interrupted`` rather than waiting for a report that may never come. If the
        computer comes back, it is still sent the abort (not the erase), and what it reports
        on this job is kept in the job's log, never acted on (`AgentBench.give_up`)."""
        self._record_interrupted(
            run, "cancelled at the bench while the computer was not answering (the job was {})"
        )

    def _record_interrupted(self, run: RunningJob, what: str) -> JobState:
        """Record ``interrupted`` (nothing certified), `what` saying why (``{}``: the state the
        job was in, which is returned)."""
        state = run.journal.state
        reason = (
            what.format(state) + ": what happened after its last report is not known; not certified"
        )
        self._move(
            run,
            JobState.INTERRUPTED,
            why=reason,
            reason=reason,
            interrupted_from=state.value,
            status="interrupted",
        )
        self._publish(
            JobPhase(run.job_id, run.drive.path, JobState.INTERRUPTED.value, state.value, reason)
        )
        return state

    def _interrupted(self, run: RunningJob, follow: Follow) -> Follow:
        """The device booted again while the job ran: record ``interrupted`` (nothing
        certified), then re-poll a firmware erase the drive goes on with by itself."""
        state = self._record_interrupted(
            run, "the computer restarted while the job was {} (powered off, or its agent stopped)"
        )
        notes = self.store.job_journal(run.job_id)
        background = (
            state in (JobState.SANITISING, JobState.VERIFYING)
            and run.chosen
            and run.chosen != HOST_OVERWRITE
            and any(notes.get(key) for key in BACKGROUND_KEYS)
        )
        if not background:
            return follow
        try:
            resumed = self.bench.send_order(run, resume=(run.chosen, notes))
        except SanitiserError as exc:
            self._log(run, f"not re-polled: {exc.msg}", "warning")
            return follow
        self._move(
            run,
            JobState.SANITISING,
            why=f"resumed after the computer restarted: re-polling {run.chosen} on the drive",
        )
        return resumed


class AgentBench:
    """The computers the agent booted, and their jobs (the receiver's `ReportSink`).

    Args:
        jobs: the job engine for their drives (`make_remote_jobs`).
    """

    def __init__(self, jobs: RemoteJobs) -> None:
        self.jobs = jobs
        jobs.bench = self
        self.hosts: dict[str, RemoteHost] = {}
        self._follows: dict[str, Follow] = {}
        self._pending: dict[tuple[str, str], list[Order]] = {}
        self._imported: dict[str, Follow] = {}
        """Jobs from offline evidence: their reports are already in their mailbox."""
        self._lock = threading.RLock()
        self._watchers: list[Callable[[str], None]] = []
        self.lost_after = LINK_LOST_AFTER_S
        """Seconds without a word from a computer before its link counts as lost (the service
        sets it)."""

    # --- who follows the computers ---

    def watch(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call `callback(host)` whenever a computer says hello or its device record changes
        (on the receiver's or a worker's thread); returns the function that stops it."""
        with self._lock:
            self._watchers.append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._watchers:
                    self._watchers.remove(callback)

        return stop

    def changed(self, host: str) -> None:
        """Tell the watchers that computer `host` changed."""
        with self._lock:
            watchers = list(self._watchers)
        for callback in watchers:
            try:
                callback(host)
            except Exception:  # a watcher's failure must not stop the channel
                log.exception("a watcher of computer %s failed", host)

    def host(self, key: str) -> RemoteHost | None:
        """The computer with that key, if it said hello."""
        with self._lock:
            return self.hosts.get(key)

    def computers(self) -> list[RemoteHost]:
        """Every computer that said hello, in the order they first did."""
        with self._lock:
            return list(self.hosts.values())

    def host_of(self, path: str) -> RemoteHost | None:
        """The computer whose drive the bench names `path`."""
        with self._lock:
            return next((h for h in self.hosts.values() if path in h.drives), None)

    def set_attachment(self, key: str, attachment: Attachment) -> None:
        """Record what became of the computer's device record, and tell the watchers."""
        with self._lock:
            found = self.hosts.get(key)
            if found is None:
                return
            found.attachment = attachment
        self.changed(key)

    def _heard(self, session: str, agent: str) -> None:
        now = time.monotonic()
        with self._lock:
            for found in self.hosts.values():
                if (found.session, found.agent) == (session, agent):
                    found.last_seen = now

    # --- what the technician sees and confirms ---

    def drives(self) -> list[RemoteDrive]:
        """Every drive of every computer seen, host by host."""
        with self._lock:
            return [d for h in self.hosts.values() for d in h.drives.values()]

    def drive(self, path: str) -> RemoteDrive:
        """The drive the bench names `path`.

        Raises:
            SanitiserError: no computer reported it.
        """
        for found in self.drives():
            if found.drive.path == path:
                return found
        raise SanitiserError(f"no computer on the bench network reported {path}")

    def start(
        self,
        paths: Sequence[str],
        *,
        operator: str,
        confirmed: Mapping[str, str],
        policy: str | None = None,
    ) -> list[str]:
        """The technician's go: one job per drive, each with the method they were shown and
        confirmed (``confirmed[path]``); a drive its agent said is protected is refused here.

        Raises:
            SanitiserError: a drive is unknown, protected, has no plan, or was not confirmed.
        """
        drives: list[Drive] = []
        for path in paths:
            found = self.drive(path)
            if found.protected:
                raise SanitiserError(f"{path} is protected: {'; '.join(found.protected)}")
            if not found.shown:
                raise SanitiserError(f"{path} has no plan: {found.plan_error or 'not probed'}")
            if confirmed.get(path) != found.shown:
                raise SanitiserError(
                    f"{path}: the plan is {found.shown}, but {confirmed.get(path)!r} was confirmed"
                )
            drives.append(found.drive)
        return self.jobs.start(drives, operator=operator, policy=policy, confirmed_plans=confirmed)

    # --- orders ---

    def captured_of(self, host: str) -> str:
        """``on-device`` or ``off-bench`` for a computer."""
        with self._lock:
            found = self.hosts.get(host)
            return found.captured if found is not None else ON_DEVICE

    def send_order(
        self, run: RunningJob, *, resume: tuple[str, Mapping[str, Any]] | None = None
    ) -> Follow:
        """Queue the order for the job's drive on its computer; the job follows its reports.

        Raises:
            SanitiserError: the computer or the drive is not (or no longer) reported.
        """
        with self._lock:
            imported = self._imported.pop(run.job_id, None)
            if imported is not None:
                self._follows[run.job_id] = imported
                return imported
            found = self.drive(run.drive.path)
            host = next(h for h in self.hosts.values() if run.drive.path in h.drives)
            technique, notes = resume if resume is not None else ("", {})
            order = Order(
                order_id=uuid.uuid4().hex,
                action=OrderAction.RESUME if resume is not None else OrderAction.ERASE,
                job_id=run.job_id,
                drive_path=str(found.reported["path"]),
                drive=dict(found.reported),
                confirmed_method=run.confirmed_method,
                policy=run.policy,
                technique=technique or (run.technique or ""),
                notes=notes_to_json(notes) if resume is not None else {},
                verification=run.verification if resume is not None else "",
            )
            follow = Follow(run.job_id, host.host, order)
            old = self._follows.get(run.job_id)
            if old is not None:
                follow.mailbox = old.mailbox
            self._follows[run.job_id] = follow
            self._pending.setdefault((host.session, host.agent), []).append(order)
            return follow

    def expect_imported(self, follow: Follow) -> None:
        """A job from offline evidence: its reports are in `follow`'s mailbox already; no order
        is sent (the work was done off-bench)."""
        with self._lock:
            self._imported[follow.job_id] = follow

    def link_lost(self, key: str) -> bool:
        """True when computer `key` has not been heard from for `lost_after` seconds (or is
        not on the bench network at all)."""
        with self._lock:
            host = self.hosts.get(key)
            seen = host.last_seen if host is not None else None
        return seen is None or link_state(seen, time.monotonic(), self.lost_after) == LINK_LOST

    def give_up(self, follow: Follow) -> bool:
        """Stop following a job whose computer does not answer, unless a report on it has
        arrived meanwhile (False: read it first). Its erase order, if not yet taken, is
        withdrawn; its abort stays queued for the computer's return; later reports on it are
        logged against the job (`accepted`)."""
        with self._lock:
            if not follow.mailbox.empty():
                return False
            follow.given_up = True
            for pending in self._pending.values():
                pending[:] = [
                    o for o in pending if o.job_id != follow.job_id or o.action is OrderAction.ABORT
                ]
            return True

    def send_abort(self, follow: Follow) -> None:
        """Ask the device to stop the job (the method decides whether it can)."""
        with self._lock:
            host = self.hosts.get(follow.host)
            if host is None:
                return
            order = replace(follow.order, order_id=uuid.uuid4().hex, action=OrderAction.ABORT)
            self._pending.setdefault((host.session, host.agent), []).append(order)

    # --- the receiver's sink ---

    def check(self, session: AgentSession, report: Report) -> str:
        """Why a report is not something the bench asked for ("" when it is)."""
        if report.kind is not ReportKind.JOB:
            return ""
        order_id = str(report.body.get("order") or "")
        with self._lock:
            follow = self._follows.get(str(report.body.get("job") or ""))
            if follow is None or follow.order.order_id != order_id:
                sent = any(f.order.order_id == order_id for f in self._follows.values())
                if not sent:
                    return (
                        f"unconfirmed: order {order_id or '(none)'} was never sent by this "
                        "bench (no drive was confirmed for it)"
                    )
                return f"stale: order {order_id} is not the job's current order"
            host = self.hosts.get(follow.host)
            if host is None or (host.session, host.agent) != (session.session_id, report.agent):
                return f"forged: order {order_id} was sent to another computer or boot"
            if str(report.body.get("event")) not in {e.value for e in JobEvent}:
                return f"malformed: unknown job event {report.body.get('event')!r}"
        return ""

    def accepted(self, session: AgentSession, report: Report) -> None:
        """Act on an accepted report."""
        self._heard(session.session_id, report.agent)
        if report.kind is ReportKind.HELLO:
            self.record_hello(session.session_id, report.agent, report.body, ON_DEVICE)
        elif report.kind is ReportKind.JOB:
            with self._lock:
                follow = self._follows.get(str(report.body["job"]))
                late = follow is not None and follow.given_up
                if follow is not None and not late:
                    order_id = follow.order.order_id
                    pending = self._pending.get((session.session_id, report.agent), [])
                    pending[:] = [o for o in pending if o.order_id != order_id]
                    follow.mailbox.put(dict(report.body))
            if late and str(report.body.get("event")) in _LATE_LOGGED:
                threading.Thread(  # off the receiver's thread: a store write may wait
                    target=self._late,
                    args=(str(report.body["job"]), dict(report.body)),
                    name="agent-late-report",
                    daemon=True,
                ).start()

    def _late(self, job_id: str, body: Mapping[str, Any]) -> None:
        """How a job recorded interrupted while its computer was not answering ended on the
        computer after all (its outcome, failure or refusal; every report is kept by the
        receiver anyway): in the job's log, not acted on (nothing is certified from it)."""
        event = str(body.get("event") or "")
        outcome = body.get("outcome")
        detail = (str(outcome.get("status", "")) if isinstance(outcome, Mapping) else "") or str(
            body.get("reason") or ""
        )
        try:
            self.jobs.store.append_job_event(
                job_id,
                "log",
                {
                    "level": "warning",
                    "message": f"a late report from the computer after the job was recorded "
                    f"interrupted, not acted on: {event} {detail}".rstrip(),
                },
            )
        except SanitiserError as exc:
            log.warning("job %s: a late %s report not logged: %s", job_id, event, exc.msg)

    def orders_for(self, session: AgentSession, agent: str) -> Sequence[Order]:
        """The orders waiting for `agent` (each sent until the agent reports on it)."""
        self._heard(session.session_id, agent)
        with self._lock:
            return list(self._pending.get((session.session_id, agent), []))

    def record_hello(
        self, session: str, agent: str, body: Mapping[str, Any], captured: str
    ) -> None:
        """A computer said hello (live, or from imported evidence): record it and its drives;
        a job it was running when it booted again is interrupted."""
        host_doc = body.get("host")
        inventory = inventory_from_json(host_doc) if isinstance(host_doc, Mapping) else None
        entries = [(drive_from_json(dict(e["drive"])), e) for e in body.get("drives") or ()]
        key = host_key(inventory, agent, [drive for drive, _ in entries])
        if key.startswith(DRIVES_KEY) and self._answering_as_another(key, agent):
            # Two computers alive at once cannot hold the same drives: a serial shared by
            # cheap drives, not one computer. Neither is taken for the other.
            log.warning("computer %s: its drives name a computer still answering; new row", key)
            key = f"boot-{agent[:12]}"
        host = RemoteHost(key, session, agent, inventory, captured=captured)
        for drive, entry in entries:
            reported = dict(entry["drive"])
            named = replace(drive, path=remote_path(key, drive.path))
            host.drives[named.path] = RemoteDrive(
                drive=named,
                reported=reported,
                protected=tuple(str(r) for r in entry.get("protected") or ()),
                health=health_from_json(entry.get("health") or {}),
                shown=str(entry.get("shown") or ""),
                plan_error=str(entry.get("plan_error") or ""),
                plan=_plan(entry.get("plan")),
            )
        with self._lock:
            before = self.hosts.get(key)
            if before is not None:
                host.attachment = before.attachment
            self.hosts[key] = host
            if before is not None and before.agent != agent:
                for follow in self._follows.values():
                    if follow.host == key and not self._ended(follow.job_id):
                        self._pending.pop((before.session, before.agent), None)
                        follow.mailbox.put({"event": "rebooted"})
        self.changed(key)

    def _answering_as_another(self, key: str, agent: str) -> bool:
        """True when computer `key` is on the bench now as another boot (`agent` differs) that
        is still answering: a restart stops the old boot's polls first."""
        with self._lock:
            before = self.hosts.get(key)
            other = before is not None and before.agent != agent
        return other and not self.link_lost(key)

    def _ended(self, job_id: str) -> bool:
        view = self.jobs.store.job(job_id)
        return view is None or JobState(view.state) in FINAL or view.state == "interrupted"

    def drive_json(self, path: str) -> dict[str, Any]:
        """The bench's drive value as JSON (for the CLI)."""
        return drive_to_json(self.drive(path).drive)


def _plan(doc: object) -> Plan | None:
    """The plan in a hello's drive entry (None when there is none, or it is unreadable: the
    drive is then shown unplanned and cannot be started)."""
    if not isinstance(doc, Mapping):
        return None
    try:
        return plan_from_json(doc)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("a plan in a hello is unreadable: %r", exc)
        return None
