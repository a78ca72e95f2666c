"""The agent channel refuses what the bench did not ask for, and says so in its log: wrong
credentials, another session's, a replayed report, an out-of-order one, a report for a drive the
bench never confirmed; the agent never erases its own boot medium; a connection cut mid-erase
invents no outcome, and the computer booting again records the job interrupted, uncertified."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from sanitiser.agent.credentials import AgentCredentials, mint_session
from sanitiser.agent.device import OWN_MEDIUM_REASON, Execution, execute
from sanitiser.agent.link import BenchLink, ChannelDown, ReportRefused
from sanitiser.agent.protocol import JobEvent, Order, OrderAction, Report, ReportKind
from sanitiser.errors import SanitiserError
from sanitiser.jobs.journal import drive_to_json
from sanitiser.lab.bench import LabKind
from sanitiser.store.agents import agent_reports
from tests.integration.agent_rig import (
    AgentRig,
    Cable,
    agent_rig,
    cable_cut_after,
    device_seams,
    sanitising,
    wait_until,
)

__all__ = ["agent_rig"]


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def refusals(rig: AgentRig) -> list[str]:
    return [r.reason for r in agent_reports(rig.services.store, accepted=False)]


def hello(session: str, agent: str, seq: int) -> Report:
    return Report(session, agent, seq, ReportKind.HELLO, {"host": None, "drives": []})


def test_credentials_of_a_session_the_bench_never_minted_are_refused_at_tls(
    agent_rig: AgentRig,
) -> None:
    """A stranger's session (its own CA): the handshake fails, nothing is accepted, the refusal
    is logged."""
    rig = agent_rig
    rig.service.mint_session(rig.tmp / "ours")
    stranger = mint_session(rig.tmp / "theirs")  # never admitted by this bench
    link = BenchLink(rig.service.url, AgentCredentials.load(rig.tmp / "theirs"))
    with pytest.raises(ChannelDown):
        link.deliver(hello(stranger.session_id, "a" * 32, 1))
    wait_until(lambda: refusals(rig), "the refusal in the log")
    assert "named no session of this bench" in refusals(rig)[0]
    assert agent_reports(rig.services.store, accepted=True) == []


def test_another_sessions_credentials_are_refused(agent_rig: AgentRig) -> None:
    """Session B's agent certificate presented for session A: A's CA does not verify it."""
    rig = agent_rig
    a = rig.service.mint_session(rig.tmp / "a")
    rig.service.mint_session(rig.tmp / "b")
    forged = AgentCredentials(
        a.session_id,
        rig.tmp / "a" / "ca.pem",
        rig.tmp / "b" / "agent.pem",
        rig.tmp / "b" / "agent.key",
    )
    link = BenchLink(rig.service.url, forged)
    with pytest.raises((ChannelDown, ReportRefused)):
        link.deliver(hello(a.session_id, "b" * 32, 1))
    wait_until(lambda: refusals(rig), "the refusal in the log")
    assert refusals(rig)[0].startswith("forged")
    assert agent_reports(rig.services.store, accepted=True) == []


def test_a_report_naming_another_session_is_refused(agent_rig: AgentRig) -> None:
    """Session A's identity sending a report that claims session B."""
    rig = agent_rig
    rig.service.mint_session(rig.tmp / "a")
    b = rig.service.mint_session(rig.tmp / "b")
    link = BenchLink(rig.service.url, AgentCredentials.load(rig.tmp / "a"))
    with pytest.raises(ReportRefused, match="forged"):
        link.deliver(hello(b.session_id, "c" * 32, 1))
    assert "names session" in refusals(rig)[0]


def test_replayed_and_out_of_order_reports_are_refused_and_logged(agent_rig: AgentRig) -> None:
    """Report 1 accepted; 1 again is a replay (409, logged); 3 before 2 is out of order."""
    rig = agent_rig
    session = rig.service.mint_session(rig.tmp / "a")
    link = BenchLink(rig.service.url, AgentCredentials.load(rig.tmp / "a"))
    agent = uuid.uuid4().hex
    first = hello(session.session_id, agent, 1)
    link.deliver(first)
    status, reply = link._request("POST", "/v1/reports", first.encode())
    assert status == 409
    assert reply["expected"] == 2
    status, reply = link._request(
        "POST", "/v1/reports", hello(session.session_id, agent, 3).encode()
    )
    assert status == 409
    assert "out of order" in reply["refused"]
    reasons = refusals(rig)
    assert reasons[0].startswith("replayed")
    assert reasons[1].startswith("out of order")
    assert [r.seq for r in agent_reports(rig.services.store, accepted=True)] == [1]
    link.deliver(hello(session.session_id, agent, 2))  # the right next one still goes through


