"""The job orchestrator over file-backed drives and lab emulators: real guard, real policy and
methods, real store and certificates; fakes only where a crash or a fault must be staged."""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from sanitiser.certificate import keys as keymod
from sanitiser.certificate.keys import StationSigner
from sanitiser.certificate.samples import make_pki
from sanitiser.certificate.sign import check_signature, parse_envelope
from sanitiser.custody.events import drive_seen, record_sanitised
from sanitiser.devices.guard import LabFiles
from sanitiser.devices.guard import claim as guard_claim
from sanitiser.devices.probing import probe
from sanitiser.domain import (
    UNKNOWN_HEALTH,
    Drive,
    Health,
    HealthGrade,
    Outcome,
    Protection,
    Transport,
)
from sanitiser.emulators.nvme import NvmeDriveEmulator
from sanitiser.errors import ConfigError, SanitiserError
from sanitiser.jobs import conclusion as conclusion_module
from sanitiser.jobs.events import JobEvent, JobLog, JobOutcome, JobPhase, JobProgress
from sanitiser.jobs.journal import MethodNotes, ProcessOwner, drive_to_json, outcome_from_json
from sanitiser.jobs.orchestrator import JobDependencies, Orchestrator
from sanitiser.lab.bench import LabBench, LabKind, lab_health
from sanitiser.lab.runner import LabRunner, emulator_for, lab_runner, reset_lab_emulators
from sanitiser.methods.base import Method, MethodContext
from sanitiser.methods.registry import method_for
from sanitiser.policy.loader import Policy, load_policy
from sanitiser.policy.plan import plan_from_json
from sanitiser.policy.select import select_method
from sanitiser.probe.capabilities import Capabilities
from sanitiser.routing.age import device_age
from sanitiser.routing.rules import RoutingDecision, route
from sanitiser.runner import CommandResult, CommandRunner
from sanitiser.store import JobView, Store, drive_key
from sanitiser.store.audit import entries, verify_chain
from sanitiser.store.tables import CertificateRow
from sanitiser.testing import FakeRunner

