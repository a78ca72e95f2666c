"""SMART health parsing and grading, from real `smartctl -j -a` outputs and variants of them.

Real outputs: ../shared/reference/outputs/qemu-7.2/smartctl-{sda,nvme0}.json (the `reference`
fixture) and tests/data/smartctl/ (USB bridges, an NVMe with a critical warning, a loop device,
see its README). Variants are made by loading a real output, changing one field, and dumping it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sanitiser.devices import health as health_mod
from sanitiser.devices.health import (
    B_POWER_ON_HOURS,
    C_POWER_ON_HOURS,
    FAIL_PENDING_SECTORS,
    FAIL_REALLOCATED_SECTORS,
    critical_warning_findings,
    exit_status_findings,
    grade,
    parse_smartctl_json,
    read_health,
    smartctl_argv,
)
from sanitiser.domain import Drive, Health, HealthGrade, Transport
from sanitiser.runner import CommandResult, SubprocessRunner
from sanitiser.testing import FakeRunner

DATA = Path(__file__).resolve().parents[1] / "data" / "smartctl"


@pytest.fixture
def sda_text(reference: Path) -> str:
    """Real smartctl JSON of QEMU's AHCI disk."""
    return (reference / "qemu-7.2" / "smartctl-sda.json").read_text()


@pytest.fixture
def nvme_text(reference: Path) -> str:
    """Real smartctl JSON of QEMU's NVMe controller."""
    return (reference / "qemu-7.2" / "smartctl-nvme0.json").read_text()


def captured(name: str) -> str:
    """A real smartctl output from tests/data/smartctl."""
    return (DATA / name).read_text()


def variant(text: str, change: Callable[[dict[str, Any]], None]) -> str:
    """A real output with one change applied, dumped back to JSON."""
    doc = json.loads(text)
    change(doc)
    return json.dumps(doc, indent=2)


def set_attribute(doc: dict[str, Any], ata_id: int, raw: int, **extra: Any) -> None:
    """Set (or add) ATA attribute `ata_id` with raw value `raw`."""
    table = doc["ata_smart_attributes"]["table"]
    for attr in table:
        if attr["id"] == ata_id:
            attr["raw"] = {"value": raw, "string": str(raw)}
            attr.update(extra)
            return
    table.append(
        {
            "id": ata_id,
            "name": f"Attr_{ata_id}",
            "value": 100,
            "worst": 100,
            "thresh": 0,
            "when_failed": "",
            "flags": {"value": 50, "string": "-O--CK ", "prefailure": False},
            "raw": {"value": raw, "string": str(raw)},
            **extra,
        }
    )


def set_status(doc: dict[str, Any], exit_status: int) -> None:
    """Set smartctl's exit status in the JSON."""
    doc["smartctl"]["exit_status"] = exit_status


def set_nvme(doc: dict[str, Any], **values: int) -> None:
    """Set fields of the NVMe SMART/Health log."""
    doc["nvme_smart_health_information_log"].update(values)


# --- real outputs ---------------------------------------------------------------------------


def test_real_sata_output_parses_to_grade_a(sda_text: str) -> None:
    """QEMU's AHCI disk: SMART passed, 1 power-on hour, no reallocated sectors: grade A."""
    h = parse_smartctl_json(sda_text)
    assert h.grade is HealthGrade.A
    assert h.smart_available
    assert h.smart_passed is True
    assert h.power_on_hours == 1
    assert h.reallocated_sectors == 0
    assert h.pending_sectors is None  # QEMU reports no attribute 197
    assert h.temperature_c == 31
    assert h.exit_status == 0
    assert h.failed_attributes == ()
    assert h.raw == sda_text


def test_real_nvme_output_parses_to_grade_a(nvme_text: str) -> None:
    """QEMU's NVMe: no critical warning, 0% used, no media errors; spare 0 = threshold 0 is OK."""
    h = parse_smartctl_json(nvme_text)
    assert h.grade is HealthGrade.A
    assert (h.critical_warning, h.percentage_used, h.media_errors) == (0, 0, 0)
    assert (h.available_spare, h.available_spare_threshold) == (0, 0)
    assert h.power_on_hours == 0
    assert h.temperature_c == 50


def test_real_nvme_critical_warning_is_fail() -> None:
    """A real NVMe with critical_warning=4 (reliability degraded, exit bit 3) grades FAIL."""
    h = parse_smartctl_json(captured("nvme-critical-warning-4.json"))
    assert h.grade is HealthGrade.FAIL
    assert h.critical_warning == 4
    assert h.smart_passed is False
    assert h.exit_status == 8
    assert any("reliability degraded" in r for r in h.reasons)
    assert any("FAILED" in r for r in h.reasons)


