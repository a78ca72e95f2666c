"""``sanitiser report``: the fleet's devices by period, station, outcome, method, destination."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from sanitiser.cli import user_errors
from sanitiser.config import load_settings
from sanitiser.errors import RecordStoreError
from sanitiser.reporting.aggregate import (
    GROUP_KEYS,
    DeviceRow,
    ReportError,
    build_report,
    device_row,
    parse_time,
)
from sanitiser.reporting.render import report_csv, report_json, report_pdf
from sanitiser.store import Store
from sanitiser.store.consignments import ConsignmentItemRow, ConsignmentRow
from sanitiser.store.sync import settings_store
from sanitiser.store.tables import CertificateRow

_SLACK = timedelta(days=1)
"""The store's issue time and the record's may differ a little; the record's decides."""


def _shifted(moment: datetime, delta: timedelta) -> datetime:
    """`moment` + `delta`, held at the calendar's ends (a bound in year 1 or 9999)."""
    try:
        return moment + delta
    except OverflowError:
        return (datetime.max if delta > timedelta(0) else datetime.min).replace(tzinfo=UTC)


def load_devices(
    store: Store, *, start: datetime | None = None, end: datetime | None = None
) -> list[DeviceRow]:
    """Report rows of the certificates issued about ``[start, end)`` (the record's own time
    decides; `build_report` filters exactly), with the destination each left for."""
    query = select(CertificateRow.record_json)
    if start is not None:
        query = query.where(col(CertificateRow.issued_at) >= _shifted(start, -_SLACK))
    if end is not None:
        query = query.where(col(CertificateRow.issued_at) < _shifted(end, _SLACK))
    try:
        with Session(store.engine) as s:
            envelopes = list(s.exec(query).all())
            consigned = dict(
                s.exec(
                    select(ConsignmentItemRow.certificate_id, ConsignmentRow.destination).join(
                        ConsignmentRow,
                        col(ConsignmentRow.id) == col(ConsignmentItemRow.consignment_id),
                    )
                ).all()
            )
    except SQLAlchemyError as e:
        raise RecordStoreError(f"cannot read certificates: {e}") from e
    rows = []
    for raw in envelopes:
        try:
            record = json.loads(bytes(raw))
        except ValueError:
            continue  # not a record this report can read; `sanitiser verify` says why
        if isinstance(record, dict):
            row = device_row(record)
            destination = consigned.get(row.certificate_id, "")
            rows.append(device_row(record, destination=destination) if destination else row)
    return rows


@click.command()
@click.option("--from", "start", metavar="DATE", help="First day (YYYY-MM-DD) or time.")
@click.option("--to", "end", metavar="DATE", help="Last day (YYYY-MM-DD, included) or time.")
@click.option(
    "--group-by",
    "group_by",
    multiple=True,
    type=click.Choice(GROUP_KEYS, case_sensitive=False),
    help="Group devices by this (repeat for several; default: station).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "pdf"]),
    default="csv",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
@click.option("--devices", is_flag=True, help="CSV: one line per device, not per group.")
@click.option("--no-simulated", is_flag=True, help="Leave out simulated (lab) devices.")
@click.pass_context
def report(  # noqa: PLR0917 - click passes every option as an argument
    ctx: click.Context,
    start: str | None,
    end: str | None,
    group_by: tuple[str, ...],
    fmt: str,
    out: Path | None,
    devices: bool,
    no_simulated: bool,
) -> None:
    """Report the devices certified across the fleet, by period and group.

    Reads the configured database (for a fleet, the central PostgreSQL every bench writes
    to). Counts a corrected certificate once.
    """
    verbose = bool((ctx.find_root().obj or {}).get("verbose"))
    with user_errors(verbose):
        settings = load_settings()
        first = parse_time(start) if start else None
        last = parse_time(end, end=True) if end else None
        if first is not None and last is not None and last <= first:
            raise ReportError("--to is before --from")
        store = settings_store(settings)
        result = build_report(
            load_devices(store, start=first, end=last),
            start=first,
            end=last,
            group_by=group_by or ("station",),
            include_simulated=not no_simulated,
        )
        if fmt == "csv":
            data = report_csv(result, devices=devices)
        elif fmt == "json":
            data = (json.dumps(report_json(result), indent=2) + "\n").encode("utf-8")
        else:
            data = report_pdf(result, organisation=settings.organisation)
        if out is None:
            if fmt == "pdf" and sys.stdout.isatty():
                raise ReportError("a PDF report needs --out FILE")
            click.echo(data, nl=False)
            return
        try:
            out.write_bytes(data)
        except OSError as e:
            raise ReportError(f"cannot write {out}: {e.strerror}") from e
        click.echo(f"{out}: {len(result.devices)} devices in {len(result.groups)} groups")