MiB = 1 << 20
STATION = "bench-test"
JUNK = bytes(range(1, 256)) * (MiB // 255 + 1)


def file_drive(directory: Path, serial: str, size: int = 2 * MiB) -> Drive:
    """A simulated drive: a file ``<serial>.img`` full of non-zero bytes (the guard's lab rule)."""
    path = directory / f"{serial}.img"
    with path.open("wb") as f:
        for _ in range(size // MiB):
            f.write(JUNK[:MiB])
    return Drive(
        path=str(path),
        name=serial.lower(),
        model="TEST FILE DRIVE",
        serial=serial,
        size_bytes=size,
        transport=Transport.LOOP,
        simulated=True,
    )


def no_health(drive: Drive, runner: CommandRunner) -> Health:
    """File drives have no SMART."""
    return UNKNOWN_HEALTH


@dataclass
class Rig:
    """An orchestrator over a fresh store, with everything it published."""

    tmp: Path
    store: Store
    signer: StationSigner
    events: list[JobEvent] = field(default_factory=list)
    orchestrators: list[Orchestrator] = field(default_factory=list)
    methods: dict[str, Callable[[Method], Method]] = field(default_factory=dict)
    """Wrap the real method of a technique (stage a fault, a gate, a barrier)."""
    runner: CommandRunner = field(default_factory=FakeRunner)
    lab: LabBench | None = None
    health_of: Callable[[Drive, CommandRunner], Health] = no_health
    load_policy: Callable[[str], Any] = load_policy

    def deps(self) -> JobDependencies:
        """Real guard, probe, policy, methods and signer; the runner is the rig's."""

        def method(technique: str) -> Method:
            real = method_for(technique)
            wrap = self.methods.get(technique)
            return wrap(real) if wrap else real

        return JobDependencies(
            claim=guard_claim,
            runner_for=lambda d: self.runner,
            health_of=self.health_of,
            probe=probe,
            load_policy=self.load_policy,
            select_method=select_method,
            method_for=method,
            signer=lambda: self.signer,
            backend_for=lambda d: LabFiles(Path(d.path).parent),
        )

    def orchestrator(self) -> Orchestrator:
        """A new orchestrator over the same store (a new process, as far as jobs can tell)."""
        orch = Orchestrator(
            self.store, self.deps(), station=STATION, organisation="Test Org", poll_interval=0.01
        )
        orch.subscribe(self.events.append)
        self.orchestrators.append(orch)
        return orch

    def job(self, job_id: str) -> JobView:
        """The job's view; it must exist."""
        view = self.store.job(job_id)
        assert view is not None, f"no job {job_id}"
        return view

    def of(self, job_id: str, kind: type[Any]) -> list[Any]:
        """The events of one kind for one job, in order."""
        return [e for e in list(self.events) if isinstance(e, kind) and e.job_id == job_id]

    def certificates(self, job_id: str) -> list[CertificateRow]:
        """Every certificate row kept for a job."""
        with Session(self.store.engine) as s:
            return list(s.exec(select(CertificateRow).where(CertificateRow.job_id == job_id)))

    def kill_owner(self, job_id: str) -> None:
        """Make the job's recorded process a dead one (what a crash leaves behind)."""
        me = ProcessOwner.current()
        dead = ProcessOwner(me.host, me.boot_id, me.pid, "0")
        self.store.update_job_detail(job_id, owner=dead.to_json())


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """A rig over a store in tmp_path; every orchestrator is waited for and closed after."""
    signer = make_pki(tmp_path / "pki", station=STATION).signer
    r = Rig(tmp_path, Store(f"sqlite:///{tmp_path / 'jobs.db'}"), signer)
    try:
        yield r
    finally:
        for orch in r.orchestrators:
            orch.abort_all()
            orch.wait(timeout=60)
            orch.close()
        reset_lab_emulators()


def states_of(rig: Rig, job_id: str) -> list[str]:
    """The states a job went through, from its journal in the store."""
    return [e.state for e in rig.store.job_events(job_id) if e.kind == "transition"]


def signed_record(rig: Rig, cert_id: str) -> dict[str, Any]:
    """The stored certificate's record, its signature checked."""
    raw = rig.store.certificate_record(cert_id)
    assert raw is not None
    signed = parse_envelope(raw)
    check_signature(signed)
    return dict(signed.record)


def trail(rig: Rig, drive: Drive) -> list[str]:
    """The custody events of a drive on the station's chain, oldest first."""
    return [e.kind for e in entries(rig.store, station=STATION, subject=drive_key(drive))]


def decision_of(view: JobView, drive: Drive, health: Health, policy: Policy) -> RoutingDecision:
    """Routing recomputed from what the job recorded (its outcome and plan)."""
    outcome = outcome_from_json(view.detail["outcome"])
    age = device_age(health, on=view.created_at.date())
    return route(outcome, plan_from_json(view.detail["plan"]), health, drive, policy, age=age)


def lab_reuse_policy(directory: Path) -> Path:
    """The shipped default policy, but a lab-sized drive (MiB) may go to reuse."""
    text = files("sanitiser.policy.builtin").joinpath("nist-800-88.toml").read_text("utf-8")
    assert 'min_capacity = "120 GB"' in text
    text = text.replace('name = "nist-800-88"', 'name = "lab-reuse"')
    text = text.replace('min_capacity = "120 GB"', 'min_capacity = "1 MiB"')
    path = directory / "lab-reuse.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_many_drives_at_once_each_get_their_own_outcome_and_certificate(rig: Rig) -> None:
    """Four drives wiped together: each routed with its own certificate, bytes zeroed, journal
    complete, operator and station recorded; each routed by the policy (cleared only: recycle),
    the certificate naming that destination; the custody chain verifies and each drive's trail
    reads (received, if the bench scanned it) sanitised, routed."""
    drives = [file_drive(rig.tmp, f"SER-{i}") for i in range(4)]
    scanned = drives[:2]
    for d in scanned:
        drive_seen(rig.store, d, UNKNOWN_HEALTH, Protection(False), station=STATION)
    orch = rig.orchestrator()
    ids = orch.start(drives, operator="alice")
    assert orch.wait(ids, timeout=120)
    cert_ids = set()
    for job_id, drive in zip(ids, drives, strict=True):
        view = rig.store.job(job_id)
        assert view is not None
        assert view.state == "routed", view.detail.get("reason")
        assert (view.operator, view.station) == ("alice", STATION)
        assert states_of(rig, job_id) == [
            "queued",
            "probing",
            "sanitising",
            "verifying",
            "certifying",
            "routed",
        ]
        [outcome] = rig.of(job_id, JobOutcome)
        assert outcome.status == "sanitised"
        assert (outcome.method, outcome.nist_category, outcome.verified) == (
            "host-overwrite",
            "clear",
            True,
        )
        [row] = rig.certificates(job_id)
        assert row.id == outcome.certificate_id == view.detail["certificate_id"]
        signed = parse_envelope(row.record_json)
        check_signature(signed)
        assert signed.record["device"]["serial"] == drive.serial
        assert signed.record["operator"]["name"] == "alice"
        assert signed.record["simulated"] is True
        decision = decision_of(view, drive, UNKNOWN_HEALTH, load_policy("nist-800-88"))
        assert (decision.destination_kind.value, decision.rule_id) == ("recycle", "cleared-only")
        assert signed.record["destination"] == dataclasses.asdict(decision.destination())
        assert (outcome.destination, outcome.routing_reason) == ("recycle", decision.reason)
        assert outcome.destruction_level == ""
        assert view.detail["routing_rule"] == "cleared-only"
        routed_why = rig.store.job_events(job_id)[-1].data
        assert "recycle by rule cleared-only" in str(routed_why), routed_why
        cert_ids.add(row.id)
        assert Path(drive.path).read_bytes() == bytes(drive.size_bytes)
        expected = ["received"] if drive in scanned else []
        assert trail(rig, drive) == [*expected, "sanitised", "routed"]
        [routed] = entries(rig.store, subject=drive_key(drive), kind="routed")
        assert routed.ref == row.id
        assert routed.actor == "alice"
        assert routed.data == {
            "job_id": job_id,
            "destination_kind": "recycle",
            "rule_id": "cleared-only",
            "destruction_level": "",
            "certificate_route": "recycling",
            "policy": "nist-800-88 v1",
        }
    assert len(cert_ids) == 4
    assert verify_chain(rig.store).ok


def test_twenty_four_jobs_run_simultaneously_with_events_flowing(rig: Rig) -> None:
    """24 jobs are inside their method at the same moment (a 24-party barrier), every one
    ends routed, and the event stream kept delivering while they ran."""
    barrier = threading.Barrier(24)
    running: list[int] = []
    lock = threading.Lock()

    class AllAtOnce:
        def __init__(self, real: Method) -> None:
            self.real = real
            self.technique = real.technique
            self.nist_category = real.nist_category

        def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
            return self.real.unavailable(drive, caps)

        def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
            return self.real.estimate_seconds(drive, caps)

        def run(self, ctx: MethodContext) -> Outcome:
            with lock:
                running.append(1)
            barrier.wait(timeout=120)  # BrokenBarrierError unless 24 run at once
            return self.real.run(ctx)

    rig.methods["host-overwrite"] = AllAtOnce
    delivered: list[float] = []
    drives = [file_drive(rig.tmp, f"B{i:02d}", size=1 * MiB) for i in range(24)]
    orch = rig.orchestrator()
    orch.subscribe(lambda e: delivered.append(time.monotonic()))
    ids = orch.start(drives, operator="bob")
    assert orch.wait(ids, timeout=300)
    assert len(running) == 24
    outcomes = [e for e in rig.events if isinstance(e, JobOutcome)]
    assert sorted(o.job_id or "" for o in outcomes) == sorted(ids)
    assert all(o.status == "sanitised" for o in outcomes), [o.reason for o in outcomes]
    assert len({o.certificate_id for o in outcomes}) == 24
    first_outcome = min(i for i, e in enumerate(rig.events) if isinstance(e, JobOutcome))
    phases_before = [e for e in rig.events[:first_outcome] if isinstance(e, JobPhase)]
    assert len({e.job_id for e in phases_before if e.state == "sanitising"}) == 24
    gaps = [b - a for a, b in itertools.pairwise(delivered)]
    assert max(gaps) < 10, "the event stream stalled"


def test_certificate_is_issued_exactly_once_even_across_a_crash(rig: Rig) -> None:
    """A crash after the certificate was kept but before 'routed': recovery routes the job with
    that same certificate and issues no second one."""
    drive = file_drive(rig.tmp, "ONCE-1")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="carol")
    assert orch.wait([job_id], timeout=120)
    [cert] = rig.certificates(job_id)
    # Stage the crash: the job record back in 'certifying', its process dead.
    rig.store.transition_job(job_id, {"routed"}, "certifying")
    rig.kill_owner(job_id)
    later = rig.orchestrator()
    report = later.recover()
    assert report.interrupted == (job_id,)
    assert report.certified == (job_id,)
    assert later.wait(timeout=60)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "routed"
    assert view.detail["certificate_id"] == cert.id
    assert [c.id for c in rig.certificates(job_id)] == [cert.id]
    assert states_of(rig, job_id)[-3:] == ["interrupted", "certifying", "routed"]
    assert trail(rig, drive) == ["sanitised", "routed"], "recovery must not chain duplicates"
    assert view.detail["destination"] == "recycle"
    assert verify_chain(rig.store).ok


def test_recorded_outcome_without_certificate_is_certified_on_recovery(rig: Rig) -> None:
    """A crash between 'certifying' (outcome recorded) and the certificate: recovery issues it."""
    drive = file_drive(rig.tmp, "CERT-2")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="dave")
    assert orch.wait([job_id], timeout=120)
    [cert] = rig.certificates(job_id)
    with Session(rig.store.engine) as s:  # the certificate was never written
        s.delete(s.get(CertificateRow, cert.id))
        s.commit()
    rig.store.transition_job(job_id, {"routed"}, "certifying", certificate_id=None)
    rig.kill_owner(job_id)
    later = rig.orchestrator()
    assert later.recover().certified == (job_id,)
    assert later.wait(timeout=60)
    [new] = rig.certificates(job_id)
    assert new.id != cert.id
    assert rig.job(job_id).detail["certificate_id"] == new.id


def test_crash_mid_overwrite_is_interrupted_and_a_restart_succeeds(rig: Rig) -> None:
    """A job left 'sanitising' by a dead process becomes interrupted with its last progress;
    restart makes a new job that succeeds, and the old record stays as it was."""
    drive = file_drive(rig.tmp, "CRASH-1")
    orch = rig.orchestrator()
    job_id = rig.store.create_job_record(
        drive,
        station=STATION,
        operator="erin",
        detail={
            "device": drive.path,
            "drive": drive_to_json(drive),
            "policy": "nist-800-88",
        },
    )
    for a, b in [("queued", "probing"), ("probing", "sanitising")]:
        rig.store.transition_job(job_id, {a}, b, technique="host-overwrite")
    rig.store.update_job_detail(
        job_id, progress={"phase": "pass 1/1 zeros", "bytes_done": MiB, "total": 2 * MiB}
    )
    rig.kill_owner(job_id)
    report = orch.recover()
    assert report.interrupted == (job_id,)
    assert report.restartable == (job_id,)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "interrupted"
    assert view.detail["interrupted_from"] == "sanitising"
    assert "1048576/2097152 bytes" in view.detail["reason"]
    assert orch.recover().interrupted == ()  # idempotent
    new_id = orch.restart(job_id, operator="frank")
    assert orch.wait([new_id], timeout=120)
    new = rig.store.job(new_id)
    assert new is not None
    assert new.state == "routed"
    assert new.operator == "frank"
    assert new.detail["retry_of"] == job_id
    old = rig.store.job(job_id)
    assert old is not None
    assert (old.state, old.detail["retried_by"]) == ("interrupted", new_id)
    with pytest.raises(Exception, match="already restarted"):
        orch.restart(job_id, operator="frank")


