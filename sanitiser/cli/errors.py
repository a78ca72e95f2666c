"""The CLI's one error-to-exit mapping: every error that ends a command meets the user here.

`report_error` prints one plain line on stderr and gives the exit status from `exit_status`; the
traceback only with ``--verbose``. `user_errors` and the thread hook go through it too, and the
core's log records are written one line each (`log_to_stderr`).
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO

import click

from sanitiser.errors import SanitiserError, is_disk_full

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


def verbose_requested() -> bool:
    """--verbose/-v given before the command (when the group's context did not record it)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and getattr(root.obj, "verbose", False):
        return True
    return any(a in ("-v", "--verbose") for a in sys.argv[1:])


def fail(e: BaseException) -> NoReturn:
    """End the command with `e` said as `report_error` says it."""
    sys.exit(report_error(e, verbose_requested()))


@contextmanager
def user_errors(verbose: bool = False) -> Iterator[None]:
    """Turn SanitiserError into its one line on stderr and its exit status (`report_error`)."""
    try:
        yield
    except SanitiserError as e:
        sys.exit(report_error(e, verbose or verbose_requested()))


def report_thread_error(args: threading.ExceptHookArgs) -> None:
    """An error no thread caught: one line (the traceback with --verbose), never a dump."""
    if args.exc_value is None or isinstance(args.exc_value, SystemExit):
        return
    name = args.thread.name if args.thread is not None else "a thread"
    if verbose_requested():
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


def log_to_stderr(verbose: bool) -> None:
    """Warnings and errors from the core (job threads included) as one line each on stderr."""
    handler = _StderrHandler()
    handler.setFormatter(_OneLineFormatter(verbose))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
