"""The one-page process review of an engagement: where its time went, its decisions and rework
rounds, its deadlines, and what its servicing cost against its budget.

Read from the projections (`human_task`, `effort`, the instance's facts and history) like the
other reports; no workflow is loaded. Only leadership, ops leads and admins may read it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import HumanTask
from workflows.agency import STAGES
from workflows.engagements.approvals import Decision
from workflows.engagements.lifecycle import EngagementView, view_engagement
from workflows.models import Effort
from workflows.people.permissions import READ_REPORTS, authorize
from workflows.reports.costs import rate_card
from workflows.reports.process import UNSET
from workflows.services import Services
from workflows.time.clocks import CLIENT_CLOCK


@dataclass
class StageReview:
    """One stage of the engagement: business hours spent (the agency's, the client's), deadlines."""

    stage: str
    tasks: int = 0
    agency_hours: float = 0.0
    client_hours: float = 0.0
    on_time: int = 0
    late: int = 0  # completed after their due time, or open past it
    open_tasks: int = 0

    @property
    def hours(self) -> float:
        """All business hours of the stage's completed tasks."""
        return self.agency_hours + self.client_hours


@dataclass
class LaneCost:
    """Effort logged in one lane, priced at the lane's rate."""

    lane: str
    hours: float
    cost: float


@dataclass
class EngagementReview:
    """Everything the review page shows."""

    view: EngagementView
    stages: list[StageReview]
    decisions: list[Decision]
    rework: dict[str, int]  # step -> rounds beyond the first
    costs: list[LaneCost]
    currency: str
    budget: float | None
    cost_to_date: float | None
    breaches: list[dict[str, Any]] = field(default_factory=list)  # tasks finished late or overdue

    @property
    def bottleneck(self) -> str | None:
        """The stage that took the most business hours (None: nothing completed yet)."""
        busiest = max((s for s in self.stages if s.hours), key=lambda s: s.hours, default=None)
        return busiest.stage if busiest else None

    @property
    def effort_cost(self) -> float:
        """All logged effort, priced."""
        return round(sum(c.cost for c in self.costs), 2)

    @property
    def burn(self) -> float | None:
        """Cost to date as a share of the budget (None: no budget)."""
        if not self.budget or self.cost_to_date is None:
            return None
        return self.cost_to_date / self.budget


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _breach(task: HumanTask, stage: str) -> dict[str, Any]:
    """A task that missed its deadline: done late (`done` its completion) or still open (None)."""
    return {"task": task.title, "stage": stage, "due_at": task.due_at, "done": task.completed_at}


def engagement_review(
    session: Session, services: Services, engagement_id: int, *, actor: str
) -> EngagementReview:
    """The process review of one engagement, for `actor` (leadership, ops leads, admins).

    Raises:
        PermissionDenied: the actor may not read reports.
        NotFoundError: no such engagement.
    """
    authorize(session, actor, READ_REPORTS)
    view = view_engagement(session, services, engagement_id)
    now = services.runtime.clock()
    stages: dict[str, StageReview] = {}
    runs: Counter[str] = Counter()
    breaches: list[dict[str, Any]] = []
    tasks = session.scalars(
        select(HumanTask)
        .where(HumanTask.instance_id == view.instance.id, HumanTask.state != "cancelled")
        .order_by(HumanTask.created_at, HumanTask.id)
    )
    for task in tasks:
        stage = stages.setdefault(task.stage or UNSET, StageReview(task.stage or UNSET))
        if task.multi_instance_of is None:
            runs[task.bpmn_id] += 1
        if task.state == "ready":
            stage.open_tasks += 1
            if task.due_at is not None and task.due_at < now:
                stage.late += 1
                breaches.append(
                    {"task": task.title, "stage": stage.stage, "due_at": task.due_at, "done": None}
                )
            continue
        if task.completed_at is None:
            continue
        stage.tasks += 1
        hours = task.business_hours  # stored when it completed (workflows.time.durations)
        if hours is None:  # closed before durations were stored, not worked out yet
            hours = services.calendar.business_hours_between(task.created_at, task.completed_at)
        if task.sla_clock == CLIENT_CLOCK:
            stage.client_hours += hours
        else:
            stage.agency_hours += hours
        if task.due_at is not None:
            if task.completed_at <= task.due_at:
                stage.on_time += 1
            else:
                stage.late += 1
                breaches.append(
                    {
                        "task": task.title,
                        "stage": stage.stage,
                        "due_at": task.due_at,
                        "done": task.completed_at,
                    }
                )
    order = {name: i for i, name in enumerate(STAGES)}
    card = rate_card(services)
    lane_hours: dict[str, float] = defaultdict(float)
    for lane, hours in session.execute(
        select(Effort.lane, func.sum(Effort.hours))
        .where(Effort.engagement_id == engagement_id)
        .group_by(Effort.lane)
        .order_by(Effort.lane)
    ):
        lane_hours[lane or UNSET] += float(hours)
    costs = [
        LaneCost(lane, hours, round(hours * card.rate_for_lane(None if lane == UNSET else lane), 2))
        for lane, hours in lane_hours.items()
    ]
    facts = view.instance.facts or {}
    return EngagementReview(
        view=view,
        stages=sorted(stages.values(), key=lambda s: order.get(s.stage, len(order))),
        decisions=view.decisions,
        rework={step: n - 1 for step, n in sorted(runs.items()) if n > 1},
        costs=costs,
        currency=card.currency,
        budget=_number(facts.get("budget")),
        cost_to_date=_number(facts.get("cost_to_date")),
        breaches=breaches,
    )
