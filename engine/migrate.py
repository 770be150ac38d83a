"""Schema migrations: the Alembic revisions in ``migrations/`` at the repository root.

The schema is never created from the models directly: `upgrade` applies the pending
revisions, so a store created today and one created a year ago end up alike. A model
change ships as a revision, written with::

    alembic -x url=sqlite:///scratch.sqlite3 upgrade head
    alembic -x url=sqlite:///scratch.sqlite3 revision --autogenerate -m "what changed"

then reviewed by hand (autogenerate misses renames and server defaults).
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from .db import Base
from .errors import EngineError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
VERSION_TABLE = "alembic_version"
# arbitrary but fixed: the advisory lock that serialises schema changes on PostgreSQL
PG_MIGRATION_LOCK = 0x6261746F6E  # "baton"
# Alembic keeps the running environment in module globals (alembic.context, alembic.op), so
# two threads of one process must not migrate at once; processes queue on the database lock.
_ALEMBIC = threading.Lock()


class SchemaError(EngineError):
    """The database cannot be migrated as it is."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _read_only(connection: Connection) -> Connection:
    # SQLite: a plain BEGIN, without taking the write lock (see engine.db)
    if connection.dialect.name == "sqlite":
        return connection.execution_options(sqlite_write=False)
    return connection


def head() -> str | None:
    """The newest revision of ``migrations/`` (None when there is none)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(_read_only(connection)).get_current_revision()


def _refuse_unversioned_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        connection = _read_only(connection)
        if MigrationContext.configure(connection).get_current_revision() is not None:
            return
        tables = set(inspect(connection).get_table_names())
    existing = sorted(tables & set(Base.metadata.tables))
    if existing:
        raise SchemaError(
            f"the database has tables but no {VERSION_TABLE} ({', '.join(existing)}): it predates "
            "migrations. Check that it matches the first revision, record that with "
            "engine.migrate.stamp(engine, '<revision>') or `alembic stamp`, then upgrade."
        )


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every revision up to `revision`; a database already there is left alone.

    All pending revisions run in one transaction, and concurrent callers queue (see
    ``migrations/env.py``).

    Raises:
        SchemaError: the database holds tables of the models but no migration history.
    """
    _refuse_unversioned_schema(engine)
    with _ALEMBIC, engine.connect() as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Revert revisions down to `revision` (``"base"`` drops everything they created)."""
    with _ALEMBIC, engine.connect() as connection:
        command.downgrade(_config(connection), revision)


def stamp(engine: Engine, revision: str = "head") -> None:
    """Record `revision` as applied without running anything (adopting an existing schema)."""
    with _ALEMBIC, engine.connect() as connection:
        command.stamp(_config(connection), revision)
