"""The schema comes from the Alembic revisions in ``migrations/``, and they match the models.

Runs on the suite's database: SQLite by default, PostgreSQL with BATON_TEST_DATABASE_URL
(there every test starts by dropping all tables, then leaves the schema at head).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, func, insert, inspect, select

from cli.main import cli
from engine import migrate
from engine.db import Base, Database
from engine.models import DefinitionVersion, Event, TaskData, TaskRow, WorkflowInstance
from tests.conftest import drop_everything

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = migrate.Migrations(ROOT / "migrations", Base.metadata)
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """The suite's database with no tables at all, not even the migration history."""
    database = Database(database_url, migrations=MIGRATIONS.location)
    if not database.is_sqlite:  # SQLite: a new file already
        drop_everything(database.engine)
    yield database
    if not database.is_sqlite:  # the next test expects tables at head
        MIGRATIONS.upgrade(database.engine)
    database.dispose()


def schema_differences(engine: Engine) -> list[object]:
    """What autogenerate would write to bring the database to the models (nothing, ideally)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def user_tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def fill(engine: Engine) -> int:
    """One instance with a task row and an event; returns the instance id."""
    with engine.begin() as conn:
        definition_id = conn.execute(
            insert(DefinitionVersion)
            .values(
                process_id="p",
                version=1,
                name="P",
                content_hash="h" * 64,
                bpmn_xml="<x/>",
                forms={},
                spec_json="{}",
                serializer_version="1",
                note="",
                deployed_at=NOW,
            )
            .returning(DefinitionVersion.id)
        ).scalar_one()
        instance_id = conn.execute(
            insert(WorkflowInstance)
            .values(
                definition_id=definition_id,
                status="running",
                active_stages=[],
                revision=1,
                serializer_version="1",
                meta_json="{}",
                started_at=NOW,
                updated_at=NOW,
            )
            .returning(WorkflowInstance.id)
        ).scalar_one()
        conn.execute(insert(TaskData).values(hash="d" * 64, body="{}"))
        conn.execute(
            insert(TaskRow).values(
                instance_id=instance_id, id="t1", workflow_key="", body="{}", data_hash="d" * 64
            )
        )
        conn.execute(insert(Event).values(instance_id=instance_id, at=NOW, kind="started", detail={}))
    return instance_id


def count(engine: Engine, table: type[Base]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


# -- the revisions -------------------------------------------------------------------------


def test_one_line_of_revisions() -> None:
    assert MIGRATIONS.head() is not None  # a single head: no unmerged branches


def test_upgrading_an_empty_database_gives_exactly_the_models_schema(db: Database) -> None:
    assert migrate.current(db.engine) is None

    MIGRATIONS.upgrade(db.engine)

    assert schema_differences(db.engine) == []
    assert user_tables(db.engine) == set(Base.metadata.tables) | {migrate.VERSION_TABLE}
    assert migrate.current(db.engine) == MIGRATIONS.head()


def test_upgrading_again_changes_nothing(db: Database) -> None:
    db.create_all()  # the application's way in
    fill(db.engine)
    tables = user_tables(db.engine)

    db.create_all()
    MIGRATIONS.upgrade(db.engine)

    assert migrate.current(db.engine) == MIGRATIONS.head()
    assert user_tables(db.engine) == tables
    assert count(db.engine, TaskRow) == 1 and count(db.engine, Event) == 1


def test_downgrading_to_base_removes_every_table_and_upgrading_restores_them(db: Database) -> None:
    MIGRATIONS.upgrade(db.engine)

    MIGRATIONS.downgrade(db.engine, "base")
    assert user_tables(db.engine) == {migrate.VERSION_TABLE}
    assert migrate.current(db.engine) is None

    MIGRATIONS.upgrade(db.engine)
    assert schema_differences(db.engine) == []


def test_drop_all_forgets_the_migration_history(db: Database) -> None:
    db.create_all()
    db.drop_all()
    assert user_tables(db.engine) == set()

    db.create_all()
    assert migrate.current(db.engine) == MIGRATIONS.head()


def test_a_schema_made_without_migrations_is_refused_until_stamped(db: Database) -> None:
    Base.metadata.create_all(db.engine)  # what `init-db` did before migrations

    with pytest.raises(migrate.SchemaError, match="predates migrations"):
        db.create_all()

    MIGRATIONS.stamp(db.engine, MIGRATIONS.head() or "head")
    db.create_all()
    assert migrate.current(db.engine) == MIGRATIONS.head()
    assert schema_differences(db.engine) == []


def test_sqlite_foreign_keys_stay_on_after_a_migration(db: Database) -> None:
    db.create_all()
    if db.is_sqlite:
        with db.engine.connect() as conn:  # the pool hands the migration's connection back
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# -- the command line ----------------------------------------------------------------------


def test_init_db_migrates_and_records_the_revision(db: Database, database_url: str) -> None:
    obj: dict[str, object] = {}
    result = CliRunner().invoke(cli, ["--db", database_url, "init-db", "--no-deploy"], obj=obj)
    services = obj.get("services")
    if services is not None:
        services.db.dispose()  # type: ignore[attr-defined]
    assert result.exit_code == 0, result.output

    with db.engine.connect() as conn:
        versions = conn.exec_driver_sql(f"SELECT version_num FROM {migrate.VERSION_TABLE}").scalars().all()
    assert versions == [MIGRATIONS.head()]
    assert schema_differences(db.engine) == []


# -- later revisions -----------------------------------------------------------------------


@pytest.fixture
def scripts_with_a_rebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A copy of ``migrations/`` plus a revision rebuilding the table the others point at.

    Returns:
        The real head, and the added revision on top of it.
    """
    scripts = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", scripts, ignore=shutil.ignore_patterns("__pycache__"))
    base = MIGRATIONS.head()
    assert base is not None
    (scripts / "versions" / "9999_rebuild.py").write_text(
        dedent(
            f"""\
            import sqlalchemy as sa
            from alembic import op

            revision = "9999"
            down_revision = {base!r}
            branch_labels = None
            depends_on = None


            def upgrade() -> None:
                # SQLite cannot change a column's type in place: the table is rebuilt
                with op.batch_alter_table("workflow_instance") as batch_op:
                    batch_op.alter_column("end_event", existing_type=sa.String(200), type_=sa.String(300))


            def downgrade() -> None:
                with op.batch_alter_table("workflow_instance") as batch_op:
                    batch_op.alter_column("end_event", existing_type=sa.String(300), type_=sa.String(200))
            """
        )
    )
    monkeypatch.setattr(MIGRATIONS, "location", scripts)
    return base, "9999"


