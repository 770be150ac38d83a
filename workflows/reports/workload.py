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
from datetime import datetime, time, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import HumanTask
from workflows.agency import LANE_ROLES
from workflows.models import Effort
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
    """One person's load in one lane."""

    person: str
    lane: str
    open_tasks: int
    breached: int  # open tasks past their deadline
    sla_hours_left: float  # business hours until the deadlines of the open tasks, summed
    logged_hours: float  # logged in the week
    capacity_hours: float  # a week

    @property
    def load(self) -> float:
        """SLA hours left as a share of a week's capacity (above 1: more than a week's work due)."""
        return self.sla_hours_left / self.capacity_hours

    @property
    def utilisation(self) -> float:
        """Hours logged in the week as a share of its capacity."""
        return self.logged_hours / self.capacity_hours


def week_of(moment: datetime, services: Services) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 of `moment`'s week, in the agency's time zone."""
    local = moment.astimezone(services.calendar.zone)
    monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0), services.calendar.zone)
    return monday, monday + timedelta(days=7)


def workload_report(
    session: Session,
    services: Services,
    filters: ReportFilter = EVERYTHING,
    *,
    now: datetime | None = None,
    hours: Capacity | None = None,
) -> list[WorkloadLine]:
    """Open tasks per person (who claimed the task, else its assignee) and lane, the business
    hours left until their deadlines (a paused deadline counts what it had left when it paused;
    a breached one counts nothing), and the hours logged in the week of `now`, against the
    weekly capacity of the lane's role.

    The period, if any, replaces the week for the logged hours; open tasks count whenever they
    were created.

    Args:
        session: the unit of work.
        services: Baton's services (calendar, clock, capacity table).
        filters: period (effort worked), definition, client.
        now: the moment deadlines are measured from (default: the runtime's clock).
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
    first: datetime | None
    last: datetime | None
    first, last = week_of(moment, services)
    if filters.start is not None or filters.end is not None:
        first, last = filters.start, filters.end
    logged = select(Effort.username, Effort.lane, func.sum(Effort.hours)).group_by(
        Effort.username, Effort.lane
    )
    if first is not None:
        logged = logged.where(Effort.worked_on >= first.astimezone(zone).date())
    if last is not None:
        logged = logged.where(Effort.worked_on < last.astimezone(zone).date())
    if instances is not None:
        counts = counts.where(HumanTask.instance_id.in_(instances))
        due = due.where(HumanTask.instance_id.in_(instances))
        logged = logged.where(Effort.instance_id.in_(instances))
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
    return [
        WorkloadLine(
            person=p,
            lane=lane,
            open_tasks=open_tasks.get((p, lane), 0),
            breached=breached.get((p, lane), 0),
            sla_hours_left=round(left.get((p, lane), 0.0), 2),
            logged_hours=hours_logged.get((p, lane), 0.0),
            capacity_hours=table.for_lane(lane),
        )
        for p, lane in sorted(open_tasks.keys() | hours_logged.keys())
    ]


# -- as a report: its rows and charts --------------------------------------------------


def _workload(session: Session, services: Services, filters: ReportFilter, by: str | None) -> ReportRows:
    lines = workload_report(session, services, filters)
    rows: list[Row] = [
        {
            "key": f"{w.person} / {w.lane}",
            "open_tasks": w.open_tasks,
            "breached": w.breached,
            "sla_hours_left": w.sla_hours_left,
            "logged_hours": w.logged_hours,
            "capacity_hours": w.capacity_hours,
            "load": round(w.load, 4),
            "utilisation": round(w.utilisation, 4),
        }
        for w in lines
    ]
    note = "load: SLA hours left / weekly capacity; utilisation: hours logged / weekly capacity"
    return ReportRows("workload", None, rows, note, [f"{w.person} / {w.lane}" for w in lines if w.load > 1])


def _workload_charts(report: ReportRows, rows: list[Row], keys: list[str]) -> list[Chart]:
    return [
        chart(
            "workload",
            "Load and utilisation against weekly capacity",
            keys,
            [
                series(
                    "load (SLA hours left)",
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
    blurb="Open tasks and logged hours per person and lane against weekly capacity.",
    order=90,
    groupings=None,
    build=_workload,
    charts=_workload_charts,
)


DESCRIPTORS = (WORKLOAD_REPORT,)
