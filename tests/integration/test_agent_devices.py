"""A computer running the agent joins its device record over real TLS: found by its serial at
hello (or attached by its scanned tag), its drives wiped on the bench's go carry the device's
tag in their certificates, and the device moves to sanitised."""

from __future__ import annotations

from sanitiser.app.computers import AGENT_SOURCE, Match
from sanitiser.app.devices import DeviceDesk
from sanitiser.assets.model import DeviceState
from sanitiser.certificate.sign import parse_envelope
from sanitiser.lab.bench import LabKind
from tests.integration.agent_rig import (
    AgentRig,
    agent_rig,
    device_seams,
    laptop_inventory,
    wait_until,
)

__all__ = ["agent_rig"]


def attached(rig: AgentRig) -> object:
    hosts = rig.service.bench.computers()
    return hosts and hosts[0].attachment is not None


def test_a_computer_taken_in_by_serial_is_prefilled_wiped_and_its_device_sanitised(
    agent_rig: AgentRig,
) -> None:
    """Intake by tag and serial; the agent's hello finds the device, records the facts from
    the agent and links both internal drives; the bench's go wipes them and each certificate
    names the device's tag; the device is then sanitised."""
    rig = agent_rig
    desk = DeviceDesk(rig.services, "mia")
    desk.intake(kind="laptop", tag="LBC-0199", serial="PF1ABCDE")
    rig.service.mint_session(rig.tmp / "creds")
    _lab, seams = device_seams(rig.tmp / "laptop", (LabKind.NVME, LabKind.SATA_SSD))
    seams.inventory = lambda: laptop_inventory("PF1ABCDE")
    running = rig.boot(rig.tmp / "creds", seams)
    wait_until(
        lambda: attached(rig), "the device looked up", refused=lambda: running.reporter.refused
    )
    [host] = rig.service.computers()
    assert host.attachment is not None
    assert host.attachment.match is Match.ATTACHED, host.attachment.message
    assert host.tag == "LBC-0199"
    assert host.model
    assert host.link == "connected"
    device = desk.report("LBC-0199").device
    assert device.inventory_source == AGENT_SOURCE
    assert len(device.drives) == 2
    remotes = rig.service.bench.drives()
    jobs = rig.service.bench.start(
        [r.drive.path for r in remotes],
        operator="mia",
        confirmed={r.drive.path: r.shown for r in remotes},
    )
    assert rig.service.jobs.wait(jobs, timeout=120)
    for job_id in jobs:
        view = rig.services.store.job(job_id)
        assert view is not None
        assert view.state == "routed", view.detail
        envelope = rig.services.store.certificate_record(view.detail["certificate_id"])
        assert envelope is not None
        record = parse_envelope(envelope).record
        assert record["device"]["property_number"] == "LBC-0199"
    wait_until(
        lambda: desk.report("LBC-0199").device.state is DeviceState.SANITISED,
        "the device sanitised",
    )


def test_an_unmatched_computer_is_attached_by_its_scanned_tag(agent_rig: AgentRig) -> None:
    """No device has its serial: it shows unmatched and nothing is linked; the technician
    scans the tag and its drives are linked."""
    rig = agent_rig
    desk = DeviceDesk(rig.services, "mia")
    desk.intake(kind="laptop", tag="LBC-0500")
    rig.service.mint_session(rig.tmp / "creds")
    _lab, seams = device_seams(rig.tmp / "laptop", (LabKind.NVME,))
    seams.inventory = lambda: laptop_inventory("PF7UNKNOWN")
    running = rig.boot(rig.tmp / "creds", seams)
    wait_until(
        lambda: attached(rig), "the device looked up", refused=lambda: running.reporter.refused
    )
    [host] = rig.service.computers()
    assert host.attachment is not None
    assert host.attachment.match is Match.UNMATCHED
    assert desk.report("LBC-0500").device.drives == ()
    got = rig.service.attach(host.key, "LBC-0500", operator="mia")
    assert got.attached
    assert rig.service.computers()[0].tag == "LBC-0500"
    assert [d.serial for d in desk.report("LBC-0500").device.drives] == [
        host.drives[0].drive.serial
    ]
