"""The host shell: runs ``dmidecode`` and reads sysfs, for the computer's own facts.

`collect_inventory` hands everything to the pure parsers in `sanitiser.inventory`. ``dmidecode``
must work: a failed run raises `CommandFailedError` and an unreadable dump `ToolOutputError`.
Everything else is optional: no battery, no TPM, no EDID is "not present". A battery or EDID
that is there but cannot be read becomes a note on the result, not an exception.
"""

from __future__ import annotations

from pathlib import Path

from sanitiser.errors import ToolOutputError
from sanitiser.inventory.dmi import parse_dmidecode
from sanitiser.inventory.edid import parse_edid
from sanitiser.inventory.model import (
    Battery,
    Display,
    HostInventory,
    SecureBootState,
    Tpm,
    inventory_from_dmi,
)
from sanitiser.inventory.power import battery_from_uevent
from sanitiser.inventory.security import SECURE_BOOT_VAR, secure_boot_state, tpm_from_sysfs
from sanitiser.runner import CommandRunner

DMIDECODE_TIMEOUT = 60.0
"""Seconds ``dmidecode`` may take."""


def collect_inventory(
    runner: CommandRunner, sys_root: Path = Path("/sys"), timeout: float = DMIDECODE_TIMEOUT
) -> HostInventory:
    """The computer's facts: DMI through `runner`, batteries, TPM, Secure Boot and displays
    from the sysfs tree at `sys_root` (tests point it at a fake tree)."""
    result = runner.run(("dmidecode",), timeout=timeout).check()
    dmi = parse_dmidecode(result.stdout)
    notes: list[str] = []
    batteries = _batteries(sys_root / "class" / "power_supply", notes)
    tpm = _tpm(sys_root / "class" / "tpm", notes)
    secure_boot = _secure_boot(sys_root / "firmware" / "efi", notes)
    displays = _displays(sys_root / "class" / "drm", notes)
    return inventory_from_dmi(
        dmi,
        batteries=batteries,
        tpm=tpm,
        secure_boot=secure_boot,
        displays=displays,
        notes=tuple(notes),
    )


def _read(path: Path) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None


def _entries(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _batteries(directory: Path, notes: list[str]) -> tuple[Battery, ...]:
    found: list[Battery] = []
    for supply in _entries(directory):
        try:
            uevent = _read(supply / "uevent")
            if uevent is None:
                continue
            kind = _read(supply / "type")
            battery = battery_from_uevent(
                uevent, name=supply.name, supply_type=kind.strip() if kind else None
            )
        except (OSError, ToolOutputError) as e:
            notes.append(f"power_supply {supply.name}: {e}")
            continue
        if battery is not None:
            found.append(battery)
    return tuple(found)


def _tpm(directory: Path, notes: list[str]) -> Tpm | None:
    chips = [p for p in _entries(directory) if p.name.startswith("tpm")]
    if not chips:
        return None
    chip = chips[0]
    try:
        return tpm_from_sysfs(
            _read(chip / "tpm_version_major"),
            _read(chip / "device" / "description"),
            _read(chip / "device" / "caps"),
        )
    except (OSError, ToolOutputError) as e:
        notes.append(f"tpm {chip.name}: {e}")
        return None


def _secure_boot(efi: Path, notes: list[str]) -> SecureBootState:
    if not efi.is_dir():
        return secure_boot_state(False, False, None)
    variables = efi / "efivars"
    readable = bool(_entries(variables))
    try:
        data = (variables / SECURE_BOOT_VAR).read_bytes()
    except FileNotFoundError:
        data = None
    except OSError as e:
        notes.append(f"secure boot: {e}")
        return "unknown"
    try:
        return secure_boot_state(True, readable, data)
    except ToolOutputError as e:
        notes.append(f"secure boot: {e}")
        return "unknown"


def _displays(directory: Path, notes: list[str]) -> tuple[Display, ...]:
    found: list[Display] = []
    for output in _entries(directory):
        # Connectors are card<N>-<connector> (card0-eDP-1); card<N> itself has no edid.
        card, sep, connector = output.name.partition("-")
        if not sep or not card.startswith("card"):
            continue
        try:
            data = (output / "edid").read_bytes()
        except FileNotFoundError:
            continue
        except OSError as e:
            notes.append(f"display {connector}: {e}")
            continue
        if not data:  # nothing connected
            continue
        try:
            found.append(parse_edid(data, connector=connector))
        except ToolOutputError as e:
            notes.append(f"display {connector}: {e}")
    return tuple(found)