def test_real_usb_bridge_without_sat_is_unknown() -> None:
    """A real USB stick: auto-detection fails with "Unknown USB bridge" (exit 1): UNKNOWN."""
    text = captured("usb-storage-auto.json")
    h = parse_smartctl_json(text, returncode=1)
    assert h.grade is HealthGrade.UNKNOWN
    assert not h.smart_available
    assert h.exit_status == 1
    assert "Unknown USB bridge" in h.reasons[0]
    assert h.raw == text


def test_real_usb_bridge_with_d_sat_is_unknown() -> None:
    """The same stick with -d sat: the device cannot be identified (exit bit 1): UNKNOWN."""
    h = parse_smartctl_json(captured("usb-storage-sat.json"), returncode=2)
    assert h.grade is HealthGrade.UNKNOWN
    assert h.exit_status == 2
    assert "could not be opened or identified" in h.reasons[0]


def test_real_loop_device_is_unknown() -> None:
    """A real loop device: "Unable to detect device type": UNKNOWN, not an error."""
    h = parse_smartctl_json(captured("loop-auto.json"))
    assert h.grade is HealthGrade.UNKNOWN
    assert "Unable to detect device type" in h.reasons[0]


def test_real_virtio_scsi_without_smart_is_unknown() -> None:
    """A real virtio-scsi disk: SMART unsupported (exit bit 2): UNKNOWN saying so."""
    h = parse_smartctl_json(captured("virtio-scsi-auto.json"))
    assert h.grade is HealthGrade.UNKNOWN
    assert h.reasons == ("the device does not support SMART",)
    assert h.exit_status == 4


# --- variants: failing attributes -----------------------------------------------------------


@pytest.mark.parametrize(
    ("ata_id", "raw", "expected", "field"),
    [
        (5, 3, HealthGrade.C, "reallocated_sectors"),
        (5, FAIL_REALLOCATED_SECTORS - 1, HealthGrade.C, "reallocated_sectors"),
        (5, FAIL_REALLOCATED_SECTORS, HealthGrade.FAIL, "reallocated_sectors"),
        (187, 1, HealthGrade.C, "reported_uncorrectable"),
        (187, 25, HealthGrade.FAIL, "reported_uncorrectable"),
        (197, 2, HealthGrade.C, "pending_sectors"),
        (197, FAIL_PENDING_SECTORS, HealthGrade.FAIL, "pending_sectors"),
        (198, 1, HealthGrade.C, "offline_uncorrectable"),
        (198, 40, HealthGrade.FAIL, "offline_uncorrectable"),
    ],
)
def test_sector_counters_grade(
    sda_text: str, ata_id: int, raw: int, expected: HealthGrade, field: str
) -> None:
    """Reallocated/uncorrectable/pending counts above 0 give C, at their FAIL threshold FAIL."""
    h = parse_smartctl_json(variant(sda_text, lambda d: set_attribute(d, ata_id, raw)))
    assert getattr(h, field) == raw
    assert h.grade is expected
    assert any(str(raw) in r for r in h.reasons)


