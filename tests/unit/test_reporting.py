"""Fleet reports: aggregation over certificate records, CSV/JSON/PDF output, the command."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session

from sanitiser.cli import main
from sanitiser.config import load_settings
from sanitiser.reporting import (
    ReportError,
    build_report,
    device_row,
    parse_time,
    report_csv,
    report_json,
    report_pdf,
)
from sanitiser.reporting.aggregate import NOT_CONSIGNED, DeviceRow
from sanitiser.store.sync import settings_store
from sanitiser.store.tables import ConsignmentItemRow, ConsignmentRow
from tests.store.bench_rig import certificate, drive

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _row(
    i: int,
    *,
    station: str = "north-1",
    outcome: str = "sanitised",
    capacity_bytes: int = 10**9,
    simulated: bool = False,
    supersedes: str = "",
) -> DeviceRow:
    return DeviceRow(
        certificate_id=f"c{i:03d}",
        issued_at=T0 + timedelta(hours=i),
        station=station,
        outcome=outcome,
        method="ata-sanitize-crypto",
        nist_category="purge",
        destination=NOT_CONSIGNED,
        route="external-reuse",
        media_kind="ssd",
        model="M",
        serial=f"S{i}",
        capacity_bytes=capacity_bytes,
        simulated=simulated,
        supersedes=supersedes,
    )


def test_device_row_reads_the_signed_envelope() -> None:
    """A stored envelope gives the device's station, outcome, method, media and size."""
    d = drive("south-2", 4)
    _, envelope, record = certificate("south-2", d, failed=True)
    row = device_row(json.loads(envelope), destination="Recycler Ltd")
    assert row.certificate_id == record["certificate_id"]
    assert (row.station, row.outcome, row.destination) == ("south-2", "failed", "Recycler Ltd")
    assert (row.media_kind, row.capacity_bytes, row.serial) == ("ssd", d.size_bytes, d.serial)
    assert row.method == record["sanitisation"]["method"]
    assert row.issued_at == datetime.fromisoformat(record["issued_at"].replace("Z", "+00:00"))


def test_groups_count_devices_outcomes_and_capacity() -> None:
    """Grouping by station and outcome counts each device once, with totals."""
    rows = [
        _row(0),
        _row(1, station="south-1"),
        _row(2, outcome="failed"),
        _row(3, station="south-1", capacity_bytes=5 * 10**9),
        _row(4, simulated=True),
    ]
    report = build_report(rows, group_by=["station", "outcome"])
    assert [(g.key, g.devices, g.sanitised) for g in report.groups] == [
        (("north-1", "failed"), 1, 0),
        (("north-1", "sanitised"), 2, 2),
        (("south-1", "sanitised"), 2, 2),
    ]
    assert report.groups[2].capacity_bytes == 6 * 10**9
    assert (report.totals.devices, report.totals.not_sanitised, report.totals.simulated) == (
        5,
        1,
        1,
    )
    without = build_report(rows, group_by=["station"], include_simulated=False)
    assert without.totals.devices == 4


def test_period_is_inclusive_start_exclusive_end_and_days_are_whole() -> None:
    """--from a day includes it, --to a day includes that whole day, nothing after."""
    rows = [_row(i * 12) for i in range(6)]  # every 12 h from 1 March 09:00
    start, end = parse_time("2025-03-02"), parse_time("2025-03-02", end=True)
    report = build_report(rows, start=start, end=end, group_by=["day"])
    assert [d.issued_at.day for d in report.devices] == [2, 2]
    assert [(g.key, g.devices) for g in report.groups] == [(("2025-03-02",), 2)]
    by_month = build_report(rows, group_by=["month", "destination", "method", "media"])
    assert by_month.groups[0].key == ("2025-03", NOT_CONSIGNED, "ata-sanitize-crypto", "ssd")
    assert parse_time("2025-03-02T10:00:00+01:00") == datetime(2025, 3, 2, 9, tzinfo=UTC)


def test_a_corrected_certificate_counts_once() -> None:
    """A record superseded by a later one is left out."""
    rows = [_row(0), _row(1, supersedes="c000", outcome="failed")]
    report = build_report(rows, group_by=["outcome"])
    assert [d.certificate_id for d in report.devices] == ["c001"]


