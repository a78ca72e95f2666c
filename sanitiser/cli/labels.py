"""``sanitiser label``: print labels (``print``, ``queue``, ``retry``), and render them to files
(``render``, what ``sanitiser label FILE... --out PATH`` always did and still does).

A thin shell over `sanitiser.app.labels.LabelDesk` (the TUI's ``p`` uses the same desk).
"""

from __future__ import annotations

import json
from typing import Any

import click

from sanitiser.app.labels import ACCESSORIES, LabelDesk, PrintOutcome
from sanitiser.app.naming import session_operator
from sanitiser.certificate.qr import placeholder_url_warning
from sanitiser.cli.certificates import label as render_command
from sanitiser.cli.context import cli_context
from sanitiser.cli.devices import json_option, operator_option
from sanitiser.labels.content import LabelKind


class LabelGroup(click.Group):
    """``label`` with subcommands, where anything else is ``label render`` (the old form)."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """A first argument that is no subcommand (a file, an id) means ``render``."""
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["render", *args]
        return super().resolve_command(ctx, args)


def _desk(operator: str | None) -> LabelDesk:
    cli = cli_context()
    if warning := placeholder_url_warning(cli.settings.verify_base_url):
        click.echo(f"sanitiser: warning: {warning}", err=True)
    return LabelDesk(cli.settings, cli.store(), session_operator(operator))


def _show(outcomes: list[PrintOutcome], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([_job_json(o.job) | {"message": o.message} for o in outcomes]))
        return
    for o in outcomes:
        where = o.job.printer_name or o.job.printer
        state = "printed" if o.printed else o.job.state.value.upper()
        click.echo(f"{o.job.kind} {o.job.subject} -> {where}: {state}: {o.message}")
        if o.job.state.value == "failed":
            click.echo(f"  queued as {o.job.id[:12]}; 'sanitiser label retry' sends it again")


def _job_json(job: Any) -> dict[str, Any]:
    return {
        "id": job.id,
        "subject": job.subject,
        "kind": job.kind,
        "printer": job.printer,
        "printer_name": job.printer_name,
        "copies": job.copies,
        "state": job.state.value,
        "attempts": job.attempts,
        "last_error": job.last_error,
        "reprint": job.reprint,
        "created_at": job.created_at.isoformat(),
        "printed_at": job.printed_at.isoformat() if job.printed_at else None,
    }


@click.group("label", cls=LabelGroup)
def label() -> None:
    """Print labels on a label printer, or render them to PDF/PNG files.

    \b
    sanitiser label print ID|TAG [--printer NAME|ADDRESS] [--copies N]
    sanitiser label queue            the labels asked for, and where they are
    sanitiser label retry [JOB]      send the waiting labels again
    sanitiser label FILE... --out PATH  (label render) write labels to a file
    """


label.add_command(render_command, "render")


@label.command("print")
@click.argument("subject")
@click.option(
    "--printer",
    default=None,
    help="A printer name from the settings, or an address (zpl://HOST, "
    "brother://HOST?model=QL-820NWB&label=62x29, cups://QUEUE) [default: printers.default].",
)
@click.option("--copies", type=click.IntRange(1, 99), default=1, show_default=True, help="Copies.")
@click.option(
    "--with",
    "accessories",
    type=click.Choice([k.value for k in ACCESSORIES]),
    multiple=True,
    help="Also a charger or battery label for a device (repeat for both).",
)
@click.option("--reprint", is_flag=True, help="Print again a label already printed.")
@operator_option
@json_option
def print_(  # noqa: PLR0917 - click passes each option as an argument
    subject: str,
    printer: str | None,
    copies: int,
    accessories: tuple[str, ...],
    reprint: bool,
    operator: str | None,
    as_json: bool,
) -> None:
    """Print the label of a drive certificate (its id), a device (its tag) or a consignment
    (its id). The label is queued first: a printer fault leaves it waiting for 'label retry'.
    Exit status 0 only when every label printed."""
    desk = _desk(operator)
    outcomes = desk.print(
        subject,
        printer=printer,
        copies=copies,
        reprint=reprint,
        accessories=[LabelKind(a) for a in accessories],
    )
    _show(outcomes, as_json)
    if not all(o.printed for o in outcomes):
        raise SystemExit(1)


@label.command("retry")
@click.argument("job", required=False)
@operator_option
@json_option
def retry(job: str | None, operator: str | None, as_json: bool) -> None:
    """Send the labels waiting for a printer again (or the one JOB names). Exit status 0
    only when every one printed."""
    outcomes = _desk(operator).retry(job)
    if not outcomes and not as_json:
        click.echo("No labels waiting.")
    _show(outcomes, as_json)
    if not all(o.printed for o in outcomes):
        raise SystemExit(1)


@label.command("queue")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@json_option
def queue(limit: int, as_json: bool) -> None:
    """The latest labels asked for, newest first, and where each one is."""
    jobs = _desk(None).queue(limit=limit)
    if as_json:
        click.echo(json.dumps([_job_json(j) for j in jobs], indent=2))
        return
    if not jobs:
        click.echo("No labels asked for yet.")
    for j in jobs:
        error = f"  ({j.last_error})" if j.last_error and j.state.value != "printed" else ""
        click.echo(
            f"{j.id[:12]}  {j.created_at:%Y-%m-%d %H:%M}  {j.state.value:<11} {j.kind:<11} "
            f"{j.subject}  x{j.copies} -> {j.printer_name or j.printer}{error}"
        )
