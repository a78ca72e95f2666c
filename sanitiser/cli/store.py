"""``sanitiser db`` (schema migrations) and ``sanitiser sync`` (push the local journal)."""

from __future__ import annotations

import json

import click
from sqlalchemy.exc import SQLAlchemyError

from sanitiser.cli.context import cli_context
from sanitiser.cli.errors import user_errors
from sanitiser.errors import RecordStoreError
from sanitiser.store import migrations
from sanitiser.store.engine import make_engine, safe_url


def _verbose(ctx: click.Context) -> bool:
    return cli_context().verbose


def _url(url: str | None) -> str:
    return url or cli_context().settings.effective_database_url


@click.group()
def db() -> None:
    """The store's schema: show its revision, or migrate it to this version's."""


@db.command()
@click.option("--url", help="Database URL (default: the configured database_url).")
@click.pass_context
def upgrade(ctx: click.Context, url: str | None) -> None:
    """Migrate the database to this version's schema (once per fleet database).

    An empty database is created; a database made before migrations existed is adopted.
    """
    with user_errors(_verbose(ctx)):
        target = _url(url)
        try:
            engine = make_engine(target)
            before, after = migrations.upgrade(engine)
        except SQLAlchemyError as e:
            raise RecordStoreError(f"cannot migrate {safe_url(target)}: {e}") from e
        if before == after:
            click.echo(f"{safe_url(target)}: already at revision {after}")
        else:
            click.echo(f"{safe_url(target)}: upgraded from {before or '(none)'} to {after}")


@db.command()
@click.option("--url", help="Database URL (default: the configured database_url).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def current(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Show the database's schema revision and the one this version needs."""
    with user_errors(_verbose(ctx)):
        target = _url(url)
        try:
            revision = migrations.current_revision(make_engine(target))
        except SQLAlchemyError as e:
            raise RecordStoreError(f"cannot read {safe_url(target)}: {e}") from e
        head = migrations.head_revision()
        if as_json:
            click.echo(
                json.dumps({"current": revision, "head": head, "up_to_date": revision == head})
            )
            return
        state = "up to date" if revision == head else "run `sanitiser db upgrade`"
        click.echo(f"current: {revision or '(none)'}\nhead:    {head}\n{state}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sync(ctx: click.Context, as_json: bool) -> None:
    """Push records this bench kept in its local journal while the central database was away.

    Safe to run at any time and any number of times: nothing is pushed twice. Exit status 1
    when some records conflict with central ones (they are listed and stay in the journal).
    """
    from sanitiser.store.sync import sync_settings  # noqa: PLC0415 - the custody tables

    with user_errors(_verbose(ctx)):
        report = sync_settings(cli_context().settings)
        if as_json:
            click.echo(json.dumps(report.as_json(), indent=2))
        else:
            pushed = report.as_json()["pushed"]
            parts = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in pushed.items() if n)
            click.echo(f"pushed {report.total} records" + (f": {parts}" if parts else ""))
            for problem in report.conflicts:
                click.echo(f"conflict: {problem}", err=True)
        if report.conflicts:
            ctx.exit(1)
