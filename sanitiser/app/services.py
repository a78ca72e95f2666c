"""Wiring: builds the services the CLI and the TUI share, and the bench's view of each drive.

The TUI and the CLI are two shells over this: they get a `Services` from `build_services` and ask
`assess_drives` for what to show. Nothing here reads global state at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sanitiser.certificate.keys import StationSigner, ensure_development_identity
from sanitiser.config import Settings, ensure_data_dir
from sanitiser.custody.events import drive_seen
from sanitiser.devices.discover import DriveSource, UdevDriveSource, udev_is_running
from sanitiser.devices.guard import (
    BLOCK_DEVICES,
    DriveBackend,
    SystemState,
    assess,
    read_system_state,
)
from sanitiser.devices.health import read_health
from sanitiser.domain import Drive, Health, Protection
from sanitiser.errors import DriveDetectionError, data_directory_full, is_disk_full
from sanitiser.lab.bench import LabBench, lab_health
from sanitiser.runner import CommandRunner, SubprocessRunner
from sanitiser.store import Store
from sanitiser.store.sync import open_store

EventCallback = Callable[[str, Drive | None, str], None]


@dataclass(frozen=True, slots=True)
class DriveStatus:
    """What the bench shows for one drive: identity, health and the guard's verdict."""

    drive: Drive
    health: Health
    protection: Protection

    def as_json(self) -> dict[str, Any]:
        """The drive as `sanitiser scan --json` prints it."""
        d, h = self.drive, self.health
        return {
            "path": d.path,
            "name": d.name,
            "model": d.model,
            "vendor": d.vendor,
            "serial": d.serial,
            "wwn": d.wwn,
            "firmware": d.firmware,
            "transport": d.transport.value,
            "media_kind": d.media_kind.value,
            "size_bytes": d.size_bytes,
            "logical_sector_size": d.logical_sector_size,
            "physical_sector_size": d.physical_sector_size,
            "rotational": d.rotational,
            "removable": d.removable,
            "read_only": d.read_only,
            "by_id": d.by_id,
            "simulated": d.simulated,
            "health_grade": h.grade.value,
            "health_reasons": list(h.reasons),
            "power_on_hours": h.power_on_hours,
            "protected": self.protection.protected,
            "protected_reason": self.protection.reason,
        }


@dataclass
class CompositeSource:
    """Real drives from udev, plus the simulated lab drives when the lab is on."""

    real: DriveSource
    lab: LabBench | None = None
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def list(self) -> list[Drive]:
        """Real drives first (protected ones included, so the bench can show why), then lab."""
        drives = list(self.real.list())
        if self.lab is not None:
            drives.extend(self.lab.list())
        return drives

    def watch(self, callback: EventCallback) -> Callable[[], None]:
        """Follow hot-plug on every source; returns a function that stops following."""
        self._stops = [self.real.watch(callback)]
        if self.lab is not None:
            self._stops.append(self.lab.watch(callback))

        def stop() -> None:
            for s in self._stops:
                s()

        return stop


@dataclass
class Services:
    """Everything a shell needs, built once."""

    settings: Settings
    runner: CommandRunner
    source: CompositeSource
    store: Store
    lab: LabBench | None
    lab_reason: str = ""
    """Why the lab bench is on ("" when it is off)."""
    notices: tuple[str, ...] = ()
    """Things the technician must know about the bench itself (e.g. hot-plug is off)."""
    system_state: Callable[[], SystemState] = read_system_state

    def backend_for(self, drive: Drive) -> DriveBackend:
        """What is behind a drive's path: the lab bench's files for its drives (simulated, with
        the lab on), the machine's block devices for every other drive."""
        if drive.simulated and self.lab is not None:
            return self.lab.backend
        return BLOCK_DEVICES

    def status_of(self, drive: Drive, state: SystemState | None = None) -> DriveStatus:
        """Health and guard verdict for one drive (runs smartctl for real drives)."""
        health = lab_health(drive) if drive.simulated else read_health(drive, self.runner)
        snapshot = state if state is not None else self.system_state()
        return DriveStatus(drive, health, self.backend_for(drive).assess(drive, snapshot))


def assess_drives(services: Services, drives: Sequence[Drive]) -> list[DriveStatus]:
    """Status of every drive, with one system snapshot; each is recorded in the store."""
    state = services.system_state()
    statuses = [services.status_of(d, state) for d in drives]
    for st in statuses:
        drive_seen(
            services.store, st.drive, st.health, st.protection, station=services.settings.station
        )
    return statuses


def station_signer(settings: Settings) -> StationSigner:
    """This station's signing identity (a development one is made on first use).

    Raises:
        SanitiserError: the data directory is full; CertificateError: the key is unusable.
    """
    keys = settings.data_dir / "keys"
    try:
        return ensure_development_identity(
            settings.certs_dir, keys, settings.organisation, settings.station
        )
    except OSError as e:  # making the first identity writes keys and certificates
        if is_disk_full(e):
            raise data_directory_full(e, f"the signing identity ({keys})") from e
        raise


def build_services(
    settings: Settings,
    *,
    lab: bool | None = None,
    runner: CommandRunner | None = None,
    real: DriveSource | None = None,
) -> Services:
    """Build the services. `lab`: True forces the lab bench, False forbids it, None decides.

    With None, the lab bench is on when no usable (unprotected) real drive exists.
    """
    ensure_data_dir(settings)
    runner = runner if runner is not None else SubprocessRunner()
    real = real if real is not None else UdevDriveSource(loop_devices=settings.loop_devices)
    store = open_store(settings)  # a fleet bench keeps a local journal for when it is offline
    force = settings.lab if lab is None else lab
    lab_reason = ""
    if force:
        lab_reason = "lab bench requested (--lab)"
    elif lab is None:
        try:
            real_drives = real.list()
        except DriveDetectionError as e:
            real_drives = []
            lab_reason = f"no real drives could be listed ({e.msg}): lab bench on"
        state = read_system_state()
        if not lab_reason and all(assess(d, state).protected for d in real_drives):
            lab_reason = "no usable real drive: showing the simulated lab bench"
    bench = LabBench(settings.data_dir, settings.lab_drive_mib) if lab_reason else None
    notices: tuple[str, ...] = ()
    if isinstance(real, UdevDriveSource) and not udev_is_running():
        notices = (
            "udev is not running: drives plugged in now will not appear by themselves "
            "(press r to rescan; `make run` starts udev when run as root)",
        )
    return Services(
        settings, runner, CompositeSource(real, bench), store, bench, lab_reason, notices=notices
    )
