"""Who holds an open task: claim, release, assign -- each change logged as an event.

These operations change the `human_task` projection only, never a workflow: a claim or an
assignment does not step the instance. Each one first takes the instance's row lock (on
PostgreSQL; SQLite writers already queue), the same lock a step takes, so a claim and a
completion of the same instance never interleave. The claim itself is a guarded UPDATE
(``... WHERE claimed_by IS NULL AND state = 'ready'``): of two claims at once exactly one
changes the row, the other finds it taken.

Every function takes the caller's session: the change and its event commit together.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .errors import ConflictError, NotFoundError, TaskNotReadyError
from .events import EventLog
from .models import HumanTask, WorkflowInstance


def record_event(
    session: Session,
    instance_id: int,
    kind: str,
    *,
    actor: str | None = None,
    task_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    decision: str | None = None,
    now: datetime,
    log: EventLog | None = None,
) -> dict[str, Any]:
    """Append an event to an instance's log (in the caller's transaction).

    Args:
        session: the unit of work.
        instance_id: the instance the event belongs to.
        kind: what happened, e.g. ``task_claimed``.
        actor: who did it.
        task_id: the human task it concerns; its BPMN id, lane and stage are copied in.
        detail: extra facts (JSON-serializable).
        decision: an outcome worth querying on its own.
        now: when it happened.
        log: the event log whose listeners should react (None: write it, tell nobody).

    Returns:
        The event as written.

    Raises:
        NotFoundError: `task_id` is not a task of the instance.
    """
    event: dict[str, Any] = {
        "instance_id": instance_id,
        "at": now,
        "kind": kind,
        "actor": actor,
        "decision": decision,
        "detail": dict(detail or {}),
        "task_id": None,
        "bpmn_id": None,
        "lane": None,
        "stage": None,
    }
    if task_id is not None:
        task = _get_task(session, instance_id, task_id)
        event.update(task_id=task_id, bpmn_id=task.bpmn_id, lane=task.lane, stage=task.stage)
    session.flush()  # pending ORM changes first: listeners query what the event is about
    (log or EventLog()).append(session, [event])
    return event


def claim(
    session: Session,
    instance_id: int,
    task_id: str,
    user: str,
    *,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
    log: EventLog | None = None,
) -> HumanTask:
    """Claim an open task for `user`: from now on it is theirs to work on.

    Claiming a task one already holds changes nothing (and logs nothing).

    Raises:
        NotFoundError: no such instance or task.
        TaskNotReadyError: the task is not open any more.
        ConflictError: someone else holds the claim.
    """
    lock_instance(session, instance_id)
    changed = _guarded_update(
        session,
        instance_id,
        task_id,
        HumanTask.claimed_by.is_(None),
        claimed_by=user,
        claimed_at=now,
    )
    task = _get_task(session, instance_id, task_id)
    if not changed:
        _refuse_closed(task)
        if task.claimed_by == user:
            return task
        raise ConflictError(f"task {task_id} ({task.bpmn_id}) is already claimed by {task.claimed_by}")
    record_event(
        session, instance_id, "task_claimed", actor=user, task_id=task_id, detail=detail, now=now, log=log
    )
    return task


def unclaim(
    session: Session,
    instance_id: int,
    task_id: str,
    user: str,
    *,
    now: datetime,
    force: bool = False,
    detail: Mapping[str, Any] | None = None,
    log: EventLog | None = None,
) -> HumanTask:
    """Release the claim on an open task (it goes back to its assignee and lane).

    Args:
        session: the unit of work.
        instance_id: the instance.
        task_id: the task.
        user: who releases it (the event's actor).
        now: when.
        force: release a claim held by someone other than `user` (callers check that
            `user` may do so).
        detail: extra facts for the event.

    Raises:
        NotFoundError: no such instance or task.
        TaskNotReadyError: the task is not open any more.
        ConflictError: the task is not claimed, or (without `force`) claimed by someone else.
    """
    lock_instance(session, instance_id)
    task = _get_task(session, instance_id, task_id)
    _refuse_closed(task)
    holder = task.claimed_by
    if holder is None:
        raise ConflictError(f"task {task_id} ({task.bpmn_id}) is not claimed")
    if holder != user and not force:
        raise ConflictError(f"task {task_id} ({task.bpmn_id}) is claimed by {holder}, not by {user}")
    _guarded_update(
        session,
        instance_id,
        task_id,
        HumanTask.claimed_by == holder,
        claimed_by=None,
        claimed_at=None,
    )
    facts = {"claimed_by": holder, **(detail or {})}
    record_event(
        session, instance_id, "task_unclaimed", actor=user, task_id=task_id, detail=facts, now=now, log=log
    )
    return _get_task(session, instance_id, task_id)


def assign(
    session: Session,
    instance_id: int,
    task_id: str,
    assignee: str | None,
    *,
    actor: str | None,
    now: datetime,
    reason: str | None = None,
    keep_claim: bool = False,
    detail: Mapping[str, Any] | None = None,
    log: EventLog | None = None,
) -> HumanTask:
    """Give an open task to `assignee` (None: to nobody, i.e. to its lane).

    A claim held by anyone but the new assignee is released with it, unless `keep_claim`
    (whoever works on it goes on). Assigning a task to the person who already has it
    changes nothing (and logs nothing).

    Raises:
        NotFoundError: no such instance or task.
        TaskNotReadyError: the task is not open any more.
    """
    lock_instance(session, instance_id)
    task = _get_task(session, instance_id, task_id)
    _refuse_closed(task)
    previous, holder = task.assignee, task.claimed_by
    released = holder is not None and holder != assignee and not keep_claim
    if previous == assignee and not released:
        return task
    values: dict[str, Any] = {"assignee": assignee}
    if released:
        values.update(claimed_by=None, claimed_at=None)
    _guarded_update(session, instance_id, task_id, None, **values)
    facts: dict[str, Any] = {"from": previous, "to": assignee}
    if reason:
        facts["reason"] = reason
    if released:
        facts["released_claim"] = holder
    facts.update(detail or {})
    record_event(
        session, instance_id, "task_assigned", actor=actor, task_id=task_id, detail=facts, now=now, log=log
    )
    return _get_task(session, instance_id, task_id)


# -- helpers ---------------------------------------------------------------------------


def lock_instance(session: Session, instance_id: int) -> None:
    """Take the instance's row lock (PostgreSQL) until the transaction ends, as a step does.

    Callers that read a task before changing it take it first, so what they read stays true.
    SQLite writers hold the database lock from their first statement anyway.

    Raises:
        NotFoundError: no such instance.
    """
    found = session.scalar(
        select(WorkflowInstance.id).where(WorkflowInstance.id == instance_id).with_for_update()
    )
    if found is None:
        raise NotFoundError(f"no instance {instance_id}")


def _guarded_update(session: Session, instance_id: int, task_id: str, guard: Any, **values: Any) -> bool:
    """UPDATE the task if it is open (and `guard` holds); True when a row changed."""
    stmt = update(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.task_id == task_id, HumanTask.state == "ready"
    )
    if guard is not None:
        stmt = stmt.where(guard)
    result = session.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def _get_task(session: Session, instance_id: int, task_id: str) -> HumanTask:
    task = session.scalar(
        select(HumanTask)
        .where(HumanTask.instance_id == instance_id, HumanTask.task_id == task_id)
        .execution_options(populate_existing=True)
    )
    if task is None:
        raise NotFoundError(f"instance {instance_id} has no human task {task_id}")
    return task


def _refuse_closed(task: HumanTask) -> None:
    if task.state != "ready":
        who = f" by {task.completed_by}" if task.completed_by else ""
        raise TaskNotReadyError(f"task {task.task_id} ({task.bpmn_id}) was already {task.state}{who}")