def test_a_drive_wiped_twice_counts_once_by_its_latest_certificate() -> None:
    """Two certificates of one drive (a failed wipe, then a good one) are one drive, reported
    as its latest record says; rows of unknown drives are never merged."""
    first, second = _row(0, outcome="failed"), _row(3)
    rows = [
        replace(first, drive_key="serial:S0", serial="S0"),
        replace(second, drive_key="serial:S0", serial="S0"),
        _row(1),
        _row(2),
    ]
    report = build_report(rows, group_by=["station"])
    assert [d.certificate_id for d in report.devices] == ["c001", "c002", "c003"]
    assert (report.totals.devices, report.totals.sanitised) == (3, 3)
    [north] = report.groups
    assert north.devices == 3
    # a period holding only the first certificate reports what was true then
    early = build_report(rows, end=T0 + timedelta(hours=2, minutes=30))
    assert [d.certificate_id for d in early.devices] == ["c000", "c001", "c002"]


def test_bad_arguments_are_refused() -> None:
    """Unknown group keys, unreadable dates and a period ending before it starts."""
    with pytest.raises(ReportError, match="cannot group by"):
        build_report([], group_by=["colour"])
    with pytest.raises(ReportError, match="not a date"):
        parse_time("last tuesday")
    with pytest.raises(ReportError, match="ends before"):
        build_report([], start=T0, end=T0 - timedelta(days=1))


def test_csv_has_groups_a_total_and_no_formulas() -> None:
    """The CSV lists each group and the total; text a spreadsheet would run is defused."""
    rows = [_row(0, station="=HYPERLINK(1)"), _row(1)]
    report = build_report(rows, group_by=["station"])
    lines = list(csv.reader(io.StringIO(report_csv(report).decode())))
    assert lines[0] == [
        "station",
        "devices",
        "sanitised",
        "not_sanitised",
        "capacity_bytes",
        "simulated",
    ]
    assert lines[1][0] == "'=HYPERLINK(1)"
    assert lines[-1][:2] == ["total", "2"]
    devices = list(csv.DictReader(io.StringIO(report_csv(report, devices=True).decode())))
    assert [d["certificate_id"] for d in devices] == ["c000", "c001"]


def test_json_and_pdf_carry_the_same_facts(tmp_path: Path) -> None:
    """The JSON has groups, totals and devices; the PDF's text names every group."""
    report = build_report([_row(0), _row(1, station="south-1")], group_by=["station"])
    facts = report_json(report)
    assert [g["station"] for g in facts["groups"]] == ["north-1", "south-1"]
    assert facts["totals"]["devices"] == 2
    assert len(facts["devices"]) == 2
    pdf = report_pdf(report, organisation="Example Council")
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Example Council" in text
    assert "north-1" in text
    assert "south-1" in text


def test_report_command_over_the_store(tmp_path: Path) -> None:
    """`sanitiser report` reads the store's certificates and consignments (CSV, JSON, PDF)."""
    store = settings_store(load_settings())
    consigned = ""
    for i, station in enumerate(["north-1", "north-1", "south-1"]):
        d = drive(station, i)
        cert_id, envelope, _ = certificate(station, d)
        store.save_certificate(cert_id, envelope, serial=d.serial)
        consigned = consigned or cert_id
    now = datetime.now(UTC)
    with Session(store.engine) as s:
        s.add(
            ConsignmentRow(
                id="k1", destination="Reuse Bank", station="north-1", state="open", opened_at=now
            )
        )
        s.add(
            ConsignmentItemRow(
                consignment_id="k1", certificate_id=consigned, drive_key="x", added_at=now
            )
        )
        s.commit()
    runner = CliRunner()
    result = runner.invoke(main, ["report", "--group-by", "destination", "--format", "json"])
    assert result.exit_code == 0, result.output
    groups = {g["destination"]: g["devices"] for g in json.loads(result.output)["groups"]}
    assert groups == {"Reuse Bank": 1, NOT_CONSIGNED: 2}
    today = now.strftime("%Y-%m-%d")
    result = runner.invoke(main, ["report", "--from", today, "--to", today])
    assert result.exit_code == 0, result.output
    assert "north-1,2," in result.output
    assert "south-1,1," in result.output
    out = tmp_path / "fleet.pdf"
    result = runner.invoke(main, ["report", "--format", "pdf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    result = runner.invoke(main, ["report", "--from", "2020-01-02", "--to", "2020-01-01"])
    assert result.exit_code == 2
    assert "before" in result.output