def test_pending_and_offline_uncorrectable_add_up_to_fail(sda_text: str) -> None:
    """Pending (197) and offline-uncorrectable (198) sectors are counted together for FAIL."""

    def change(d: dict[str, Any]) -> None:
        set_attribute(d, 197, FAIL_PENDING_SECTORS // 2)
        set_attribute(d, 198, FAIL_PENDING_SECTORS - FAIL_PENDING_SECTORS // 2)

    assert parse_smartctl_json(variant(sda_text, change)).grade is HealthGrade.FAIL


def test_packed_raw_value_uses_decoded_string(sda_text: str) -> None:
    """A vendor-packed raw.value is read through raw.string, which smartctl already decoded."""

    def change(d: dict[str, Any]) -> None:
        set_attribute(d, 5, 0)
        attr = next(a for a in d["ata_smart_attributes"]["table"] if a["id"] == 5)
        attr["raw"] = {"value": 0x0001_0000_0004, "string": "4 (1 0)"}

    h = parse_smartctl_json(variant(sda_text, change))
    assert h.reallocated_sectors == 4
    assert h.grade is HealthGrade.C


def test_smart_overall_failed_is_fail(sda_text: str) -> None:
    """smart_status.passed false with exit bit 3 (DISK FAILING) grades FAIL."""

    def change(d: dict[str, Any]) -> None:
        d["smart_status"]["passed"] = False
        set_status(d, 8)

    h = parse_smartctl_json(variant(sda_text, change))
    assert h.grade is HealthGrade.FAIL
    assert h.smart_passed is False
    assert h.reasons[0] == "SMART overall-health self-assessment: FAILED"


def test_attribute_failing_now_is_fail(sda_text: str) -> None:
    """A prefailure attribute at its threshold now (when_failed "now", exit bit 4) is FAIL."""

    def change(d: dict[str, Any]) -> None:
        set_attribute(d, 5, 1800, value=30, worst=30, when_failed="now")
        set_status(d, 16)

    h = parse_smartctl_json(variant(sda_text, change))
    assert h.grade is HealthGrade.FAIL
    assert h.failed_attributes == ("5 Reallocated_Sector_Ct (now)",)
    assert any("threshold now" in r for r in h.reasons)


def test_attribute_failed_in_past_is_c(sda_text: str) -> None:
    """An attribute that failed only in the past (exit bit 5) grades C."""

    def change(d: dict[str, Any]) -> None:
        set_attribute(d, 190, 31, when_failed="past")
        set_status(d, 32)

    h = parse_smartctl_json(variant(sda_text, change))
    assert h.grade is HealthGrade.C
    assert h.failed_attributes == ("190 Airflow_Temperature_Cel (past)",)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(16, HealthGrade.FAIL), (32, HealthGrade.C), (64, HealthGrade.B), (128, HealthGrade.C)],
)
def test_exit_status_finding_bits_grade(sda_text: str, status: int, expected: HealthGrade) -> None:
    """Exit bits 4-7 are findings on a good read: bit 4 FAIL, 5 and 7 C, 6 (error log) B."""
    h = parse_smartctl_json(variant(sda_text, lambda d: set_status(d, status)))
    assert h.smart_available
    assert h.grade is expected
    assert h.exit_status == status


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (B_POWER_ON_HOURS, HealthGrade.A),
        (B_POWER_ON_HOURS + 1, HealthGrade.B),
        (C_POWER_ON_HOURS, HealthGrade.B),
        (C_POWER_ON_HOURS + 1, HealthGrade.C),
    ],
)
def test_power_on_hours_grade(sda_text: str, hours: int, expected: HealthGrade) -> None:
    """Power-on hours above 30000 give B, above 50000 C (boundaries exclusive)."""

    def change(d: dict[str, Any]) -> None:
        d["power_on_time"]["hours"] = hours

    h = parse_smartctl_json(variant(sda_text, change))
    assert h.power_on_hours == hours
    assert h.grade is expected


def test_power_on_hours_fall_back_to_attribute_9(sda_text: str) -> None:
    """Without the top-level power_on_time, attribute 9's raw count is used."""

    def change(d: dict[str, Any]) -> None:
        del d["power_on_time"]
        set_attribute(d, 9, 41000)

    h = parse_smartctl_json(variant(sda_text, change))
    assert h.power_on_hours == 41000
    assert h.grade is HealthGrade.B


# --- variants: NVMe -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        (49, HealthGrade.A),
        (50, HealthGrade.B),
        (80, HealthGrade.C),
        (99, HealthGrade.C),
        (100, HealthGrade.FAIL),
        (255, HealthGrade.FAIL),
    ],
)
def test_nvme_percentage_used_grade(nvme_text: str, used: int, expected: HealthGrade) -> None:
    """NVMe endurance used: >= 50 B, >= 80 C, >= 100 FAIL (the value may exceed 100)."""
    h = parse_smartctl_json(variant(nvme_text, lambda d: set_nvme(d, percentage_used=used)))
    assert h.percentage_used == used
    assert h.grade is expected


@pytest.mark.parametrize(
    ("warning", "phrase"),
    [
        (0x01, "available spare below threshold"),
        (0x02, "temperature outside its threshold"),
        (0x08, "read-only"),
        (0x40, "reserved bits 0x40"),
    ],
)
def test_nvme_critical_warning_bits_are_fail(nvme_text: str, warning: int, phrase: str) -> None:
    """Any NVMe critical_warning bit grades FAIL, and the reason names the bit."""

    def change(d: dict[str, Any]) -> None:
        set_nvme(d, critical_warning=warning)
        d["smart_status"]["passed"] = False
        set_status(d, 8)

    h = parse_smartctl_json(variant(nvme_text, change))
    assert h.grade is HealthGrade.FAIL
    assert h.critical_warning == warning
    assert any(phrase in r for r in h.reasons)


