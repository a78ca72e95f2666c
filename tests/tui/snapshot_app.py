"""The app for snapshot tests: fixed fake drives, fixed health, fixed plans and a fixed clock.

Built through the same `SanitiserApp(services, bench=...)` the CLI uses; only the seams that
would read real hardware or the time are replaced.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.pilot import Pilot

from sanitiser.app.jobs import make_orchestrator
from sanitiser.app.services import DriveStatus, Services, build_services
from sanitiser.config import load_settings
from sanitiser.devices.guard import BlockDevice, SystemState, assess
from sanitiser.domain import Drive, Health, HealthGrade, NistCategory, Transport
from sanitiser.jobs.events import JobEvent, JobOutcome, JobPhase, JobProgress
from sanitiser.policy.plan import Plan, PlannedMethod
from sanitiser.probe.capabilities import Capabilities
from sanitiser.testing import FakeDriveSource, FakeRunner
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.bench import Bench, DrivePlan
from sanitiser.tui.messages import JobEventReceived

T0 = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
NOW = T0 + timedelta(minutes=12, seconds=34)


def _drive(  # noqa: PLR0917 - one table row per drive
    i: int, name: str, model: str, serial: str, size: int, transport: Transport
) -> Drive:
    return Drive(
        path=f"/dev/{name}",
        name=name,
        model=model,
        serial=serial,
        size_bytes=size,
        transport=transport,
        devnum=f"8:{16 * i}",
        rotational=transport is Transport.SATA and "HDD" in model,
    )


DRIVES = [
    _drive(0, "sda", "Samsung SSD 860", "S3Z9NB0K000001", 500 * 10**9, Transport.SATA),
    _drive(1, "sdb", "WDC WD10EZEX HDD", "WD-WCC6Y0000002", 10**12, Transport.SATA),
    _drive(2, "sdc", "ST2000DM008 HDD", "ZFL00003", 2 * 10**12, Transport.SATA),
    _drive(3, "nvme0n1", "INTEL SSDPEKNW512G8", "BTNH000000004", 512 * 10**9, Transport.NVME),
    _drive(4, "sdd", "SanDisk Ultra", "4C530000000005", 32 * 10**9, Transport.USB),
]
HEALTH = {
    "sda": Health(HealthGrade.A, ("no problems reported",), True, True, power_on_hours=812),
    "sdb": Health(
        HealthGrade.C,
        ("8 reallocated sectors",),
        True,
        True,
        power_on_hours=41022,
        reallocated_sectors=8,
    ),
    "sdc": Health(HealthGrade.B, (), True, True, power_on_hours=15000),
    "nvme0n1": Health(HealthGrade.A, (), True, True, power_on_hours=2100, percentage_used=3),
    "sdd": Health(HealthGrade.UNKNOWN, ("SMART not available over this USB bridge",)),
}
STATE = SystemState(
    blocks={d.name: BlockDevice(d.name, d.devnum) for d in DRIVES},
    system_disks={"sda": ("holds the root filesystem /",)},
)


class SnapshotBench(Bench):
    """Fixed plans and capabilities (no probe of real hardware)."""

    def plan(self, drive: Drive) -> DrivePlan:
        """Host overwrite for disks, crypto sanitize for NVMe, a downgrade for the USB stick."""
        if drive.transport is Transport.NVME:
            chosen = PlannedMethod("nvme-sanitize-crypto", NistCategory.PURGE, True, "first purge")
            return DrivePlan(drive, Plan("nist-800-88", "1", "nvme", chosen, estimated_seconds=30))
        chosen = PlannedMethod("host-overwrite", NistCategory.CLEAR, True, "only option")
        downgrade = "USB bridge blocks ATA commands: Clear only" if drive.name == "sdd" else ""
        seconds = drive.size_bytes // (150 * 10**6)
        plan = Plan(
            "nist-800-88", "1", "hdd", chosen, downgrade=downgrade, estimated_seconds=seconds
        )
        return DrivePlan(drive, plan)

    def capabilities(self, drive: Drive) -> Capabilities:
        """Nothing but the host overwrite, with a note."""
        return Capabilities(transport=drive.transport, notes=("snapshot: not probed",))


class SnapshotServices(Services):
    """The fixed health of each drive, and the guard's verdict on the fixed `STATE`."""

    def status_of(self, drive: Drive, state: SystemState | None = None) -> DriveStatus:
        """`HEALTH` and the verdict on `STATE` (no smartctl, no reading of the machine)."""
        return DriveStatus(drive, HEALTH[drive.name], assess(drive, STATE))


def make_app() -> SanitiserApp:
    """The bench over the fixed drives, operator set, clock frozen at `NOW`."""
    built = build_services(
        # A configured bench: its QR codes point at a real verify page (no placeholder warning).
        load_settings().model_copy(update={"verify_base_url": "https://verify.example.org/v"}),
        lab=False,
        runner=FakeRunner(),
        real=FakeDriveSource(list(DRIVES)),
    )
    built.settings.station = "bench-07"
    services = SnapshotServices(
        settings=built.settings,
        runner=built.runner,
        source=built.source,
        store=built.store,
        lab=built.lab,
        lab_reason=built.lab_reason,
        notices=built.notices,
        system_state=lambda: STATE,
    )
    bench = SnapshotBench(services, make_orchestrator(services))
    return SanitiserApp(services, bench=bench, operator="Dana K", clock=lambda: NOW, recover=False)


async def scanned(pilot: Pilot[None]) -> None:
    """Wait for the scan to land."""
    app = pilot.app
    assert isinstance(app, SanitiserApp)
    for _ in range(200):
        if len(app.table.states) == len(DRIVES):
            break
        await pilot.pause(0.02)
    await pilot.pause()


async def busy_bench(pilot: Pilot[None]) -> None:
    """Three jobs in flight and one finished, at fixed times."""
    await scanned(pilot)
    app = pilot.app
    assert isinstance(app, SanitiserApp)
    events: list[JobEvent] = [
        JobPhase("job-b", "/dev/sdb", "sanitising", at=T0),
        JobProgress("job-b", "/dev/sdb", "overwrite", 420 * 10**9, 10**12, 152.3, 3810.0),
        JobPhase("job-c", "/dev/sdc", "verifying", at=T0 + timedelta(minutes=2)),
        JobProgress("job-c", "/dev/sdc", "verify", 150 * 10**9, 2 * 10**12, 181.0, 10220.0),
        JobPhase("job-n", "/dev/nvme0n1", "queued", at=T0 + timedelta(minutes=3)),
        JobOutcome(
            "job-n",
            "/dev/nvme0n1",
            "BTNH000000004",
            "sanitised",
            "routed",
            method="nvme-sanitize-crypto",
            nist_category="purge",
            verified=True,
            certificate_id="01a2-cert",
            finished_at=T0 + timedelta(minutes=4),
        ),
    ]
    for e in events:
        app.post_message(JobEventReceived(e))
    await pilot.pause(0.1)
    app.table.flush()
    await pilot.pause()
