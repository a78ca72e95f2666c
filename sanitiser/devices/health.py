"""SMART health: read with ``smartctl -j -a``, summarise, and grade for routing.

We call smartctl ourselves through the `CommandRunner` seam and parse its JSON
(docs/DEVICE-COMMANDS.md §5): pySMART parses the text output and sets ``LANG`` for the whole
process, while ``-j`` is the stable contract. `parse_smartctl_json` and `grade` are pure;
`read_health` is the thin shell.

Nothing here raises for a bad drive or bad output: a drive without SMART (USB stick, loop device,
SD card), a tool that is missing, or output we cannot read all give grade ``UNKNOWN`` with a reason,
and the raw output is kept in `Health.raw` for the record.

Grading rules (the worst matching grade wins; every finding is listed in ``reasons``, worst first):

============  ==================================================================================
Grade         Any of
============  ==================================================================================
``FAIL``      SMART overall-health self-assessment failed (``smart_status.passed`` false, or
              exit-status bit 3); a prefailure attribute at or below its threshold now
              (``when_failed == "now"`` or exit bit 4); NVMe ``critical_warning != 0`` (bits
              named in the reason); NVMe available spare below its threshold; endurance used
              (``percentage_used``) ``>= 100``; pending (197) + offline-uncorrectable (198)
              sectors ``>= 10``; reported uncorrectable errors (187) ``>= 10``; reallocated
              sectors (5) or SCSI grown defects ``>= 100``
``C``         any reallocated / reported-uncorrectable / pending / offline-uncorrectable
              sector or SCSI grown defect ``> 0``; NVMe ``media_errors > 0``; an attribute that
              failed in the past (``when_failed == "past"`` or exit bit 5); self-test log has
              errors (exit bit 7); endurance used ``>= 80``; power-on hours ``> 50000``
``B``         endurance used ``>= 50``; power-on hours ``> 30000``; the device error log has
              entries (exit bit 6); no overall-health verdict in the output (attributes only:
              without the drive's own verdict it is never graded A)
``A``         SMART data was read, the drive's overall-health verdict was PASSED, and none of
              the above matched
``UNKNOWN``   no SMART data: the drive has no SMART (loop, virtio, SD/eMMC, most USB sticks),
              SMART is unsupported or disabled, smartctl could not open or identify the device
              (exit bits 0-1), a SMART command failed and no verdict came back (bit 2), the
              tool is missing or timed out, or its output is empty or not smartctl JSON
============  ==================================================================================

The smartctl exit status is a bitmask (docs/DEVICE-COMMANDS.md §5.3): bits 0-2 mean "no data", bits
3-7 are findings on a successful read. Bit 2 alone with a verdict in the output (some logs failed to
read, but ``smart_status`` is there) is graded on what was read, with a reason saying so.

Thresholds are module constants so routing policy and tests name them rather than repeat numbers.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from sanitiser.domain import Drive, Health, HealthGrade, Transport
from sanitiser.runner import CommandRunner

FAIL_PERCENTAGE_USED = 100
"""Endurance used (NVMe/SCSI ``percentage_used``) at or above which the drive is FAIL."""
C_PERCENTAGE_USED = 80
"""Endurance used at or above which the drive is C."""
B_PERCENTAGE_USED = 50
"""Endurance used at or above which the drive is B."""
C_POWER_ON_HOURS = 50_000
"""Power-on hours above which the drive is C (about 5.7 years powered)."""
B_POWER_ON_HOURS = 30_000
"""Power-on hours above which the drive is B (about 3.4 years powered)."""
FAIL_PENDING_SECTORS = 10
"""Pending (197) + offline-uncorrectable (198) sectors at or above which the drive is FAIL."""
FAIL_REPORTED_UNCORRECTABLE = 10
"""Reported uncorrectable errors (187, or SCSI total uncorrected) at or above which: FAIL."""
FAIL_REALLOCATED_SECTORS = 100
"""Reallocated sectors (5) or SCSI grown defects at or above which the drive is FAIL."""

SMARTCTL_TIMEOUT = 60.0
"""Seconds to wait for smartctl (a sleeping HDD may need to spin up)."""

NO_SMART_TRANSPORTS = frozenset({Transport.LOOP, Transport.VIRTIO, Transport.MMC})
"""Transports with no SMART at all: smartctl is not run for them."""

_EXIT_BITS = (
    "the smartctl command line did not parse",
    "the device could not be opened or identified",
    "a SMART or ATA command to the device failed",
    "SMART status says DISK FAILING",
    "a prefailure attribute is at or below its threshold now",
    "an attribute was at or below its threshold in the past",
    "the device error log has entries",
    "the self-test log has errors",
)
"""Meaning of each bit of the smartctl exit status (smartctl(8) EXIT STATUS)."""

_NVME_CRITICAL_BITS = (
    "available spare below threshold",
    "temperature outside its threshold",
    "NVM subsystem reliability degraded",
    "media placed in read-only mode",
    "volatile memory backup device failed",
    "persistent memory region read-only or unreliable",
)
"""Meaning of each bit of the NVMe SMART/Health log ``critical_warning`` field."""

_ATA_REALLOCATED = 5
_ATA_REPORTED_UNCORRECTABLE = 187
_ATA_PENDING = 197
_ATA_OFFLINE_UNCORRECTABLE = 198
_ATA_POWER_ON_HOURS = 9

_Add = Callable[[HealthGrade, str], None]

_SEVERITY = {HealthGrade.FAIL: 0, HealthGrade.C: 1, HealthGrade.B: 2, HealthGrade.A: 3}


def exit_status_findings(status: int) -> tuple[str, ...]:
    """Decode a smartctl exit status into one sentence per set bit (bits 0-7), lowest first."""
    return tuple(text for bit, text in enumerate(_EXIT_BITS) if status & (1 << bit))


def critical_warning_findings(value: int) -> tuple[str, ...]:
    """Decode an NVMe ``critical_warning`` bitfield into one phrase per set bit."""
    known = tuple(text for bit, text in enumerate(_NVME_CRITICAL_BITS) if value & (1 << bit))
    unknown = value & ~((1 << len(_NVME_CRITICAL_BITS)) - 1)
    return (*known, f"reserved bits 0x{unknown:02x}") if unknown else known


def _unknown(reason: str, raw: str, **fields: Any) -> Health:
    return Health(grade=HealthGrade.UNKNOWN, reasons=(reason,), raw=raw, **fields)


def _as_int(value: object) -> int | None:
    """An int from a JSON number (or a decimal string, as ``KEY_s`` carries); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _get(obj: object, *keys: str) -> object:
    """``obj[k1][k2]...`` through JSON objects, or None when any step is missing."""
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _count(obj: object, key: str) -> int | None:
    """A counter from a JSON object; smartctl writes ``KEY_s`` when it exceeds 2**53."""
    value = _as_int(_get(obj, key))
    return value if value is not None else _as_int(_get(obj, f"{key}_s"))


