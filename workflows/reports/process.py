"""Process review reports: where time goes, how SLAs hold, how much rework, what servicing costs.

Every report reads the projections (`human_task`, `event`, `effort`) with SQL aggregates --
counts, sums, medians and percentiles -- and never loads a workflow. Business-hour durations need
the agency calendar: each task carries its own, worked out once when it completed
(`workflows.time.durations`), so reports only add them up.

Filters (`ReportFilter`) narrow every report to a period (tasks created, decisions made or effort
worked in ``[start, end)``), a process definition and a client.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, Subquery, case, func, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from engine.fastsql import FastStatement
from engine.models import Event, HumanTask, WorkflowInstance
from workflows.models import Engagement
from workflows.time.calendar import BusinessTimeline
from workflows.time.clocks import CLIENT_CLOCK

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
    if filters.client is not None:  # whatever its case, as the inbox's search
        query = query.where(func.lower(Engagement.client) == filters.client.lower())
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


def tasks_scoped(query: _Q, filters: ReportFilter) -> _Q:
    """Restrict a query on `human_task` to the filter's engagements and, for one version, to the
    steps that ran on it (`human_task.definition_id`): an engagement migrated from v1 to v2
    counts its early steps under v1 and the rest under v2."""
    if filters.definition_id is None:
        return _scoped(query, HumanTask.instance_id, filters)
    query = query.where(HumanTask.definition_id == filters.definition_id)
    unversioned = replace(filters, definition_id=None)
    return _scoped(query, HumanTask.instance_id, unversioned)


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
    return _interpolate(sorted(values), share)


def _interpolate(ordered: Sequence[float], share: float) -> float:
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# -- durations: count, total, median and p90 per group ---------------------------------------------

# sorts and hashes over every task of the store: PostgreSQL's default 4 MB spills them to disk
REPORT_WORK_MEM = "64MB"


def roomy(session: Session) -> None:
    """On PostgreSQL, let the rest of this transaction sort and hash in memory (`REPORT_WORK_MEM`)
    rather than in temporary files: a report's median over half a million tasks is one sort."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'"))


@dataclass(frozen=True)
class Spread:
    """How a group's durations spread: how many, their total, median and 90th percentile."""

    count: int
    total: float
    median: float
    p90: float
    sums: tuple[float, ...] = ()  # the totals of the other columns asked for


NO_SPREAD = Spread(0, 0.0, 0.0, 0.0)


def _spread_here(
    session: Session, source: Subquery, groups: list[Any], value: str, sums: Sequence[str]
) -> dict[tuple[Any, ...], Spread]:
    """`spread` worked out in Python from the bare numbers (SQLite): each group's values are
    gathered and sorted here (sorting in the database and handing them over in order costs more)."""
    totals_of = (func.coalesce(source.c[n], 0.0) for n in sums)
    # plain tuples off the driver's cursor: SQLAlchemy's rows would cost more than the sums themselves
    rows = FastStatement(select(*groups, source.c[value], *totals_of)).fetchall(session.connection(), {})
    width = len(groups)
    keys = [row[0] for row in rows] if width == 1 else [row[:width] for row in rows]
    values: dict[Any, list[float]] = defaultdict(list)
    for key, number in zip(keys, [row[width] for row in rows], strict=True):
        values[key].append(number)
    totals: list[dict[Any, float]] = []
    for i in range(width + 1, width + 1 + len(sums)):
        total: dict[Any, float] = defaultdict(float)
        for key, number in zip(keys, [row[i] for row in rows], strict=True):
            total[key] += number
        totals.append(total)
    spreads = {}
    for key, found in values.items():
        found.sort()
        spreads[(key,) if width == 1 else key] = Spread(
            len(found),
            sum(found),
            _interpolate(found, 0.5),
            _interpolate(found, 0.9),
            tuple(total[key] for total in totals),
        )
    return spreads


