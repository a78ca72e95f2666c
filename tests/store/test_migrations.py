"""Schema migrations: the revisions build exactly the tables the code declares, on both
engines; old databases are adopted; a fleet database behind the code is refused until
``sanitiser db upgrade``."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Integer, MetaData, inspect, text
from sqlmodel import SQLModel

import sanitiser.store  # noqa: F401 - every table in the metadata
from sanitiser.cli import main
from sanitiser.store import Store, migrations
from sanitiser.store.engine import make_engine
from sanitiser.store.migrations import SchemaError
from tests.store.bench_rig import drive

SYNC_TABLES = {"sync_ledger", "store_meta"}
"""The tables revision 0002 adds."""
CHECKPOINT_TABLES = {"audit_checkpoint"}
"""The table revision 0004 adds."""
DEVICE_TABLES = {"device", "device_drive", "device_certificate"}
"""The tables revision 0005 adds."""
PRINT_TABLES = {"print_job"}
"""The table revision 0006 adds (the label print queue)."""
AGENT_TABLES = {"agent_report", "agent_sequence"}
"""The tables revision 0007 adds."""


def _differences(url: str, metadata: MetaData) -> list[Any]:
    engine = make_engine(url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, metadata))


def _only(names: set[str], *, leave_out: bool = False) -> MetaData:
    chosen = MetaData()
    for table in SQLModel.metadata.tables.values():
        if (table.name in names) != leave_out:
            table.to_metadata(chosen)
    return chosen


def _pre_migration_schema() -> MetaData:
    """The tables as create_all made them before migrations: without the sync tables and
    the checkpoints table, and with the 32-bit drive size that revision 0003 widened."""
    schema = _only(
        SYNC_TABLES | CHECKPOINT_TABLES | DEVICE_TABLES | PRINT_TABLES | AGENT_TABLES,
        leave_out=True,
    )
    schema.tables["drive_seen"].c.size_bytes.type = Integer()
    return schema


def test_initial_revision_is_exactly_the_pre_migration_schema(store_url: str) -> None:
    """Revision 0001 creates every table, column, type, index and constraint of the schema
    create_all made before migrations (nothing more, nothing less)."""
    migrations.upgrade(make_engine(store_url), "0001")
    assert _differences(store_url, _pre_migration_schema()) == []


def test_head_matches_the_declared_tables(store_url: str) -> None:
    """After every revision the database matches the code's tables exactly."""
    before, after = migrations.upgrade(make_engine(store_url))
    assert (before, after) == (None, migrations.head_revision())
    assert _differences(store_url, SQLModel.metadata) == []
    assert migrations.current_revision(make_engine(store_url)) == migrations.head_revision()


def test_a_pre_migration_database_is_adopted_with_its_records(store_url: str) -> None:
    """A database made by create_all (no revision) is stamped and upgraded on opening (SQLite)
    or by `db upgrade` (PostgreSQL); its records survive."""
    engine = make_engine(store_url)
    _pre_migration_schema().create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO job_journal (job_id, journal, updated_at) "
                "VALUES ('j1', '{\"k\": 1}', CURRENT_TIMESTAMP)"
            )
        )
    if engine.dialect.name == "postgresql":
        with pytest.raises(SchemaError, match="sanitiser db upgrade"):
            Store(store_url)
        migrations.upgrade(engine)
    store = Store(store_url)
    assert store.job_journal("j1") == {"k": 1}
    assert migrations.current_revision(engine) == migrations.head_revision()
    assert _differences(store_url, SQLModel.metadata) == []


@pytest.mark.postgres
def test_a_fleet_database_behind_the_code_needs_db_upgrade(postgres_url: str) -> None:
    """A shared database at an older revision is refused with the command that fixes it;
    `sanitiser db current` / `db upgrade` report and migrate it."""
    migrations.upgrade(make_engine(postgres_url), "0001")
    with pytest.raises(SchemaError, match="sanitiser db upgrade"):
        Store(postgres_url)
    runner = CliRunner()
    env = {"SANITISER_DATABASE_URL": postgres_url}
    shown = runner.invoke(main, ["db", "current"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "current: 0001" in shown.output
    assert "sanitiser db upgrade" in shown.output
    done = runner.invoke(main, ["db", "upgrade"], env=env)
    assert done.exit_code == 0, done.output
    assert f"from 0001 to {migrations.head_revision()}" in done.output
    again = runner.invoke(main, ["db", "upgrade"], env=env)
    assert "already at revision" in again.output
    assert Store(postgres_url).create_job_record(drive("b", 1), station="b")


def test_a_newer_schema_is_refused(store_url: str) -> None:
    """A database migrated by newer software (an unknown revision) is never touched."""
    Store(store_url)
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match="upgrade sanitiser"):
        Store(store_url)
    with pytest.raises(SchemaError, match="newer"):
        migrations.upgrade(engine)


@pytest.mark.postgres
def test_benches_starting_together_migrate_once(postgres_url: str) -> None:
    """Six stores opening one empty PostgreSQL database at once: one migrates (under the
    advisory lock), all open, the schema is whole."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            Store(postgres_url)
        except Exception as e:  # noqa: BLE001 - surfaced by the assert below
            errors.append(e)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _differences(postgres_url, SQLModel.metadata) == []
    with make_engine(postgres_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert "job" in inspect(conn).get_table_names()


@pytest.mark.postgres
def test_a_migration_committing_between_the_first_reads_is_waited_for(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first look at a shared database is several statements, each its own snapshot: a
    bench that commits its migration between them makes the database read as 'tables, no
    revision' (made before migrations). That reading is checked again under the migration
    lock instead of refusing the store (CI saw the refusal once, with six benches starting)."""
    engine = make_engine(postgres_url)
    migrations.upgrade(engine)
    real = migrations._read_revision
    calls: list[str | None] = []

    def racing(conn: Any) -> str | None:
        calls.append(None if not calls else real(conn))  # the first: before the commit
        return calls[-1]

    monkeypatch.setattr(migrations, "_read_revision", racing)
    migrations.prepare(engine)  # no SchemaError: the re-read under the lock sees the head
    assert calls == [None, migrations.head_revision()]
