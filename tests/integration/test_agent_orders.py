"""Orders from the bench after the go, over real mutual TLS: a computer that restarts while its
NVMe sanitize runs is recorded interrupted, then re-polled on its next boot to a certificate the
bench signs; and an abort from the bench reaches the device before anything is erased."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pytest

from sanitiser.agent.agent import Agent
from sanitiser.agent.credentials import AgentCredentials
from sanitiser.agent.device import DeviceSeams
from sanitiser.agent.link import BenchLink, ChannelDown, Reporter, new_agent_id
from sanitiser.agent.protocol import Order, Report, ReportKind
from sanitiser.certificate.sign import parse_envelope
from sanitiser.inventory.model import HostInventory
from sanitiser.lab.bench import LabKind
from sanitiser.methods.nvme import JOURNAL_SANITIZE
from sanitiser.store.audit import entries
from tests.integration.agent_rig import (
    AgentRig,
    Cable,
    RunningAgent,
    agent_rig,
    cable_cut_after,
    device_seams,
    laptop_inventory,
    no_dmi_inventory,
    sanitising,
    wait_until,
)

__all__ = ["agent_rig"]


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sanitize_sent(report: Report) -> bool:
    """The method's notes say the sanitize command was sent (the drive goes on by itself)."""
    notes = report.body.get("notes") if report.kind is ReportKind.JOB else None
    return isinstance(notes, dict) and bool(notes.get(JOURNAL_SANITIZE))


@pytest.mark.parametrize(
    "inventory", [laptop_inventory, no_dmi_inventory], ids=["dmi-serial", "no-dmi-identity"]
)
def test_a_restart_mid_sanitize_is_interrupted_then_re_polled_to_a_certificate(
    agent_rig: AgentRig, inventory: Callable[[], HostInventory]
) -> None:
    """The cable is cut once the bench has the sanitize's notes; the computer powers off (its
    drive finishes the sanitize on its own, as NVMe does) and boots again: the job is recorded
    interrupted, a resume order re-polls the drive, and the bench certifies; the backing file
    proves the erase. A computer whose firmware names itself by nothing is known again by its
    own drive."""
    rig = agent_rig
    rig.service.mint_session(rig.tmp / "creds")
    lab, seams = device_seams(rig.tmp / "laptop", (LabKind.NVME,), inventory=inventory)
    [disk] = lab.drives()
    before = digest(disk.path)
    cables: list[Cable] = []
    first = rig.boot(rig.tmp / "creds", seams, cable_cut_after(sanitize_sent, cables))
    wait_until(rig.service.bench.drives, "the hello", refused=lambda: first.reporter.refused)
    [remote] = rig.service.bench.drives()
    assert remote.shown.startswith("nvme-sanitize"), remote.shown
    [job_id] = rig.service.bench.start(
        [remote.drive.path], operator="mia", confirmed={remote.drive.path: remote.shown}
    )
    wait_until(lambda: cables and cables[0].cut.is_set(), "the cut after the sanitize's notes")
    rig.service.bench.lost_after = 1.0  # a real restart is silent for longer than this
    first.power_off()
    wait_until(lambda: not first.agent.running, "the first boot's method to stop")
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "sanitising"  # nothing invented while the computer was away
    host = remote.drive.path.split("/")[2]
    wait_until(lambda: rig.service.bench.link_lost(host), "the first boot to fall silent")
    second = rig.boot(rig.tmp / "creds", seams)
    assert rig.service.jobs.wait([job_id], timeout=120)
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "routed", view.detail
    assert rig.services.store.certificate_for_job(job_id) is not None
    events = [str(e.data) for e in rig.services.store.job_events(job_id)]
    assert any("restarted" in m for m in events), events
    assert any("resumed after the computer restarted" in m for m in events), events
    assert digest(disk.path) != before
    assert not second.reporter.refused
    assert list(rig.service.bench.hosts) == [remote.drive.path.split("/")[2]]  # one computer