_LEADING_INT = re.compile(r"\s*(\d+)")


def _raw_count(attribute: Mapping[str, Any]) -> int | None:
    """An ATA attribute's raw count: the leading number of ``raw.string`` (smartctl has already
    decoded vendor-packed formats there), else ``raw.value``."""
    raw_string = _get(attribute, "raw", "string")
    if isinstance(raw_string, str) and (match := _LEADING_INT.match(raw_string)):
        return int(match.group(1))
    return _as_int(_get(attribute, "raw", "value"))


def _smartctl_errors(doc: Mapping[str, Any]) -> tuple[str, ...]:
    """The error/warning messages smartctl put in its JSON (e.g. "Unknown USB bridge ...")."""
    messages = _get(doc, "smartctl", "messages")
    if not isinstance(messages, list):
        return ()
    texts = []
    for message in messages:
        text = _get(message, "string")
        if isinstance(text, str) and _get(message, "severity") in ("error", "warning"):
            texts.append(text.strip())
    return tuple(texts)


def parse_smartctl_json(text: str, returncode: int | None = None) -> Health:
    """Summarise and grade the output of ``smartctl -j -a [-d TYPE] DEV``.

    Args:
        text: smartctl's stdout (JSON, also printed when smartctl fails).
        returncode: the process exit status; used when the JSON carries none (e.g. truncated).

    Returns:
        A graded `Health`; never raises. Output that is empty, truncated or not smartctl JSON
        gives grade UNKNOWN with a reason, with the text kept in ``raw``.
    """
    if not text.strip():
        reason = "smartctl printed nothing"
        if returncode is not None:
            reason += f" (exit status {returncode})"
        return _unknown(reason, text, exit_status=returncode)
    try:
        doc = json.loads(text)
    except ValueError as e:
        return _unknown(f"smartctl output is not valid JSON ({e})", text, exit_status=returncode)
    if not isinstance(doc, dict) or "smartctl" not in doc:
        return _unknown("output is not smartctl JSON (no 'smartctl' key)", text)

    status = _as_int(_get(doc, "smartctl", "exit_status"))
    if status is None:
        status = returncode if returncode is not None else 0
    errors = _smartctl_errors(doc)
    findings = exit_status_findings(status)
    if status & 0b011:
        return _unknown("no SMART data: " + "; ".join(errors or findings), text, exit_status=status)

    if _get(doc, "smart_support", "available") is False:
        return _unknown("the device does not support SMART", text, exit_status=status)
    if _get(doc, "smart_support", "enabled") is False:
        return _unknown("SMART is disabled on the device", text, exit_status=status)

    smart_passed = _get(doc, "smart_status", "passed")
    verdict = smart_passed if isinstance(smart_passed, bool) else None
    notes: tuple[str, ...] = ()
    if status & 0b100:
        if verdict is None:
            return _unknown(
                "no SMART data: " + "; ".join(errors or findings), text, exit_status=status
            )
        notes = ("some SMART commands failed; graded on what was read",)

    fields: dict[str, Any] = {
        "smart_passed": verdict,
        "exit_status": status,
        "temperature_c": _as_int(_get(doc, "temperature", "current")),
        "power_on_hours": _as_int(_get(doc, "power_on_time", "hours")),
    }
    has_data = verdict is not None
    has_data |= _parse_ata(doc, fields)
    has_data |= _parse_nvme(doc, fields)
    has_data |= _parse_scsi(doc, fields)
    if not has_data:
        return _unknown("no SMART data in smartctl output", text, exit_status=status)

    health = Health(grade=HealthGrade.UNKNOWN, smart_available=True, raw=text, **fields)
    grade_, reasons = grade(health)
    return dataclasses.replace(health, grade=grade_, reasons=reasons + notes)