def test_a_report_for_a_drive_the_bench_never_confirmed_is_refused(agent_rig: AgentRig) -> None:
    """A job report (an outcome) for an order the bench never sent: 422, logged, no job."""
    rig = agent_rig
    session = rig.service.mint_session(rig.tmp / "a")
    link = BenchLink(rig.service.url, AgentCredentials.load(rig.tmp / "a"))
    agent = uuid.uuid4().hex
    link.deliver(hello(session.session_id, agent, 1))
    made_up = Report(
        session.session_id,
        agent,
        2,
        ReportKind.JOB,
        {"order": "f" * 32, "job": str(uuid.uuid4()), "event": "outcome", "outcome": {}},
    )
    with pytest.raises(ReportRefused, match="unconfirmed"):
        link.deliver(made_up)
    assert refusals(rig)[0].startswith("unconfirmed")
    assert rig.services.store.jobs() == []


def test_the_agent_never_erases_its_own_boot_medium(agent_rig: AgentRig) -> None:
    """The stick the agent booted from is reported protected, the bench refuses the go, and an
    order for it that reaches the device anyway is refused by the guard: nothing written."""
    rig = agent_rig
    rig.service.mint_session(rig.tmp / "creds")
    probe_lab, _ = device_seams(rig.tmp / "laptop", (LabKind.NVME, LabKind.USB_FLASH))
    stick = next(d for d in probe_lab.drives() if d.transport.value == "usb")
    _lab, seams = device_seams(
        rig.tmp / "laptop", (LabKind.NVME, LabKind.USB_FLASH), own=(stick.path,)
    )
    before = digest(stick.path)
    running = rig.boot(rig.tmp / "creds", seams)
    wait_until(
        lambda: len(rig.service.bench.drives()) == 2,
        "the hello",
        refused=lambda: running.reporter.refused,
    )
    remote = next(d for d in rig.service.bench.drives() if d.drive.serial == stick.serial)
    assert OWN_MEDIUM_REASON in remote.protected
    with pytest.raises(SanitiserError, match="protected"):
        rig.service.bench.start(
            [remote.drive.path], operator="mia", confirmed={remote.drive.path: "host-overwrite"}
        )
    said: list[tuple[JobEvent, dict[str, object]]] = []
    order = Order(
        uuid.uuid4().hex, OrderAction.ERASE, str(uuid.uuid4()), stick.path, drive_to_json(stick)
    )
    execute(seams, Execution(order), lambda ev, facts: said.append((ev, facts)))
    assert [ev for ev, _ in said] == [JobEvent.REFUSED]
    assert OWN_MEDIUM_REASON in str(said[0][1]["reason"])
    assert digest(stick.path) == before
    assert rig.services.store.jobs() == []


def test_a_connection_cut_mid_erase_invents_nothing_and_a_reboot_records_interrupted(
    agent_rig: AgentRig,
) -> None:
    """The cable is cut once the bench hears 'sanitising': the device's reports wait (the bench
    invents no outcome and the job stays sanitising); the computer then boots again, and the
    job is recorded interrupted with no certificate."""
    rig = agent_rig
    rig.service.mint_session(rig.tmp / "creds")
    _lab, seams = device_seams(rig.tmp / "laptop", (LabKind.USB_FLASH,))
    cable_holder: list[Cable] = []

    first = rig.boot(rig.tmp / "creds", seams, cable_cut_after(sanitising, cable_holder))
    wait_until(rig.service.bench.drives, "the hello", refused=lambda: first.reporter.refused)
    [remote] = rig.service.bench.drives()
    [job_id] = rig.service.bench.start(
        [remote.drive.path], operator="mia", confirmed={remote.drive.path: remote.shown}
    )
    wait_until(cable_holder[0].cut.is_set, "the cut")
    wait_until(lambda: first.reporter.paused, "reporting paused")  # its reports wait
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "sanitising"  # the bench invents no outcome
    first.power_off()
    second = rig.boot(rig.tmp / "creds", seams)
    wait_until(
        lambda: (v := rig.services.store.job(job_id)) is not None and v.state == "interrupted",
        "the job recorded interrupted",
        refused=lambda: second.reporter.refused,
    )
    assert rig.service.jobs.wait([job_id], timeout=120)
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "interrupted"
    assert "restarted" in str(view.detail["reason"])
    assert rig.services.store.certificate_for_job(job_id) is None
