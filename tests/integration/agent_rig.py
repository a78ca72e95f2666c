"""A bench and computers running the agent, on localhost over real TLS: the bench's real
`AgentService` (receiver, computers, job engine over a real store and signing identity) and the
real agent code, whose drives are the lab's files answered by the lab's emulators."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sanitiser.agent.agent import Agent
from sanitiser.agent.credentials import AgentCredentials
from sanitiser.agent.device import DeviceSeams
from sanitiser.agent.link import BenchLink, Channel, ChannelDown, Reporter, new_agent_id
from sanitiser.agent.protocol import Report, ReportKind
from sanitiser.agent.service import AgentService
from sanitiser.app.services import Services, build_services
from sanitiser.config import Settings
from sanitiser.inventory.dmi import parse_dmidecode
from sanitiser.inventory.model import HostInventory, inventory_from_dmi
from sanitiser.lab.bench import LabBench, LabKind, lab_health
from sanitiser.lab.runner import lab_runner
from sanitiser.testing import FakeDriveSource

DMI = Path(__file__).parents[1] / "data/real/dmidecode/lenovo-thinkpad-t480-20l5.txt"
"""A real laptop's dmidecode (tests/data/real/dmidecode/SOURCES): the computer's identity."""
WAIT_S = 120.0


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout: float = WAIT_S,
    refused: Callable[[], str] = lambda: "",
) -> None:
    """Wait for `condition` (checked at once, then often) within a generous bound; fail at once
    when `refused` says why it cannot happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if refused():
            pytest.fail(f"{what} cannot happen: {refused()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def laptop_inventory(serial: str = "PF1LAB01") -> HostInventory:
    """The real T480's facts, with the serial and UUID its capture redacted (``--``, which
    identifies no computer) given back: `serial`, and a UUID made from it."""
    inv = inventory_from_dmi(parse_dmidecode(DMI.read_text(encoding="utf-8")))
    system = dataclasses.replace(
        inv.system, serial=serial, uuid=str(uuid.uuid5(uuid.NAMESPACE_OID, serial))
    )
    return dataclasses.replace(inv, system=system)


def no_dmi_inventory() -> HostInventory:
    """The real T480's facts as captured: serial and UUID redacted (``--``), as a computer
    whose firmware names itself by nothing (many tablets and white boxes)."""
    return inventory_from_dmi(parse_dmidecode(DMI.read_text(encoding="utf-8")))


def device_seams(
    directory: Path,
    kinds: tuple[LabKind, ...],
    *,
    own: tuple[str, ...] = (),
    inventory: Callable[[], HostInventory] = laptop_inventory,
) -> tuple[LabBench, DeviceSeams]:
    """A computer whose drives are lab files in `directory` (its own lab)."""
    lab = LabBench(directory, drive_mib=4, kinds=kinds)
    seams = DeviceSeams(
        runner=lab_runner(lab),
        list_drives=lab.drives,
        inventory=inventory,
        backend_for=lambda _d: lab.backend,
        own_medium=own,
        health_of=lambda d, _r: lab_health(d),
        poll_interval=0.05,
    )
    return lab, seams


@dataclass
class RunningAgent:
    """An agent running in a thread (one boot of a computer)."""

    agent: Agent
    reporter: Reporter
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def power_off(self) -> None:
        """Stop it the way a power cut does: no goodbye; queued reports are lost."""
        self.stop.set()
        self.reporter.close()
        if self.thread is not None:
            self.thread.join(WAIT_S)


@dataclass
class AgentRig:
    services: Services
    service: AgentService
    tmp: Path
    agents: list[RunningAgent] = field(default_factory=list)

    def boot(
        self,
        credentials: Path,
        seams: DeviceSeams,
        channel: Callable[[BenchLink], Channel] = lambda link: link,
    ) -> RunningAgent:
        """Boot a computer's agent with `credentials`, reporting to the bench (through
        `channel`, e.g. a `Cable`)."""
        creds = AgentCredentials.load(credentials)
        link = BenchLink(self.service.url, creds)
        reporter = Reporter(channel(link), creds.session_id, new_agent_id())
        agent = Agent(seams, reporter, lambda: link.orders(reporter.agent))
        running = RunningAgent(agent, reporter)
        running.thread = threading.Thread(target=agent.run, args=(running.stop,), daemon=True)
        running.thread.start()
        self.agents.append(running)
        return running


@pytest.fixture
def agent_rig(tmp_path: Path) -> Iterator[AgentRig]:
    services = build_services(Settings(), lab=False, real=FakeDriveSource())
    service = AgentService(services, host="127.0.0.1")
    service.start()
    rig = AgentRig(services, service, tmp_path)
    try:
        yield rig
    finally:
        for running in rig.agents:
            running.power_off()
        service.stop()


@dataclass
class Cable:
    """The network between a computer and the bench, at the channel: cut it and every delivery
    fails as a lost connection does (`ChannelDown`); the agent's reports wait."""

    link: BenchLink
    cut_after: Callable[[Report], bool] = lambda _r: False
    """Cut the cable once this report has been delivered."""
    cut: threading.Event = field(default_factory=threading.Event)

    def deliver(self, report: Report) -> None:
        if self.cut.is_set():
            raise ChannelDown("the cable is cut")
        self.link.deliver(report)
        if self.cut_after(report):
            self.cut.set()


def sanitising(report: Report) -> bool:
    """The report saying the erase has started on the device."""
    return (
        report.kind is ReportKind.JOB
        and report.body.get("event") == "phase"
        and report.body.get("state") == "sanitising"
    )


def cable_cut_after(
    when: Callable[[Report], bool], made: list[Cable]
) -> Callable[[BenchLink], Cable]:
    """A channel for `AgentRig.boot`: a `Cable` cut once a report `when` picks is delivered
    (each cable made is appended to `made`)."""

    def cable(link: BenchLink) -> Cable:
        made.append(Cable(link, cut_after=when))
        return made[-1]

    return cable
