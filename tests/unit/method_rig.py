"""Shared rig for the method tests: lab-style backing files, simulated drives, real guard claims.

Each drive is a file named ``<serial>.img`` (as the lab bench keeps them) filled with the lab's
``LABDATA`` pattern, described as a simulated `Drive` whose path is that file, and claimed
through the real `sanitiser.devices.guard.claim` over the lab's files (`LabFiles` of the file's
directory), with a quiet system snapshot, so the test does not depend on the machine's mounts.
Methods then run on the emulators over the same file.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sanitiser.devices.guard import Claim, LabFiles, SystemState, claim
from sanitiser.devices.probing import probe
from sanitiser.domain import Drive, Transport
from sanitiser.lab.bench import SECTOR, expected_bytes
from sanitiser.methods.base import MethodContext
from sanitiser.probe.capabilities import Capabilities
from sanitiser.runner import CommandRunner

MIB = 1 << 20


def lab_file(directory: Path, serial: str, size: int = 8 * MIB) -> Path:
    """A backing file ``<serial>.img`` of `size` bytes holding the lab pattern."""
    path = directory / f"{serial}.img"
    path.write_bytes(expected_bytes(serial, 0, size))
    return path


def simulated(
    path: Path,
    transport: Transport,
    *,
    rotational: bool = False,
    removable: bool = False,
    name: str = "lab0",
) -> Drive:
    """The simulated Drive for a backing file (serial = file stem, size = file size)."""
    return Drive(
        path=str(path),
        name=name,
        model="SIMULATED TEST DRIVE",
        serial=path.stem,
        size_bytes=path.stat().st_size,
        transport=transport,
        rotational=rotational,
        removable=removable,
        simulated=True,
    )


def quiet() -> SystemState:
    """A machine where nothing is in use."""
    return SystemState()


def lab_files(drive: Drive) -> LabFiles:
    """What is behind a rig drive's path for the guard: the lab files of its directory."""
    return LabFiles(Path(drive.path).parent)


@contextmanager
def claimed(drive: Drive) -> Iterator[Claim]:
    """The real guard's claim on `drive` (released afterwards)."""
    with claim(drive, drive, lab_files(drive), state_reader=quiet) as held:
        yield held


def context(
    drive: Drive,
    held: Claim,
    runner: CommandRunner,
    caps: Capabilities | None = None,
    *,
    logs: list[str] | None = None,
    journal: MutableMapping[str, Any] | None = None,
    overwrite_scheme: str = "zeros",
    verification: str = "sampled",
) -> MethodContext:
    """A MethodContext probing `drive` through `runner` (unless `caps` is given); no poll wait."""
    return MethodContext(
        drive=drive,
        claim=held,
        runner=runner,
        capabilities=caps if caps is not None else probe(drive, runner),
        on_log=(logs if logs is not None else []).append,
        journal={} if journal is None else journal,
        poll_interval=0.0,
        overwrite_scheme=overwrite_scheme,
        verification=verification,
    )


def surviving_sectors(path: Path, serial: str, end: int | None = None) -> int:
    """How many 512-byte sectors still hold the original lab pattern."""
    data = path.read_bytes()[:end]
    original = expected_bytes(serial, 0, len(data))
    return sum(
        1 for i in range(0, len(data), SECTOR) if data[i : i + SECTOR] == original[i : i + SECTOR]
    )


def calls_with(calls: list[tuple[str, ...]], flag: str) -> list[tuple[str, ...]]:
    """The recorded commands containing `flag`."""
    return [c for c in calls if flag in c]