def _parse_ata(doc: Mapping[str, Any], fields: dict[str, Any]) -> bool:
    """Fill the ATA counters from ``ata_smart_attributes``; True when the table was there."""
    table = _get(doc, "ata_smart_attributes", "table")
    if not isinstance(table, list):
        return False
    by_id = {
        _as_int(a.get("id")): a for a in table if isinstance(a, dict) and "id" in a
    }  # by id, never by name: names differ between vendors
    for key, ata_id in (
        ("reallocated_sectors", _ATA_REALLOCATED),
        ("reported_uncorrectable", _ATA_REPORTED_UNCORRECTABLE),
        ("pending_sectors", _ATA_PENDING),
        ("offline_uncorrectable", _ATA_OFFLINE_UNCORRECTABLE),
    ):
        if ata_id in by_id:
            fields[key] = _raw_count(by_id[ata_id])
    if fields["power_on_hours"] is None and _ATA_POWER_ON_HOURS in by_id:
        fields["power_on_hours"] = _raw_count(by_id[_ATA_POWER_ON_HOURS])
    fields["failed_attributes"] = tuple(
        f"{a.get('id')} {a.get('name', '?')} ({a['when_failed']})"
        for a in by_id.values()
        if a.get("when_failed") in ("now", "past")
    )
    return True


def _parse_nvme(doc: Mapping[str, Any], fields: dict[str, Any]) -> bool:
    """Fill the NVMe counters from the SMART/Health log; True when the log was there."""
    log = _get(doc, "nvme_smart_health_information_log")
    if not isinstance(log, dict):
        return False
    fields["critical_warning"] = _count(log, "critical_warning")
    fields["percentage_used"] = _count(log, "percentage_used")
    fields["media_errors"] = _count(log, "media_errors")
    fields["available_spare"] = _count(log, "available_spare")
    fields["available_spare_threshold"] = _count(log, "available_spare_threshold")
    if fields["power_on_hours"] is None:
        fields["power_on_hours"] = _count(log, "power_on_hours")
    return True


_SCSI_ENDURANCE_KEYS = (
    ("scsi_percentage_used_endurance_indicator",),  # smartctl 7.4
    ("scsi_Percentage used endurance indicator",),  # smartctl 7.3, spaces and all
    ("endurance_used", "current_percent"),  # later versions
)


