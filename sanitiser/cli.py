"""The `sanitiser` command: the TUI by default, and headless commands for automation and audit.

Errors from the core are translated in one place (`user_errors`): a plain message on stderr and
exit status 2; the traceback only with `--verbose`.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from sanitiser import __version__
from sanitiser.config import load_settings
from sanitiser.errors import SanitiserError
from sanitiser.units import human_size


@contextmanager
def user_errors(verbose: bool = False) -> Iterator[None]:
    """Turn SanitiserError into a clear message on stderr and exit status 2."""
    try:
        yield
    except SanitiserError as e:
        if verbose:
            traceback.print_exc()
        title = f"{e.title}: " if e.title else ""
        click.echo(f"sanitiser: {title}{e.msg}", err=True)
        sys.exit(2)


def describe_error(e: BaseException) -> str:
    """One line for an error the user must see: what went wrong, in the system's own words."""
    if isinstance(e, SanitiserError):
        return f"{e.title}: {e.msg}" if e.title else e.msg
    if isinstance(e, OSError):
        where = f": {e.filename}" if e.filename else ""
        return f"{e.strerror or e}{where}"
    name = type(e).__name__
    return f"internal error ({name}: {e}); run with --verbose for details"


class _OneLineFormatter(logging.Formatter):
    """``sanitiser: message``; a traceback only when asked for (``--verbose``)."""

    def __init__(self, verbose: bool) -> None:
        super().__init__("sanitiser: %(message)s")
        self.verbose = verbose

    def formatException(self, ei: Any) -> str:
        return super().formatException(ei) if self.verbose else ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = None  # never reuse a traceback another handler formatted
        return super().format(record).rstrip()


def _log_to_stderr(verbose: bool) -> None:
    """Warnings and errors from the core (job threads included) as one line each on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(_OneLineFormatter(verbose))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def _verbose_requested() -> bool:
    """--verbose/-v given before the command (when the group's context did not record it)."""
    return any(a in ("-v", "--verbose") for a in sys.argv[1:])


def _settings(ctx: click.Context) -> Any:
    return load_settings()


class LazyGroup(click.Group):
    """A group whose heavier subcommands are imported only when used (pyHanko costs ~1 s)."""

    lazy: dict[str, str] = {  # noqa: RUF012 - class-level registry
        "keys": "sanitiser.certificate.commands:keys",
        "verify": "sanitiser.certificate.commands:verify",
        "verify-page": "sanitiser.certificate.page_command:verify_page",
        "label": "sanitiser.certificate.commands:label",
        "cert": "sanitiser.cli:cert_group",
        "wipe": "sanitiser.jobs.commands:wipe",
        "jobs": "sanitiser.jobs.commands:jobs",
        "audit": "sanitiser.custody.commands:audit",
        "destinations": "sanitiser.custody.commands:destinations",
        "consignment": "sanitiser.custody.commands:consignment",
        "db": "sanitiser.store.commands:db",
        "sync": "sanitiser.store.commands:sync",
        "report": "sanitiser.reporting.commands:report",
    }

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; any error that escapes it becomes one line and exit status 2.

        The one place where errors meet the user: `SanitiserError` as its message, an operating
        system error (a full disk, a directory that cannot be made) as what the system said,
        anything else as an internal error. The traceback is shown only with ``--verbose``.
        """
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("sanitiser: interrupted", err=True)
            sys.exit(130)
        except Exception as e:  # noqa: BLE001 - the last line of defence for every command
            if (ctx.obj or {}).get("verbose") or _verbose_requested():
                traceback.print_exc()
            click.echo(f"sanitiser: {describe_error(e)}", err=True)
            sys.exit(2)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eager and lazy commands, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import a lazy command on first use."""
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            obj = getattr(importlib.import_module(module_name), attr)
            return obj() if attr == "cert_group" else obj  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)


def cert_group() -> click.Command:
    """`sanitiser cert`, wired to the store for `cert export ID`."""
    from sanitiser.certificate.commands import make_cert_group

    return make_cert_group(_lookup_certificate)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--lab", is_flag=True, help="Use the simulated lab bench (file-backed drives).")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="sanitiser")
@click.pass_context
def main(ctx: click.Context, lab: bool, verbose: bool) -> None:
    """Secure data-sanitisation workstation (NIST SP 800-88 Clear/Purge, signed proof).

    With no command, opens the bench TUI. The lab bench (simulated drives, every record marked
    SIMULATED) is used with --lab, or when no real drive can safely be used.

    Settings come from /etc/sanitiser/config.toml (or SANITISER_CONFIG_FILE) and SANITISER_*
    environment variables, e.g. SANITISER_DATA_DIR and SANITISER_DATABASE_URL.
    """
    ctx.ensure_object(dict)
    ctx.obj["lab"] = lab
    ctx.obj["verbose"] = verbose
    if ctx.invoked_subcommand not in (None, "tui"):  # the TUI shows its own log
        _log_to_stderr(verbose)
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui)


@main.command()
@click.option("--lab", "lab_flag", is_flag=True, help="Use the simulated lab bench.")
@click.pass_context
def tui(ctx: click.Context, lab_flag: bool) -> None:
    """Open the bench TUI (the default command)."""
    from sanitiser.services import build_services
    from sanitiser.tui.app import SanitiserApp

    with user_errors(ctx.obj["verbose"]):
        lab = True if (lab_flag or ctx.obj["lab"]) else None
        settings = _settings(ctx)
        services = build_services(settings, lab=lab)
        _ensure_signing_identity(settings)
        SanitiserApp(services).run()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (for scripts).")
@click.option("--lab", "lab_flag", is_flag=True, help="List the simulated lab drives too.")
@click.pass_context
def scan(ctx: click.Context, as_json: bool, lab_flag: bool) -> None:
    """List the attached drives with health and the safety guard's verdict.

    Protected drives (system/boot disk, mounted, swap, device-mapper/MD/LVM, read-only) are
    listed with the reason; they can never be selected for sanitisation.
    """
    from sanitiser.services import assess_drives, build_services

    with user_errors(ctx.obj["verbose"]):
        lab = bool(lab_flag or ctx.obj["lab"])
        services = build_services(_settings(ctx), lab=lab)
        statuses = assess_drives(services, services.source.list())
        if as_json:
            click.echo(json.dumps([s.as_json() for s in statuses], indent=2))
            return
        if not statuses:
            click.echo("No drives found.")
        for s in statuses:
            d = s.drive
            sim = " [SIMULATED]" if d.simulated else ""
            verdict = f"PROTECTED: {s.protection.reason}" if s.protection.protected else "usable"
            click.echo(
                f"{d.path:<24} {d.transport.value:<7} {human_size(d.size_bytes):>9}  "
                f"{d.model or '-'} / {d.serial or '(no serial)'}  health {s.health.grade.value}"
                f"  {verdict}{sim}"
            )


def _ensure_signing_identity(settings: Any) -> None:
    """First use: create a DEVELOPMENT organisation CA and station key (said on every record)."""
    from sanitiser.certificate.keys import ensure_development_identity

    ensure_development_identity(
        settings.certs_dir, settings.data_dir / "keys", settings.organisation, settings.station
    )


def _lookup_certificate(cert_id: str) -> bytes | None:
    """The stored signed record for `cert_id` (for `cert export ID`)."""
    from sanitiser.store import Store

    return Store(load_settings().effective_database_url).certificate_record(cert_id)
