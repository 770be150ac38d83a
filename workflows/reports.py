"""Process review reports: where time goes, how SLAs hold, how much rework, what servicing costs.

Every report reads the projections (`human_task`, `event`, `effort`) with SQL -- counts and sums
are SQL aggregates; only business-hour durations are computed in Python, because they need the
agency calendar. No workflow is ever loaded.

Filters (`ReportFilter`) narrow every report to a period (tasks created, decisions made or effort
worked in ``[start, end)``), a process definition and a client.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from engine.models import Event, HumanTask, WorkflowInstance

from .clocks import CLIENT_CLOCK
from .models import Engagement
from .services import Services
from .sla import BusinessCalendar

DIMENSIONS = ("stage", "lane", "person", "task")
# any select(): the filters keep its column types
_Q = TypeVar("_Q", bound=Select[*tuple[Any, ...]])
UNSET = "(none)"  # label of tasks without a stage, lane or person


@dataclass(frozen=True)
class ReportFilter:
    """What a report covers: a period (start included, end excluded), a definition, a client."""

    start: datetime | None = None
    end: datetime | None = None
    process_id: str | None = None
    client: str | None = None
    definition_id: int | None = None  # one deployed version: compare a definition before/after an edit


EVERYTHING = ReportFilter()  # no period, every definition and client


def engagement_instances(filters: ReportFilter) -> Select[int] | None:
    """The instance ids of the engagements the filter keeps (None: every instance)."""
    if filters.client is None and filters.process_id is None and filters.definition_id is None:
        return None
    query = select(Engagement.instance_id)
    if filters.client is not None:
        query = query.where(Engagement.client == filters.client)
    if filters.process_id is not None:
        query = query.where(Engagement.process_id == filters.process_id)
    if filters.definition_id is not None:
        query = query.join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id).where(
            WorkflowInstance.definition_id == filters.definition_id
        )
    return query


def _scoped(query: _Q, instance_col: InstrumentedAttribute[int], filters: ReportFilter) -> _Q:
    """Restrict a query on a table with an instance id to the filter's engagements."""
    instances = engagement_instances(filters)
    return query if instances is None else query.where(instance_col.in_(instances))


def _period(query: _Q, column: Any, filters: ReportFilter) -> _Q:
    if filters.start is not None:
        query = query.where(column >= filters.start)
    if filters.end is not None:
        query = query.where(column < filters.end)
    return query


def _task_column(dimension: str) -> ColumnElement[Any]:
    if dimension == "stage":
        return HumanTask.stage.expression
    if dimension == "lane":
        return HumanTask.lane.expression
    if dimension == "task":
        return HumanTask.bpmn_id.expression  # the diagram element: what a heatmap colours
    if dimension == "person":
        # who did it, else who holds it now
        return func.coalesce(HumanTask.completed_by, HumanTask.claimed_by, HumanTask.assignee)
    raise ValueError(f"unknown dimension '{dimension}' (expected one of {', '.join(DIMENSIONS)})")


