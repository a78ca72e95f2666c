"""The job service the CLI and the TUI share: an orchestrator wired to the real seams, and
the plan a drive's job will run (what the technician confirms).

`make_orchestrator` is the one place the guard, what is behind each drive's path and the command
runner (the lab's files and emulators for lab drives), the shipped policies and methods and the
station's signing identity are put together.
"""

from __future__ import annotations

import functools
import os

from sanitiser.app.devices import advance_linked
from sanitiser.app.services import Services, station_signer
from sanitiser.certificate.keys import StationSigner
from sanitiser.custody.anchors import CHECKPOINTS_FILE
from sanitiser.devices.guard import claim as guard_claim
from sanitiser.devices.health import read_health
from sanitiser.devices.probing import probe
from sanitiser.domain import Drive, Health
from sanitiser.errors import SanitiserError
from sanitiser.jobs.orchestrator import JobDependencies, Orchestrator
from sanitiser.policy.plan import Plan
from sanitiser.runner import CommandRunner
from sanitiser.store import drive_key


def _lab_runner(services: Services) -> CommandRunner:
    from sanitiser.lab.runner import lab_runner  # noqa: PLC0415 - only lab runs need emulators

    assert services.lab is not None  # noqa: S101 - callers check
    return lab_runner(services.lab)


def _health_of(drive: Drive, runner: CommandRunner) -> Health:
    if drive.simulated:
        from sanitiser.lab.bench import lab_health  # noqa: PLC0415 - lab only

        return lab_health(drive)
    return read_health(drive, runner)


def find_attached(services: Services, recorded: Drive) -> Drive | None:
    """The drive attached now that is `recorded` (same serial/WWN, else same path), or None."""
    try:
        drives = services.source.list()
    except SanitiserError:
        return None
    key = drive_key(recorded)
    for drive in drives:
        if drive.simulated == recorded.simulated and drive_key(drive) == key:
            return drive
    return None


def default_dependencies(services: Services) -> JobDependencies:
    """The real seams: the guard over the machine's block devices and real tools (the lab's
    files and emulators for lab drives), the shipped policies and methods, and this station's
    signing identity."""
    from sanitiser.methods.registry import method_for  # noqa: PLC0415 - heavy, wipe only
    from sanitiser.policy.loader import DEFAULT_POLICY, load_policy  # noqa: PLC0415
    from sanitiser.policy.select import select_method  # noqa: PLC0415

    settings = services.settings
    lab_runner = functools.cache(lambda: _lab_runner(services))

    def runner_for(drive: Drive) -> CommandRunner:
        return lab_runner() if drive.simulated and services.lab is not None else services.runner

    def signer() -> StationSigner:
        return station_signer(settings)

    return JobDependencies(
        claim=guard_claim,
        runner_for=runner_for,
        health_of=_health_of,
        probe=probe,
        load_policy=load_policy,
        select_method=select_method,
        method_for=method_for,
        signer=signer,
        find_drive=lambda d: find_attached(services, d),
        default_policy=DEFAULT_POLICY,
        after_certificate=lambda key, operator: advance_linked(services, key, operator),
        backend_for=services.backend_for,
    )


def make_orchestrator(services: Services, *, poll_interval: float | None = None) -> Orchestrator:
    """The orchestrator the CLI and the TUI use, over `services`.

    ``SANITISER_POLL_INTERVAL`` (seconds) overrides the status-poll interval (tests).
    """
    interval = poll_interval
    if interval is None:
        interval = float(os.environ.get("SANITISER_POLL_INTERVAL", "10"))
    return Orchestrator(
        services.store,
        default_dependencies(services),
        station=services.settings.station,
        organisation=services.settings.organisation,
        poll_interval=interval,
        checkpoints=services.settings.data_dir / CHECKPOINTS_FILE,
    )


def plan_for(
    orch: Orchestrator,
    drive: Drive,
    *,
    policy: str | None = None,
    technique: str | None = None,
) -> Plan:
    """The policy's plan for `drive`, made exactly as its job will make it (probe, health,
    policy): what the technician is shown before confirming.

    Raises:
        SanitiserError: the drive cannot be probed or planned (the reason).
    """
    deps = orch.deps
    runner = deps.runner_for(drive)
    caps = deps.probe(drive, runner)
    health = deps.health_of(drive, runner)
    loaded = deps.load_policy(policy or deps.default_policy)
    return deps.select_method(drive, caps, health, loaded, technique_override=technique)


def shown_method(plan: Plan) -> str:
    """What a plan is shown as, and confirmed by: its technique, or ``DESTROY``."""
    return "DESTROY" if plan.destroy else plan.chosen.technique