def interrupted_job(rig: Rig, orch: Orchestrator, drive: Drive) -> str:
    """A job a dead process left 'sanitising' on `drive`, recovered as interrupted."""
    job_id = rig.store.create_job_record(
        drive,
        station=STATION,
        operator="erin",
        detail={"device": drive.path, "drive": drive_to_json(drive), "policy": "nist-800-88"},
    )
    for a, b in [("queued", "probing"), ("probing", "sanitising")]:
        rig.store.transition_job(job_id, {a}, b, technique="host-overwrite")
    rig.kill_owner(job_id)
    assert orch.recover(resume=False).interrupted == (job_id,)
    return job_id


class WrappedMethod:
    """A real method seen through a test's wrapper: subclasses change `run` (stage a fault, a
    gate, a vanishing drive); availability is the real method's."""

    def __init__(self, real: Method) -> None:
        self.real, self.technique, self.nist_category = real, real.technique, real.nist_category

    def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
        return self.real.unavailable(drive, caps)

    def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
        return None

    def run(self, ctx: MethodContext) -> Outcome:
        return self.real.run(ctx)


def hold_method(
    rig: Rig, gate: threading.Event, entered: threading.Event, technique: str = "host-overwrite"
) -> None:
    """Hold every run of `technique` until `gate` is set (`entered` says one is being held)."""

    class Held(WrappedMethod):
        def run(self, ctx: MethodContext) -> Outcome:
            entered.set()
            gate.wait(60)
            return self.real.run(ctx)

    rig.methods[technique] = Held


def test_restart_target_refuses_what_cannot_be_restarted(rig: Rig) -> None:
    """Unknown and routed jobs are refused with a plain sentence, before anything starts."""
    orch = rig.orchestrator()
    [done] = orch.start([file_drive(rig.tmp, "DONE-1")], operator="gil")
    assert orch.wait([done], timeout=120)
    cert = rig.job(done).detail["certificate_id"]
    with pytest.raises(SanitiserError, match="No job nope is recorded") as unknown:
        orch.restart_target("nope")
    with pytest.raises(SanitiserError, match=rf"sanitised its drive \(certificate {cert}\)") as ok:
        orch.restart(done, operator="gil")
    assert unknown.value.title == ok.value.title == "Restart"
    assert len(rig.store.jobs()) == 1


def test_restart_refuses_a_drive_busy_with_another_job(rig: Rig) -> None:
    """An interrupted job whose drive is running another job now is refused, and is not
    marked restarted (before, the new job failed at the guard and the old one pointed at it)."""
    gate, entered = threading.Event(), threading.Event()
    hold_method(rig, gate, entered)
    drive = file_drive(rig.tmp, "BUSY-1")
    orch = rig.orchestrator()
    old = interrupted_job(rig, orch, drive)
    [running] = orch.start([drive], operator="ann")
    assert entered.wait(30)
    try:
        with pytest.raises(SanitiserError, match=f"busy with job {running[:8]}"):
            orch.restart(old, operator="ann")
    finally:
        gate.set()
    assert orch.wait([running], timeout=120)
    assert "retried_by" not in rig.job(old).detail
    assert sorted(j.id for j in rig.store.jobs()) == sorted([old, running])
    new = orch.restart(old, operator="ann")  # the drive is free again
    assert orch.wait([new], timeout=120)
    assert rig.job(new).state == "routed"


