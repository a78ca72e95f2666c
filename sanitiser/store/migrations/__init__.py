"""Schema migrations (alembic), the same revisions for SQLite and PostgreSQL.

``versions/0001_initial.py`` creates the schema as it was before migrations existed (what
``create_all`` made); later revisions change it. A database is brought to the newest revision
(`HEAD`) by `upgrade` (``sanitiser db upgrade``), which:

- creates an empty database from the revisions;
- adopts a database made by ``create_all`` before migrations existed (its tables are there but
  no ``alembic_version``): it is stamped at the initial revision, then upgraded;
- takes a lock first, so benches starting together never migrate one database twice
  (PostgreSQL: a transaction-scoped advisory lock; SQLite: ``flock`` on ``<file>.migrate-lock``).

`prepare` is what `Store` runs on opening: a database already at `HEAD` costs one query; an
SQLite file (the bench's own) or an empty database is upgraded; a shared database behind
`HEAD` is refused with a clear message (migrating a fleet's database is an operator's act,
``sanitiser db upgrade``), and so is one newer than this software.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from sanitiser.errors import RecordStoreError

BASELINE = "0001"
"""The initial revision: the schema ``create_all`` made before migrations existed."""

VERSION_TABLE = "alembic_version"
_HERE = Path(__file__).resolve().parent
_LOCK_KEY = 0x5A417E5  # pg_advisory_xact_lock key of schema changes ("SANITISE")


class SchemaError(RecordStoreError):
    """The database's schema is not the one this software needs (and was not migrated)."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An alembic configuration for these revisions (no ``alembic.ini`` needed).

    Args:
        connection: the connection env.py migrates (None: offline SQL generation).
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this software knows."""
    head = _script().get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise SchemaError("no schema revisions are installed")
    return head


def known_revisions() -> frozenset[str]:
    """Every revision this software knows."""
    return frozenset(r.revision for r in _script().walk_revisions())


def _read_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    row = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).first()  # noqa: S608 - constant
    return None if row is None else str(row[0])


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None when it has none (empty, or made by ``create_all``)."""
    with engine.connect() as conn:
        return _read_revision(conn)


def _has_tables(conn: Connection) -> bool:
    names = set(inspect(conn).get_table_names()) - {VERSION_TABLE}
    return bool(names)


@contextmanager
def _locked(conn: Connection) -> Iterator[None]:
    """Hold the migration lock for the rest of `conn`'s transaction (PostgreSQL) or while
    inside (SQLite: a lock file beside the database; in-memory databases need none)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        yield
        return
    database = conn.engine.url.database
    if conn.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(f"{database}.migrate-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to `revision` (default the newest); adopt a pre-migration database.

    Returns:
        (revision before, revision after).

    Raises:
        SchemaError: the database has a revision this software does not know.
    """
    with engine.connect() as conn, _locked(conn):
        before = _read_revision(conn)
        if before is not None and before not in known_revisions():
            raise SchemaError(
                f"the database is at schema revision {before}, which this version of sanitiser "
                "does not know (it is newer): upgrade sanitiser"
            )
        cfg = alembic_config(conn)
        if before is None and _has_tables(conn):
            command.stamp(cfg, BASELINE)  # made by create_all before migrations existed
        command.upgrade(cfg, revision)
        after = _read_revision(conn)
        conn.commit()
    return before, after


def prepare(engine: Engine, *, migrate: bool = True) -> None:
    """Make sure the database has the schema this software needs (run by `Store`).

    At `HEAD`: nothing to do. An SQLite database (the bench's own file) or an empty one is
    upgraded, unless `migrate` is False (a store only read here: a read-only copy is never
    changed). A shared database with tables but behind `HEAD` is refused.

    Raises:
        SchemaError: the database needs ``sanitiser db upgrade``, or newer software.
        sqlalchemy.exc.SQLAlchemyError: the database cannot be reached.
    """
    head = head_revision()
    with engine.connect() as conn:
        current = _read_revision(conn)
        if current == head:
            return
        populated = current is not None or _has_tables(conn)
    if current is not None and current not in known_revisions():
        raise SchemaError(
            f"the database is at schema revision {current}, newer than this version of "
            f"sanitiser knows ({head}): upgrade sanitiser on this bench"
        )
    if not migrate:
        raise SchemaError(
            f"the store is at schema revision {current or 'none'}, this version of sanitiser "
            f"needs {head}, and it is read-only here, so it was not migrated: read it with the "
            "version that wrote it, or migrate a writable copy"
        )
    if engine.dialect.name == "sqlite" or not populated:
        upgrade(engine)
        return
    # What was read above is several statements, each its own snapshot on PostgreSQL: a bench
    # migrating the empty database at this moment can commit between them (no version table
    # yet, then tables), which reads like a database made before migrations. Read again under
    # the migration lock, which that bench holds until it has committed.
    with engine.connect() as conn, _locked(conn):
        current = _read_revision(conn)
        conn.rollback()
    if current == head:
        return
    raise SchemaError(
        f"the database schema is at revision {current or 'none (made before migrations)'}, "
        f"this version of sanitiser needs {head}: run `sanitiser db upgrade` once for the fleet"
    )
