"""The agent and the bench over real mutual TLS on localhost: a computer appears with its
inventory and drives, is wiped on the bench's go, and the bench alone certifies."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sanitiser.agent.bench import is_remote
from sanitiser.certificate.sign import parse_envelope
from sanitiser.lab.bench import LabKind
from sanitiser.store.agents import agent_reports
from tests.integration.agent_rig import AgentRig, agent_rig, device_seams, wait_until

__all__ = ["agent_rig"]


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_computer_appears_and_is_wiped_on_the_bench_go(agent_rig: AgentRig) -> None:
    """The agent's hello puts the computer and its drive on the bench with the plan; the
    technician's go runs the method on the device; the bench certifies (captured on-device)."""
    rig = agent_rig
    session = rig.service.mint_session(rig.tmp / "creds")
    lab, seams = device_seams(rig.tmp / "laptop", (LabKind.NVME,))
    [disk] = lab.drives()
    before = digest(disk.path)
    running = rig.boot(rig.tmp / "creds", seams)
    wait_until(
        rig.service.bench.drives,
        "the computer's hello",
        refused=lambda: running.reporter.refused,
    )
    [remote] = rig.service.bench.drives()
    assert is_remote(remote.drive)
    assert remote.drive.serial == disk.serial
    assert remote.protected == ()
    assert remote.shown
    [host] = rig.service.bench.hosts.values()
    assert host.inventory is not None
    assert host.inventory.system.product  # the laptop's DMI came across
    [job_id] = rig.service.bench.start(
        [remote.drive.path], operator="mia", confirmed={remote.drive.path: remote.shown}
    )
    assert rig.service.jobs.wait([job_id], timeout=120)
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "routed", view.detail
    assert digest(disk.path) != before  # the device's drive was erased
    cert_id = view.detail["certificate_id"]
    envelope = rig.services.store.certificate_record(cert_id)
    assert envelope is not None
    record = parse_envelope(envelope).record
    assert record["sanitisation"]["captured"] == "on-device"
    assert record["outcome"]["status"] == "sanitised"
    assert record["device"]["serial"] == disk.serial
    accepted = agent_reports(rig.services.store, session=session.session_id, accepted=True)
    assert [r.seq for r in accepted] == list(range(1, len(accepted) + 1))
    assert agent_reports(rig.services.store, accepted=False) == []
    assert json.loads(accepted[0].body)["kind"] == "hello"
