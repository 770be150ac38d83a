"""Core statements rendered once and run straight on the DBAPI cursor.

SQLAlchemy spends some 30 µs of bookkeeping per execution (cache key, execution context,
result set-up). A task completion runs about ten statements, so on the step path that is a
large share of the cost. `FastStatement` keeps SQLAlchemy's compiler and type system -- the SQL
and the bind/result processors come from SQLAlchemy, per dialect -- and skips the per-call work.
Errors are wrapped in SQLAlchemy's `DBAPIError` classes as usual.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InvalidRequestError, StatementError
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.expression import ClauseElement

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Prepared:
    sql: str
    positional: tuple[str, ...] | None  # parameter order for positional paramstyles
    binds: dict[str, Processor]
    defaults: dict[str, Any]  # values bound in the statement itself (literals, defaults)
    results: tuple[Processor, ...]


class FastStatement:
    """A statement prepared per dialect (and parameter keys) and executed on the raw cursor.

    Args:
        stmt: the Core statement (no expanding IN parameters). An INSERT or UPDATE without
            `.values()` renders the columns named by the parameters of each call.
        one_row_each: every parameter set must affect exactly one row (a revision-guarded
            UPDATE); rows held back by `deferred_writes` are checked when they are sent.
    """

    _instances: weakref.WeakSet[FastStatement] = weakref.WeakSet()
    _defined = itertools.count()

    def __init__(self, stmt: ClauseElement, *, one_row_each: bool = False) -> None:
        self.stmt = stmt
        self.order = next(FastStatement._defined)  # `deferred_writes` sends in this order
        # a guarded UPDATE: each parameter set must hit exactly one row (checked when held rows are sent)
        self.one_row_each = one_row_each
        self._prepared: dict[tuple[str, tuple[str, ...]], _Prepared] = {}
        self._lock = threading.Lock()
        FastStatement._instances.add(self)

    @classmethod
    def forget_all(cls) -> None:
        """Drop every prepared form (benchmarks simulate a fresh process with it)."""
        for stmt in list(cls._instances):
            with stmt._lock:
                stmt._prepared.clear()

    def _get(self, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared:
        prepared = self._prepared.get((dialect.name, keys))
        if prepared is None:
            prepared = self._prepare(dialect, keys)
        return prepared

    def _prepare(self, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared:
        compiled: Any = self.stmt.compile(dialect=dialect, column_keys=list(keys))
        binds: dict[str, Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in compiled.binds.items()
        }
        results = tuple(
            _result_processor(column.type, dialect) for column in getattr(self.stmt, "selected_columns", ())
        )
        defaults = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if name not in keys and not bind.required
        }
        positional = tuple(compiled.positiontup) if compiled.positional else None
        prepared = _Prepared(str(compiled), positional, binds, defaults, results)
        with self._lock:
            self._prepared[(dialect.name, keys)] = prepared
        return prepared

    @staticmethod
    def _convert(prepared: _Prepared, params: Mapping[str, Any]) -> Any:
        binds = prepared.binds
        converted = {}
        for key, value in (prepared.defaults | dict(params)).items() if prepared.defaults else params.items():
            processor = binds.get(key)
            converted[key] = processor(value) if processor is not None and value is not None else value
        if prepared.positional is not None:
            return tuple(converted[name] for name in prepared.positional)
        return converted

    def _cursor(self, conn: Connection) -> Any:
        raw: Any = conn.connection.driver_connection
        return raw.cursor()

    def _wrap(self, conn: Connection, prepared: _Prepared, exc: Exception) -> StatementError:
        return DBAPIError.instance(prepared.sql, None, exc, conn.dialect.loaded_dbapi.Error)

    def submit(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        """Run once and return the cursor: inside a `pipeline` its `rowcount` is known on exit."""
        prepared = self._get(conn.dialect, tuple(params))
        cursor = self._cursor(conn)
        try:
            cursor.execute(prepared.sql, self._convert(prepared, params))
        except conn.dialect.loaded_dbapi.Error as exc:
            raise self._wrap(conn, prepared, exc) from exc
        return cursor

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run once; returns the affected row count."""
        return int(self.submit(conn, params).rowcount)

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per parameter set (every set has the same keys); see `deferred_writes`."""
        if not rows:
            return
        held = conn.info.get(_DEFERRED)
        if held is not None:
            held.setdefault((self, tuple(rows[0])), []).extend(rows)
        else:
            self._send_many(conn, rows)

    def _send_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> Any:
        prepared = self._get(conn.dialect, tuple(rows[0]))
        cursor = self._cursor(conn)
        try:
            cursor.executemany(prepared.sql, [self._convert(prepared, r) for r in rows])
        except conn.dialect.loaded_dbapi.Error as exc:
            raise self._wrap(conn, prepared, exc) from exc
        return cursor

    def fetchall(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT and return its rows with SQLAlchemy's result types applied."""
        return self.rows(conn, self.submit(conn, params), params)

    def rows(self, conn: Connection, cursor: Any, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Fetch the rows of a cursor from `submit` (after a `pipeline`, one round trip for all)."""
        prepared = self._get(conn.dialect, tuple(params))
        try:
            rows = cursor.fetchall()
        except conn.dialect.loaded_dbapi.Error as exc:
            raise self._wrap(conn, prepared, exc) from exc
        procs = prepared.results
        if not any(procs):
            return [tuple(r) for r in rows]
        return [
            tuple(v if f is None or v is None else f(v) for f, v in zip(procs, r, strict=True)) for r in rows
        ]


def fetch_together(
    conn: Connection, queries: Sequence[tuple[FastStatement, Mapping[str, Any]]]
) -> list[list[tuple[Any, ...]]]:
    """Run several SELECTs in order, in one round trip where the driver pipelines (psycopg).

    Each statement still runs after the one before it (and, under READ COMMITTED, sees what
    was committed when it started): a ``FOR UPDATE`` first makes the next ones read after the
    lock is granted.

    Returns:
        The rows of each query, in order.
    """
    with pipeline(conn):
        cursors = [stmt.submit(conn, params) for stmt, params in queries]
    return [stmt.rows(conn, cursor, params) for (stmt, params), cursor in zip(queries, cursors, strict=True)]


_DEFERRED = "baton.deferred_writes"  # Connection.info key: (statement, keys) -> rows held back


@contextmanager
def deferred_writes(conn: Connection) -> Iterator[None]:
    """Hold back the rows of every `FastStatement.executemany` run in the block and send them
    when it ends: one executemany per statement, in the order the statements were defined
    (a parent table's insert is defined before its children's), in one pipelined round trip.

    For a batch of steps in one transaction: each call's own overhead is paid once per batch
    instead of once per step. Nothing in the block may read those rows back, nor depend on
    their errors (they raise when the block ends); if the block raises, they are dropped.

    Raises:
        StaleDataError: (on exit) a held `one_row_each` statement missed a row.
    """
    if _DEFERRED in conn.info:
        raise RuntimeError("deferred_writes blocks do not nest")
    held: dict[tuple[FastStatement, tuple[str, ...]], list[Mapping[str, Any]]] = {}
    conn.info[_DEFERRED] = held
    try:
        yield
    finally:
        del conn.info[_DEFERRED]
    with pipeline(conn):
        sent = [
            (stmt, len(rows), stmt._send_many(conn, rows))
            for (stmt, _keys), rows in sorted(held.items(), key=lambda item: item[0][0].order)
        ]
    for stmt, count, cursor in sent:
        if stmt.one_row_each and cursor.rowcount != count:
            raise StaleDataError(
                f"{count - cursor.rowcount} of {count} guarded rows matched nothing: {stmt.stmt}"
            )


def holding_writes(conn: Connection) -> bool:
    """True inside a `deferred_writes` block of this connection."""
    return _DEFERRED in conn.info


@contextmanager
def pipeline(conn: Connection) -> Iterator[None]:
    """Send the statements of the block without waiting for each reply (psycopg's pipeline
    mode: one round trip instead of one per statement). Elsewhere it changes nothing.

    Results of statements run inside the block are only known when it ends, so use it for
    writes whose outcome needs no check (errors still raise, at the latest on exit).
    """
    raw: Any = conn.connection.driver_connection
    if conn.dialect.driver != "psycopg":
        yield
        return
    try:
        with raw.pipeline():
            yield
    except conn.dialect.loaded_dbapi.Error as exc:  # reported when the pipeline syncs
        raise DBAPIError.instance(None, None, exc, conn.dialect.loaded_dbapi.Error) from exc


def _result_processor(type_: Any, dialect: Dialect) -> Processor:
    """A column type's result processor, known before any row is read.

    Numeric types on PostgreSQL choose theirs from the column's wire type, unknown here: the
    driver already returns floats for ``double precision``, so they need none.
    """
    try:
        return type_.dialect_impl(dialect).result_processor(dialect, None)  # type: ignore[no-any-return]
    except (TypeError, InvalidRequestError):
        return None
