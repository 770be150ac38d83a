"""Schema migrations: an application's Alembic revisions, applied to a store.

The engine does not know where the revisions live nor which models they build: the
application (its composition root) hands over the script location, as ``Database(url,
migrations=...)`` or ``Migrations(location, metadata)``. The schema is never created from
the models directly: `Migrations.upgrade` applies the pending revisions, so a store created
today and one created a year ago end up alike. A model change ships as a revision, written
with the Alembic CLI and the application's ``alembic.ini``::

    alembic -x url=sqlite:///scratch.sqlite3 upgrade head
    alembic -x url=sqlite:///scratch.sqlite3 revision --autogenerate -m "what changed"

then reviewed by hand (autogenerate misses renames and server defaults).
"""

from __future__ import annotations

import os
import threading

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect

from .errors import EngineError

__all__ = ["PG_MIGRATION_LOCK", "VERSION_TABLE", "Migrations", "SchemaError", "current"]

VERSION_TABLE = "alembic_version"
# arbitrary but fixed: the advisory lock that serialises schema changes on PostgreSQL (the
# application's env.py takes it)
PG_MIGRATION_LOCK = 0x6261746F6E  # "baton"
# Alembic keeps the running environment in module globals (alembic.context, alembic.op), so
# two threads of one process must not migrate at once; processes queue on the database lock.
_ALEMBIC = threading.Lock()


class SchemaError(EngineError):
    """The database cannot be migrated as it is."""


def _read_only(connection: Connection) -> Connection:
    # SQLite: a plain BEGIN, without taking the write lock (see engine.db)
    if connection.dialect.name == "sqlite":
        return connection.execution_options(sqlite_write=False)
    return connection


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(_read_only(connection)).get_current_revision()


class Migrations:
    """An application's Alembic revisions: where they live and the tables they build.

    Args:
        location: The Alembic script location (the folder holding ``env.py`` and
            ``versions/``, or ``package:folder``).
        metadata: The tables the revisions build; a database holding some of them but no
            migration history is refused. None: any table counts.
    """

    def __init__(self, location: str | os.PathLike[str], metadata: MetaData | None = None) -> None:
        self.location = location
        self.metadata = metadata

    def _config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", os.fspath(self.location))
        if connection is not None:
            # env.py migrates on this connection instead of opening its own
            config.attributes["connection"] = connection
        return config

    def head(self) -> str | None:
        """The newest revision (None when there is none)."""
        return ScriptDirectory.from_config(self._config()).get_current_head()

    def _refuse_unversioned_schema(self, engine: Engine) -> None:
        with engine.connect() as connection:
            connection = _read_only(connection)
            if MigrationContext.configure(connection).get_current_revision() is not None:
                return
            tables = set(inspect(connection).get_table_names()) - {VERSION_TABLE}
        existing = sorted(tables & set(self.metadata.tables) if self.metadata is not None else tables)
        if existing:
            raise SchemaError(
                f"the database has tables but no {VERSION_TABLE} ({', '.join(existing)}): it predates "
                "migrations. Check that it matches the first revision, record that with "
                "Migrations.stamp(engine, '<revision>') or `alembic stamp`, then upgrade."
            )

    def upgrade(self, engine: Engine, revision: str = "head") -> None:
        """Apply every revision up to `revision`; a database already there is left alone.

        All pending revisions run in one transaction, and concurrent callers queue (see the
        application's ``env.py``).

        Raises:
            SchemaError: the database holds tables of the models but no migration history.
        """
        self._refuse_unversioned_schema(engine)
        with _ALEMBIC, engine.connect() as connection:
            command.upgrade(self._config(connection), revision)

    def downgrade(self, engine: Engine, revision: str) -> None:
        """Revert revisions down to `revision` (``"base"`` drops everything they created)."""
        with _ALEMBIC, engine.connect() as connection:
            command.downgrade(self._config(connection), revision)

    def stamp(self, engine: Engine, revision: str = "head") -> None:
        """Record `revision` as applied without running anything (adopting an existing schema)."""
        with _ALEMBIC, engine.connect() as connection:
            command.stamp(self._config(connection), revision)
