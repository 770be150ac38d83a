"""Client-aware SLA clocks: the agency's deadlines stand still while the client has the ball.

Every task with an SLA runs on a clock (`sla_clock`): steps marked ``waits_on_client`` in
their definition run on the client's clock, every other step on the agency's -- unless it
declares ``sla_clock="always"``: agency work that must not wait, such as chasing a late client. While an
engagement has a step open on the client's clock, the deadlines of its open agency steps
are paused: the deadline sweeper leaves them alone (``sla_next_at`` is cleared) and, when
the last client step closes, each resumes with the business time it had left, its due time
and warning point moved on accordingly. Each pause and resume is logged
(`agency_clock_paused`, `agency_clock_resumed`), and the business hours a task spent paused
are kept on it (`sla_paused_hours`) so reports can tell agency time from client time.

`ClientClock` is an event listener: it acts in the transaction of the step that opened or
closed a client step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from engine.deadlines import next_state
from engine.events import EventLog
from engine.fastsql import FastStatement
from engine.models import HumanTask
from workflows.agency import SLA_CLOCK_PROPERTY, WAITS_ON_CLIENT_PROPERTY, is_true
from workflows.time.calendar import BusinessCalendar

AGENCY_CLOCK = "agency"  # the agency's work: stands still while the client has the ball
CLIENT_CLOCK = "client"  # a step waiting on the client
ALWAYS_CLOCK = "always"  # agency work that never pauses, e.g. chasing the late client
CLOCKS = (AGENCY_CLOCK, CLIENT_CLOCK, ALWAYS_CLOCK)
# events after which the set of open steps of an instance may have changed
_STEP_EVENTS = frozenset({"task_ready", "task_completed", "timer_fired", "cancelled", "completed"})

_HUMAN = cast(Table, HumanTask.__table__)
_OPEN_CLOCKS = FastStatement(
    select(
        _HUMAN.c.id,
        _HUMAN.c.bpmn_id,
        _HUMAN.c.sla_clock,
        _HUMAN.c.sla_state,
        _HUMAN.c.warn_at,
        _HUMAN.c.due_at,
        _HUMAN.c.sla_paused_at,
        _HUMAN.c.sla_paused_hours,
    ).where(
        _HUMAN.c.instance_id == bindparam("instance_id"),
        _HUMAN.c.state == "ready",
        _HUMAN.c.sla_clock.is_not(None),
    )
)
_PAUSE = FastStatement(
    update(_HUMAN)
    .where(_HUMAN.c.id == bindparam("b_id"))
    .values(sla_paused_at=bindparam("b_at"), sla_next_at=None)
)
_RESUME = FastStatement(
    update(_HUMAN)
    .where(_HUMAN.c.id == bindparam("b_id"))
    .values(
        sla_paused_at=None,
        sla_paused_hours=bindparam("b_paused"),
        due_at=bindparam("b_due"),
        warn_at=bindparam("b_warn"),
        sla_state=bindparam("b_state"),
        sla_next_at=bindparam("b_next"),
    )
)


def clock_of(properties: Mapping[str, str]) -> str:
    """The clock a step's deadline runs on, from its `sla_clock` / `waits_on_client` properties."""
    if is_true(properties, WAITS_ON_CLIENT_PROPERTY):
        return CLIENT_CLOCK
    return properties.get(SLA_CLOCK_PROPERTY) or AGENCY_CLOCK


class _OpenClock(NamedTuple):
    id: int
    bpmn_id: str
    sla_clock: str
    sla_state: str | None
    warn_at: datetime | None
    due_at: datetime | None
    sla_paused_at: datetime | None
    sla_paused_hours: float | None


