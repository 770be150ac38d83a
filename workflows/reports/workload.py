"""Workload against capacity: each person's open tasks per lane, the business hours left on their
SLAs, and the hours logged this week, next to the weekly capacity of the lane's role.

Capacity comes from the ``[capacity]`` table of ``definitions/rates.toml`` (hours a week one person
of a role gives to engagement work). Counts and sums are SQL aggregates; only the hours left
until each deadline are computed here, because they need the agency calendar.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import HumanTask, WorkflowInstance
from workflows.agency import LANE_ROLES
from workflows.models import Effort, Engagement
from workflows.reports.process import EVERYTHING, UNSET, ReportFilter, engagement_instances
from workflows.reports.rows import (
    AM,
    PM,
    Chart,
    ReportDescriptor,
    ReportRows,
    Row,
    chart,
    highlighted,
    series,
)
from workflows.services import Services

ASSIGNMENTS = WorkflowInstance.facts["assignments"]  # the resourcing plan: role, person, hours
MILESTONES = WorkflowInstance.facts["milestones"]  # the timeline plan: name, due_date


@dataclass(frozen=True)
class Capacity:
    """Weekly hours per role for engagement work; roles not listed get the default."""

    default: float
    roles: dict[str, float]

    def for_lane(self, lane: str | None) -> float:
        """The weekly capacity of one person working a lane (its role's, else the default)."""
        role = LANE_ROLES.get(lane or "")
        return self.roles.get(role, self.default) if role is not None else self.default


def _hours(value: object, what: str, path: str | Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"{path}: the capacity of {what} must be a number of hours above 0")
    return float(value)


def load_capacity(path: str | Path) -> Capacity:
    """Read the ``[capacity]`` table of the rate card file.

    Raises:
        ValueError: the table is missing, or an hour count is not a positive number.
    """
    with open(path, "rb") as fh:
        section = tomllib.load(fh).get("capacity")
    if not isinstance(section, dict) or "default" not in section:
        raise ValueError(f"{path}: add a [capacity] table with a default of weekly hours")
    roles = {role: _hours(v, role, path) for role, v in (section.get("roles") or {}).items()}
    return Capacity(_hours(section["default"], "default", path), roles)


def capacity(services: Services) -> Capacity:
    """The agency's capacity table: ``rates.toml`` in the definitions folder."""
    return load_capacity(services.definitions_dir / "rates.toml")


@dataclass(frozen=True)
class WorkloadLine:
    """One person's load in one lane (or, for planned people without a lane, their role)."""

    person: str
    lane: str
    open_tasks: int
    breached: int  # open tasks past their deadline
    sla_hours_left: float  # business hours until the deadlines of the open tasks, summed
    logged_hours: float  # logged in the period
    capacity_hours: float  # weekly capacity x the weeks in the period
    planned_hours: float = 0.0  # resourcing-plan hours still to do that fall in the period
    weeks: float = 1.0  # how many weeks the period spans

    @property
    def load(self) -> float:
        """(Logged + planned hours) as a share of the period's capacity (above 1: overbooked)."""
        return (self.logged_hours + self.planned_hours) / self.capacity_hours

    @property
    def utilisation(self) -> float:
        """Hours logged in the period as a share of its capacity."""
        return self.logged_hours / self.capacity_hours


def week_of(moment: datetime, services: Services) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 of `moment`'s week, in the agency's time zone."""
    local = moment.astimezone(services.calendar.zone)
    monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0), services.calendar.zone)
    return monday, monday + timedelta(days=7)


def report_period(filters: ReportFilter, services: Services, now: datetime) -> tuple[datetime, datetime]:
    """The period a workload covers: the filter's, a missing end being `now`'s week's end and a
    missing start its Monday; no period at all is the week of `now`."""
    monday, sunday_night = week_of(now, services)
    return filters.start or monday, filters.end or max(
        sunday_night, (filters.start or monday) + timedelta(days=1)
    )


ROLE_LANES = {role: lane for lane, role in LANE_ROLES.items()}


def _planned(
    session: Session,
    filters: ReportFilter,
    first: datetime,
    last: datetime,
    now: datetime,
    logged_by: dict[tuple[int, str], float],
    zone: Any,
) -> dict[tuple[str, str], tuple[float, str]]:
    """(person, lane) -> (planned hours in [first, last), role) from the running engagements'
    resourcing plans: each assignment's hours not yet logged by that person on that engagement,
    spread evenly over the days from now to the last milestone's due date (the end of that day);
    a plan whose last milestone is past puts what is left in the period if now is in it."""
    query = (
        select(Engagement.id, ASSIGNMENTS, MILESTONES)
        .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
        .where(WorkflowInstance.status == "running", ASSIGNMENTS.is_not(None))
    )
    instances = engagement_instances(filters)
    if instances is not None:
        query = query.where(Engagement.instance_id.in_(instances))
    planned: dict[tuple[str, str], tuple[float, str]] = {}
    for engagement_id, assignments, milestones in session.execute(query):
        if not isinstance(assignments, list):
            continue
        dues = [
            m["due_date"]
            for m in (milestones if isinstance(milestones, list) else [])
            if isinstance(m, dict) and isinstance(m.get("due_date"), str)
        ]
        try:
            end_day = max(date.fromisoformat(d) for d in dues) if dues else None
        except ValueError:
            end_day = None
        until = datetime.combine(end_day + timedelta(days=1), time(0), zone) if end_day is not None else now
        for item in assignments:
            if not isinstance(item, dict):
                continue
            person, role, hours = item.get("person"), item.get("role"), item.get("hours")
            if not isinstance(person, str) or not isinstance(hours, int | float) or isinstance(hours, bool):
                continue
            role = role if isinstance(role, str) else UNSET
            left = max(0.0, float(hours) - logged_by.get((engagement_id, person), 0.0))
            if until > now:
                overlap = (min(last, until) - max(first, now)).total_seconds()
                share = max(0.0, overlap) / (until - now).total_seconds()
            else:  # the plan's dates are past: what is left is due now
                share = 1.0 if first <= now < last else 0.0
            key = (person, ROLE_LANES.get(role, role))
            before = planned.get(key, (0.0, role))[0]
            planned[key] = (before + left * share, role)
    return planned


def workload_report(
    session: Session,
    services: Services,
    filters: ReportFilter = EVERYTHING,
    *,
    now: datetime | None = None,
    hours: Capacity | None = None,
) -> list[WorkloadLine]:
    """Per person and lane: the hours logged in the period and the hours planned in it (the
    resourcing plans' hours not yet logged, spread up to the last milestone), against the weekly
    capacity of the lane's role times the weeks in the period; beside them the open tasks (who
    claimed them, else their assignee), those breached, and the business hours left until their
    deadlines (a paused deadline counts what it had left when it paused).

    The period is the filter's (a missing end: the end of this week; a missing start: this
    Monday), or the week of `now` when there is none. Open tasks count whenever they were created.

    Args:
        session: the unit of work.
        services: Baton's services (calendar, clock, capacity table).
        filters: period (effort worked), definition, client.
        now: the moment deadlines and plans are measured from (default: the runtime's clock).
        hours: the capacity table (default: ``rates.toml``'s ``[capacity]``).
    """
    table = hours or capacity(services)
    moment = now or services.runtime.clock()
    instances = engagement_instances(filters)
    person = func.coalesce(HumanTask.claimed_by, HumanTask.assignee)
    counts = (
        select(person, HumanTask.lane, func.count())
        .where(HumanTask.state == "ready")
        .group_by(person, HumanTask.lane)
    )
    due = select(person, HumanTask.lane, HumanTask.due_at, HumanTask.sla_paused_at).where(
        HumanTask.state == "ready", HumanTask.due_at.is_not(None)
    )
    zone = services.calendar.zone
    first, last = report_period(filters, services, moment)
    weeks = (last - first).total_seconds() / (7 * 86400)
    logged = (
        select(Effort.username, Effort.lane, func.sum(Effort.hours))
        .where(
            Effort.worked_on >= first.astimezone(zone).date(), Effort.worked_on < last.astimezone(zone).date()
        )
        .group_by(Effort.username, Effort.lane)
    )
    logged_by_engagement = select(Effort.engagement_id, Effort.username, func.sum(Effort.hours)).group_by(
        Effort.engagement_id, Effort.username
    )
    if instances is not None:
        counts = counts.where(HumanTask.instance_id.in_(instances))
        due = due.where(HumanTask.instance_id.in_(instances))
        logged = logged.where(Effort.instance_id.in_(instances))
        logged_by_engagement = logged_by_engagement.where(Effort.instance_id.in_(instances))
    open_tasks = {(p or UNSET, lane or UNSET): int(n) for p, lane, n in session.execute(counts)}
    left: dict[tuple[str, str], float] = defaultdict(float)
    breached: dict[tuple[str, str], int] = defaultdict(int)
    for p, lane, due_at, paused_at in session.execute(due):
        key = (p or UNSET, lane or UNSET)
        since = paused_at or moment
        if due_at is None:  # the query keeps tasks with a deadline only
            continue
        if due_at <= since:
            breached[key] += 1
        else:
            left[key] += services.calendar.business_hours_between(since, due_at)
    hours_logged = {(p, lane or UNSET): float(h) for p, lane, h in session.execute(logged)}
    done_by = {(e, p): float(h) for e, p, h in session.execute(logged_by_engagement)}
    planned = _planned(session, filters, first, last, moment, done_by, zone)
    lines = []
    for p, lane in sorted(open_tasks.keys() | hours_logged.keys() | planned.keys()):
        plan, role = planned.get((p, lane), (0.0, None))
        weekly = (
            table.for_lane(lane)
            if lane in LANE_ROLES or role is None
            else table.roles.get(role, table.default)
        )
        lines.append(
            WorkloadLine(
                person=p,
                lane=lane,
                open_tasks=open_tasks.get((p, lane), 0),
                breached=breached.get((p, lane), 0),
                sla_hours_left=round(left.get((p, lane), 0.0), 2),
                logged_hours=hours_logged.get((p, lane), 0.0),
                capacity_hours=round(weekly * weeks, 2),
                planned_hours=round(plan, 2),
                weeks=round(weeks, 2),
            )
        )
    return lines


# -- as a report: its rows and charts --------------------------------------------------


def _workload(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    moment = services.runtime.clock()
    lines = workload_report(session, services, filters, now=moment)
    first, last = report_period(filters, services, moment)
    zone = services.calendar.zone
    rows: list[Row] = [
        {
            "key": f"{w.person} / {w.lane}",
            "logged_hours": w.logged_hours,
            "planned_hours": w.planned_hours,
            "capacity_hours": w.capacity_hours,
            "load": round(w.load, 4),
            "utilisation": round(w.utilisation, 4),
            "open_tasks": w.open_tasks,
            "breached": w.breached,
            "sla_hours_left": w.sla_hours_left,
        }
        for w in lines
    ]
    weeks = lines[0].weeks if lines else round((last - first).total_seconds() / (7 * 86400), 2)
    shown = first.astimezone(zone).date(), (last.astimezone(zone) - timedelta(days=1)).date()
    note = (
        f"period {shown[0].isoformat()} to {shown[1].isoformat()} ({weeks:g} weeks)"
        f"{'' if filters.start or filters.end else ': this week, as no period is chosen'}"
    )
    return ReportRows("workload", None, rows, note, [f"{w.person} / {w.lane}" for w in lines if w.load > 1])


def _workload_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    return [
        chart(
            "workload",
            "Load and utilisation against the period's capacity",
            keys,
            [
                series(
                    "load (logged + planned)",
                    [round(r["load"] * 100, 1) for r in rows],
                    highlighted(keys, report, AM),
                ),
                series(
                    "utilisation (hours logged)", [round(r["utilisation"] * 100, 1) for r in rows], PM
                ),
            ],
            percent=True,
            horizontal=True,
        )
    ]


WORKLOAD_REPORT = ReportDescriptor(
    name="workload",
    title="Workload",
    blurb="Logged and planned hours per person against capacity over the period, and open tasks.",
    order=90,
    groupings=None,
    build=_workload,
    charts=_workload_charts,
    definition=(
        "Load = (hours logged in the period + hours planned in it) / (the role's weekly capacity in "
        "rates.toml x the weeks in the period); utilisation = hours logged / that capacity. Planned hours: "
        "each running engagement's resourcing plan, less what the person has logged on it, spread evenly "
        "from now to its last milestone. With no period chosen the period is this week (Monday to Sunday)."
    ),
)


DESCRIPTORS = (WORKLOAD_REPORT,)
