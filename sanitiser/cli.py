"""The `sanitiser` command: the TUI by default, and headless commands for automation and audit.

Errors meet the user in one place: `report_error`, called by the command group for any error
that escapes a command (and by `user_errors` and the thread hook), prints one plain line on
stderr and gives the exit status from `exit_status`; the traceback only with ``--verbose``.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO

import click

from sanitiser import __version__
from sanitiser.config import load_settings
from sanitiser.errors import SanitiserError, is_disk_full
from sanitiser.units import human_size

EXIT_NOT_DONE = 1
"""The command ran and its answer is no: a drive not sanitised, a record invalid, a chain
broken (each command says which)."""
EXIT_ERROR = 2
"""The command could not do its work: bad input or settings, a store that cannot be used, a
full data directory, an internal error."""
EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (128 + SIGINT, as shells report it)."""

EXIT_STATUS_HELP = (
    "Exit status: 0 done; 1 the answer is no (a drive not sanitised, a record invalid, a chain "
    "broken); 2 an error (bad input or settings, a store that cannot be used, a full data "
    "directory), said in one line on stderr (the traceback with --verbose); 130 interrupted."
)


def describe_error(e: BaseException) -> str:
    """One line for an error the user must see: what went wrong, in the system's own words."""
    if isinstance(e, SanitiserError):
        return f"{e.title}: {e.msg}" if e.title else e.msg
    if isinstance(e, KeyboardInterrupt):
        return "interrupted"
    if isinstance(e, OSError):
        where = f": {e.filename}" if e.filename else ""
        full = " (the disk is full: free space there)" if is_disk_full(e) else ""
        return f"{e.strerror or e}{where}{full}"
    name = type(e).__name__
    return f"internal error ({name}: {e}); run with --verbose for details"


def exit_status(e: BaseException) -> int:
    """The exit status for an error that ended a command (see `EXIT_STATUS_HELP`)."""
    return EXIT_INTERRUPTED if isinstance(e, KeyboardInterrupt) else EXIT_ERROR


def report_error(e: BaseException, verbose: bool) -> int:
    """Say `e` in one line on stderr (after its traceback with `verbose`); its exit status."""
    if verbose:
        traceback.print_exception(e)
    click.echo(f"sanitiser: {describe_error(e)}", err=True)
    return exit_status(e)


def _verbose_requested() -> bool:
    """--verbose/-v given before the command (when the group's context did not record it)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and (root.obj or {}).get("verbose"):
        return True
    return any(a in ("-v", "--verbose") for a in sys.argv[1:])


def fail(e: BaseException) -> NoReturn:
    """End the command with `e` said as `report_error` says it."""
    sys.exit(report_error(e, _verbose_requested()))


@contextmanager
def user_errors(verbose: bool = False) -> Iterator[None]:
    """Turn SanitiserError into its one line on stderr and its exit status (`report_error`)."""
    try:
        yield
    except SanitiserError as e:
        sys.exit(report_error(e, verbose or _verbose_requested()))


def _report_thread_error(args: threading.ExceptHookArgs) -> None:
    """An error no thread caught: one line (the traceback with --verbose), never a dump."""
    if args.exc_value is None or isinstance(args.exc_value, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "a thread"
    if _verbose_requested():
        traceback.print_exception(args.exc_value)
    click.echo(f"sanitiser: {name}: {describe_error(args.exc_value)}", err=True)


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


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to ``sys.stderr`` as it is at each record (the TUI captures it while it runs)."""

    @property  # always the current sys.stderr, never a stored one
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def _log_to_stderr(verbose: bool) -> None:
    """Warnings and errors from the core (job threads included) as one line each on stderr."""
    handler = _StderrHandler()
    handler.setFormatter(_OneLineFormatter(verbose))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


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
        """Run the command; any error that escapes it becomes one line and its exit status.

        The one place where errors meet the user (`report_error`): `SanitiserError` as its
        message, an operating system error (a full disk, a directory that cannot be made) as
        what the system said, anything else as an internal error; Ctrl-C as "interrupted"
        (130). The traceback is shown only with ``--verbose``.
        """
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            raise  # the reader went away (`| head`): click ends quietly
        except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - every command's last line of defence
            sys.exit(report_error(e, _verbose_requested()))

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
    epilog=EXIT_STATUS_HELP,
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
    threading.excepthook = _report_thread_error
    _log_to_stderr(verbose)  # the TUI too: a warning's traceback only with --verbose
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
    from sanitiser.store.sync import settings_store

    return settings_store(load_settings()).certificate_record(cert_id)
