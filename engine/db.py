"""Database plumbing: engines, sessions and the unit of work.

SQLite is the embedded default; PostgreSQL is the production store. Both go through
the same SQLAlchemy 2.x models, so every test runs against either.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, Table, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from .migrate import VERSION_TABLE, Migrations, SchemaError

# How long a SQLite writer waits for another to finish before giving up. Writes are short, so a
# longer wait means something is wrong; the caller then answers 503 with Retry-After rather than
# holding a request (and a server thread) for half a minute.
SQLITE_BUSY_TIMEOUT_MS = 5000


class Base(DeclarativeBase):
    """Declarative base shared by every table of Baton (engine and domain)."""


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write, which
    # makes read-then-write races invisible; take over and emit BEGIN ourselves.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed beside the writer; NORMAL sync is durable at checkpoints
        # and crash-safe (a torn transaction is rolled back on open).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA mmap_size=268435456")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the database lock up front so two writers queue instead of
        # failing later with SQLITE_BUSY_SNAPSHOT on unrelated rows.
        if conn.get_execution_options().get("sqlite_write", True):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create a SQLAlchemy engine configured for Baton.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///baton.sqlite3`` or
            ``postgresql+psycopg://user@host/db``.
        **kwargs: passed to :func:`sqlalchemy.create_engine`.

    Returns:
        The configured engine.
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **kwargs)
    return engine


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction has committed.

    Used to publish in-memory state (e.g. a cached live workflow) only when the
    database agrees; on rollback the callbacks are dropped.
    """
    session.info.setdefault("after_commit", []).append(callback)


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop("after_commit", []):
        callback()


def _drop_after_commit(session: Session, *_args: Any) -> None:
    session.info.pop("after_commit", None)


class Database:
    """An engine plus a session factory: the resource handed to services.

    Args:
        url: SQLAlchemy database URL.
        migrations: the application's Alembic script location, which `create_all` applies
            (None: the schema is someone else's business and `create_all` refuses).
        **engine_kwargs: extra arguments for :func:`make_engine`.
    """

    def __init__(
        self, url: str, *, migrations: str | os.PathLike[str] | None = None, **engine_kwargs: Any
    ) -> None:
        self.url = url
        self._migrations = Migrations(migrations, Base.metadata) if migrations is not None else None
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessions, "after_commit", _run_after_commit)
        event.listen(self.sessions, "after_rollback", _drop_after_commit)

    @property
    def is_sqlite(self) -> bool:
        """True when the store is SQLite."""
        return self.engine.dialect.name == "sqlite"

    @property
    def migrations(self) -> Migrations:
        """The migrations this store's schema comes from.

        Raises:
            SchemaError: the Database was made without them.
        """
        if self._migrations is None:
            raise SchemaError("no migrations: make the Database with migrations=<Alembic script location>")
        return self._migrations

    def create_all(self) -> None:
        """Bring the schema up to date: apply the pending migrations (see engine.migrate).

        Raises:
            SchemaError: no migrations were given, or the database predates them.
        """
        self.migrations.upgrade(self.engine)

    def drop_all(self) -> None:
        """Drop every table and the migration history (tests and `baton db reset`)."""
        Base.metadata.drop_all(self.engine)
        Table(VERSION_TABLE, MetaData()).drop(self.engine, checkfirst=True)

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """Open a session whose work commits as one transaction.

        Args:
            write: False for read-only work (on SQLite it then does not take the write lock).

        Yields:
            The session; committed on normal exit, rolled back on any exception.
        """
        session = self.sessions()
        if self.is_sqlite:
            session.connection(execution_options={"sqlite_write": write})
        try:
            yield session
            if write:
                session.commit()
            # read-only work ends with close(): the pool rolls the connection back, and the
            # loaded objects stay readable (rollback() would expire them)
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()


BUSY = "busy"
FULL = "full"
# SQLite result codes (sqlite3.Error.sqlite_errorcode, low byte) and PostgreSQL SQLSTATEs
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_FULL = 5, 6, 13
_PG_DISK_FULL, _PG_OUT_OF_MEMORY, _PG_LOCK_NOT_AVAILABLE = "53100", "53200", "55P03"


def store_fault(exc: BaseException) -> str | None:
    """What a database error says about the store itself: `BUSY` (another writer holds it past
    the busy timeout; worth retrying), `FULL` (no space left), or None (anything else)."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        if code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return BUSY
        if code & 0xFF == _SQLITE_FULL:
            return FULL
        return None
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state == _PG_LOCK_NOT_AVAILABLE:
        return BUSY
    if state in (_PG_DISK_FULL, _PG_OUT_OF_MEMORY):
        return FULL
    return None
