"""``sanitiser report``: the fleet's devices by period, station, outcome, method, destination."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sanitiser.cli.context import cli_context
from sanitiser.cli.errors import user_errors
from sanitiser.reporting.aggregate import (
    GROUP_KEYS,
    ReportError,
    build_report,
    parse_time,
)
from sanitiser.reporting.devices import load_devices
from sanitiser.reporting.render import report_csv, report_json, report_pdf
from sanitiser.store.sync import settings_store


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
    to). Counts each drive once, by its latest certificate in the period (a drive wiped twice
    is one drive), and a corrected certificate once.
    """
    verbose = cli_context().verbose
    with user_errors(verbose):
        settings = cli_context().settings
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
