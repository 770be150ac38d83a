"""Alembic environment: migrates every table declared on ``engine.db.Base``.

Two ways in:

* from the application, which points ``engine.migrate.Migrations`` at this folder: the
  caller hands an open connection over in ``config.attributes["connection"]``;
* from the alembic CLI, at the repository root: ``alembic -x url=sqlite:///baton.sqlite3
  upgrade head`` (or set ``BATON_DATABASE_URL``); add ``--sql`` for a script instead.

Either way every pending revision runs in one transaction, made safe for two processes
upgrading at once: SQLite takes its write lock when the transaction begins (``BEGIN
IMMEDIATE``, see ``engine.db``) and PostgreSQL takes a transaction-level advisory lock, so
the second process waits, then finds the schema current and does nothing.

On SQLite, migrations run in batch mode (ALTER TABLE is limited, so a table is rebuilt
as a copy) with foreign keys switched off: dropping the old copy of a table would otherwise
fire ``ON DELETE CASCADE`` on every row pointing at it. ``PRAGMA foreign_key_check`` runs
before the commit instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, make_url, pool
from sqlalchemy.types import TypeDecorator

from engine import models as _engine_models  # noqa: F401  (registers the engine's tables)
from engine.db import Base, make_engine
from engine.migrate import PG_MIGRATION_LOCK
from workflows import models as _workflow_models  # noqa: F401  (registers the domain tables)

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and "connection" not in config.attributes:
    # the CLI: log what runs; an application keeps its own logging configuration
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render a TypeDecorator (e.g. ``UTCDateTime``) as the SQLAlchemy type it stores as.

    The conversion is Python-side only; the DDL is the impl's. Keeping application types out
    of revisions means an old revision still runs after the type is renamed or moved.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if type(impl).__module__.startswith("sqlalchemy."):
            return f"sa.{impl!r}"
    return False


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": dialect_name == "sqlite",
        "render_item": render_item,
    }


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("BATON_DATABASE_URL")
    )
    if not url:
        raise RuntimeError(
            "no database URL: run `alembic -x url=<SQLAlchemy URL> ...` or set BATON_DATABASE_URL"
        )
    return url


@contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "sqlite":
        yield
        return
    # the pragma is a no-op inside a transaction, so it goes straight to the idle DBAPI
    # connection (reading `connection.connection` does not begin one)
    raw = connection.connection.driver_connection
    assert raw is not None
    enabled = bool(raw.execute("PRAGMA foreign_keys").fetchone()[0])
    if not enabled:
        yield
        return
    if connection.in_transaction():
        raise RuntimeError(
            "SQLite migrations need foreign keys off, which cannot change inside a transaction: "
            "pass a connection that has not begun one"
        )
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        sample = ", ".join(f"{row[0]} rowid {row[1]} -> {row[2]}" for row in broken[:10])
        raise RuntimeError(f"the migration left {len(broken)} broken foreign key(s): {sample}")


def run_migrations(connection: Connection) -> None:
    """Run the pending revisions on `connection`, all in one transaction."""
    dialect = connection.dialect.name
    with _sqlite_foreign_keys_off(connection):
        # a caller's transaction is used as is (and left to the caller to commit)
        transaction = nullcontext() if connection.in_transaction() else connection.begin()
        with transaction:
            if dialect == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
            # one transaction on every dialect (engine.db makes SQLite's real)
            context.configure(connection=connection, transactional_ddl=True, **_options(dialect))
            with context.begin_transaction():  # inside ours: only marks the boundary
                context.run_migrations()
            _check_foreign_keys(connection)


def run_migrations_offline() -> None:
    """Write the SQL of the pending revisions instead of running it (``alembic ... --sql``)."""
    url = _url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(make_url(url).get_backend_name()),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run on the caller's connection, or connect to the URL given to the CLI."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    connectable = make_engine(_url(), poolclass=pool.NullPool)
    try:
        with connectable.connect() as connection:
            run_migrations(connection)
    finally:
        connectable.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
