"""Effort: staff log hours against the tasks they work, per task, lane, stage and person.

The reports turn these rows into what client servicing (AM lane) and project management
(PM lane) cost per engagement.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine import tasks as task_ops
from engine.errors import FieldError, FormValidationError, NotFoundError
from engine.models import HumanTask, WorkflowInstance
from workflows.models import Effort, Engagement
from workflows.people.covers import today
from workflows.people.task_permissions import authorize_work, open_task
from workflows.services import Services

MAX_HOURS_PER_ENTRY = 24.0
MAX_HOURS_PER_DAY = 24.0  # one person's entries on one day, over every engagement
MAX_NOTE = 2000


class EffortRefused(FormValidationError, ValueError):
    """An effort entry nobody can have worked (too many hours, a day outside the engagement)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__("effort", [FieldError(field, message)], root="")

    def __str__(self) -> str:
        return self.errors[0].message


def _hold_day(session: Session, username: str, day: date) -> None:
    """Count one person's day one entry at a time (PostgreSQL advisory lock until commit; on
    SQLite the write transaction already is exclusive), so two entries cannot both pass the bound."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"baton-effort:{username}:{day.isoformat()}".encode()).digest()
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest[:8], "big", signed=True)}
    )


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
        hours: more than 0, at most 24; the actor's entries on that day, on every engagement,
            add up to at most 24.
        actor: who worked: the task's assignee or claimer, their cover, or a lane member.
        note: what was done.
        worked_on: the day worked (default: today on the agency calendar); not before the
            engagement started, not in the future.

    Raises:
        ValueError: hours or note out of bounds, more than a day holds, or a day in the future or
            before the engagement started.
        NotFoundError: no such engagement or task.
        PermissionDenied: `actor` may not work this task.
    """
    if not 0 < hours <= MAX_HOURS_PER_ENTRY:
        raise EffortRefused("hours", f"hours must be more than 0 and at most {MAX_HOURS_PER_ENTRY:g}")
    if len(note) > MAX_NOTE:
        raise ValueError(f"the note is longer than {MAX_NOTE} characters")
    day = worked_on or today(services)
    if day > today(services):
        raise EffortRefused("worked_on", "effort cannot be logged for a day that has not come yet")
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
    started = engagement.created_at.astimezone(services.calendar.zone).date()
    if day < started:
        raise EffortRefused(
            "worked_on",
            f"effort cannot be logged for {day.isoformat()}: engagement {engagement.id} started on "
            f"{started.isoformat()}",
        )
    _hold_day(session, actor, day)
    logged = float(
        session.scalar(
            select(func.coalesce(func.sum(Effort.hours), 0.0)).where(
                Effort.username == actor, Effort.worked_on == day
            )
        )
        or 0.0
    )
    if logged + hours > MAX_HOURS_PER_DAY:
        raise EffortRefused(
            "hours",
            f"{actor} already has {logged:g} h logged on {day.isoformat()}: a day holds at most "
            f"{MAX_HOURS_PER_DAY:g} h, so at most {max(0.0, MAX_HOURS_PER_DAY - logged):g} h more",
        )
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