def _parse_scsi(doc: Mapping[str, Any], fields: dict[str, Any]) -> bool:
    """Fill the SCSI counters (grown defects, uncorrected errors, endurance); True if any."""
    found = False
    grown = _as_int(_get(doc, "scsi_grown_defect_list"))
    if grown is not None:
        fields["grown_defects"] = grown
        found = True
    counters = _get(doc, "scsi_error_counter_log")
    if isinstance(counters, dict):
        totals = [
            _as_int(_get(counters, kind, "total_uncorrected_errors"))
            for kind in ("read", "write", "verify")
        ]
        if any(t is not None for t in totals):
            fields["reported_uncorrectable"] = sum(t or 0 for t in totals)
            found = True
    cycles = _get(doc, "scsi_start_stop_cycle_counter")
    if isinstance(cycles, dict):
        fields["manufactured"] = manufacture_week(
            cycles.get("year_of_manufacture"), cycles.get("week_of_manufacture")
        )
    for keys in _SCSI_ENDURANCE_KEYS:
        used = _as_int(_get(doc, *keys))
        if used is not None:
            fields["percentage_used"] = used
            found = True
            break
    return found


def manufacture_week(year: object, week: object) -> str | None:
    """``YYYY-Www`` from smartctl's SCSI ``year_of_manufacture``/``week_of_manufacture`` strings.

    Returns None for anything that is not a plausible ISO week (drives leave the field blank or
    fill it with spaces or ``0000``).
    """
    try:
        y, w = int(str(year).strip()), int(str(week).strip())
    except ValueError:
        return None
    if not (1970 <= y <= 9999 and 1 <= w <= 53):
        return None
    try:
        datetime.date.fromisocalendar(y, w, 1)
    except ValueError:  # week 53 of a year that has 52
        return None
    return f"{y:04d}-W{w:02d}"


def grade(h: Health) -> tuple[HealthGrade, tuple[str, ...]]:
    """Grade a health summary by the rules in the module docstring.

    Args:
        h: the summary; only its counters, verdict and exit status are read (not its grade).

    Returns:
        The grade and its reasons, worst first. Without SMART data: UNKNOWN and the summary's
        own reasons (or "no SMART data").
    """
    if not h.smart_available:
        return HealthGrade.UNKNOWN, h.reasons or ("no SMART data",)
    found: list[tuple[HealthGrade, str]] = []

    def add(level: HealthGrade, reason: str) -> None:
        found.append((level, reason))

    status = h.exit_status or 0
    if h.smart_passed is False:
        add(HealthGrade.FAIL, "SMART overall-health self-assessment: FAILED")
    elif status & (1 << 3):
        add(HealthGrade.FAIL, "smartctl: " + _EXIT_BITS[3])
    now = [a for a in h.failed_attributes if a.endswith("(now)")]
    past = [a for a in h.failed_attributes if not a.endswith("(now)")]
    if now:
        add(HealthGrade.FAIL, "attribute at or below threshold now: " + ", ".join(now))
    elif status & (1 << 4):
        add(HealthGrade.FAIL, "smartctl: " + _EXIT_BITS[4])
    if past:
        add(HealthGrade.C, "attribute failed in the past: " + ", ".join(past))
    elif status & (1 << 5):
        add(HealthGrade.C, "smartctl: " + _EXIT_BITS[5])
    if status & (1 << 7):
        add(HealthGrade.C, "smartctl: " + _EXIT_BITS[7])
    if status & (1 << 6):
        add(HealthGrade.B, "smartctl: " + _EXIT_BITS[6])
    if h.smart_passed is None:
        add(HealthGrade.B, "no overall-health verdict was given: graded on the attributes alone")

    if h.critical_warning:
        bits = ", ".join(critical_warning_findings(h.critical_warning))
        add(HealthGrade.FAIL, f"NVMe critical warning 0x{h.critical_warning:02x}: {bits}")
    spare, threshold = h.available_spare, h.available_spare_threshold
    if spare is not None and threshold is not None and spare < threshold:
        add(HealthGrade.FAIL, f"available spare {spare}% is below its threshold {threshold}%")
    if h.media_errors:
        add(HealthGrade.C, f"{h.media_errors} NVMe media/data-integrity errors")

    _grade_sectors(h, add)
    _grade_wear(h, add)

    if not found:
        return HealthGrade.A, ("SMART passed with no defects, wear or age findings",)
    found.sort(key=lambda f: _SEVERITY[f[0]])  # stable: keeps rule order within a grade
    return found[0][0], tuple(reason for _, reason in found)


def _grade_sectors(h: Health, add: _Add) -> None:
    """Findings from the ATA sector counters and SCSI grown defects."""
    pending = (h.pending_sectors or 0) + (h.offline_uncorrectable or 0)
    if pending >= FAIL_PENDING_SECTORS:
        add(HealthGrade.FAIL, f"{pending} pending/offline-uncorrectable sectors")
    else:
        for label, count in (
            ("pending sectors", h.pending_sectors),
            ("offline-uncorrectable sectors", h.offline_uncorrectable),
        ):
            if count:
                add(HealthGrade.C, f"{count} {label}")
    for label, value, fail_at in (
        ("reallocated sectors", h.reallocated_sectors, FAIL_REALLOCATED_SECTORS),
        ("reported uncorrectable errors", h.reported_uncorrectable, FAIL_REPORTED_UNCORRECTABLE),
        ("grown defects", h.grown_defects, FAIL_REALLOCATED_SECTORS),
    ):
        if value and value >= fail_at:
            add(HealthGrade.FAIL, f"{value} {label}")
        elif value:
            add(HealthGrade.C, f"{value} {label}")


