"""Opening a database: the engine for a URL (SQLite with WAL and a busy timeout, PostgreSQL with
its connection checks), a read-only SQLite copy opened as it is, and the one wording of a store
error (disk full, read only, unreachable), with the URL's password never shown."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, ExceptionContext, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import StaticPool
from sqlmodel import create_engine

from sanitiser.config import database_url_problem
from sanitiser.errors import DataDirectoryFullError, RecordStoreError

log = logging.getLogger(__name__)


def sqlite_file(url: str) -> str | None:
    """The file an SQLite URL names ("" for an in-memory database), or None when the URL is
    not SQLite (``sqlite+pysqlite:///PATH`` names PATH too).

    Raises:
        RecordStoreError: the URL cannot be parsed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise RecordStoreError(f"the database URL {safe_url(url)} cannot be read: {e}") from e
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    return "" if database == ":memory:" else database


def read_only_file(path: str) -> bool:
    """True when the folder of an SQLite store cannot be written (a read-only mount, an
    auditor's copy): the store is then opened read-only, as it is, and never migrated."""
    return not os.access(Path(path).parent, os.W_OK)


def is_read_only(engine: Engine) -> bool:
    """True for an engine `make_engine` opened read-only (see `read_only_file`)."""
    return engine.dialect.name == "sqlite" and engine.url.query.get("mode") == "ro"


def _wal_snapshot(path: Path) -> Path:
    """A private copy of the SQLite file at `path` and its write-ahead log, in a temporary
    folder removed at exit: SQLite needs a writable folder to read a WAL (its index file), and
    ignoring the WAL would hide the newest records (those of a bench that crashed)."""
    folder = Path(tempfile.mkdtemp(prefix="sanitiser-read-only-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    copy = folder / path.name
    shutil.copyfile(path, copy)
    shutil.copyfile(f"{path}-wal", f"{copy}-wal")
    return copy


def _read_only_sqlite(path: str) -> Engine:
    """An engine that only reads the SQLite store at `path`, whose folder cannot be written.

    Nothing is made beside it: a file without a write-ahead log is opened ``immutable`` (no
    -wal/-shm files needed); one with a log is read from a private copy of both
    (`_wal_snapshot`), so the newest records are seen.

    Raises:
        RecordStoreError: there is no store at `path` (none can be made there).
    """
    file = Path(path)
    if not file.is_file():
        raise RecordStoreError(
            f"there is no store at {path}, and its folder cannot be written here (a read-only "
            "copy?): nothing was created",
            title="No store",
        )
    wal = Path(f"{path}-wal")
    try:
        has_log = wal.is_file() and wal.stat().st_size > 0
        source, extra = (_wal_snapshot(file), "") if has_log else (file, "&immutable=1")
    except OSError as e:
        raise RecordStoreError(f"cannot read the store {path}: {e.strerror or e}") from e
    return create_engine(
        f"sqlite:///file:{source}?mode=ro{extra}&uri=true",
        connect_args={"check_same_thread": False, "uri": True},
    )


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and cross-thread use (workers write).

    An SQLite file's folder must exist: it is never created here (a typo in a database URL
    must not start an empty store somewhere new). A store whose folder cannot be written is
    opened read-only (`read_only_file`).

    Raises:
        RecordStoreError: the URL is not a supported store's (`database_url_problem`), or
            names a folder that does not exist.
    """
    problem = database_url_problem(url)
    if problem:
        raise RecordStoreError(problem)
    path = sqlite_file(url)
    if path is not None:
        if not path:
            return create_engine(
                "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
            )
        if read_only_file(path):
            return _read_only_sqlite(path)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # records must survive power loss
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # PostgreSQL: times are stored and compared in UTC whatever the server's zone
    engine = create_engine(url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
    event.listen(engine, "handle_error", _stuck_connection_is_broken)
    return engine


_STUCK_CONNECTION_ERRORS = (
    "connection in transaction status ACTIVE",  # psycopg: a command is still in flight
    "another command is already in progress",  # libpq: the same, seen from send_query
)


def _stuck_connection_is_broken(ctx: ExceptionContext) -> None:
    """Treat a connection left in the middle of a command as a lost one.

    When the link is cut while a statement is in flight, psycopg can keep that connection in
    the ACTIVE state; back in the pool, the next checkout's ping fails with "can't change
    'autocommit' now", which SQLAlchemy did not count as a disconnect, so the bench crashed
    instead of going to its journal. Counted as a disconnect, the pool drops the connection
    (at the ping: it opens a fresh one, which fails as unreachable when the link is down).
    """
    if any(text_ in str(ctx.original_exception) for text_ in _STUCK_CONNECTION_ERRORS):
        ctx.is_disconnect = True


_FULL = ("database or disk is full", "No space left on device", "could not extend file")
_READ_ONLY = ("attempt to write a readonly database", "readonly database")


def store_error(url: str, error: SQLAlchemyError) -> RecordStoreError:
    """The error to show for a failed unit of work; a full disk or a read-only store is said
    plainly."""
    if any(sign in str(error) for sign in _READ_ONLY):
        return RecordStoreError(
            f"the store {safe_url(url)} is read-only here: this command needs to write to it "
            "(commands that only read, such as jobs, audit verify and report, work)",
            title="Read-only store",
        )
    if any(sign in str(error) for sign in _FULL):
        path = sqlite_file(url)
        if path:
            return DataDirectoryFullError(
                f"data directory full: no space is left for the store {path} (free space on "
                "that disk)"
            )
        return RecordStoreError(
            f"the database's disk is full ({safe_url(url)}): nothing more could be recorded",
            title="Disk full",
        )
    return RecordStoreError(f"store error ({safe_url(url)}): {error}")


def is_unreachable(error: BaseException) -> bool:
    """True when a database error says the server cannot be reached or went away (network
    down, server stopped) rather than refusing us (bad password, no such database)."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    code = getattr(error.orig, "sqlstate", None)
    return code is None or str(code).startswith(("08", "57P"))


def reason(error: SQLAlchemyError) -> str:
    """The driver's message of a database error (its first line)."""
    orig = getattr(error, "orig", None)
    return str(orig or error).strip().splitlines()[0] if str(orig or error).strip() else "?"


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url