def test_a_table_rebuild_keeps_the_rows_pointing_at_it(
    db: Database, scripts_with_a_rebuild: tuple[str, str]
) -> None:
    # SQLite alters a table by rebuilding it; with foreign keys on, dropping the old copy
    # would cascade to the task rows, events and engagements of every instance
    base, rebuild = scripts_with_a_rebuild
    MIGRATIONS.upgrade(db.engine, base)
    fill(db.engine)

    MIGRATIONS.upgrade(db.engine)

    assert migrate.current(db.engine) == rebuild
    columns = {c["name"]: c["type"] for c in inspect(db.engine).get_columns("workflow_instance")}
    assert getattr(columns["end_event"], "length", None) == 300
    assert count(db.engine, WorkflowInstance) == 1
    assert count(db.engine, TaskRow) == 1 and count(db.engine, Event) == 1

    MIGRATIONS.downgrade(db.engine, base)
    assert count(db.engine, TaskRow) == 1 and count(db.engine, Event) == 1
    assert schema_differences(db.engine) == []


def test_processes_upgrading_at_once_queue_and_the_second_finds_nothing_to_do(
    db: Database, database_url: str
) -> None:
    code = (
        "import sys\n"
        "from engine.db import Database\n"
        "db = Database(sys.argv[1], migrations='migrations')\n"
        "print('ready', flush=True)\n"
        "db.create_all()\n"
    )
    with db.engine.connect() as holder:
        # hold the lock migrations take: SQLite's write lock, PostgreSQL's advisory lock
        if db.is_sqlite:
            holder.begin()  # BEGIN IMMEDIATE
        else:
            holder.exec_driver_sql(f"SELECT pg_advisory_lock({migrate.PG_MIGRATION_LOCK})")
        runs = [
            subprocess.Popen(
                [sys.executable, "-c", code, database_url],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for run in runs:
            assert run.stdout is not None
            assert run.stdout.readline().strip() == "ready", run.communicate()[1]
        time.sleep(0.5)
        assert [run.poll() for run in runs] == [None, None]  # both wait for the lock
        if db.is_sqlite:
            holder.rollback()
        else:
            holder.exec_driver_sql(f"SELECT pg_advisory_unlock({migrate.PG_MIGRATION_LOCK})")
            holder.commit()

    for run in runs:
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
    assert migrate.current(db.engine) == MIGRATIONS.head()
    assert schema_differences(db.engine) == []