def test_two_restarts_of_one_job_at_once_make_one_new_job(rig: Rig) -> None:
    """Two technicians restart the same job at the same moment: one new job, one refusal."""
    gate, entered = threading.Event(), threading.Event()
    hold_method(rig, gate, entered)
    orch = rig.orchestrator()
    old = interrupted_job(rig, orch, file_drive(rig.tmp, "TWICE-1"))
    barrier = threading.Barrier(2)
    started: list[str] = []
    refused: list[str] = []

    def restart() -> None:
        barrier.wait()
        try:
            started.append(orch.restart(old, operator="bo"))
        except SanitiserError as e:
            refused.append(e.msg)

    threads = [threading.Thread(target=restart) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    gate.set()
    assert len(started) == 1, refused
    assert len(refused) == 1
    assert "already restarted" in refused[0]
    assert orch.wait(started, timeout=120)
    assert len(rig.store.jobs()) == 2
    assert rig.job(old).detail["retried_by"] == started[0]


class _Crash(BaseException):
    """Stands in for the process dying (nothing in the job layer may catch it)."""


def test_nvme_sanitize_still_running_after_a_restart_is_repolled_to_completion(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bench dies right after 'nvme sanitize' was accepted; the drive keeps sanitising. The
    next start records the job interrupted, re-polls the same sanitize (never re-issues it) to
    the end, checks the canaries from the saved journal, and certifies it."""
    lab = LabBench(tmp_path / "labdata", drive_mib=4, kinds=(LabKind.NVME,))
    [drive] = lab.list()
    emulator = emulator_for(drive)
    assert isinstance(emulator, NvmeDriveEmulator)
    emulator.polls_per_sanitize = 6
    inner = LabRunner(lab)
    crashed = threading.Event()

    class CrashAfterSanitize:
        def run(self, argv: Any, **kw: Any) -> CommandResult:
            res = inner.run(argv, **kw)
            if tuple(argv[:2]) == ("nvme", "sanitize") and not crashed.is_set():
                crashed.set()
                raise _Crash
            return res

    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the staged "death"
    rig.runner = CrashAfterSanitize()
    first = rig.orchestrator()
    [job_id] = first.start([drive], operator="gina")
    first.wait([job_id], timeout=60)
    assert crashed.is_set()
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "sanitising"
    assert emulator.in_progress
    assert MethodNotes.load(rig.store, job_id).get("nvme_sanitize_started")
    rig.kill_owner(job_id)

    rig.runner = inner  # "after the restart": the same drive, still sanitising
    second = rig.orchestrator()
    report = second.recover()
    assert report.interrupted == (job_id,)
    assert report.resumed == (job_id,)
    assert second.wait(timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "routed", view.detail.get("reason")
    assert states_of(rig, job_id)[-5:] == [
        "sanitising",
        "interrupted",
        "sanitising",
        "certifying",
        "routed",
    ]
    sanitize_calls = [c for c in inner.calls if c[:2] == ("nvme", "sanitize")]
    assert len(sanitize_calls) == 1, "the running sanitize must be re-polled, never re-issued"
    outcome = view.detail["outcome"]
    assert outcome["verified"] is True
    assert dict(outcome["details"])["resumed"] == "yes"
    assert len(rig.certificates(job_id)) == 1
    # Routed by the plan read back from the record and the policy reloaded by name.
    decision = decision_of(view, drive, UNKNOWN_HEALTH, load_policy("nist-800-88"))
    assert decision.outcome_class.value == "purged-verified"
    assert (view.detail["destination"], view.detail["routing_rule"]) == ("recycle", "default")
    record = signed_record(rig, view.detail["certificate_id"])
    assert record["destination"] == dataclasses.asdict(decision.destination())
    assert trail(rig, drive) == ["sanitised", "routed"]


@dataclass
class MidSanitize:
    """A job whose process died right after 'nvme sanitize' was accepted on a lab NVMe drive
    that goes on sanitising; recorded interrupted by a recovery that did not resume it."""

    job_id: str
    drive: Drive
    runner: LabRunner


def interrupted_mid_sanitize(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> MidSanitize:
    lab = LabBench(tmp_path / "labdata", drive_mib=4, kinds=(LabKind.NVME,))
    [drive] = lab.list()
    emulator = emulator_for(drive)
    assert isinstance(emulator, NvmeDriveEmulator)
    emulator.polls_per_sanitize = 2
    inner = LabRunner(lab)
    crashed = threading.Event()

    class CrashAfterSanitize:
        def run(self, argv: Any, **kw: Any) -> CommandResult:
            res = inner.run(argv, **kw)
            if tuple(argv[:2]) == ("nvme", "sanitize") and not crashed.is_set():
                crashed.set()
                raise _Crash
            return res

    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the staged "death"
    rig.runner = CrashAfterSanitize()
    first = rig.orchestrator()
    [job_id] = first.start([drive], operator="gina")
    first.wait([job_id], timeout=60)
    assert crashed.is_set()
    rig.kill_owner(job_id)
    rig.runner = inner
    assert rig.orchestrator().recover(resume=False).interrupted == (job_id,)
    return MidSanitize(job_id, drive, inner)


def notes_of(rig: Rig, job_id: str) -> list[str]:
    """The messages of a job's notes, in order."""
    return [
        str(e.data.get("message", "")) for e in rig.store.job_events(job_id) if e.kind == "note"
    ]


def test_recovery_leaves_a_job_interrupted_while_its_drive_is_busy_and_repolls_it_later(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another holder locks the drive (its lab file) while recovery would re-poll a sanitize:
    the job stays interrupted, untouched (no failure, no record, no custody), with a note saying
    why; once the drive is free, the next recovery re-polls it to its certificate."""
    old = interrupted_mid_sanitize(rig, tmp_path, monkeypatch)
    before = rig.job(old.job_id).detail
    fd = os.open(old.drive.path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        later = rig.orchestrator()
        report = later.recover()
        assert later.wait(timeout=60)
    finally:
        os.close(fd)
    view = rig.job(old.job_id)
    assert view.state == "interrupted", view.detail.get("reason")
    assert (report.resumed, report.restartable) == ((), (old.job_id,))
    assert view.detail == before, "its record must be left as it was"
    assert rig.certificates(old.job_id) == []
    assert trail(rig, old.drive) == []
    assert any("not re-polled now (the drive is busy)" in n for n in notes_of(rig, old.job_id))
    said = [e.message for e in rig.of(old.job_id, JobLog)]
    assert any("the drive is busy" in m for m in said)

    again = rig.orchestrator()
    assert again.recover().resumed == (old.job_id,)
    assert again.wait(timeout=120)
    view = rig.job(old.job_id)
    assert view.state == "routed", view.detail.get("reason")
    assert len(rig.certificates(old.job_id)) == 1


def test_recovery_does_not_repoll_a_job_whose_drive_another_job_is_erasing(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tester's case: a new erase of the same drive runs (the TUI) while another command's
    recovery meets the old interrupted job. The old job is not re-polled (before: its re-poll
    found the drive locked and recorded it failed, with a signed NOT-sanitised record routing
    the drive to destruction, seconds before the new job certified it sanitised). It stays
    interrupted with no record; the new job's certificate is the drive's only one."""
    old = interrupted_mid_sanitize(rig, tmp_path, monkeypatch)
    gate, entered = threading.Event(), threading.Event()
    hold_method(rig, gate, entered)
    tui = rig.orchestrator()
    [new] = tui.start([old.drive], operator="ana", technique="host-overwrite")
    try:
        assert entered.wait(60), rig.job(new).detail.get("reason")
        cli = rig.orchestrator()
        report = cli.recover()
        assert cli.wait(timeout=60)
    finally:
        gate.set()
    assert tui.wait([new], timeout=120)
    view = rig.job(old.job_id)
    assert view.state == "interrupted", view.detail.get("reason")
    assert (report.resumed, report.restartable) == ((), (old.job_id,))
    assert rig.certificates(old.job_id) == []
    assert any(f"job {new[:8]} is in progress" in n for n in notes_of(rig, old.job_id))
    assert rig.job(new).state == "routed", rig.job(new).detail.get("reason")
    assert trail(rig, old.drive) == ["sanitised", "routed"]
    # Nor later: the drive's sanitize log now tells of the new job's work, not the old one's.
    assert rig.orchestrator().recover().resumed == ()
    assert rig.job(old.job_id).state == "interrupted"
    assert any(
        f"job {new[:8]} was started on the drive after" in n for n in notes_of(rig, old.job_id)
    )


def test_recovery_leaves_the_jobs_of_a_live_process_alone(rig: Rig) -> None:
    """A job another live process is running is not 'interrupted' by a second start."""
    gate = threading.Event()
    hold_method(rig, gate, threading.Event())
    orch = rig.orchestrator()
    [job_id] = orch.start([file_drive(rig.tmp, "LIVE-1")], operator="hal")
    deadline = time.monotonic() + 120
    while rig.job(job_id).state != "sanitising":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    other = Orchestrator(
        rig.store, rig.deps(), station=STATION, organisation="Test Org", poll_interval=0.01
    )
    assert other.recover() == type(other.recover())()
    other.close()
    gate.set()
    assert orch.wait([job_id], timeout=60)
    assert rig.job(job_id).state == "routed"


def test_abort_stops_an_overwrite_cleanly(rig: Rig) -> None:
    """Abort during a host overwrite: the job ends aborted, and since the overwrite had begun
    it gets one signed record saying so (NOT sanitised, routed to destruction)."""
    drive = file_drive(rig.tmp, "ABORT-1", size=64 * MiB)
    orch = rig.orchestrator()
    aborted = threading.Event()

    def abort_on_progress(event: JobEvent) -> None:
        if isinstance(event, JobProgress) and not aborted.is_set():
            aborted.set()
            reply = orch.abort(event.job_id)
            assert reply.accepted, reply.message

    orch.subscribe(abort_on_progress)
    [job_id] = orch.start([drive], operator="ivy")
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "aborted"
    [outcome] = rig.of(job_id, JobOutcome)
    assert outcome.status == "aborted"
    [cert] = rig.certificates(job_id)
    assert outcome.certificate_id == cert.id == view.detail["certificate_id"]
    record = signed_record(rig, cert.id)
    assert (record["outcome"]["status"], record["destination"]["route"]) == (
        "aborted",
        "destruction",
    )
    assert outcome.destination == "destroy"
    assert trail(rig, drive) == ["not-sanitised", "routed"]
    assert orch.abort(job_id).accepted is False


def test_an_abort_before_the_method_started_leaves_no_record(rig: Rig) -> None:
    """Abort after the plan but before the method ran: the job ends aborted with no signed
    record and no custody entry (nothing destructive was sent; the drive is as it came)."""
    in_check = threading.Event()
    go_on = threading.Event()

    class Hold:
        def __init__(self, real: Method) -> None:
            self.real, self.technique, self.nist_category = real, real.technique, real.nist_category

        def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
            in_check.set()
            go_on.wait(60)
            return self.real.unavailable(drive, caps)

        def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
            return None

        def run(self, ctx: MethodContext) -> Outcome:  # pragma: no cover - never reached
            raise AssertionError("an aborted job must not run its method")

    rig.methods["host-overwrite"] = Hold
    drive = file_drive(rig.tmp, "ABORT-2")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="ivy")
    assert in_check.wait(60)
    assert orch.abort(job_id).accepted
    go_on.set()
    assert orch.wait([job_id], timeout=60)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "aborted"
    assert "plan" in view.detail
    [outcome] = rig.of(job_id, JobOutcome)
    assert (outcome.status, outcome.certificate_id) == ("aborted", None)
    assert rig.certificates(job_id) == []
    assert trail(rig, drive) == []
    assert Path(drive.path).read_bytes()[:4] != b"\0\0\0\0"


def test_a_firmware_sanitize_in_flight_is_not_aborted_and_says_so(rig: Rig, tmp_path: Path) -> None:
    """Abort during an NVMe sanitize is refused with the reason, logged, and the job records the
    truth: the drive finished sanitising."""
    lab = LabBench(tmp_path / "labdata", drive_mib=4, kinds=(LabKind.NVME,))
    [drive] = lab.list()
    rig.runner = lab_runner(lab)
    in_method = threading.Event()
    go_on = threading.Event()
    hold_method(rig, go_on, in_method, "nvme-sanitize-crypto")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="jack")
    assert in_method.wait(60)
    reply = orch.abort(job_id)
    go_on.set()
    assert not reply.accepted
    assert "cannot be stopped" in reply.message
    assert orch.wait([job_id], timeout=120)
    assert rig.job(job_id).state == "routed"
    warnings = [e.message for e in rig.of(job_id, JobLog) if e.level == "warning"]
    assert any("cannot be stopped" in w for w in warnings)
    logged = [e.data.get("message", "") for e in rig.store.job_events(job_id) if e.kind == "log"]
    assert any("cannot be stopped" in m for m in logged)


def test_a_drive_that_vanishes_fails_only_its_own_job(rig: Rig) -> None:
    """One drive disappears mid-method: its job fails saying so; the others are routed."""
    drives = [file_drive(rig.tmp, f"GONE-{i}") for i in range(3)]
    victim = drives[1].path

    class Vanish(WrappedMethod):
        def run(self, ctx: MethodContext) -> Outcome:
            if ctx.drive.path == victim:
                os.unlink(victim)
                raise OSError(errno.ENODEV, "No such device")
            return self.real.run(ctx)

    rig.methods["host-overwrite"] = Vanish
    orch = rig.orchestrator()
    ids = orch.start(drives, operator="kim")
    assert orch.wait(ids, timeout=120)
    states = {d.path: rig.store.job(i) for d, i in zip(drives, ids, strict=True)}
    failed = states[victim]
    assert failed is not None
    assert failed.state == "failed"
    assert "disappeared" in failed.detail["reason"]
    assert [v and v.state for p, v in states.items() if p != victim] == ["routed", "routed"]
    [cert] = rig.certificates(failed.id)
    record = signed_record(rig, cert.id)
    assert record["outcome"]["status"] == "failed"
    assert "disappeared" in record["outcome"]["reason"]
    assert record["destination"]["route"] == "destruction"


def test_a_drive_in_use_is_refused_by_the_guard_and_the_others_go_on(rig: Rig) -> None:
    """A lab file locked by someone else is refused (status refused, the guard's reason)."""
    import fcntl

    busy, free = file_drive(rig.tmp, "BUSY-1"), file_drive(rig.tmp, "FREE-1")
    fd = os.open(busy.path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        orch = rig.orchestrator()
        ids = orch.start([busy, free], operator="lee")
        assert orch.wait(ids, timeout=120)
    finally:
        os.close(fd)
    refused = rig.of(ids[0], JobOutcome)[0]
    assert (refused.status, refused.state) == ("refused", "failed")
    assert "in use" in refused.reason
    assert rig.of(ids[1], JobOutcome)[0].status == "sanitised"
    assert Path(busy.path).read_bytes()[:4] != b"\0\0\0\0"


def test_concurrent_job_updates_are_never_lost(tmp_path: Path) -> None:
    """Eight threads merging facts into one job while it changes state: every fact and every
    transition is kept (the updates are compare-and-set, not read-modify-write)."""
    store = Store(f"sqlite:///{tmp_path / 'cas.db'}")
    job_id = store.create_job_record(file_drive(tmp_path, "CAS-1"), station=STATION)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                store.update_job_detail(job_id, **{f"w{n}-{i}": i})
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for a, b in [("queued", "probing"), ("probing", "sanitising"), ("sanitising", "failed")]:
        store.transition_job(job_id, {a}, b, reason=f"to {b}")
    for t in threads:
        t.join()
    assert errors == []
    view = store.job(job_id)
    assert view is not None
    assert view.state == "failed"
    assert view.detail["reason"] == "to failed"
    assert sum(1 for k in view.detail if k.startswith("w")) == 8 * 15
    assert states_of_store(store, job_id) == ["queued", "probing", "sanitising", "failed"]


def states_of_store(store: Store, job_id: str) -> list[str]:
    """The states of a job from its journal."""
    return [e.state for e in store.job_events(job_id) if e.kind == "transition"]


# --- routing and custody ----------------------------------------------------------------------


def lab_rig(rig: Rig, tmp_path: Path, *kinds: LabKind) -> list[Drive]:
    """Lab drives on the rig: their emulators answer, their SMART health is the lab's."""
    lab = LabBench(tmp_path / "labdata", drive_mib=4, kinds=kinds)
    rig.runner = lab_runner(lab)
    rig.health_of = lambda d, r: lab_health(d)
    return lab.list()


def routed_view(rig: Rig, drive: Drive, policy: str, operator: str) -> JobView:
    """Run one job on `drive` under `policy` to its end; its view, which must be ``routed``."""
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator=operator, policy=policy)
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "routed", view.detail.get("reason")
    return view


def test_a_purged_and_verified_lab_ssd_in_good_health_goes_to_reuse_with_the_scheme(
    rig: Rig, tmp_path: Path
) -> None:
    """Lab SATA SSD, health A, purged and verified under a policy whose reuse rule fits it:
    routed to reuse by rule 'reuse', the scheme named on the job and on the certificate, whose
    destination is exactly the decision recomputed from the job's record."""
    [ssd] = lab_rig(rig, tmp_path, LabKind.SATA_SSD)
    policy_path = lab_reuse_policy(tmp_path)
    view = routed_view(rig, ssd, str(policy_path), "mia")
    health = lab_health(ssd)
    assert health.grade is HealthGrade.A
    decision = decision_of(view, ssd, health, load_policy(policy_path))
    assert decision.outcome_class.value == "purged-verified"
    assert (decision.destination_kind.value, decision.rule_id) == ("reuse", "reuse")
    assert "Get Online London" in decision.scheme
    routing = view.detail["routing"]
    assert (view.detail["destination"], view.detail["routing_rule"]) == ("reuse", "reuse")
    assert routing["scheme"] == decision.scheme
    assert routing["matched"] == list(decision.matched)
    record = signed_record(rig, view.detail["certificate_id"])
    assert record["destination"] == dataclasses.asdict(decision.destination())
    assert record["destination"]["route"] == "external-reuse"
    [outcome] = rig.of(view.id, JobOutcome)
    assert (outcome.status, outcome.destination, outcome.destruction_level) == (
        "sanitised",
        "reuse",
        "",
    )
    assert outcome.routing_reason == decision.reason
    assert outcome.to_json()["destination"] == "reuse"


def test_a_lab_hdd_under_strict_is_routed_by_the_strict_table(rig: Rig, tmp_path: Path) -> None:
    """Lab SATA HDD (health B) purged under --policy strict: too small for the reuse rule, so
    the strict table's default (recycle) decides, and the rule passed over says why."""
    [hdd] = lab_rig(rig, tmp_path, LabKind.SATA_HDD)
    view = routed_view(rig, hdd, "strict", "ned")
    decision = decision_of(view, hdd, lab_health(hdd), load_policy("strict"))
    assert decision.outcome_class.value == "purged-verified"
    assert (decision.destination_kind.value, decision.rule_id) == ("recycle", "default")
    assert any(p.startswith("reuse: capacity") for p in decision.passed_over)
    assert view.detail["routing"]["passed_over"] == list(decision.passed_over)
    assert view.detail["routing"]["policy_name"] == "strict"
    record = signed_record(rig, view.detail["certificate_id"])
    assert record["destination"] == dataclasses.asdict(decision.destination())
    assert record["policy"]["name"] == "strict"


def test_an_old_drive_by_its_power_on_hours_is_recycled_not_reused(
    rig: Rig, tmp_path: Path
) -> None:
    """A lab SSD that fits the reuse rule but has 75,000 power-on hours (at least 8.6 years
    old): the shipped rule 'too-old' (at least 8 years) recycles it; the job and the signed
    certificate say the age is a lower bound from SMART power-on hours. The same SSD with its
    real 2,150 hours goes to reuse, 'too-old' passed over with its age."""
    [ssd] = lab_rig(rig, tmp_path, LabKind.SATA_SSD)
    worn = dataclasses.replace(lab_health(ssd), power_on_hours=75_000)
    rig.health_of = lambda d, r: worn
    policy_path = lab_reuse_policy(tmp_path)
    view = routed_view(rig, ssd, str(policy_path), "mia")
    routing = view.detail["routing"]
    assert (routing["destination"], routing["rule_id"]) == ("recycle", "too-old")
    assert routing["age"] == "age at least 8.6 years (75,000 power-on hours, from SMART)"
    decision = decision_of(view, ssd, worn, load_policy(policy_path))
    assert routing["matched"] == list(decision.matched)
    record = signed_record(rig, view.detail["certificate_id"])
    assert record["destination"] == dataclasses.asdict(decision.destination())
    assert "75,000 power-on hours" in record["destination"]["details"]

    rig.health_of = lambda d, r: lab_health(d)
    young = routed_view(rig, ssd, str(policy_path), "mia").detail["routing"]
    assert young["rule_id"] == "reuse"
    too_old = "too-old: age at least 0.2 years (2,150 power-on hours, from SMART) is less than 8"
    assert too_old in young["passed_over"]


def test_a_failing_hdd_under_strict_is_refused_and_routed_to_h_level_destruction(
    rig: Rig, tmp_path: Path
) -> None:
    """Strict sends a failing drive to destruction instead of a method: the job ends refused,
    routing names the strict policy's hard-disk level (H-5), and its one signed record says
    the drive was not sanitised (destruction planned) with that destination."""
    [hdd] = lab_rig(rig, tmp_path, LabKind.SATA_HDD)
    failing = Health(grade=HealthGrade.FAIL, reasons=("1200 reallocated sectors",))
    rig.health_of = lambda d, r: failing
    orch = rig.orchestrator()
    [job_id] = orch.start([hdd], operator="ola", policy="strict")
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "failed"
    assert "health FAIL (1200 reallocated sectors)" in view.detail["reason"]
    [outcome] = rig.of(job_id, JobOutcome)
    assert (outcome.status, outcome.destination) == ("refused", "destroy")
    assert outcome.destruction_level == "ISO/IEC 21964 H-5"
    assert view.detail["routing"]["outcome_class"] == "destroy-planned"
    assert view.detail["routing_rule"] == "not-purged"
    [cert] = rig.certificates(job_id)
    assert outcome.certificate_id == cert.id
    assert (outcome.method, outcome.nist_category) == ("destroy", "destroy")
    record = signed_record(rig, cert.id)
    assert record["outcome"]["status"] == "refused"
    assert record["sanitisation"]["method"] == "destroy"
    assert record["destination"]["route"] == "destruction"
    assert "ISO/IEC 21964 H-5" in record["destination"]["details"]
    assert record["policy"]["name"] == "strict"
    assert trail(rig, hdd) == ["not-sanitised", "routed"]
    assert "record_pending" not in view.detail


def test_a_lying_drive_fails_and_is_routed_to_e_level_destruction(rig: Rig, tmp_path: Path) -> None:
    """An NVMe controller that reports a sanitize it never did: the canaries catch it, the job
    fails, routing sends the drive to destruction at the flash level (E-4), and the job's one
    signed record says NOT sanitised with that destination; custody reads not-sanitised, routed;
    the outcome line (what `wipe --json` prints) carries the certificate id."""
    [nvme] = lab_rig(rig, tmp_path, LabKind.NVME)
    emulator = emulator_for(nvme)
    assert isinstance(emulator, NvmeDriveEmulator)
    emulator.lies = True
    orch = rig.orchestrator()
    [job_id] = orch.start([nvme], operator="pat")
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "failed", view.detail
    [outcome] = rig.of(job_id, JobOutcome)
    assert outcome.status == "failed"
    assert (outcome.destination, outcome.destruction_level) == ("destroy", "ISO/IEC 21964 E-4")
    decision = decision_of(view, nvme, lab_health(nvme), load_policy("nist-800-88"))
    assert decision.outcome_class.value == "failed"
    assert (decision.rule_id, outcome.routing_reason) == ("not-proven-clean", decision.reason)
    assert outcome.to_json()["destruction_level"] == "ISO/IEC 21964 E-4"
    logged = [e.message for e in rig.of(job_id, JobLog)]
    assert any(m.startswith("routing: destroy to ISO/IEC 21964 E-4") for m in logged)
    [cert] = rig.certificates(job_id)
    assert outcome.to_json()["certificate_id"] == cert.id == view.detail["certificate_id"]
    record = signed_record(rig, cert.id)
    assert (record["outcome"]["status"], record["outcome"]["verified"]) == ("failed", False)
    assert record["outcome"]["reason"] == view.detail["outcome"]["reason"]
    assert record["destination"] == dataclasses.asdict(decision.destination())
    assert record["device"]["serial"] == nvme.serial
    custody = entries(rig.store, station=STATION, subject=drive_key(nvme))
    assert [e.kind for e in custody] == ["not-sanitised", "routed"]
    assert (custody[0].ref, custody[0].data["status"]) == (cert.id, "failed")
    assert custody[1].data["rule_id"] == "not-proven-clean"
    assert "record_pending" not in view.detail
    assert verify_chain(rig.store).ok


@pytest.mark.parametrize("policy", ["nist-800-88", "strict"])
def test_an_nvme_sanitize_certificate_names_the_standard_its_policy_names(
    rig: Rig, tmp_path: Path, policy: str
) -> None:
    """A lab NVMe drive sanitised under a shipped policy: the signed record claims the standard
    that policy names (which credits IEEE 2883 for NVMe Sanitize, a command SP 800-88 Rev. 1
    predates), the one the job's plan recorded; not a fixed "NIST SP 800-88 Rev. 1"."""
    [nvme] = lab_rig(rig, tmp_path, LabKind.NVME)
    view = routed_view(rig, nvme, policy, "pat")
    record = signed_record(rig, view.detail["certificate_id"])
    san = record["sanitisation"]
    assert san["method"].startswith("nvme-sanitize-"), san["method"]
    named = load_policy(policy).standard
    assert "IEEE 2883" in named
    assert san["standard"] == named == view.detail["plan"]["standard"]
    assert "downgrade" not in san  # purged as the policy requires: nothing to explain


def test_a_downgrade_to_clear_goes_on_the_certificate(rig: Rig, tmp_path: Path) -> None:
    """A lab USB stick under the default policy: no Purge technique, so the plan downgrades to
    Clear (host overwrite), and the signed record carries the plan's reason, as the policy
    says; the job's detail says the same."""
    [stick] = lab_rig(rig, tmp_path, LabKind.USB_FLASH)
    view = routed_view(rig, stick, "nist-800-88", "pat")
    reason = view.detail["plan"]["downgrade"]
    assert reason.startswith("no usable purge technique"), reason
    assert view.detail["downgrade"] == reason
    record = signed_record(rig, view.detail["certificate_id"])
    san = record["sanitisation"]
    assert (san["method"], san["nist_category"]) == ("host-overwrite", "clear")
    assert san["downgrade"] == reason


def test_a_refused_method_is_routed_to_destruction_but_a_guard_refusal_is_not(
    rig: Rig,
) -> None:
    """The planned method cannot run on the drive (refused at run time): not proven clean, so
    destroy, with a signed record saying refused. A drive the guard would not touch gets no
    decision and no record: nothing was attempted."""
    import fcntl

    class Blocked:
        def __init__(self, real: Method) -> None:
            self.real, self.technique, self.nist_category = real, real.technique, real.nist_category

        def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
            return "the bridge drops writes past 2 GiB"

        def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
            return None

        def run(self, ctx: MethodContext) -> Outcome:  # pragma: no cover - never reached
            raise AssertionError("a refused method must not run")

    rig.methods["host-overwrite"] = Blocked
    refused, busy = file_drive(rig.tmp, "REF-1"), file_drive(rig.tmp, "BUSY-2")
    fd = os.open(busy.path, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        orch = rig.orchestrator()
        ids = orch.start([refused, busy], operator="quin")
        assert orch.wait(ids, timeout=120)
    finally:
        os.close(fd)
    [blocked] = rig.of(ids[0], JobOutcome)
    assert (blocked.status, blocked.reason) == ("refused", "the bridge drops writes past 2 GiB")
    assert blocked.destination == "destroy"
    assert blocked.destruction_level.startswith("ISO/IEC 21964 ")
    view = rig.store.job(ids[0])
    assert view is not None
    assert view.detail["routing"]["outcome_class"] == "refused"
    [cert] = rig.certificates(ids[0])
    assert blocked.certificate_id == cert.id
    record = signed_record(rig, cert.id)
    assert (record["outcome"]["status"], record["outcome"]["reason"]) == (
        "refused",
        "the bridge drops writes past 2 GiB",
    )
    assert trail(rig, refused) == ["not-sanitised", "routed"]
    [guarded] = rig.of(ids[1], JobOutcome)
    assert guarded.status == "refused"
    assert (guarded.destination, guarded.routing_reason, guarded.destruction_level) == ("", "", "")
    assert (guarded.certificate_id, rig.certificates(ids[1]), trail(rig, busy)) == (None, [], [])


class BrokenRouting:
    """A loaded policy whose routing table cannot be read (selection still works)."""

    def __init__(self, real: Policy) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        if name == "routing":
            raise ConfigError("policy nist-800-88: [routing.rules] 2: unknown destination 'sea'")
        return getattr(self._real, name)


def test_a_broken_routing_table_keeps_the_outcome_and_leaves_the_destination_undecided(
    rig: Rig,
) -> None:
    """Routing fails: the drive is still certified as sanitised, the certificate says
    'undecided', the job records and logs why, and no 'routed' custody event is made up."""
    rig.load_policy = lambda name: BrokenRouting(load_policy(name))
    drive = file_drive(rig.tmp, "BROKEN-1")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="rae")
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "routed"
    [outcome] = rig.of(job_id, JobOutcome)
    assert (outcome.status, outcome.destination) == ("sanitised", "undecided")
    assert outcome.routing_reason.startswith("routing failed: policy nist-800-88: [routing.rules]")
    record = signed_record(rig, view.detail["certificate_id"])
    assert record["destination"]["route"] == "undecided"
    assert record["outcome"]["status"] == "sanitised"
    errors = [e.message for e in rig.of(job_id, JobLog) if e.level == "error"]
    assert any("routing failed" in m for m in errors)
    assert trail(rig, drive) == ["sanitised"]
    assert verify_chain(rig.store).ok


def test_a_crash_between_certificate_and_custody_is_completed_once_on_recovery(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bench dies right after the certificate was kept, before custody was chained:
    recovery reuses the certificate, chains 'sanitised' and 'routed' once, and a second
    recovery (after a staged second crash) adds nothing."""
    real = record_sanitised
    crashed = threading.Event()

    def die_once(*args: Any, **kw: Any) -> Any:
        if not crashed.is_set():
            crashed.set()
            raise _Crash
        return real(*args, **kw)

    monkeypatch.setattr(conclusion_module, "record_sanitised", die_once)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the staged "death"
    drive = file_drive(rig.tmp, "CUSTODY-1")
    first = rig.orchestrator()
    [job_id] = first.start([drive], operator="sam")
    first.wait([job_id], timeout=120)
    assert crashed.is_set()
    [cert] = rig.certificates(job_id)
    assert rig.job(job_id).state == "certifying"
    assert trail(rig, drive) == []
    rig.kill_owner(job_id)
    second = rig.orchestrator()
    assert second.recover().certified == (job_id,)
    assert second.wait(timeout=60)
    view = rig.store.job(job_id)
    assert view is not None
    assert (view.state, view.detail["certificate_id"]) == ("routed", cert.id)
    assert view.detail["destination"] == "recycle"
    assert trail(rig, drive) == ["sanitised", "routed"]
    # Crash again after 'routed' was chained but before the job said so: nothing is repeated.
    rig.store.transition_job(job_id, {"routed"}, "certifying")
    rig.kill_owner(job_id)
    third = rig.orchestrator()
    assert third.recover().certified == (job_id,)
    assert third.wait(timeout=60)
    assert rig.job(job_id).state == "routed"
    assert trail(rig, drive) == ["sanitised", "routed"]
    assert [c.id for c in rig.certificates(job_id)] == [cert.id]
    assert verify_chain(rig.store).ok


# --- signed records of jobs that did not sanitise ----------------------------------------------


class WriteErrorOnce(WrappedMethod):
    """A method that fails with a write error the first time it runs (then runs for real)."""

    failures = 1

    def run(self, ctx: MethodContext) -> Outcome:
        if WriteErrorOnce.failures > 0:
            WriteErrorOnce.failures -= 1
            raise SanitiserError("write error at LBA 2048 (I/O error)")
        return self.real.run(ctx)


@pytest.fixture
def write_error_once(rig: Rig) -> Iterator[None]:
    """The rig's host overwrite fails once, then works."""
    WriteErrorOnce.failures = 1
    rig.methods["host-overwrite"] = WriteErrorOnce
    yield
    WriteErrorOnce.failures = 0


def test_a_method_that_breaks_ends_failed_with_its_record(rig: Rig) -> None:
    """A method raising an unexpected error mid-run: the job ends failed ('internal error'),
    routed to destruction with a signed record of that failure (something may have been
    written), and the outcome names it."""

    class Broken:
        def __init__(self, real: Method) -> None:
            self.real, self.technique, self.nist_category = real, real.technique, real.nist_category

        def unavailable(self, drive: Drive, caps: Capabilities) -> str | None:
            return None

        def estimate_seconds(self, drive: Drive, caps: Capabilities) -> int | None:
            return None

        def run(self, ctx: MethodContext) -> Outcome:
            raise RuntimeError("pattern buffer exhausted")

    rig.methods["host-overwrite"] = Broken
    drive = file_drive(rig.tmp, "BROKE-1")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="xan")
    assert orch.wait([job_id], timeout=120)
    [outcome] = rig.of(job_id, JobOutcome)
    assert (outcome.state, outcome.destination) == ("failed", "destroy")
    assert outcome.reason.startswith("internal error: RuntimeError('pattern buffer exhausted'")
    [cert] = rig.certificates(job_id)
    assert outcome.certificate_id == cert.id
    assert signed_record(rig, cert.id)["outcome"]["reason"] == outcome.reason
    assert trail(rig, drive) == ["not-sanitised", "routed"]


CRASH_STAGES = ("before the certificate is kept", "before custody", "before the job notes it")


@pytest.mark.parametrize("stage", CRASH_STAGES)
def test_a_crash_between_a_failed_end_and_its_record_is_completed_once_on_recovery(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, write_error_once: None, stage: str
) -> None:
    """The bench dies after a failed job's end was written but before its record was complete:
    the job stays 'failed' with the record pending; the next start issues (or finds) exactly
    one signed record, chains not-sanitised and routed once, notes the certificate on the job,
    and a further recovery finds nothing left to do."""
    crashed = threading.Event()

    def once(real: Callable[..., Any], when: Callable[..., bool] = lambda *a, **k: True) -> Any:
        def wrapper(*args: Any, **kw: Any) -> Any:
            if not crashed.is_set() and when(*args, **kw):
                crashed.set()
                raise _Crash
            return real(*args, **kw)

        return wrapper

    if stage == CRASH_STAGES[0]:
        monkeypatch.setattr(rig.store, "save_job_certificate", once(rig.store.save_job_certificate))
    elif stage == CRASH_STAGES[1]:
        monkeypatch.setattr(conclusion_module, "record_sanitised", once(record_sanitised))
    else:
        monkeypatch.setattr(
            rig.store,
            "update_job_detail",
            once(rig.store.update_job_detail, lambda *a, **kw: "certificate_id" in kw),
        )
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the staged "death"
    drive = file_drive(rig.tmp, "FAILREC-1")
    first = rig.orchestrator()
    [job_id] = first.start([drive], operator="uma")
    first.wait([job_id], timeout=120)
    assert crashed.is_set()
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "failed"
    assert view.detail["record_pending"]["state"] == "failed"
    assert "certificate_id" not in view.detail
    kept_before = [c.id for c in rig.certificates(job_id)]
    assert len(kept_before) == (0 if stage == CRASH_STAGES[0] else 1)
    assert trail(rig, drive) == ([] if stage != CRASH_STAGES[2] else ["not-sanitised", "routed"])

    rig.kill_owner(job_id)
    second = rig.orchestrator()
    report = second.recover()
    assert (report.recorded, report.interrupted, report.certified) == ((job_id,), (), ())
    assert second.wait(timeout=60)
    view = rig.store.job(job_id)
    assert view is not None
    assert view.state == "failed"
    assert "record_pending" not in view.detail
    [cert] = rig.certificates(job_id)
    if kept_before:
        assert cert.id == kept_before[0], "recovery must reuse the certificate kept"
    assert view.detail["certificate_id"] == cert.id
    record = signed_record(rig, cert.id)
    assert record["outcome"]["status"] == "failed"
    assert record["outcome"]["reason"] == "write error at LBA 2048 (I/O error)"
    assert record["destination"]["route"] == "destruction"
    assert record["sanitisation"]["standard"] == load_policy("nist-800-88").standard
    assert trail(rig, drive) == ["not-sanitised", "routed"]
    [outcome] = rig.of(job_id, JobOutcome)[-1:]
    assert (outcome.state, outcome.certificate_id) == ("failed", cert.id)
    assert states_of(rig, job_id)[-1] == "failed"

    rig.kill_owner(job_id)
    third = rig.orchestrator()
    assert third.recover().recorded == ()
    assert third.wait(timeout=60)
    assert [c.id for c in rig.certificates(job_id)] == [cert.id]
    assert trail(rig, drive) == ["not-sanitised", "routed"]
    assert verify_chain(rig.store).ok


def test_a_record_that_cannot_be_signed_now_is_issued_by_the_next_recovery(
    rig: Rig, write_error_once: None
) -> None:
    """No station key when the job fails: the job still ends failed with the reason, the record
    stays pending with why, and the next process (key back) issues it, once."""
    drive = file_drive(rig.tmp, "NOKEY-1")

    loads = itertools.count()

    def no_key() -> StationSigner:  # there at the start (the pre-flight), gone at the record
        if next(loads) == 0:
            return rig.signer
        raise ConfigError("no station key in /etc/sanitiser/keys")

    deps = dataclasses.replace(rig.deps(), signer=no_key)
    orch = Orchestrator(rig.store, deps, station=STATION, organisation="Test Org")
    rig.orchestrators.append(orch)
    [job_id] = orch.start([drive], operator="vic")
    assert orch.wait([job_id], timeout=120)
    view = rig.store.job(job_id)
    assert view is not None
    assert (view.state, view.detail["reason"]) == ("failed", "write error at LBA 2048 (I/O error)")
    assert "no station key" in view.detail["record_error"]
    assert rig.certificates(job_id) == []
    assert orch.recover().recorded == (), "its own live process is not a crashed one"
    rig.kill_owner(job_id)
    later = rig.orchestrator()
    assert later.recover().recorded == (job_id,)
    assert later.wait(timeout=60)
    view = rig.store.job(job_id)
    assert view is not None
    [cert] = rig.certificates(job_id)
    assert view.detail["certificate_id"] == cert.id
    assert "record_error" not in view.detail
    assert trail(rig, drive) == ["not-sanitised", "routed"]


def test_a_restarted_failed_job_supersedes_the_failed_record(
    rig: Rig, write_error_once: None
) -> None:
    """A failed job (with its signed record) is restarted and succeeds: the new certificate
    names the failed record in 'supersedes', both records are kept, each once."""
    drive = file_drive(rig.tmp, "RETRY-1")
    orch = rig.orchestrator()
    [first] = orch.start([drive], operator="wes")
    assert orch.wait([first], timeout=120)
    [failed] = rig.certificates(first)
    second = orch.restart(first, operator="wes")
    assert orch.wait([second], timeout=120)
    view = rig.store.job(second)
    assert view is not None
    assert view.state == "routed", view.detail.get("reason")
    [ok] = rig.certificates(second)
    record = signed_record(rig, ok.id)
    assert (record["outcome"]["status"], record["supersedes"]) == ("sanitised", failed.id)
    assert signed_record(rig, failed.id)["supersedes"] is None
    assert [c.id for c in rig.certificates(first)] == [failed.id]
    assert trail(rig, drive) == ["not-sanitised", "routed", "sanitised", "routed"]


def test_wipe_json_outcome_carries_the_record_of_a_job_that_did_not_sanitise(
    tmp_path: Path, isolated_settings: Path
) -> None:
    """`wipe --lab --json` of the lab USB stick under strict (destruction planned): the outcome
    line names the certificate of its signed 'refused' record and the exit status is 1; a bad
    --method (refused before any plan) has no record."""
    env = dict(os.environ)
    env.update(
        SANITISER_CERTS_DIR=str(tmp_path / "certs"),
        SANITISER_LAB_DRIVE_MIB="4",
        SANITISER_POLL_INTERVAL="0.01",
        SANITISER_STATION="bench-ci",
    )

    def wipe(*args: str) -> tuple[int, dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "sanitiser", "wipe", "--lab", "--yes", "--json", *args],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
        events = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        [outcome] = [e for e in events if e["event"] == "outcome"]
        return done.returncode, outcome

    code, outcome = wipe("SIM-USB-0001", "--policy", "strict")
    assert code == 1
    assert (outcome["state"], outcome["status"], outcome["destination"]) == (
        "failed",
        "refused",
        "destroy",
    )
    assert outcome["certificate_id"]
    store = Store(f"sqlite:///{isolated_settings / 'sanitiser.db'}")
    raw = store.certificate_record(outcome["certificate_id"])
    assert raw is not None
    signed = parse_envelope(raw)
    check_signature(signed)
    assert signed.record["outcome"]["status"] == "refused"
    assert signed.record["device"]["serial"] == "SIM-USB-0001"
    code, outcome = wipe("SIM-HDD-0001", "--method", "ata-sanitize-crypto")
    assert (code, outcome["status"], outcome["certificate_id"]) == (1, "refused", None)
    assert store.certificate_for_job(outcome["job_id"]) is None


def test_a_station_that_cannot_sign_starts_no_job_and_writes_nothing(rig: Rig) -> None:
    """The pre-flight every shell's start goes through (`Orchestrator.start`): a retired
    station records no job and writes nothing, and says why and what to do."""
    keymod.revoke_station(
        rig.tmp / "pki" / "certs", rig.tmp / "pki" / "keys", STATION, reason=keymod.RETIRED
    )
    drive = file_drive(rig.tmp, "RETIRED-1")
    before = Path(drive.path).read_bytes()
    orch = rig.orchestrator()
    with pytest.raises(SanitiserError, match=f"'{STATION}' was retired") as refused:
        orch.start([drive], operator="ana")
    assert "nothing was written to any drive" in refused.value.msg
    assert "sanitiser keys new-station" in refused.value.msg
    assert refused.value.title == "Station cannot sign"
    assert rig.store.jobs() == []
    assert Path(drive.path).read_bytes() == before


def test_a_job_whose_certificate_cannot_be_signed_is_routed_as_failed(rig: Rig) -> None:
    """The station is retired while a job erases (the pre-flight passed): the certificate
    cannot be signed, so the job ends failed and is routed as a failed job by the policy
    (destruction), not with the route its sanitised outcome would have had (before: recycle)."""
    gate, entered = threading.Event(), threading.Event()
    hold_method(rig, gate, entered)
    drive = file_drive(rig.tmp, "RETIRE-MID-1")
    orch = rig.orchestrator()
    [job_id] = orch.start([drive], operator="ana")
    assert entered.wait(60)
    keymod.revoke_station(
        rig.tmp / "pki" / "certs", rig.tmp / "pki" / "keys", STATION, reason=keymod.RETIRED
    )
    gate.set()
    assert orch.wait([job_id], timeout=120)
    view = rig.job(job_id)
    assert (view.state, view.detail["status"]) == ("failed", "failed")
    assert view.detail["reason"].startswith("the certificate could not be issued: ")
    assert "was retired" in view.detail["reason"]
    assert view.detail["destination"] == "destroy"
    assert view.detail["destruction_level"]
    assert view.detail["routing"]["outcome_class"] == "failed"
    outcome = orch.outcome(job_id)
    assert outcome is not None
    assert (outcome.status, outcome.destination) == ("failed", "destroy")
    assert rig.certificates(job_id) == []