def percentile(values: Sequence[float], share: float) -> float:
    """The `share` percentile of `values` (linear interpolation between closest ranks).

    Raises:
        ValueError: no values.
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class BusinessTimeline:
    """Business hours from a fixed origin to any moment, so that ``between(a, b)`` equals
    ``calendar.business_hours_between(a, b)`` at the cost of a dict lookup per moment: reports
    measure hundreds of thousands of tasks, and walking the calendar day by day for each one
    costs seconds. Days are counted once, as far as the moments asked for reach.
    """

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar
        self._day_hours = calendar.hours_per_day
        opens = calendar.opens
        self._opens = opens.hour * 3600 + opens.minute * 60 + opens.second + opens.microsecond / 1e6
        # day -> (business hours before it since the origin day, is it a working day)
        self._days: dict[date, tuple[float, bool]] = {}
        self._first: date | None = None
        self._last: date | None = None

    def _day(self, day: date) -> tuple[float, bool]:
        known = self._days.get(day)
        if known is not None:
            return known
        working = self.calendar.is_working_day
        if self._first is None or self._last is None:
            self._first = self._last = day
            self._days[day] = (0.0, working(day))
            return self._days[day]
        while day > self._last:  # extend forward: the day before adds its hours
            before, was_working = self._days[self._last]
            self._last += timedelta(days=1)
            self._days[self._last] = (before + (self._day_hours if was_working else 0.0), working(self._last))
        while day < self._first:  # extend backward
            after, _ = self._days[self._first]
            self._first -= timedelta(days=1)
            is_working = working(self._first)
            self._days[self._first] = (after - (self._day_hours if is_working else 0.0), is_working)
        return self._days[day]

    def at(self, moment: datetime) -> float:
        """Business hours from the origin to `moment` (wall-clock time in the calendar's zone)."""
        local = moment.astimezone(self.calendar.zone)
        before, working = self._day(local.date())
        if not working:
            return before
        seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        within = min(max(seconds - self._opens, 0.0), self._day_hours * 3600)
        return before + within / 3600

    def between(self, start: datetime, end: datetime) -> float:
        """Business hours from `start` to `end` (0 if end is earlier)."""
        return max(self.at(end) - self.at(start), 0.0) if end > start else 0.0


# -- 1. time per stage / lane ---------------------------------------------------------------------


@dataclass(frozen=True)
class StageTime:
    """Business time spent on the completed tasks of one stage (or lane, or person)."""

    key: str
    completed: int
    total_hours: float
    median_hours: float
    p90_hours: float
    agency_hours: float  # on tasks the agency works
    client_hours: float  # on tasks waiting on the client
    open_tasks: int
    share: float  # of all the hours in the report


@dataclass(frozen=True)
class TimeReport:
    """Time per stage (or lane), with the bottleneck."""

    dimension: str
    rows: list[StageTime]
    bottleneck: str | None  # the key with the largest share of time
    longest_queue: str | None  # the key with the most open tasks


def time_report(
    session: Session, services: Services, filters: ReportFilter = EVERYTHING, *, by: str = "stage"
) -> TimeReport:
    """Business hours from ready to completed per stage, lane or person: total, median, p90.

    A task waiting on the client (its SLA runs on the client's clock) counts as client time,
    every other task as agency time. Cancelled tasks are left out.

    Args:
        session: the unit of work.
        services: Baton's services (the calendar).
        filters: period (task created), definition, client.
        by: ``stage``, ``lane``, ``person`` or ``task`` (the BPMN element).
    """
    key = _task_column(by).label("key")
    done = _period(
        _scoped(
            select(key, HumanTask.created_at, HumanTask.completed_at, HumanTask.sla_clock).where(
                HumanTask.state == "completed"
            ),
            HumanTask.instance_id,
            filters,
        ),
        HumanTask.created_at,
        filters,
    )
    durations: dict[str, list[float]] = defaultdict(list)
    client: dict[str, float] = defaultdict(float)
    timeline = BusinessTimeline(services.calendar)
    for name, created, completed, clock in session.execute(done):
        hours = timeline.between(created, completed)
        durations[name or UNSET].append(hours)
        if clock == CLIENT_CLOCK:
            client[name or UNSET] += hours
    queue_query = _period(
        _scoped(
            select(key, func.count()).where(HumanTask.state == "ready").group_by(key),
            HumanTask.instance_id,
            filters,
        ),
        HumanTask.created_at,
        filters,
    )
    queues = {name or UNSET: int(n) for name, n in session.execute(queue_query)}
    grand = sum(sum(v) for v in durations.values())
    rows = []
    for name in sorted(set(durations) | set(queues)):
        values = durations.get(name, [])
        total = sum(values)
        rows.append(
            StageTime(
                key=name,
                completed=len(values),
                total_hours=total,
                median_hours=statistics.median(values) if values else 0.0,
                p90_hours=percentile(values, 0.9) if values else 0.0,
                agency_hours=total - client.get(name, 0.0),
                client_hours=client.get(name, 0.0),
                open_tasks=queues.get(name, 0),
                share=total / grand if grand else 0.0,
            )
        )
    bottleneck = max((r for r in rows if r.total_hours), key=lambda r: r.total_hours, default=None)
    queue = max((r for r in rows if r.open_tasks), key=lambda r: r.open_tasks, default=None)
    return TimeReport(by, rows, bottleneck.key if bottleneck else None, queue.key if queue else None)


# -- 2. SLA compliance ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaCompliance:
    """How one stage (lane, person) kept its deadlines."""

    key: str
    completed: int  # completed tasks that had a deadline
    on_time: int
    open_at_risk: int
    open_breached: int

    @property
    def compliance(self) -> float | None:
        """Share of completed tasks finished by their due time (None: nothing completed)."""
        return self.on_time / self.completed if self.completed else None


def sla_report(
    session: Session, services: Services, filters: ReportFilter = EVERYTHING, *, by: str = "stage"
) -> list[SlaCompliance]:
    """SLA compliance per stage, lane or person, and the open tasks at risk or breached now.

    Only tasks with a deadline count. Paused clocks have already moved `due_at` on, so a task
    that waited on the client is judged against its moved deadline.
    """
    key = _task_column(by).label("key")
    is_open, is_done = HumanTask.state == "ready", HumanTask.state == "completed"
    query = (
        select(
            key,
            func.sum(case((is_done, 1), else_=0)),
            func.sum(
                case(
                    ((HumanTask.state == "completed") & (HumanTask.completed_at <= HumanTask.due_at), 1),
                    else_=0,
                )
            ),
            func.sum(case((is_open & (HumanTask.sla_state == "at_risk"), 1), else_=0)),
            func.sum(case((is_open & (HumanTask.sla_state == "breached"), 1), else_=0)),
        )
        .where(HumanTask.due_at.is_not(None))
        .group_by(key)
        .order_by(key)
    )
    query = _period(_scoped(query, HumanTask.instance_id, filters), HumanTask.created_at, filters)
    return [
        SlaCompliance(name or UNSET, int(c or 0), int(ok or 0), int(risk or 0), int(late or 0))
        for name, c, ok, risk, late in session.execute(query)
    ]


# -- 3. rework ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepDecisions:
    """The decisions taken at one step: how many of each."""

    step: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """How many decisions the step saw."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class EngagementRework:
    """Steps of one engagement that ran more than once, with their extra rounds."""

    engagement_id: int
    client: str
    name: str
    repeated: dict[str, int]  # bpmn id -> rounds beyond the first

    @property
    def rounds(self) -> int:
        """Extra rounds over all steps."""
        return sum(self.repeated.values())


@dataclass(frozen=True)
class ReworkReport:
    """Approval decisions per step, rework rounds per engagement, and the QC fail rate."""

    decisions: list[StepDecisions]
    engagements: list[EngagementRework]
    qc_checks: int
    qc_failures: int

    @property
    def qc_fail_rate(self) -> float | None:
        """Share of QC checks that failed (None: no QC check yet)."""
        return self.qc_failures / self.qc_checks if self.qc_checks else None


QC_PASS, QC_FAIL = "pass", "fail"


def rework_report(session: Session, services: Services, filters: ReportFilter = EVERYTHING) -> ReworkReport:
    """Decisions per step (approved / changes_requested / rejected, QC pass / fail), the steps
    each engagement ran more than once, and the share of QC checks that failed.

    The period applies to when decisions were taken and steps became ready.
    """
    decided = (
        select(Event.bpmn_id, Event.decision, func.count())
        .where(Event.kind == "task_completed", Event.decision.is_not(None))
        .group_by(Event.bpmn_id, Event.decision)
        .order_by(Event.bpmn_id, Event.decision)
    )
    decided = _period(_scoped(decided, Event.instance_id, filters), Event.at, filters)
    per_step: dict[str, dict[str, int]] = defaultdict(dict)
    for step, decision, n in session.execute(decided):
        per_step[step or UNSET][decision or UNSET] = int(n)
    decisions = [StepDecisions(step, counts) for step, counts in per_step.items()]
    qc_checks = qc_failures = 0
    for row in decisions:
        if set(row.counts) <= {QC_PASS, QC_FAIL}:
            qc_checks += row.total
            qc_failures += row.counts.get(QC_FAIL, 0)

    runs = func.count().label("runs")
    repeated = (
        select(Engagement.id, Engagement.client, Engagement.name, HumanTask.bpmn_id, runs)
        .join(Engagement, Engagement.instance_id == HumanTask.instance_id)
        .where(HumanTask.state != "cancelled", HumanTask.multi_instance_of.is_(None))
        .group_by(Engagement.id, Engagement.client, Engagement.name, HumanTask.bpmn_id)
        .having(func.count() > 1)
        .order_by(Engagement.id, HumanTask.bpmn_id)
    )
    repeated = _period(_scoped(repeated, HumanTask.instance_id, filters), HumanTask.created_at, filters)
    by_engagement: dict[int, EngagementRework] = {}
    for engagement_id, client, name, step, n in session.execute(repeated):
        entry = by_engagement.setdefault(engagement_id, EngagementRework(engagement_id, client, name, {}))
        entry.repeated[step] = int(n) - 1
    return ReworkReport(decisions, list(by_engagement.values()), qc_checks, qc_failures)


__all__ = [
    "EVERYTHING",
    "BusinessTimeline",
    "ReportFilter",
    "ReworkReport",
    "SlaCompliance",
    "StageTime",
    "TimeReport",
    "engagement_instances",
    "percentile",
    "rework_report",
    "sla_report",
    "time_report",
]
