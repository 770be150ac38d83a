"""Deadline states of open tasks, moved on by time.

A task that becomes ready may get a warning point and a due time (see `TaskPolicy`). It
starts `on_track`; once its warning point passes it is `at_risk`, once its due time passes
it is `breached`. Each change is stored on the `human_task` row and logged as an event
(`sla_at_risk`, `sla_breached`) that escalation and notifications react to. Rows are picked
by their indexed `sla_next_at`, with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL.

Deadlines are a generic engine concept; their columns and events are named `sla_*` in the
store for history's sake (renaming them would take a schema migration). What a deadline is
worth (an SLA on business time, say) is the application's task policy's business.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update

from .db import Database
from .events import EventLog
from .fastsql import FastStatement
from .models import HumanTask

_HUMAN = cast(Table, HumanTask.__table__)
_DUE = (
    select(
        _HUMAN.c.id,
        _HUMAN.c.instance_id,
        _HUMAN.c.task_id,
        _HUMAN.c.bpmn_id,
        _HUMAN.c.lane,
        _HUMAN.c.stage,
        _HUMAN.c.sla_state,
        _HUMAN.c.warn_at,
        _HUMAN.c.due_at,
        _HUMAN.c.assignee,
    )
    .where(_HUMAN.c.state == "ready", _HUMAN.c.sla_next_at <= bindparam("now"))
    .order_by(_HUMAN.c.sla_next_at)
)
_MOVE = FastStatement(
    update(_HUMAN)
    .where(_HUMAN.c.id == bindparam("b_id"))
    .values(sla_state=bindparam("b_state"), sla_next_at=bindparam("b_next"))
)


def next_state(
    state: str | None, warn_at: datetime | None, due_at: datetime | None, now: datetime
) -> tuple[str, datetime | None]:
    """The deadline state at `now` and when to look again.

    Args:
        state: the stored state.
        warn_at: the warning point (may be None).
        due_at: the due time (may be None).
        now: the current time.
    """
    if due_at is not None and due_at <= now:
        return "breached", None
    if warn_at is not None and warn_at <= now:
        return "at_risk", due_at
    return state or "on_track", warn_at or due_at


class DeadlineSweeper:
    """Moves open tasks' deadline states on as time passes.

    Args:
        db: the database.
        log: the event log the state changes go to (its listeners escalate and notify).
        clock: the current time (tests inject theirs).
        batch: rows per transaction.
    """

    def __init__(
        self,
        db: Database,
        log: EventLog,
        *,
        clock: Callable[[], datetime] | None = None,
        batch: int = 200,
    ) -> None:
        self.db = db
        self.log = log
        self.clock = clock or (lambda: datetime.now(UTC))
        self.batch = batch

    def run_once(self) -> int:
        """Apply every transition due now; returns how many tasks changed state."""
        changed = 0
        while True:
            moved = self._run_batch()
            changed += moved
            if moved < self.batch:
                return changed

    def _run_batch(self) -> int:
        now = self.clock()
        with self.db.unit_of_work() as session:
            stmt = _DUE.limit(self.batch)
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = session.execute(stmt, {"now": now}).all()
            if not rows:
                return 0
            conn = session.connection()
            moves: list[dict[str, Any]] = []
            events: list[dict[str, Any]] = []
            for row in rows:
                state, next_at = next_state(row.sla_state, row.warn_at, row.due_at, now)
                moves.append({"b_id": row.id, "b_state": state, "b_next": next_at})
                if state != row.sla_state:
                    events.append(
                        {
                            "instance_id": row.instance_id,
                            "at": now,
                            "kind": f"sla_{state}",
                            "task_id": row.task_id,
                            "bpmn_id": row.bpmn_id,
                            "lane": row.lane,
                            "stage": row.stage,
                            "actor": None,
                            "decision": None,
                            "detail": {
                                "assignee": row.assignee,
                                "due_at": row.due_at.isoformat() if row.due_at else None,
                            },
                        }
                    )
            _MOVE.executemany(conn, moves)
            self.log.append(session, events)
            return len(rows)
