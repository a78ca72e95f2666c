"""Fleet reporting: devices by period, station, outcome, method and destination."""

from sanitiser.reporting.aggregate import (
    GROUP_KEYS,
    DeviceRow,
    GroupRow,
    Report,
    ReportError,
    build_report,
    device_row,
    parse_time,
)
from sanitiser.reporting.render import report_csv, report_json, report_pdf

__all__ = [
    "GROUP_KEYS",
    "DeviceRow",
    "GroupRow",
    "Report",
    "ReportError",
    "build_report",
    "device_row",
    "parse_time",
    "report_csv",
    "report_json",
    "report_pdf",
]