def spread(
    session: Session,
    source: Subquery,
    keys: Sequence[str],
    *,
    value: str = "hours",
    sums: Sequence[str] = (),
) -> dict[tuple[Any, ...], Spread]:
    """Count, total, median and p90 of `source`'s `value` column per group of its `keys` columns,
    and the totals of its `sums` columns.

    On PostgreSQL the database works them all out (``percentile_cont``: one row per group comes
    back). SQLite has no percentile function, and ranking the values with window functions
    costs it three times as much as handing them over: there the values come back (the number
    and its group, nothing else) and are summed and sorted here.

    Args:
        session: the unit of work.
        source: rows with the `keys` columns and numeric `value` and `sums` columns.
        keys: the columns to group by.
        value: the column whose spread is measured.
        sums: other columns to total per group (`Spread.sums`, in this order).
    """
    groups = [source.c[k] for k in keys]
    width = len(keys)
    if session.get_bind().dialect.name != "postgresql":
        return _spread_here(session, source, groups, value, sums)
    roomy(session)
    column = source.c[value]
    query = select(
        *groups,
        func.count(),
        func.sum(column),
        func.percentile_cont(0.5).within_group(column),
        func.percentile_cont(0.9).within_group(column),
        *(func.sum(source.c[n]) for n in sums),
    ).group_by(*groups)
    return {
        tuple(row[:width]): Spread(
            int(row[width]),
            float(row[width + 1] or 0.0),
            float(row[width + 2] or 0.0),
            float(row[width + 3] or 0.0),
            tuple(float(v or 0.0) for v in row[width + 4 :]),
        )
        for row in session.execute(query)
    }


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
    session: Session, filters: ReportFilter = EVERYTHING, *, by: str = "stage"
) -> TimeReport:
    """Business hours from ready to completed per stage, lane or person: total, median, p90.

    A task waiting on the client (its SLA runs on the client's clock) counts as client time,
    every other task as agency time. Cancelled tasks are left out. The hours are the ones
    stored on each task when it completed (`workflows.time.durations`).

    Args:
        session: the unit of work.
        services: Baton's services.
        filters: period (task created), definition, client.
        by: ``stage``, ``lane``, ``person`` or ``task`` (the BPMN element).
    """
    key = _task_column(by).label("key")
    done = _period(
        tasks_scoped(
            select(
                key,
                HumanTask.business_hours.label("hours"),
                case((HumanTask.sla_clock == CLIENT_CLOCK, HumanTask.business_hours), else_=0.0).label(
                    "client"
                ),
            ).where(HumanTask.state == "completed", HumanTask.business_hours.is_not(None)),
            filters,
        ),
        HumanTask.created_at,
        filters,
    )
    spreads = spread(session, done.subquery(), ("key",), sums=("client",))
    queue_query = _period(
        tasks_scoped(
            select(key, func.count()).where(HumanTask.state == "ready").group_by(key),
            filters,
        ),
        HumanTask.created_at,
        filters,
    )
    queues = {name or UNSET: int(n) for name, n in session.execute(queue_query)}
    durations = {(name or UNSET): figures for (name,), figures in spreads.items()}
    grand = sum(f.total for f in durations.values())
    rows = []
    for name in sorted(set(durations) | set(queues)):
        figures = durations.get(name, NO_SPREAD)
        client = figures.sums[0] if figures.sums else 0.0
        rows.append(
            StageTime(
                key=name,
                completed=figures.count,
                total_hours=figures.total,
                median_hours=figures.median,
                p90_hours=figures.p90,
                agency_hours=figures.total - client,
                client_hours=client,
                open_tasks=queues.get(name, 0),
                share=figures.total / grand if grand else 0.0,
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
    def judged(self) -> int:
        """Deadlines with an outcome: completed tasks that had one, and open tasks already past it."""
        return self.completed + self.open_breached

    @property
    def compliance(self) -> float | None:
        """Share of judged deadlines kept: an open task past its deadline is a missed one
        (None: nothing judged yet)."""
        return self.on_time / self.judged if self.judged else None


def sla_report(
    session: Session, filters: ReportFilter = EVERYTHING, *, by: str = "stage"
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
    query = _period(tasks_scoped(query, filters), HumanTask.created_at, filters)
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
    """Approval decisions per step, rework rounds per step and engagement, and the QC fail rate."""

    decisions: list[StepDecisions]
    engagements: list[EngagementRework]  # the most reworked first (at most the `most` asked for)
    qc_checks: int
    qc_failures: int
    reruns: dict[str, int] = field(default_factory=dict)  # bpmn id -> rounds beyond the first
    reworked: int = 0  # engagements with at least one round of rework

    @property
    def rounds(self) -> int:
        """Rounds of rework over every engagement the report covers."""
        return sum(self.reruns.values())

    @property
    def qc_fail_rate(self) -> float | None:
        """Share of QC checks that failed (None: no QC check yet)."""
        return self.qc_failures / self.qc_checks if self.qc_checks else None


QC_PASS, QC_FAIL = "pass", "fail"


def rework_report(
    session: Session, filters: ReportFilter = EVERYTHING, *, most: int | None = 100
) -> ReworkReport:
    """Decisions per step (approved / changes_requested / rejected, QC pass / fail), the rounds of
    rework per step and for the most reworked engagements, and the share of QC checks that failed.

    A round of rework is a step run again (`human_task.run` > 1). The period applies to when
    decisions were taken and reruns became ready.

    Args:
        session: the unit of work.
        services: Baton's services.
        filters: period, definition, client.
        most: how many engagements to list, the most reworked first (None: all of them).
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

    # the reruns alone (a partial index holds them): each is one round of rework
    def reruns(*keys: Any) -> Select[Any]:
        query = (
            select(*keys, func.count().label("rounds"))
            .where(HumanTask.run > 1, HumanTask.state != "cancelled")
            .group_by(*keys)
        )
        return _period(tasks_scoped(query, filters), HumanTask.created_at, filters)

    per_step_rounds = {step: int(n) for step, n in session.execute(reruns(HumanTask.bpmn_id))}
    per_instance = reruns(HumanTask.instance_id).subquery()
    reworked = int(session.scalar(select(func.count()).select_from(per_instance)) or 0)
    top = select(per_instance.c.instance_id).order_by(
        per_instance.c.rounds.desc(), per_instance.c.instance_id
    )
    if most is not None:
        top = top.limit(most)
    listed = reruns(HumanTask.instance_id, HumanTask.bpmn_id).where(HumanTask.instance_id.in_(top)).subquery()
    rows = session.execute(
        select(Engagement.id, Engagement.client, Engagement.name, listed.c.bpmn_id, listed.c.rounds)
        .join(listed, listed.c.instance_id == Engagement.instance_id)
        .order_by(Engagement.id, listed.c.bpmn_id)
    )
    by_engagement: dict[int, EngagementRework] = {}
    for engagement_id, client, name, step, n in rows:
        entry = by_engagement.setdefault(engagement_id, EngagementRework(engagement_id, client, name, {}))
        entry.repeated[step] = int(n)
    engagements = sorted(by_engagement.values(), key=lambda e: (-e.rounds, e.engagement_id))
    return ReworkReport(decisions, engagements, qc_checks, qc_failures, per_step_rounds, reworked)


__all__ = [
    "EVERYTHING",
    "BusinessTimeline",
    "ReportFilter",
    "ReworkReport",
    "SlaCompliance",
    "Spread",
    "StageTime",
    "TimeReport",
    "engagement_instances",
    "percentile",
    "rework_report",
    "roomy",
    "sla_report",
    "spread",
    "tasks_scoped",
    "time_report",
]