def test_nvme_media_errors_are_c(nvme_text: str) -> None:
    """NVMe media errors with healthy spare grade C."""
    text = variant(
        nvme_text,
        lambda d: set_nvme(d, media_errors=3, available_spare=100, available_spare_threshold=10),
    )
    h = parse_smartctl_json(text)
    assert h.media_errors == 3
    assert h.grade is HealthGrade.C


def test_nvme_media_errors_with_spare_below_threshold_are_fail(nvme_text: str) -> None:
    """NVMe media errors with available spare below its threshold grade FAIL."""
    text = variant(
        nvme_text,
        lambda d: set_nvme(d, media_errors=3, available_spare=5, available_spare_threshold=10),
    )
    h = parse_smartctl_json(text)
    assert h.grade is HealthGrade.FAIL
    assert h.reasons[0] == "available spare 5% is below its threshold 10%"
    assert "3 NVMe media/data-integrity errors" in h.reasons


def test_nvme_huge_counter_as_string(nvme_text: str) -> None:
    """A counter beyond 2**53 is written as KEY_s; it is still read."""

    def change(d: dict[str, Any]) -> None:
        del d["nvme_smart_health_information_log"]["media_errors"]
        set_nvme(d)
        d["nvme_smart_health_information_log"]["media_errors_s"] = str(2**64 - 1)

    assert parse_smartctl_json(variant(nvme_text, change)).media_errors == 2**64 - 1


# --- SCSI -----------------------------------------------------------------------------------


def test_scsi_counters_grade(sda_text: str) -> None:
    """SCSI grown defects, uncorrected errors and the 7.3 endurance key are read and graded."""

    def change(d: dict[str, Any]) -> None:
        del d["ata_smart_attributes"]
        d["device"] = {"name": "/dev/sdc", "type": "scsi", "protocol": "SCSI"}
        d["scsi_grown_defect_list"] = 2
        d["scsi_error_counter_log"] = {
            "read": {"total_uncorrected_errors": 1},
            "write": {"total_uncorrected_errors": 0},
        }
        d["scsi_Percentage used endurance indicator"] = 60

    h = parse_smartctl_json(variant(sda_text, change))
    assert (h.grown_defects, h.reported_uncorrectable, h.percentage_used) == (2, 1, 60)
    assert h.grade is HealthGrade.C


# --- no data / bad output -------------------------------------------------------------------


