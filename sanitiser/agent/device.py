"""What the agent does on the device: survey the host and its drives, and run one order.

The same pieces a local job uses, in the same order (`sanitiser.jobs.pipeline.Pipeline._work`):
the one guard (`claim`, here behind `OwnMedium` so the agent's own boot medium is never
erasable), health and probe, the shipped policy's plan (checked against the plan the technician
confirmed on the bench), the method through `MethodContext`, and `judge_other_writers`. Nothing
here signs: every step is handed to `emit` and the bench concludes.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from sanitiser.agent.protocol import JobEvent, Order, OrderAction
from sanitiser.blockio.progress import ProgressEvent
from sanitiser.devices.guard import (
    BLOCK_DEVICES,
    DriveBackend,
    DriveIdentity,
    Opened,
    StateReader,
    SystemState,
    claim,
    disks_holding,
    read_system_state,
)
from sanitiser.devices.health import read_health
from sanitiser.devices.probing import probe
from sanitiser.domain import UNKNOWN_HEALTH, Drive, Health, Outcome, Protection
from sanitiser.errors import DriveBusyError, SanitiserError
from sanitiser.inventory.model import HostInventory
from sanitiser.jobs.journal import (
    SavedNotes,
    drive_from_json,
    drive_to_json,
    health_to_json,
    notes_from_json,
    notes_to_json,
    outcome_to_json,
)
from sanitiser.jobs.method_run import run_method, unlock_reason
from sanitiser.methods.base import Method, MethodContext
from sanitiser.policy.loader import DEFAULT_POLICY, Policy, load_policy
from sanitiser.policy.plan import Plan
from sanitiser.policy.select import select_method
from sanitiser.probe.capabilities import Capabilities
from sanitiser.runner import CommandRunner

log = logging.getLogger(__name__)

OWN_MEDIUM_REASON: Final = "the medium the agent booted from"

Emit = Callable[[JobEvent, dict[str, Any]], None]
"""``emit(event, facts)``: one step of a job, to the bench (or the stick's evidence)."""


@dataclass(frozen=True, slots=True)
class OwnMedium:
    """A `DriveBackend` that adds one rule to another: the agent's own boot medium (the stick
    it booted from, the disk holding its evidence directory or credentials) is protected. The
    guard's `claim` asks it, so the rule holds for every destructive step, not just the list.

    Args:
        inner: the backend of the drives (block devices, or the lab's files).
        paths: files and directories on the boot medium; a drive that is one of them (a lab
            file standing for a stick), or a disk under the filesystem holding one, is refused.
    """

    inner: DriveBackend
    paths: tuple[str, ...] = ()

    def assess(self, drive: Drive, state: SystemState) -> Protection:
        """The inner rules, and the boot medium's."""
        found = list(self.inner.assess(drive, state).reasons)
        if drive.path in self.paths:
            found.append(OWN_MEDIUM_REASON)
        held = disks_holding(self.paths, state)
        if drive.name in held:
            found.append(f"{OWN_MEDIUM_REASON} (it holds {', '.join(held[drive.name])})")
        reasons = tuple(dict.fromkeys(found))
        return Protection(protected=bool(reasons), reasons=reasons)

    def read_identity(self, drive: Drive) -> DriveIdentity:
        """The inner backend's."""
        return self.inner.read_identity(drive)

    def open(
        self, drive: Drive, confirmed: Drive, identity: DriveIdentity, state: SystemState
    ) -> Opened:
        """The inner backend's."""
        return self.inner.open(drive, confirmed, identity, state)

    def gone(self, drive: Drive) -> str:
        """The inner backend's."""
        return self.inner.gone(drive)

    def nvme_controller(self, drive: Drive) -> str:
        """The inner backend's."""
        return self.inner.nvme_controller(drive)

    def rescan(self, drive: Drive) -> bool:
        """The inner backend's."""
        return self.inner.rescan(drive)

    def native_bytes(self, native_sectors: int) -> int | None:
        """The inner backend's."""
        return self.inner.native_bytes(native_sectors)


def _method_for(technique: str) -> Method:
    from sanitiser.methods.registry import method_for  # noqa: PLC0415 - heavy, erase only

    return method_for(technique)


@dataclass
class DeviceSeams:
    """Everything the agent touches on the device (the real tools by default; tests give the
    lab's files and emulators)."""

    runner: CommandRunner
    list_drives: Callable[[], Sequence[Drive]]
    inventory: Callable[[], HostInventory]
    backend_for: Callable[[Drive], DriveBackend] = lambda _d: BLOCK_DEVICES
    own_medium: tuple[str, ...] = ()
    """Paths on the agent's own boot medium (see `OwnMedium`)."""
    state_reader: StateReader = read_system_state
    health_of: Callable[[Drive, CommandRunner], Health] = read_health
    probe: Callable[[Drive, CommandRunner], Capabilities] = probe
    load_policy: Callable[[str], Policy] = load_policy
    select_method: Callable[..., Plan] = select_method
    method_for: Callable[[str], Method] = _method_for
    default_policy: str = DEFAULT_POLICY
    poll_interval: float = 10.0

    def guarded(self, drive: Drive) -> OwnMedium:
        """The backend the guard asks for `drive`: its own, with the boot-medium rule."""
        return OwnMedium(self.backend_for(drive), self.own_medium)

    def health(self, drive: Drive) -> Health:
        """The drive's health, or unknown when it cannot be read."""
        try:
            return self.health_of(drive, self.runner)
        except SanitiserError as exc:
            log.warning("health of %s unknown: %s", drive.path, exc.msg)
            return UNKNOWN_HEALTH


def shown(plan: Plan) -> str:
    """What a plan is shown as and confirmed by: its technique, or ``DESTROY``."""
    return "DESTROY" if plan.destroy else plan.chosen.technique


def survey(seams: DeviceSeams, policy: str = "") -> list[dict[str, Any]]:
    """Every drive with the guard's verdict, its health and the policy's plan (what the bench
    shows the technician). A protected drive is not probed."""
    state = seams.state_reader()
    loaded = seams.load_policy(policy or seams.default_policy)
    found: list[dict[str, Any]] = []
    for drive in seams.list_drives():
        protection = seams.guarded(drive).assess(drive, state)
        health = seams.health(drive)
        entry: dict[str, Any] = {
            "drive": drive_to_json(drive),
            "protected": list(protection.reasons),
            "health": health_to_json(health),
            "plan": None,
            "shown": "",
            "plan_error": "",
        }
        if not protection.protected:
            try:
                caps = seams.probe(drive, seams.runner)
                plan = seams.select_method(drive, caps, health, loaded)
                entry["plan"] = dataclasses.asdict(plan)
                entry["shown"] = shown(plan)
            except SanitiserError as exc:
                entry["plan_error"] = exc.msg
        found.append(entry)
    return found


class ReportedNotes(SavedNotes):
    """A method's private journal on the device: every change is reported (`JobEvent.NOTES`),
    so the bench keeps it for a resume after the device loses power."""

    def __init__(self, emit: Emit, initial: Mapping[str, Any] | None = None) -> None:
        super().__init__(initial)
        self._emit = emit

    def _save(self) -> None:
        self._emit(JobEvent.NOTES, {"notes": notes_to_json(self._data)})


def _progress(emit: Emit, ev: ProgressEvent) -> None:
    emit(
        JobEvent.PROGRESS,
        {
            "phase": ev.phase,
            "bytes_done": int(ev.bytes_done),
            "total": int(ev.total),
            "mbps_avg": float(ev.mbps_avg),
            "eta_s": None if ev.eta_s is None else float(ev.eta_s),
        },
    )


@dataclass
class Execution:
    """One order running on the device."""

    order: Order
    cancel: threading.Event = field(default_factory=threading.Event)


def execute(seams: DeviceSeams, run: Execution, emit: Emit) -> None:
    """Run one erase (or resume) order to its end, every step handed to `emit`.

    Nothing is written before the guard's claim, and a plan that is not the one the technician
    confirmed ends the order ``refused`` before anything is written.
    """
    order = run.order
    attached = {d.path: d for d in seams.list_drives()}
    drive = attached.get(order.drive_path)
    if drive is None:
        emit(JobEvent.REFUSED, {"reason": f"{order.drive_path} is not attached to this device"})
        return
    try:
        confirmed = replace(drive_from_json(order.drive), path=drive.path)
    except (KeyError, TypeError, ValueError) as exc:
        emit(JobEvent.REFUSED, {"reason": f"the order's drive is unreadable: {exc!r}"})
        return
    try:
        held = claim(drive, confirmed, seams.guarded(drive), state_reader=seams.state_reader)
    except DriveBusyError as exc:
        emit(JobEvent.REFUSED, {"reason": exc.msg})
        return
    with held:
        health = seams.health(held.drive)
        caps = seams.probe(held.drive, seams.runner)
        for note in caps.notes:
            emit(JobEvent.LOG, {"message": f"probe: {note}", "level": "info"})
        if order.action is OrderAction.RESUME:
            method = seams.method_for(order.technique)
            notes = ReportedNotes(emit, notes_from_json(order.notes))
            verification = order.verification or "sampled"
            scheme, passes = "zeros", tuple[str, ...]()
        else:
            try:
                policy = seams.load_policy(order.policy or seams.default_policy)
                plan = seams.select_method(
                    held.drive, caps, health, policy, technique_override=order.technique or None
                )
            except SanitiserError as exc:
                emit(JobEvent.REFUSED, {"reason": exc.msg})
                return
            emit(
                JobEvent.PLANNED,
                {
                    "plan": dataclasses.asdict(plan),
                    "policy_version": plan.policy_version,
                    "health": health_to_json(health),
                },
            )
            now = shown(plan)
            if order.confirmed_method and order.confirmed_method != now:
                emit(
                    JobEvent.REFUSED,
                    {
                        "reason": (
                            f"the plan changed after it was confirmed: {order.confirmed_method} "
                            f"was shown, the policy now chooses {now} (the drive's state "
                            "changed); nothing was erased: look at the drive and confirm again"
                        )
                    },
                )
                return
            if plan.destroy:
                why = plan.chosen.reason or "no acceptable method can run on this drive"
                emit(
                    JobEvent.REFUSED,
                    {"reason": f"sent to destruction by policy: {why}", "record": True},
                )
                return
            method = seams.method_for(plan.chosen.technique)
            blocked = method.unavailable(held.drive, caps)
            if blocked:
                emit(JobEvent.REFUSED, {"reason": blocked, "record": True})
                return
            unlock = unlock_reason(caps)
            if unlock:
                emit(JobEvent.PHASE, {"state": "unlocking", "why": unlock})
            emit(
                JobEvent.PHASE,
                {
                    "state": "sanitising",
                    "why": plan.chosen.reason,
                    "technique": plan.chosen.technique,
                    "nist_category": plan.chosen.nist_category.value,
                    "downgrade": plan.downgrade or None,
                },
            )
            notes = ReportedNotes(emit)
            verification = plan.verification
            scheme, passes = plan.overwrite_scheme, plan.overwrite_passes
        result = _run_method(
            seams,
            run,
            method=method,
            held=held,
            caps=caps,
            notes=notes,
            emit=emit,
            verification=verification,
            scheme=scheme,
            passes=passes,
        )
    if isinstance(result, str):
        emit(JobEvent.FAILED, {"reason": result})
    else:
        emit(JobEvent.OUTCOME, {"outcome": outcome_to_json(result)})


def _run_method(
    seams: DeviceSeams,
    run: Execution,
    *,
    method: Method,
    held: Any,
    caps: Capabilities,
    notes: ReportedNotes,
    emit: Emit,
    verification: str,
    scheme: str,
    passes: tuple[str, ...],
) -> Outcome | str:
    """The method and the other-writers judgement; an Outcome, or why there is none."""
    ctx = MethodContext(
        drive=held.drive,
        claim=held,
        runner=seams.runner,
        capabilities=caps,
        on_progress=lambda ev: _progress(emit, ev),
        on_log=lambda line: emit(JobEvent.LOG, {"message": line, "level": "info"}),
        cancelled=run.cancel.is_set,
        journal=notes,
        poll_interval=seams.poll_interval,
        overwrite_scheme=scheme,
        overwrite_passes=passes,
        verification=verification,
    )
    return run_method(method, ctx)


def own_medium_paths(*paths: Path | None) -> tuple[str, ...]:
    """The absolute paths of the given directories (None skipped), for `OwnMedium`."""
    return tuple(str(p.resolve()) for p in paths if p is not None)
