"""Without a network: the agent keeps signed evidence on the stick; the bench checks it before
anything is signed, and the certificate says the work was captured off-bench."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sanitiser.agent.evidence import check_evidence, import_evidence
from sanitiser.agent.offline import run_offline
from sanitiser.certificate.sign import parse_envelope
from sanitiser.errors import SanitiserError
from sanitiser.lab.bench import LabKind
from tests.integration.agent_rig import AgentRig, agent_rig, device_seams

__all__ = ["agent_rig"]


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def erased_offline(rig: AgentRig) -> tuple[Path, str]:
    stick = rig.tmp / "stick"
    rig.service.mint_session(stick)
    lab, seams = device_seams(rig.tmp / "laptop", (LabKind.NVME,))
    [disk] = lab.drives()
    before = digest(disk.path)
    run_offline(seams, stick, lambda entry: entry["drive"]["serial"] == disk.serial)
    assert digest(disk.path) != before  # erased at the device, with no bench
    return stick, disk.serial


def test_offline_evidence_is_checked_then_certified_as_captured_off_bench(
    agent_rig: AgentRig,
) -> None:
    rig = agent_rig
    stick, serial = erased_offline(rig)
    [job_id] = import_evidence(rig.service, stick, operator="mia")
    assert rig.service.jobs.wait([job_id], timeout=120)
    view = rig.services.store.job(job_id)
    assert view is not None
    assert view.state == "routed", view.detail
    envelope = rig.services.store.certificate_record(str(view.detail["certificate_id"]))
    assert envelope is not None
    record = parse_envelope(envelope).record
    assert record["sanitisation"]["captured"] == "off-bench"
    assert record["device"]["serial"] == serial


@pytest.mark.parametrize("damage", ["alter", "drop", "swap"])
def test_altered_dropped_or_reordered_evidence_is_refused_and_nothing_signed(
    agent_rig: AgentRig, damage: str
) -> None:
    rig = agent_rig
    stick, _serial = erased_offline(rig)
    [evidence] = stick.glob("evidence-*.jsonl")
    lines = evidence.read_bytes().splitlines(keepends=True)
    if damage == "alter":
        was = lines[-2]
        lines[-2] = was.replace(b'"sanitised"', b'"SANITISED"', 1).replace(b"true", b"false", 1)
        assert lines[-2] != was
    elif damage == "drop":
        del lines[2]
    else:
        lines[1], lines[2] = lines[2], lines[1]
    evidence.write_bytes(b"".join(lines))
    with pytest.raises(SanitiserError, match="nothing imported"):
        check_evidence(rig.service, stick)
    with pytest.raises(SanitiserError):
        import_evidence(rig.service, stick, operator="mia")
    assert rig.services.store.jobs() == []
