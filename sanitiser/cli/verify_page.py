"""`sanitiser verify-page`: write the static verification page the label QR codes open."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sanitiser.certificate.verify_page import write_page
from sanitiser.cli.options import certs_option
from sanitiser.errors import CertificateError


@click.command("verify-page")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory (gets index.html) or .html file to write.",
)
@certs_option
def verify_page(out: Path, certs: Path) -> None:
    """Write the offline verification page with the organisation's station keys built in.

    Host the file at the verification URL the QR codes point to (the `verify_base_url`
    setting), over HTTPS: browsers only allow its signature checks in a secure context. The
    certificate token travels in the URL fragment, which is never sent to the web server.
    Rebuild the page after adding or revoking a station.
    """
    try:
        path, trust = write_page(certs, out)
    except CertificateError as e:
        click.echo(f"sanitiser: {e.msg}", err=True)
        sys.exit(2)
    click.echo(f"wrote {path}")
    click.echo(f"organisation: {trust.organisation}")
    for station in trust.stations:
        note = " (revoked)" if station.revoked_at is not None else ""
        click.echo(f"  station {station.name} key {station.key_id}{note}")
    for reason in trust.skipped:
        click.echo(f"warning: left out {reason}", err=True)
    if trust.development:
        click.echo(
            "warning: DEVELOPMENT organisation: the page says its certificates prove nothing",
            err=True,
        )
    click.echo("host it on HTTPS at the URL your QR codes point to")
