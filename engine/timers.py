"""BPMN timers: the `timer_due` projection and the worker that fires due timers.

Every step records, for each timer task its instance waits on (boundary, intermediate or
cycle), the instant SpiffWorkflow will fire it (`internal_data["event_value"]`). The worker
takes a batch of due rows -- with ``FOR UPDATE SKIP LOCKED`` on the rows and their instances
on PostgreSQL, so N workers share the queue and none waits on a step in progress -- reads the
batch's instances together and runs each one's timers in the transaction that deletes or
moves its rows. A worker that dies rolls back and leaves its rows to the next one; none
fires twice.

SpiffWorkflow compares due times with its own ``datetime.now``; the worker's clock (used to
pick due rows) must agree with it, which real time does. Tests move both together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.task import Task, TaskState
from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .db import Database
from .errors import EngineError
from .fastsql import FastStatement, deferred_writes
from .models import TimerDue, WorkflowInstance
from .store import expect_checkouts

log = logging.getLogger(__name__)

_TIMER = cast(Table, TimerDue.__table__)
_INSTANCE = cast(Table, WorkflowInstance.__table__)
_DELETE = FastStatement(
    delete(_TIMER).where(
        _TIMER.c.instance_id == bindparam("b_instance"), _TIMER.c.task_id == bindparam("b_task")
    )
)


def _upsert(ins: Any) -> FastStatement:
    stmt = ins(_TIMER)
    return FastStatement(
        stmt.on_conflict_do_update(
            index_elements=["instance_id", "task_id"],
            set_={"due_at": stmt.excluded.due_at, "bpmn_id": stmt.excluded.bpmn_id, "attempts": 0},
        )
    )


_UPSERT = {"postgresql": _upsert(postgresql.insert), "sqlite": _upsert(sqlite.insert)}
_DUE = (
    select(_TIMER.c.id, _TIMER.c.instance_id)
    .join(_INSTANCE, _INSTANCE.c.id == _TIMER.c.instance_id)
    .where(_TIMER.c.due_at <= bindparam("now"))
    .order_by(_TIMER.c.due_at)
)


def timer_due_at(task: Task) -> datetime | None:
    """When a waiting timer task fires, or None if it is not a waiting timer."""
    if task._state != TaskState.WAITING:
        return None
    definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(definition, TimerEventDefinition):
        return None
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition):
        if not isinstance(value, dict) or value.get("cycles") == 0:
            return None
        return datetime.fromisoformat(value["next"]).astimezone(UTC)
    due = TimerEventDefinition.parse_time_or_duration(value)
    return due if isinstance(due, datetime) else None


def waiting_timers(tasks: Iterable[tuple[str, Task]]) -> dict[str, tuple[str, datetime]]:
    """Task id -> (BPMN id, due time) of every waiting timer among `tasks`."""
    found: dict[str, tuple[str, datetime]] = {}
    for _key, task in tasks:
        due = timer_due_at(task)
        if due is not None:
            found[str(task.id)] = (getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name, due)
    return found


def write_timers(
    session: Session,
    instance_id: int,
    known: Mapping[str, datetime],
    now_waiting: Mapping[str, tuple[str, datetime]],
) -> tuple[list[str], list[str]]:
    """Bring `timer_due` in line with the timers the instance now waits on.

    Returns:
        (task ids whose timer was removed, task ids whose due time moved) -- a removed row
        is a timer that fired or was withdrawn; a moved one is a cycle that fired.
    """
    conn = session.connection()
    removed = [tid for tid in known if tid not in now_waiting]
    moved = [tid for tid, (_b, due) in now_waiting.items() if tid in known and known[tid] != due]
    upserts = [
        {"instance_id": instance_id, "task_id": tid, "bpmn_id": bpmn_id, "due_at": due, "attempts": 0}
        for tid, (bpmn_id, due) in now_waiting.items()
        if known.get(tid) != due
    ]
    if removed:
        _DELETE.executemany(conn, [{"b_instance": instance_id, "b_task": tid} for tid in removed])
    if upserts:
        _UPSERT[conn.dialect.name].executemany(conn, upserts)
    return removed, moved


def drop_timers(session: Session, instance_id: int) -> None:
    """Delete every timer row of an instance (one that has ended)."""
    session.execute(delete(_TIMER).where(_TIMER.c.instance_id == instance_id))


@dataclass
class WorkerStats:
    """What a worker did."""

    fired: int = 0
    instances: int = 0
    swept: int = 0  # changes made by the other sweeps (deadline states)
    failures: int = 0
    errors: list[str] = field(default_factory=list)


class TimerWorker:
    """Fires due BPMN timers.

    Args:
        db: the database.
        fire: ``fire(session, instance_id) -> int`` runs an instance's due timers in the
            session and returns how many fired (`engine.runtime.Runtime.fire_timers`). The
            instances of a batch are announced to the store (`engine.store.expect_checkouts`)
            and its row writes are held back until the batch ends
            (`engine.fastsql.deferred_writes`): it must not read them back.
        clock: the current time (tests inject theirs).
        batch: due rows taken per transaction.
        retry_after: how far a timer whose instance failed is pushed back.
    """

    def __init__(
        self,
        db: Database,
        fire: Callable[[Session, int], int],
        *,
        clock: Callable[[], datetime] | None = None,
        batch: int = 50,
        retry_after: timedelta = timedelta(minutes=1),
        sweeps: Sequence[Callable[[], int]] = (),
    ) -> None:
        self.sweeps = list(sweeps)
        self.db = db
        self.fire = fire
        self.clock = clock or (lambda: datetime.now(UTC))
        self.batch = batch
        self.retry_after = retry_after
        self._stop = threading.Event()

    def run_once(self) -> WorkerStats:
        """Fire every timer due now, then return (``baton worker --once``)."""
        stats = WorkerStats()
        while self._run_batch(stats):
            pass
        for sweep in self.sweeps:
            stats.swept += sweep()
        return stats

    def run_forever(self, poll_seconds: float = 1.0) -> None:
        """Poll for due timers until `stop()` is called; errors are logged, not fatal."""
        while not self._stop.is_set():
            try:
                stats = self.run_once()
            except Exception:  # e.g. the database went away: keep the worker alive
                log.exception("timer worker: batch failed; retrying in %.1fs", poll_seconds)
            else:
                if stats.fired:
                    log.info("fired %d timer(s) on %d instance(s)", stats.fired, stats.instances)
            self._stop.wait(poll_seconds)

    def stop(self) -> None:
        """Ask `run_forever` to return after the current batch."""
        self._stop.set()

    def _run_batch(self, stats: WorkerStats) -> bool:
        # One transaction per batch. If an instance fails, the whole batch rolls back, the
        # instance is set aside (postponed) and the next batch redoes the others. A savepoint
        # per instance would cost a third more per firing (measured, docs/benchmarks.md) and
        # past 64 of them PostgreSQL's snapshots spill to pg_subtrans.
        now = self.clock()
        broken: tuple[int, EngineError] | None = None
        fired = instances = 0
        try:
            with self.db.unit_of_work() as session:
                stmt = _DUE.limit(self.batch)
                if not self.db.is_sqlite:
                    # an instance a step holds right now is left for the next batch: the
                    # worker never waits on (or deadlocks with) a user's step
                    stmt = stmt.with_for_update(skip_locked=True, of=[_TIMER, _INSTANCE])
                rows = session.execute(stmt, {"now": now}).all()
                if not rows:
                    return False
                instance_ids = list(dict.fromkeys(r.instance_id for r in rows))
                expect_checkouts(session, instance_ids)  # their trees are read together
                with deferred_writes(session.connection()):  # and their rows written together
                    for instance_id in instance_ids:
                        try:
                            count = self.fire(session, instance_id)
                        except EngineError as failure:
                            broken = (instance_id, failure)
                            raise
                        fired += count
                        instances += 1
                        if not count:
                            # the engine did not consider it due yet (clock skew): look again later
                            self._postpone(session, instance_id, now)
        except EngineError:
            if broken is None:
                raise
            broken_id, problem = broken
            stats.failures += 1
            stats.errors.append(f"instance {broken_id}: {problem}")
            log.warning("timers of instance %s failed: %s", broken_id, problem)
            with self.db.unit_of_work() as session:
                self._postpone(session, broken_id, now)
            return True
        stats.fired += fired
        stats.instances += instances
        return True

    def _postpone(self, session: Session, instance_id: int, now: datetime) -> None:
        session.execute(
            _TIMER.update()
            .where(_TIMER.c.instance_id == instance_id, _TIMER.c.due_at <= now)
            .values(due_at=now + self.retry_after, attempts=_TIMER.c.attempts + 1)
        )