def test_truncated_json_is_unknown_and_keeps_raw(sda_text: str) -> None:
    """Output cut off mid-way is UNKNOWN with a reason, never an exception; raw is kept."""
    cut = sda_text[: len(sda_text) // 2]
    h = parse_smartctl_json(cut, returncode=0)
    assert h.grade is HealthGrade.UNKNOWN
    assert "not valid JSON" in h.reasons[0]
    assert h.raw == cut


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_output_is_unknown(text: str) -> None:
    """No output at all is UNKNOWN, and the reason gives the exit status."""
    h = parse_smartctl_json(text, returncode=2)
    assert h.grade is HealthGrade.UNKNOWN
    assert h.reasons == ("smartctl printed nothing (exit status 2)",)


@pytest.mark.parametrize("text", ["[1, 2]", '{"model_name": "X"}', "null", "Smartctl 7.3 text"])
def test_non_smartctl_output_is_unknown(text: str) -> None:
    """JSON that is not smartctl's, or text output, is UNKNOWN."""
    h = parse_smartctl_json(text)
    assert h.grade is HealthGrade.UNKNOWN
    assert not h.smart_available


def test_smart_unsupported_is_unknown(sda_text: str) -> None:
    """smart_support.available false gives UNKNOWN, even if other keys are present."""

    def change(d: dict[str, Any]) -> None:
        d["smart_support"] = {"available": False}

    h = parse_smartctl_json(variant(sda_text, change))
    assert h.grade is HealthGrade.UNKNOWN
    assert h.reasons == ("the device does not support SMART",)


def test_command_failure_without_verdict_is_unknown(sda_text: str) -> None:
    """Exit bit 2 with no smart_status in the output means no data: UNKNOWN."""

    def change(d: dict[str, Any]) -> None:
        del d["smart_status"]
        del d["ata_smart_attributes"]
        set_status(d, 4)

    h = parse_smartctl_json(variant(sda_text, change))
    assert h.grade is HealthGrade.UNKNOWN
    assert "SMART or ATA command" in h.reasons[0]


def test_command_failure_with_verdict_is_graded_with_note(sda_text: str) -> None:
    """Exit bit 2 with a verdict present is graded on what was read, and says so."""
    h = parse_smartctl_json(variant(sda_text, lambda d: set_status(d, 4)))
    assert h.grade is HealthGrade.A
    assert h.reasons[-1] == "some SMART commands failed; graded on what was read"


def test_exit_status_from_returncode_when_json_lacks_it(sda_text: str) -> None:
    """When the JSON carries no exit_status, the process return code is decoded instead."""

    def change(d: dict[str, Any]) -> None:
        del d["smartctl"]["exit_status"]

    h = parse_smartctl_json(variant(sda_text, change), returncode=64)
    assert h.exit_status == 64
    assert h.grade is HealthGrade.B


# --- pure helpers ---------------------------------------------------------------------------


def test_exit_status_findings_decode_each_bit() -> None:
    """Every set bit of the exit status gives one sentence, lowest bit first."""
    assert exit_status_findings(0) == ()
    assert len(exit_status_findings(0xFF)) == 8
    assert exit_status_findings(0b1000_0010) == (
        "the device could not be opened or identified",
        "the self-test log has errors",
    )


def test_critical_warning_findings_decode_bits() -> None:
    """Each critical_warning bit is named."""
    assert critical_warning_findings(0b101) == (
        "available spare below threshold",
        "NVM subsystem reliability degraded",
    )


def test_grade_without_smart_keeps_reasons() -> None:
    """grade() of a summary without SMART data is UNKNOWN with its own reasons."""
    assert grade(Health(grade=HealthGrade.A)) == (HealthGrade.UNKNOWN, ("no SMART data",))
    h = Health(grade=HealthGrade.UNKNOWN, reasons=("no SMART on this kind of device (loop)",))
    assert grade(h) == (HealthGrade.UNKNOWN, h.reasons)


def test_grade_lists_every_finding_worst_first() -> None:
    """All findings are given, worst grade first, so the technician sees the whole picture."""
    h = Health(
        grade=HealthGrade.UNKNOWN,
        smart_available=True,
        smart_passed=True,
        power_on_hours=35_000,
        reallocated_sectors=2,
        percentage_used=100,
    )
    assert grade(h) == (
        HealthGrade.FAIL,
        (
            "endurance used 100% (rated life reached)",
            "2 reallocated sectors",
            "35000 power-on hours",
        ),
    )


# --- read_health (the shell), at the runner seam ---------------------------------------------


def make_drive(transport: Transport, path: str = "/dev/sdx", **kw: Any) -> Drive:
    """A drive with the given transport."""
    return Drive(
        path=path,
        name=path.rsplit("/", 1)[-1],
        model="M",
        serial="S",
        size_bytes=1 << 30,
        transport=transport,
        **kw,
    )


@pytest.mark.parametrize("transport", [Transport.LOOP, Transport.VIRTIO, Transport.MMC])
def test_read_health_skips_devices_without_smart(transport: Transport) -> None:
    """Loop, virtio and MMC devices are UNKNOWN without running anything."""
    runner = FakeRunner()
    h = read_health(make_drive(transport), runner)
    assert h.grade is HealthGrade.UNKNOWN
    assert h.reasons == (f"no SMART on this kind of device ({transport.value})",)
    assert runner.calls == []


def test_read_health_usb_tries_sat_then_auto(reference: Path) -> None:
    """A USB stick: -d sat first, then auto-detection; both fail: UNKNOWN with both reasons."""
    sat, auto = captured("usb-storage-sat.json"), captured("usb-storage-auto.json")
    runner = FakeRunner()
    runner.reply(("smartctl", "-j", "-a", "-d", "sat"), stdout=sat, returncode=2)
    runner.reply(("smartctl", "-j", "-a"), stdout=auto, returncode=1)
    h = read_health(make_drive(Transport.USB, removable=True), runner)
    assert runner.calls == [
        ("smartctl", "-j", "-a", "-d", "sat", "/dev/sdx"),
        ("smartctl", "-j", "-a", "/dev/sdx"),
    ]
    assert h.grade is HealthGrade.UNKNOWN
    assert h.reasons[0].startswith("-d sat: no SMART data")
    assert h.reasons[1].startswith("auto-detect: no SMART data")
    assert "Unknown USB bridge" in h.reasons[1]


def test_read_health_usb_bridge_with_sat_stops_at_first(sda_text: str) -> None:
    """A SAT-capable USB bridge answers -d sat: graded from it, no second run."""
    runner = FakeRunner().reply(("smartctl",), stdout=sda_text)
    h = read_health(make_drive(Transport.USB), runner)
    assert h.grade is HealthGrade.A
    assert len(runner.calls) == 1


@pytest.mark.parametrize(
    ("transport", "argv"),
    [
        (Transport.NVME, ("smartctl", "-j", "-a", "-d", "nvme", "/dev/sdx")),
        (Transport.SATA, ("smartctl", "-j", "-a", "/dev/sdx")),
        (Transport.SCSI, ("smartctl", "-j", "-a", "/dev/sdx")),
    ],
)
def test_read_health_argv_per_transport(
    nvme_text: str, transport: Transport, argv: tuple[str, ...]
) -> None:
    """NVMe is read with -d nvme; SATA and SCSI let smartctl detect the type."""
    runner = FakeRunner().reply(("smartctl",), stdout=nvme_text)
    read_health(make_drive(transport), runner)
    assert runner.calls == [argv]


def test_read_health_missing_tool_is_unknown() -> None:
    """smartctl not installed (rc 127, no output): UNKNOWN with a reason, no exception."""
    h = read_health(make_drive(Transport.SATA), FakeRunner())
    assert h.grade is HealthGrade.UNKNOWN
    assert h.reasons == ("smartctl could not be run: smartctl: command not found",)


def test_read_health_timeout_is_unknown() -> None:
    """A smartctl run that timed out (rc 124, no output) is UNKNOWN."""
    runner = FakeRunner().on(("smartctl",), lambda argv: CommandResult(argv, 124, "", ""))
    h = read_health(make_drive(Transport.SATA), runner, timeout=5)
    assert h.reasons == ("smartctl timed out after 5 s",)


def test_read_health_failing_drive(sda_text: str) -> None:
    """A failing SATA drive read through the runner grades FAIL, the exit code decoded."""

    def failing(d: dict[str, Any]) -> None:
        set_attribute(d, 197, 64)
        set_status(d, 0)

    text = variant(sda_text, failing)
    runner = FakeRunner().reply(("smartctl",), stdout=text)
    h = read_health(make_drive(Transport.SATA), runner)
    assert h.grade is HealthGrade.FAIL
    assert h.pending_sectors == 64


def test_argv_has_no_device_type_unless_given() -> None:
    """smartctl_argv adds -d only when a type is given."""
    assert smartctl_argv("/dev/sda") == ("smartctl", "-j", "-a", "/dev/sda")
    assert smartctl_argv("/dev/sda", "sat") == ("smartctl", "-j", "-a", "-d", "sat", "/dev/sda")


@pytest.fixture
def loop_device(tmp_path: Path) -> Iterator[str]:
    """A real loop device over a small file, detached afterwards."""
    backing = tmp_path / "disk.img"
    backing.write_bytes(b"\0" * (1 << 20))
    path = subprocess.run(
        ["losetup", "-f", "--show", str(backing)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        yield path
    finally:
        subprocess.run(["losetup", "-d", path], check=False)


@pytest.mark.root
def test_real_smartctl_on_loop_device_is_unknown(loop_device: str) -> None:
    """The real smartctl against a real loop device (posing as SATA) gives UNKNOWN, no error."""
    drive = make_drive(Transport.SATA, path=loop_device)
    h = read_health(drive, SubprocessRunner())
    assert h.grade is HealthGrade.UNKNOWN
    assert h.exit_status is not None
    assert h.exit_status & 0b111
    assert json.loads(h.raw)["smartctl"]["argv"][-1] == loop_device


def test_module_documents_grading_table() -> None:
    """The grading rules are documented in the module docstring, one row per grade."""
    doc = health_mod.__doc__ or ""
    for word in ("``FAIL``", "``C``", "``B``", "``A``", "``UNKNOWN``"):
        assert word in doc


def test_attributes_without_a_verdict_are_never_graded_a(sda_text: str) -> None:
    """A report with attributes but no overall-health verdict: B, saying no verdict was given
    (never "SMART passed")."""
    h = parse_smartctl_json(variant(sda_text, lambda d: d.pop("smart_status")))
    assert h.grade is HealthGrade.B
    assert "no overall-health verdict was given" in h.reasons[0]
    assert not any("passed" in r for r in h.reasons)
