"""The workload board: for each person who works engagements, their open steps this week and
next, the business hours left on them against the person's weekly capacity, and how many are
overdue — for ops leads and resource managers to see who is overloaded and move work.

A step counts in the week its deadline falls in (the agency calendar's weeks, Monday to
Monday), with the business hours from now until that deadline (a paused deadline: what it had
left when it paused). An overdue step counts nothing and is counted apart; a step due later,
or without a deadline, is listed as *later*. Capacity is the person's own weekly hours when an
admin set them, else the rate card's figure for their role (`definitions/rates.toml`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import HumanTask
from workflows.agency import TEAM_ROLES
from workflows.models import Engagement, User
from workflows.people.permissions import VIEW_WORKLOAD, authorize
from workflows.reports.workload import Capacity, capacity, week_of
from workflows.services import Services

THIS_WEEK, NEXT_WEEK, LATER, OVERDUE = "this_week", "next_week", "later", "overdue"


@dataclass(frozen=True)
class BoardTask:
    """One open step on someone's plate."""

    engagement_id: int
    client: str
    engagement: str
    task_id: str
    title: str
    lane: str | None
    role: str | None
    due_at: datetime | None
    week: str  # THIS_WEEK, NEXT_WEEK, LATER or OVERDUE
    hours_left: float  # business hours until the deadline (0 when overdue or none)
    claimed: bool  # the person claimed it (else it is assigned to them)


@dataclass
class PersonLoad:
    """A person's open steps, by week, against their capacity."""

    username: str
    name: str
    roles: list[str]
    capacity_hours: float  # a week
    tasks: list[BoardTask] = field(default_factory=list)

    def hours(self, week: str) -> float:
        """Business hours left on the steps due in `week`."""
        return round(sum(t.hours_left for t in self.tasks if t.week == week), 1)

    def count(self, week: str) -> int:
        """Open steps due in `week` (or overdue)."""
        return sum(1 for t in self.tasks if t.week == week)

    def load(self, week: str) -> float:
        """The hours of `week` as a share of the capacity (above 1: overloaded)."""
        return self.hours(week) / self.capacity_hours if self.capacity_hours else float(self.count(week) > 0)

    @property
    def overdue(self) -> int:
        """Steps past their deadline."""
        return self.count(OVERDUE)


@dataclass(frozen=True)
class WorkloadBoard:
    """Everyone's load, most loaded first, with the week boundaries and the candidates per role."""

    people: list[PersonLoad]
    this_week: datetime
    next_week: datetime
    unassigned: list[BoardTask]
    candidates: dict[str, list[str]]  # role -> active usernames holding it (reassignment targets)


def _capacity_of(user: User, table: Capacity) -> float:
    if user.weekly_capacity_hours is not None:
        return user.weekly_capacity_hours
    role = next((r for r in TEAM_ROLES if user.has_role(r)), None)
    return table.roles.get(role, table.default) if role is not None else table.default


def workload_board(session: Session, services: Services, *, actor: str) -> WorkloadBoard:
    """Who holds which open steps this week and next, against their capacity.

    Raises:
        PermissionDenied: the actor is not an ops lead, a resource manager or an admin.
    """
    authorize(session, actor, VIEW_WORKLOAD)
    now = services.runtime.clock()
    this_week, next_week = week_of(now, services)
    after_next = next_week + timedelta(days=7)
    table = capacity(services)
    users = list(session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)))
    people = {
        u.username: PersonLoad(u.username, u.display_name, sorted(u.role_names), _capacity_of(u, table))
        for u in users
        if u.has_role(*TEAM_ROLES)
    }
    holder = func.coalesce(HumanTask.claimed_by, HumanTask.assignee)
    rows = session.execute(
        select(
            holder,
            HumanTask.claimed_by,
            HumanTask.task_id,
            HumanTask.title,
            HumanTask.lane,
            HumanTask.candidate_group,
            HumanTask.due_at,
            HumanTask.sla_paused_at,
            Engagement.id,
            Engagement.client,
            Engagement.name,
        )
        .join(Engagement, Engagement.instance_id == HumanTask.instance_id)
        .where(HumanTask.state == "ready")
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
    )
    unassigned: list[BoardTask] = []
    by_name = {u.username: u for u in users}
    for who, claimed_by, task_id, title, lane, role, due_at, paused_at, eid, client, name in rows:
        since = paused_at or now
        if due_at is None:
            week, left = LATER, 0.0
        elif due_at <= since:
            week, left = OVERDUE, 0.0
        else:
            left = round(services.calendar.business_hours_between(since, due_at), 1)
            week = THIS_WEEK if due_at < next_week else NEXT_WEEK if due_at < after_next else LATER
        task = BoardTask(
            eid, client, name, task_id, title, lane, role, due_at, week, left, claimed_by is not None
        )
        if who is None:
            unassigned.append(task)
            continue
        if who not in people:  # someone outside the team roles (or inactive) holds it: show them too
            user = by_name.get(who)
            people[who] = PersonLoad(
                who,
                user.display_name if user else who,
                sorted(user.role_names) if user else [],
                _capacity_of(user, table) if user else table.default,
            )
        people[who].tasks.append(task)
    ordered = sorted(people.values(), key=lambda p: (-p.load(THIS_WEEK), -p.overdue, p.username))
    candidates = {r: [u.username for u in users if u.has_role(r)] for r in TEAM_ROLES}
    return WorkloadBoard(ordered, this_week, next_week, unassigned, candidates)
