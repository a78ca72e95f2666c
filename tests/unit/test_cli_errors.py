"""The one error-to-exit mapping of the CLI (`sanitiser.cli.errors.report_error`): one line each,
the documented status, the traceback only with --verbose; threads included."""

from __future__ import annotations

import errno
import logging
import sys
import threading

import pytest
from click.testing import CliRunner

from sanitiser.cli import main
from sanitiser.cli.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    describe_error,
    exit_status,
    report_thread_error,
)
from sanitiser.errors import DataDirectoryFullError, RecordStoreError


@pytest.mark.parametrize(
    ("error", "line", "status"),
    [
        (
            RecordStoreError("store error", title="Read-only store"),
            "Read-only store: store error",
            2,
        ),
        (DataDirectoryFullError("data directory full: x"), "data directory full: x", 2),
        (
            OSError(errno.ENOSPC, "No space left on device", "/d/keys/k"),
            "No space left on device: /d/keys/k (the disk is full: free space there)",
            EXIT_ERROR,
        ),
        (OSError(errno.ENOTDIR, "Not a directory", "/d/keys"), "Not a directory: /d/keys", 2),
        (KeyboardInterrupt(), "interrupted", EXIT_INTERRUPTED),
        (
            RuntimeError("boom"),
            "internal error (RuntimeError: boom); run with --verbose for details",
            EXIT_ERROR,
        ),
    ],
)
def test_each_error_class_has_one_line_and_a_status(
    error: BaseException, line: str, status: int
) -> None:
    assert describe_error(error) == line
    assert exit_status(error) == status


def test_an_error_no_thread_caught_is_one_line(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command installs the hook: a thread's uncaught error is one line, no dump."""
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)  # put back afterwards
    root = logging.getLogger()  # the command sets the root logger's handler and level
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(sys, "argv", ["sanitiser", "db", "current"])
    done = CliRunner().invoke(main, ["db", "current", "--url", "sqlite://"])
    assert done.exit_code == 0, done.output
    assert threading.excepthook is report_thread_error

    def boom() -> None:
        raise RuntimeError("boom")

    worker = threading.Thread(target=boom, name="job-1234")
    worker.start()
    worker.join()
    assert capfd.readouterr().err == (
        "sanitiser: job-1234: internal error (RuntimeError: boom); run with --verbose for details\n"
    )