class ClientClock:
    """Pauses an engagement's agency deadlines while one of its steps waits on the client.

    Args:
        calendar: the agency's business calendar (paused time is counted in business hours).
    """

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar

    def on_events(self, session: Session, log: EventLog, events: Sequence[Mapping[str, Any]]) -> None:
        """Pause or resume the agency clocks of every instance a step changed."""
        touched: dict[int, datetime] = {}
        for event in events:
            if event["kind"] in _STEP_EVENTS:
                touched[event["instance_id"]] = event["at"]
        for instance_id, now in touched.items():
            self._settle(session, log, instance_id, now)

    def _settle(self, session: Session, log: EventLog, instance_id: int, now: datetime) -> None:
        conn = session.connection()
        rows = [_OpenClock(*r) for r in _OPEN_CLOCKS.fetchall(conn, {"instance_id": instance_id})]
        waiting_on = sorted({r.bpmn_id for r in rows if r.sla_clock == CLIENT_CLOCK})
        agency = [r for r in rows if r.sla_clock == AGENCY_CLOCK]
        if waiting_on:
            running = [r for r in agency if r.sla_paused_at is None]
            if running:
                _PAUSE.executemany(conn, [{"b_id": r.id, "b_at": now} for r in running])
                log.append(
                    session, [_clock_event(instance_id, now, "agency_clock_paused", running, waiting_on)]
                )
            return
        paused = [r for r in agency if r.sla_paused_at is not None]
        if not paused:
            return
        _RESUME.executemany(conn, [self._resumed(r, now) for r in paused])
        log.append(session, [_clock_event(instance_id, now, "agency_clock_resumed", paused, [])])

    def _resumed(self, row: _OpenClock, now: datetime) -> dict[str, Any]:
        """A paused task's deadline moved on by the business time the pause took."""
        paused_at = row.sla_paused_at
        assert paused_at is not None  # only paused rows resume
        due_at = self._moved(row.due_at, paused_at, now)
        warn_at = self._moved(row.warn_at, paused_at, now)
        state, next_at = next_state(row.sla_state, warn_at, due_at, now)
        return {
            "b_id": row.id,
            "b_paused": (row.sla_paused_hours or 0.0) + self.calendar.business_hours_between(paused_at, now),
            "b_due": due_at,
            "b_warn": warn_at,
            "b_state": state,
            "b_next": next_at,
        }

    def _moved(self, moment: datetime | None, paused_at: datetime, now: datetime) -> datetime | None:
        if moment is None or moment <= paused_at:
            return moment  # already passed when the clock stopped: it stays passed
        return self.calendar.add_hours(now, self.calendar.business_hours_between(paused_at, moment))


def _clock_event(
    instance_id: int, now: datetime, kind: str, rows: Sequence[_OpenClock], waiting_on: Sequence[str]
) -> dict[str, Any]:
    detail: dict[str, Any] = {"tasks": sorted(r.bpmn_id for r in rows)}
    if waiting_on:
        detail["waiting_on"] = list(waiting_on)
    return {"instance_id": instance_id, "at": now, "kind": kind, "detail": detail}


@dataclass(frozen=True)
class ClockSplit:
    """Where an engagement's business time went: the agency's work, or waiting on the client."""

    total_hours: float
    client_hours: float

    @property
    def agency_hours(self) -> float:
        """Business hours not spent waiting on the client."""
        return max(self.total_hours - self.client_hours, 0.0)


def clock_split(
    session: Session, calendar: BusinessCalendar, instance_id: int, started_at: datetime, until: datetime
) -> ClockSplit:
    """Business hours of an engagement from its start to `until`, and how many waited on the client.

    Client waits are the periods with a client step open; overlapping steps count once.
    """
    spans = session.execute(
        select(HumanTask.created_at, HumanTask.completed_at)
        .where(HumanTask.instance_id == instance_id, HumanTask.sla_clock == CLIENT_CLOCK)
        .order_by(HumanTask.created_at)
    ).all()
    client = 0.0
    current: tuple[datetime, datetime] | None = None
    for opened, closed in spans:
        end = min(closed or until, until)
        if current is not None and opened <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current is not None:
            client += calendar.business_hours_between(*current)
        current = (opened, end)
    if current is not None:
        client += calendar.business_hours_between(*current)
    return ClockSplit(calendar.business_hours_between(started_at, until), client)