def _grade_wear(h: Health, add: _Add) -> None:
    """Findings from endurance used and power-on hours."""
    used = h.percentage_used
    if used is not None:
        if used >= FAIL_PERCENTAGE_USED:
            add(HealthGrade.FAIL, f"endurance used {used}% (rated life reached)")
        elif used >= C_PERCENTAGE_USED:
            add(HealthGrade.C, f"endurance used {used}%")
        elif used >= B_PERCENTAGE_USED:
            add(HealthGrade.B, f"endurance used {used}%")
    hours = h.power_on_hours
    if hours is not None:
        if hours > C_POWER_ON_HOURS:
            add(HealthGrade.C, f"{hours} power-on hours")
        elif hours > B_POWER_ON_HOURS:
            add(HealthGrade.B, f"{hours} power-on hours")


def smartctl_argv(path: str, device_type: str | None = None) -> tuple[str, ...]:
    """The smartctl command line for one device (``-d TYPE`` only when given)."""
    dtype = ("-d", device_type) if device_type else ()
    return ("smartctl", "-j", "-a", *dtype, path)


def device_types(drive: Drive) -> tuple[str | None, ...]:
    """The ``-d`` types to try in order (None = let smartctl detect it).

    USB: SAT pass-through first (most bridges speak it, and smartctl's guess often fails with
    "Unknown USB bridge"), then smartctl's own detection. NVMe: ``nvme``. Others: detection.
    """
    if drive.transport is Transport.USB:
        return ("sat", None)
    if drive.transport is Transport.NVME:
        return ("nvme",)
    return (None,)


def read_health(drive: Drive, runner: CommandRunner, timeout: float = SMARTCTL_TIMEOUT) -> Health:
    """Read and grade one drive's SMART health through the runner; never raises.

    Loop, virtio and MMC devices have no SMART: they get UNKNOWN without running anything.

    Args:
        drive: the drive to read.
        runner: the command seam (SubprocessRunner, or an emulator in tests and the lab).
        timeout: seconds allowed for each smartctl run.

    Returns:
        The graded health of the last attempt that gave SMART data, or UNKNOWN with the reasons
        of every attempt.
    """
    if drive.transport in NO_SMART_TRANSPORTS:
        return Health(
            grade=HealthGrade.UNKNOWN,
            reasons=(f"no SMART on this kind of device ({drive.transport.value})",),
        )
    attempts = device_types(drive)
    failures: list[str] = []
    health = Health(grade=HealthGrade.UNKNOWN)
    for dtype in attempts:
        result = runner.run(smartctl_argv(drive.path, dtype), timeout=timeout)
        if result.returncode in (126, 127) and not result.stdout.strip():
            reason = f"smartctl could not be run: {result.stderr.strip() or 'not installed'}"
            return Health(grade=HealthGrade.UNKNOWN, reasons=(reason,), raw=result.stderr)
        if result.returncode == 124 and not result.stdout.strip():
            reason = f"smartctl timed out after {timeout:g} s"
            return Health(grade=HealthGrade.UNKNOWN, reasons=(reason,))
        health = parse_smartctl_json(result.stdout, returncode=result.returncode)
        if health.smart_available:
            return health
        label = f"-d {dtype}" if dtype else "auto-detect"
        failures.extend(f"{label}: {r}" if len(attempts) > 1 else r for r in health.reasons)
    return dataclasses.replace(health, reasons=tuple(failures))


__all__ = (
    "B_PERCENTAGE_USED",
    "B_POWER_ON_HOURS",
    "C_PERCENTAGE_USED",
    "C_POWER_ON_HOURS",
    "FAIL_PENDING_SECTORS",
    "FAIL_PERCENTAGE_USED",
    "FAIL_REALLOCATED_SECTORS",
    "FAIL_REPORTED_UNCORRECTABLE",
    "critical_warning_findings",
    "device_types",
    "exit_status_findings",
    "grade",
    "parse_smartctl_json",
    "read_health",
    "smartctl_argv",
)
