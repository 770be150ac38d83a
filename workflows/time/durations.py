"""Business-hour durations of human tasks, worked out once and stored on the task.

Reports aggregate time over hundreds of thousands of tasks; working out business hours for each
of them per report costs seconds. So every task carries its own, on the agency calendar (the one
SLAs run on):

- ``human_task.business_hours``: from ready to completed, set when the task completes;
- ``human_task.pickup_hours``: from ready to picked up -- claimed, else completed -- set when
  the task is claimed (cleared when the claim is released) or completes unclaimed.

`TaskDurations` is an event listener: it sets them in the transaction of the completion or
claim. Tasks closed before the columns existed, or measured on a calendar since changed, are
worked out again by `recompute_durations` (``baton durations``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, text, update
from sqlalchemy.orm import Session

from engine.events import EventLog
from engine.fastsql import FastStatement
from engine.models import HumanTask
from workflows.time.calendar import BusinessCalendar, BusinessTimeline

# events after which a task's durations may have changed: it completed, or its claim moved
_DURATION_EVENTS = frozenset({"task_completed", "task_claimed", "task_unclaimed", "task_assigned"})
BATCH = 5000  # rows per round trip when recomputing
REPLAN_AFTER = 10_000  # rows updated at once past which PostgreSQL's statistics are refreshed

_HUMAN = cast(Table, HumanTask.__table__)
_TASK = FastStatement(
    select(
        _HUMAN.c.id, _HUMAN.c.state, _HUMAN.c.created_at, _HUMAN.c.claimed_at, _HUMAN.c.completed_at
    ).where(_HUMAN.c.instance_id == bindparam("b_instance"), _HUMAN.c.task_id == bindparam("b_task"))
)
_SET = FastStatement(
    update(_HUMAN)
    .where(_HUMAN.c.id == bindparam("b_id"))
    .values(business_hours=bindparam("b_hours"), pickup_hours=bindparam("b_pickup"))
)

Hours = Callable[[datetime, datetime], float]  # business hours from one moment to another


def durations(
    hours: Hours, state: str, created: datetime, claimed: datetime | None, completed: datetime | None
) -> tuple[float | None, float | None]:
    """A task's (business_hours, pickup_hours) as they stand, measured by `hours`.

    A completed task has both; an open or withdrawn one only a pickup time, once claimed.
    """
    done = completed if state == "completed" else None
    picked = claimed or done
    return (
        None if done is None else hours(created, done),
        None if picked is None else hours(created, picked),
    )


class TaskDurations:
    """Stores a task's business-hour durations when it completes or its claim changes.

    Args:
        calendar: the agency's business calendar.
    """

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar

    def on_events(self, session: Session, log: EventLog, events: Sequence[Mapping[str, Any]]) -> None:
        """Work out the durations of the tasks these events completed, claimed or released."""
        touched = {
            (event["instance_id"], event["task_id"])
            for event in events
            if event["kind"] in _DURATION_EVENTS and event["task_id"] is not None
        }
        if not touched:
            return
        conn = session.connection()
        for instance_id, task_id in sorted(touched):
            for row_id, state, created, claimed, completed in _TASK.fetchall(
                conn, {"b_instance": instance_id, "b_task": task_id}
            ):
                hours, pickup = durations(
                    self.calendar.business_hours_between, state, created, claimed, completed
                )
                # sent now (not held back by a batch's deferred writes), its reply not waited for:
                # inside a step's pipeline it goes with the step's other writes
                _SET.submit(conn, {"b_id": row_id, "b_hours": hours, "b_pickup": pickup})


def recompute_durations(
    session: Session,
    calendar: BusinessCalendar,
    *,
    missing_only: bool = True,
    progress: Callable[[int, int], None] | None = None,
    batch: int = BATCH,
) -> int:
    """Work the stored durations out again: for tasks closed before they were stored
    (`missing_only`), or for every task after the calendar changed.

    Args:
        session: the unit of work (every row is updated in it).
        calendar: the calendar to measure on (the agency's: `Services.calendar`).
        missing_only: only tasks whose durations are missing; False: every completed or
            claimed task.
        progress: called with (rows done, rows to do) after every batch.
        batch: rows read and written per round trip.

    Returns:
        How many tasks were updated.
    """
    concerned = or_(_HUMAN.c.state == "completed", _HUMAN.c.claimed_at.is_not(None))
    if missing_only:
        concerned = or_(
            (_HUMAN.c.state == "completed") & _HUMAN.c.business_hours.is_(None),
            _HUMAN.c.claimed_at.is_not(None) & _HUMAN.c.pickup_hours.is_(None),
        )
    total = int(session.execute(select(func.count()).select_from(_HUMAN).where(concerned)).scalar_one())
    timeline = BusinessTimeline(calendar)  # a dict lookup per moment, not a walk per task
    done, last = 0, 0
    conn = session.connection()
    while done < total:
        rows = session.execute(
            select(
                _HUMAN.c.id, _HUMAN.c.state, _HUMAN.c.created_at, _HUMAN.c.claimed_at, _HUMAN.c.completed_at
            )
            .where(concerned, _HUMAN.c.id > last)
            .order_by(_HUMAN.c.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        changes = []
        for row_id, state, created, claimed, completed in rows:
            hours, pickup = durations(timeline.between, state, created, claimed, completed)
            changes.append({"b_id": row_id, "b_hours": hours, "b_pickup": pickup})
        _SET.executemany(conn, changes)
        done += len(rows)
        last = rows[-1][0]
        if progress is not None:
            progress(done, total)
    if done >= REPLAN_AFTER and session.get_bind().dialect.name == "postgresql":
        # the planner's statistics still say the columns are empty: the hand-off report's join
        # would run as a nested loop over half a million rows until autovacuum gets round to it
        session.execute(text("ANALYZE human_task"))
    return done
