"""Effort: staff log hours against the tasks they work, per task, lane, stage and person.

The reports turn these rows into what client servicing (AM lane) and project management
(PM lane) cost per engagement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import tasks as task_ops
from engine.errors import NotFoundError
from engine.models import HumanTask, WorkflowInstance
from workflows.models import Effort, Engagement
from workflows.people.covers import today
from workflows.people.task_permissions import authorize_work, open_task
from workflows.services import Services

MAX_HOURS_PER_ENTRY = 24.0
MAX_NOTE = 2000


@dataclass(frozen=True)
class EffortTotal:
    """Hours logged on an engagement for one lane and stage."""

    lane: str | None
    stage: str | None
    hours: float


def log_effort(
    session: Session,
    services: Services,
    engagement_id: int,
    task_ref: str,
    hours: float,
    *,
    actor: str,
    note: str = "",
    worked_on: date | None = None,
) -> Effort:
    """Log `hours` of `actor`'s work against a task (open or done) of an engagement.

    Args:
        session: the unit of work.
        services: Baton's services.
        engagement_id: the engagement.
        task_ref: the task id, or a BPMN id (its latest occurrence when the step repeated).
        hours: more than 0, at most 24.
        actor: who worked: the task's assignee or claimer, their cover, or a lane member.
        note: what was done.
        worked_on: the day worked (default: today on the agency calendar).

    Raises:
        ValueError: hours or note out of bounds, or a day in the future.
        NotFoundError: no such engagement or task.
        PermissionDenied: `actor` may not work this task.
    """
    if not 0 < hours <= MAX_HOURS_PER_ENTRY:
        raise ValueError(f"hours must be more than 0 and at most {MAX_HOURS_PER_ENTRY:g}")
    if len(note) > MAX_NOTE:
        raise ValueError(f"the note is longer than {MAX_NOTE} characters")
    day = worked_on or today(services)
    if day > today(services):
        raise ValueError("effort cannot be logged for a day that has not come yet")
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFoundError(f"no engagement {engagement_id}")
    task = session.scalars(
        select(HumanTask)
        .where(
            HumanTask.instance_id == engagement.instance_id,
            (HumanTask.task_id == task_ref) | (HumanTask.bpmn_id == task_ref),
        )
        .order_by(HumanTask.id.desc())
        .limit(1)
    ).first()
    if task is None:
        raise NotFoundError(f"engagement {engagement_id} has no task '{task_ref}'")
    definition_id = session.scalar(
        select(WorkflowInstance.definition_id).where(WorkflowInstance.id == engagement.instance_id)
    )
    assert definition_id is not None  # the foreign key guarantees it
    rules = open_task(session, services, definition_id, task)
    authorize_work(session, services, rules, actor, what="log effort on")
    now = services.runtime.clock()
    row = Effort(
        engagement_id=engagement.id,
        instance_id=task.instance_id,
        task_id=task.task_id,
        bpmn_id=task.bpmn_id,
        lane=task.lane,
        stage=task.stage,
        username=actor,
        hours=float(hours),
        note=note.strip(),
        worked_on=day,
        logged_at=now,
    )
    session.add(row)
    task_ops.record_event(
        session,
        task.instance_id,
        "effort_logged",
        actor=actor,
        task_id=task.task_id,
        detail={"hours": float(hours), "worked_on": day.isoformat()},
        now=now,
        log=services.runtime.events,
    )
    session.flush()
    return row


def effort_totals(session: Session, engagement_id: int) -> list[EffortTotal]:
    """Hours logged on an engagement per lane and stage (a SQL aggregate)."""
    rows = session.execute(
        select(Effort.lane, Effort.stage, func.sum(Effort.hours))
        .where(Effort.engagement_id == engagement_id)
        .group_by(Effort.lane, Effort.stage)
        .order_by(Effort.lane, Effort.stage)
    )
    return [EffortTotal(lane, stage, float(hours)) for lane, stage, hours in rows]