def test_two_computers_answering_with_the_same_drives_are_never_one(
    agent_rig: AgentRig,
) -> None:
    """Two computers with no DMI identity whose drives report the same model, serial and size
    (cheap drives do), both answering: each is a computer of its own on the bench, with its
    own drive; neither boot is taken for a restart of the other."""
    rig = agent_rig
    rig.service.mint_session(rig.tmp / "creds")
    booted = []
    for count, name in enumerate(("tablet-a", "tablet-b"), start=1):
        _, seams = device_seams(rig.tmp / name, (LabKind.NVME,), inventory=no_dmi_inventory)
        booted.append(rig.boot(rig.tmp / "creds", seams))
        wait_until(
            partial(lambda n: len(rig.service.bench.drives()) == n, count),
            f"{name}'s hello",
            refused=lambda: booted[-1].reporter.refused,
        )
    hosts = list(rig.service.bench.hosts.values())
    assert len(hosts) == 2
    assert {h.agent for h in hosts} == {b.reporter.agent for b in booted}
    assert hosts[0].host.startswith("drives-")
    assert hosts[1].host.startswith("boot-")
    assert not any(b.reporter.refused for b in booted)


def boot_held(
    rig: AgentRig, credentials: Path, seams: DeviceSeams, gate: threading.Event
) -> RunningAgent:
    """Boot an agent that takes no order until `gate` is set (its polls return nothing)."""
    creds = AgentCredentials.load(credentials)
    link = BenchLink(rig.service.url, creds)
    reporter = Reporter(link, creds.session_id, new_agent_id())

    def orders() -> Sequence[Order]:
        return link.orders(reporter.agent) if gate.is_set() else []

    agent = Agent(seams, reporter, orders)
    running = RunningAgent(agent, reporter)
    running.thread = threading.Thread(target=agent.run, args=(running.stop,), daemon=True)
    running.thread.start()
    rig.agents.append(running)
    return running


def test_an_abort_from_the_bench_reaches_the_device_and_nothing_is_certified(
    agent_rig: AgentRig,
) -> None:
    """The technician aborts while the erase order waits for the device: the device gets the
    erase and the abort together, its method stops at once, the job ends aborted (its record,
    if any, says so), and nothing is recorded sanitised."""
    rig = agent_rig
    rig.service.mint_session(rig.tmp / "creds")
    _lab, seams = device_seams(rig.tmp / "laptop", (LabKind.USB_FLASH,))
    gate = threading.Event()
    running = boot_held(rig, rig.tmp / "creds", seams, gate)
    wait_until(rig.service.bench.drives, "the hello", refused=lambda: running.reporter.refused)
    [remote] = rig.service.bench.drives()
    [job_id] = rig.service.bench.start(
        [remote.drive.path], operator="mia", confirmed={remote.drive.path: remote.shown}
    )
    reply = rig.service.jobs.abort(job_id)
    assert reply.accepted, reply.message
    wait_until(
        lambda: any(o.action.value == "abort" for o in pending(rig)), "the abort order queued"
    )
    gate.set()
    assert rig.service.jobs.wait([job_id], timeout=120)
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "aborted", view.detail
    record_id = rig.services.store.certificate_for_job(job_id)
    if record_id is not None:  # a planned attempt's record says what was done: nothing clean
        envelope = rig.services.store.certificate_record(record_id)
        assert envelope is not None
        assert parse_envelope(envelope).record["outcome"]["status"] == "aborted"
    assert not any(e.kind == "sanitised" for e in entries(rig.services.store))


def pending(rig: AgentRig) -> list[Order]:
    [host] = rig.service.bench.computers()
    session = rig.service.receiver.sessions[host.session]
    return list(rig.service.bench.orders_for(session, host.agent))


