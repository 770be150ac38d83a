"""Task use cases: complete, claim, release and reassign an engagement's open task.

Each names the acting user and checks, inside, the rules of
`workflows.people.task_permissions`; the pages, the API and the CLI call these same functions.
A task is named by its task id, or by the BPMN id of a single open task.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from engine import tasks as task_ops
from engine.errors import NotFoundError, TaskNotReadyError
from engine.fastsql import FastStatement, fetch_together
from engine.models import HumanTask, WorkflowInstance
from engine.runtime import StepResult
from workflows.engagements.approvals import check_approval
from workflows.engagements.lifecycle import get_engagement
from workflows.engagements.versions import check_version
from workflows.models import Engagement
from workflows.people import audit
from workflows.people.assignment import TEAM_OF_ENGAGEMENT, remember_team
from workflows.people.task_permissions import (
    OpenTask,
    authorize_claim,
    authorize_completion,
    authorize_reassign,
    authorize_unclaim,
    open_task,
)
from workflows.people.users import Known, person_from_rows, person_query
from workflows.services import Services

# the key of a completion event's detail holding the submitted form data
SUBMITTED = "data"


def find_open_task(session: Session, engagement: Engagement, task_ref: str) -> HumanTask:
    """An open task of an engagement by task id, or by BPMN id when that is unambiguous.

    Raises:
        NotFoundError: no task matches, or a BPMN id matches several open tasks.
        TaskNotReadyError: the task exists but was already completed or withdrawn.
    """
    by_id = session.scalar(
        select(HumanTask)
        .where(HumanTask.instance_id == engagement.instance_id, HumanTask.task_id == task_ref)
        .execution_options(populate_existing=True)
    )
    if by_id is not None:
        if by_id.state != "ready":
            who = f" by {by_id.completed_by}" if by_id.completed_by else ""
            raise TaskNotReadyError(f"task {task_ref} ({by_id.bpmn_id}) was already {by_id.state}{who}")
        return by_id
    rows = list(
        session.scalars(
            select(HumanTask)
            .where(
                HumanTask.instance_id == engagement.instance_id,
                HumanTask.state == "ready",
                HumanTask.bpmn_id == task_ref,
            )
            .execution_options(populate_existing=True)
        )
    )
    if not rows:
        raise NotFoundError(f"engagement {engagement.id} has no open task '{task_ref}'")
    if len(rows) > 1:
        raise NotFoundError(f"'{task_ref}' matches {len(rows)} open tasks; use the task id")
    return rows[0]


_HUMAN = cast(Table, HumanTask.__table__)
_ENGAGEMENT = cast(Table, Engagement.__table__)
_INSTANCE = cast(Table, WorkflowInstance.__table__)
# one indexed query resolves an engagement's task by task id or by open BPMN id
_LOOKUP_TASK = FastStatement(
    select(
        _ENGAGEMENT.c.instance_id,
        _INSTANCE.c.definition_id,
        _HUMAN.c.task_id,
        _HUMAN.c.bpmn_id,
        _HUMAN.c.state,
        _HUMAN.c.completed_by,
        _HUMAN.c.lane,
        _HUMAN.c.assignee,
        _HUMAN.c.claimed_by,
        _HUMAN.c.candidate_group,
        _HUMAN.c.properties,
        _HUMAN.c.multi_instance_of,
    )
    .select_from(
        _ENGAGEMENT.join(_INSTANCE, _INSTANCE.c.id == _ENGAGEMENT.c.instance_id).outerjoin(
            _HUMAN,
            (_HUMAN.c.instance_id == _ENGAGEMENT.c.instance_id)
            & (
                (_HUMAN.c.task_id == bindparam("ref"))
                | ((_HUMAN.c.bpmn_id == bindparam("ref")) & (_HUMAN.c.state == "ready"))
            ),
        )
    )
    .where(_ENGAGEMENT.c.id == bindparam("engagement_id"))
)
# PostgreSQL: the instance's row lock, taken before the task is read (as a step and a claim
# take it), so a claim committed a moment ago is seen by the permission check
_LOCK_INSTANCE = FastStatement(
    select(_INSTANCE.c.id)
    .join(_ENGAGEMENT, _ENGAGEMENT.c.instance_id == _INSTANCE.c.id)
    .where(_ENGAGEMENT.c.id == bindparam("engagement_id"))
    .with_for_update(of=_INSTANCE)
)


class _TaskRef(NamedTuple):
    instance_id: int
    definition_id: int
    task_id: str | None
    bpmn_id: str | None
    state: str | None
    completed_by: str | None
    lane: str | None
    assignee: str | None
    claimed_by: str | None
    candidate_group: str | None
    properties: dict[str, str] | None
    multi_instance_of: str | None


def _resolve(
    session: Session, services: Services, engagement_id: int, task_ref: str, usernames: Iterable[str] = ()
) -> tuple[OpenTask, Known]:
    """An open task of an engagement by task id or unambiguous open BPMN id, with its lane's role.

    One round trip on PostgreSQL: the instance's lock, then the task, the engagement's team
    (kept for the assignment policy of the coming step) and the people named in `usernames`.

    Returns:
        The task, and the people looked up (None for unknown usernames).

    Raises:
        NotFoundError, TaskNotReadyError.
    """
    conn = session.connection()
    by_engagement: dict[str, Any] = {"engagement_id": engagement_id}
    names = sorted(set(usernames))
    queries: list[tuple[FastStatement, Mapping[str, Any]]] = [
        (_LOOKUP_TASK, {**by_engagement, "ref": task_ref}),
        (TEAM_OF_ENGAGEMENT, by_engagement),
        *(person_query(name) for name in names),
    ]
    lock = conn.dialect.name == "postgresql"
    if lock:
        queries.insert(0, (_LOCK_INSTANCE, by_engagement))
    results = fetch_together(conn, queries)
    lookup, team, *persons = results[1:] if lock else results
    known = {name: person_from_rows(found) for name, found in zip(names, persons, strict=True)}
    rows = [_TaskRef(*r) for r in lookup]
    if not rows:
        raise NotFoundError(f"no engagement {engagement_id}")
    matches = [r for r in rows if r.task_id is not None]
    if not matches:
        raise NotFoundError(f"engagement {engagement_id} has no open task '{task_ref}'")
    if len(matches) > 1:
        raise NotFoundError(f"'{task_ref}' matches {len(matches)} open tasks; use the task id")
    task = matches[0]
    assert task.task_id is not None and task.bpmn_id is not None  # filtered above
    if task.state != "ready":
        who = f" by {task.completed_by}" if task.completed_by else ""
        raise TaskNotReadyError(f"task {task_ref} ({task.bpmn_id}) was already {task.state}{who}")
    remember_team(session, task.instance_id, team)
    return open_task(session, services, task.definition_id, task), known


def complete_task(
    session: Session,
    services: Services,
    engagement_id: int,
    task_ref: str,
    data: Mapping[str, Any],
    *,
    actor: str,
    on_behalf_of: str | None = None,
    reason: str | None = None,
    expected_version: str | None = None,
    take_over: bool = False,
) -> StepResult:
    """Complete an open task of an engagement with form data, as `actor`.

    Args:
        session: the unit of work.
        services: Baton's services.
        engagement_id: the engagement.
        task_ref: the task id, or the BPMN id of a single open task.
        data: the form data.
        actor: username of who completes it: the claimer (or their cover) of a claimed task;
            else its assignee, their cover, or a member of the lane's role.
        on_behalf_of: complete it for this user (ops leads and admins, with a reason).
        reason: why someone acts on behalf of another (kept in the event).
        expected_version: the engagement version the caller read (see
            `workflows.engagements.versions`); None: no check.
        take_over: complete a task someone else claimed (a member of its role, saying so).

    The decision recorded in the event log is the value of the form's ``*_decision``
    field, when it has one, with its ``*_comment``; the event's detail also names whom the
    actor covered for or acted on behalf of, with the reason.

    Raises:
        PermissionDenied, NotFoundError, StaleVersion, TaskNotReadyError, ConflictError,
        FormValidationError, WorkflowExecutionError; ValueError (acting on behalf without a reason).
    """
    revision = check_version(session, engagement_id, expected_version)
    task, known = _resolve(
        session, services, engagement_id, task_ref, [n for n in (actor, on_behalf_of) if n]
    )
    detail = authorize_completion(
        session, services, task, actor, on_behalf_of=on_behalf_of, reason=reason, known=known,
        take_over=take_over,
    )
    decision, comment = check_approval(session, task, data, detail.get("on_behalf_of") or actor)
    if detail.get("on_behalf_of"):
        audit.record(
            session,
            "acted_on_behalf",
            actor=actor,
            subject=detail["on_behalf_of"],
            at=services.runtime.clock(),
            engagement=engagement_id,
            step=task.bpmn_id,
            reason=detail.get("reason"),
        )
    if decision is not None and comment is not None:
        detail = {**(detail or {}), "comment": comment}  # the decision history shows why
    # what the form submitted stays in the history: the record pages read it there, never from
    # the live task tree (which may be compacted)
    detail = {**(detail or {}), SUBMITTED: copy.deepcopy(dict(data))}
    return services.runtime.complete(
        session,
        task.instance_id,
        task.task_id,
        data,
        actor=actor,
        expected_revision=revision,
        decision=decision,
        detail=detail or None,
    )


def claim_task(
    session: Session, services: Services, engagement_id: int, task_ref: str, *, actor: str
) -> HumanTask:
    """Claim an open task for `actor` (its assignee, their cover, or a member of the lane's role).

    Raises:
        PermissionDenied, NotFoundError, TaskNotReadyError; ConflictError (claimed by someone else).
    """
    task = _locked(session, services, engagement_id, task_ref)
    detail = authorize_claim(session, services, task, actor)
    return task_ops.claim(
        session,
        task.instance_id,
        task.task_id,
        actor,
        now=services.runtime.clock(),
        detail=detail or None,
        log=services.runtime.events,
    )


def unclaim_task(
    session: Session, services: Services, engagement_id: int, task_ref: str, *, actor: str
) -> HumanTask:
    """Release the claim on an open task (the claimer, their cover, an ops lead or an admin).

    Raises:
        PermissionDenied, NotFoundError, TaskNotReadyError; ConflictError (not claimed).
    """
    task = _locked(session, services, engagement_id, task_ref)
    force, detail = authorize_unclaim(session, services, task, actor)
    return task_ops.unclaim(
        session,
        task.instance_id,
        task.task_id,
        actor,
        now=services.runtime.clock(),
        force=force,
        detail=detail or None,
        log=services.runtime.events,
    )


def reassign_task(
    session: Session,
    services: Services,
    engagement_id: int,
    task_ref: str,
    assignee: str | None,
    *,
    actor: str,
    reason: str | None = None,
) -> HumanTask:
    """Give an open task to someone else (ops leads and admins); a claim on it is released.

    Args:
        session: the unit of work.
        services: Baton's services.
        engagement_id: the engagement.
        task_ref: the task id, or the BPMN id of a single open task.
        assignee: the new assignee (active, holding the lane's role), or None for the lane.
        actor: who reassigns it.
        reason: why (kept in the event).

    Raises:
        PermissionDenied, NotFoundError, TaskNotReadyError; ValueError (unfit assignee).
    """
    task = _locked(session, services, engagement_id, task_ref)
    doer = authorize_reassign(session, task, actor, assignee)
    audit.record(
        session,
        "task_reassigned",
        actor=doer.username,
        subject=assignee or task.lane,
        at=services.runtime.clock(),
        engagement=engagement_id,
        step=task.bpmn_id,
        previous=task.claimed_by or task.assignee,
        reason=(reason or "").strip() or None,
    )
    return task_ops.assign(
        session,
        task.instance_id,
        task.task_id,
        assignee,
        actor=doer.username,
        now=services.runtime.clock(),
        reason=(reason or "").strip() or None,
        log=services.runtime.events,
    )


def _locked(session: Session, services: Services, engagement_id: int, task_ref: str) -> OpenTask:
    """`_resolve` under the instance's lock on every database (what is read stays true)."""
    engagement = get_engagement(session, engagement_id)
    task_ops.lock_instance(session, engagement.instance_id)
    return _resolve(session, services, engagement_id, task_ref)[0]