def test_a_cancel_while_the_computer_is_not_answering_ends_the_job_interrupted(
    agent_rig: AgentRig,
) -> None:
    """The computer goes quiet after the go, before it took the order (its cable out); the
    technician cancels: the abort can reach nobody, so once the link is lost the job is recorded
    interrupted, nothing certified, instead of waiting for a report that never comes. When the
    cable goes back in, the computer gets the abort but not the erase: its drive is untouched
    and the job stays interrupted."""
    rig = agent_rig
    rig.service.bench.lost_after = 1.0
    rig.service.mint_session(rig.tmp / "creds")
    lab, seams = device_seams(rig.tmp / "laptop", (LabKind.USB_FLASH,))
    [disk] = lab.drives()
    before = digest(disk.path)
    cable = threading.Event()
    running = boot_held(rig, rig.tmp / "creds", seams, cable)
    wait_until(rig.service.bench.drives, "the hello", refused=lambda: running.reporter.refused)
    [remote] = rig.service.bench.drives()
    [job_id] = rig.service.bench.start(
        [remote.drive.path], operator="mia", confirmed={remote.drive.path: remote.shown}
    )
    [host] = rig.service.bench.computers()
    wait_until(lambda: rig.service.bench.link_lost(host.host), "the link lost")
    assert rig.service.jobs.abort(job_id).accepted
    assert rig.service.jobs.wait([job_id], timeout=120)
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "interrupted", view.detail
    assert "cancelled at the bench while the computer was not answering" in str(view.detail)
    [abort] = pending(rig)  # the erase is withdrawn
    assert abort.action.value == "abort"

    cable.set()  # back: it polls, and takes what is queued for it
    wait_until(lambda: abort.order_id in running.agent.seen, "the abort taken")
    assert len(running.agent.seen) == 1  # the abort alone: the erase never reached it
    assert not running.agent.running
    assert not running.reporter.refused
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "interrupted"
    assert rig.services.store.certificate_for_job(job_id) is None
    assert not any(e.kind == "sanitised" for e in entries(rig.services.store))
    assert digest(disk.path) == before


def test_what_a_given_up_computer_reports_later_is_logged_never_acted_on(
    agent_rig: AgentRig,
) -> None:
    """The cable goes out once the overwrite has started (the computer waits to hand over its
    notes); the technician cancels and the job is recorded interrupted. The cable goes back in:
    the computer's queued reports and its outcome are accepted and kept in the job's log, and
    nothing is certified."""
    rig = agent_rig
    rig.service.bench.lost_after = 1.0
    rig.service.mint_session(rig.tmp / "creds")
    _lab, seams = device_seams(rig.tmp / "laptop", (LabKind.USB_FLASH,))
    creds = AgentCredentials.load(rig.tmp / "creds")
    link = BenchLink(rig.service.url, creds)
    cable = Cable(link, cut_after=sanitising)

    def orders() -> Sequence[Order]:
        if cable.cut.is_set():
            raise ChannelDown("the cable is out")
        return link.orders(reporter.agent)

    reporter = Reporter(cable, creds.session_id, new_agent_id())
    running = RunningAgent(Agent(seams, reporter, orders), reporter)
    running.thread = threading.Thread(target=running.agent.run, args=(running.stop,), daemon=True)
    running.thread.start()
    rig.agents.append(running)
    wait_until(rig.service.bench.drives, "the hello", refused=lambda: reporter.refused)
    [remote] = rig.service.bench.drives()
    [job_id] = rig.service.bench.start(
        [remote.drive.path], operator="mia", confirmed={remote.drive.path: remote.shown}
    )
    wait_until(cable.cut.is_set, "the cable out once the overwrite started")
    [host] = rig.service.bench.computers()
    wait_until(lambda: rig.service.bench.link_lost(host.host), "the link lost")
    assert rig.service.jobs.abort(job_id).accepted
    assert rig.service.jobs.wait([job_id], timeout=120)

    cable.cut.clear()  # back: the queued reports go out, and the computer carries on

    def late() -> list[str]:
        return [
            str(e.data.get("message"))
            for e in rig.services.store.job_events(job_id)
            if "late report" in str(e.data.get("message"))
        ]

    wait_until(lambda: any("outcome" in m for m in late()), "the late outcome logged")
    assert not reporter.refused
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "interrupted", view.detail
    assert rig.services.store.certificate_for_job(job_id) is None
    assert not any(e.kind == "sanitised" for e in entries(rig.services.store))
