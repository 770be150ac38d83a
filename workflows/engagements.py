"""Engagement use cases: deploy the agency's definitions, start, work and inspect engagements.

Every function takes the unit of work (a session) first and the services second. Working a
task (complete, claim, unclaim, reassign) names the acting user, whose right to do it is
checked by the rules of `workflows.people`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, or_, select
from sqlalchemy.orm import Session

from engine import tasks as task_ops
from engine.definitions import element_id, read_forms_dir
from engine.errors import NotFoundError, TaskNotReadyError
from engine.fastsql import FastStatement, fetch_together
from engine.models import DefinitionVersion, Event, HumanTask, WorkflowInstance
from engine.runtime import StepResult

from . import people
from .approvals import Decision, approval_steps, check_approval, decisions_from
from .assignment import TEAM_OF_ENGAGEMENT, remember_team
from .clocks import ClockSplit, clock_split
from .models import Engagement
from .people import OpenTask
from .services import Services


@dataclass
class EngagementView:
    """An engagement with its instance, version, open tasks and history."""

    engagement: Engagement
    instance: WorkflowInstance
    definition: DefinitionVersion
    open_tasks: list[HumanTask]
    history: list[Event]
    team: dict[str, str] = field(default_factory=dict)  # role -> username
    approval_steps: set[str] = field(default_factory=set)  # BPMN ids of the approval steps
    time: ClockSplit | None = None  # business hours so far: the agency's and the client's
    step_names: dict[str, str] = field(default_factory=dict)  # BPMN id -> the name in the diagram

    def step_name(self, bpmn_id: str | None) -> str:
        """What people call a step: its name in the diagram (its BPMN id when it has none)."""
        return self.step_names.get(bpmn_id or "", bpmn_id or "")

    @property
    def stages(self) -> list[str]:
        """The stage(s) the engagement is in now."""
        return list(self.instance.active_stages or [])

    @property
    def decisions(self) -> list[Decision]:
        """Every recorded decision (sign-offs, approvals, QC, client feedback), oldest first."""
        return decisions_from(self.history, self.approval_steps)

    @property
    def approvals(self) -> list[Decision]:
        """The approval history: decisions taken at the definition's approval steps."""
        return [d for d in self.decisions if d.approval]


def deploy_file(
    session: Session, services: Services, path: str | Path, *, note: str = "", actor: str | None = None
) -> tuple[DefinitionVersion, bool]:
    """Deploy one BPMN file with the forms of the definitions folder beside it.

    Returns:
        The version, and whether it is new (identical content returns the existing one).
    """
    bpmn = Path(path)
    forms = read_forms_dir(bpmn.parent / "forms")
    return services.definitions.deploy(
        session, bpmn.read_bytes(), forms, note=note, actor=actor, filename=bpmn.name
    )


def deploy_all(
    session: Session, services: Services, *, note: str = "", actor: str | None = None
) -> list[tuple[DefinitionVersion, bool]]:
    """Deploy every ``*.bpmn`` of the definitions folder."""
    return [
        deploy_file(session, services, p, note=note, actor=actor)
        for p in sorted(services.definitions_dir.glob("*.bpmn"))
    ]


def start_engagement(
    session: Session,
    services: Services,
    *,
    client: str,
    name: str,
    process_id: str = "engagement",
    options: Mapping[str, Any] | None = None,
    actor: str | None = None,
    account_manager: str | None = None,
    project_manager: str | None = None,
    resource_manager: str | None = None,
) -> Engagement:
    """Start an engagement on the latest deployed version of `process_id`, with its team.

    Each ready task goes to the team member holding its lane's role. A role left empty can
    be filled later (`people.change_team`); meanwhile its tasks wait in their lane for any
    member of the role.

    Args:
        session: the unit of work.
        services: Baton's services.
        client: the client's name.
        name: the engagement's name.
        process_id: the definition to run.
        options: the definition's options (see definitions/README.md).
        actor: who starts it.
        account_manager: username of the engagement's AM (active, holding the role).
        project_manager: username of its PM.
        resource_manager: username of its resource manager, if it has one.

    Raises:
        ValueError: client or name is blank; a team member is inactive or lacks the role.
        NotFoundError: the definition is not deployed; a team member does not exist.
    """
    client, name = client.strip(), name.strip()
    if not client or not name:
        raise ValueError("an engagement needs a client and a name")
    members = people.team_members(
        session,
        account_manager=account_manager,
        project_manager=project_manager,
        resource_manager=resource_manager,
    )
    opts = dict(options or {})
    start_data = {"options": opts, "client": client, "engagement_name": name}
    result = services.runtime.start(session, process_id, start_data, actor=actor)
    engagement = Engagement(
        instance_id=result.instance_id,
        client=client,
        name=name,
        process_id=process_id,
        options=opts,
        created_by=actor,
        created_at=services.runtime.clock(),
    )
    session.add(engagement)
    session.flush()
    if members:
        people.staff(session, services, engagement, members, actor=actor)
    return engagement


def get_engagement(session: Session, engagement_id: int) -> Engagement:
    """An engagement by id (raises NotFoundError)."""
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFoundError(f"no engagement {engagement_id}")
    return engagement


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
) -> tuple[OpenTask, people.Known]:
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
        *(people.person_query(name) for name in names),
    ]
    lock = conn.dialect.name == "postgresql"
    if lock:
        queries.insert(0, (_LOCK_INSTANCE, by_engagement))
    results = fetch_together(conn, queries)
    lookup, team, *persons = results[1:] if lock else results
    known = {name: people.person_from_rows(found) for name, found in zip(names, persons, strict=True)}
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
    return people.open_task(session, services, task.definition_id, task), known


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
    expected_revision: int | None = None,
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
        expected_revision: optimistic check against the instance revision.

    The decision recorded in the event log is the value of the form's ``*_decision``
    field, when it has one, with its ``*_comment``; the event's detail also names whom the
    actor covered for or acted on behalf of, with the reason.

    Raises:
        PermissionDenied, NotFoundError, TaskNotReadyError, ConflictError, FormValidationError,
        WorkflowExecutionError; ValueError (acting on behalf without a reason).
    """
    task, known = _resolve(
        session, services, engagement_id, task_ref, [n for n in (actor, on_behalf_of) if n]
    )
    detail = people.authorize_completion(
        session, services, task, actor, on_behalf_of=on_behalf_of, reason=reason, known=known
    )
    decision, comment = check_approval(session, task, data, detail.get("on_behalf_of") or actor)
    if decision is not None and comment is not None:
        detail = {**(detail or {}), "comment": comment}  # the decision history shows why
    return services.runtime.complete(
        session,
        task.instance_id,
        task.task_id,
        data,
        actor=actor,
        expected_revision=expected_revision,
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
    detail = people.authorize_claim(session, services, task, actor)
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
    force, detail = people.authorize_unclaim(session, services, task, actor)
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
    doer = people.authorize_reassign(session, services, task, actor, assignee)
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


def cancel_engagement(
    session: Session, services: Services, engagement_id: int, *, actor: str | None = None, reason: str = ""
) -> StepResult:
    """Cancel a running engagement: its open tasks are withdrawn and the reason logged.

    Raises:
        NotFoundError: no such engagement.
        ConflictError: the engagement is not running.
        ValueError: no reason given.
    """
    if not reason.strip():
        raise ValueError("say why the engagement is cancelled")
    engagement = get_engagement(session, engagement_id)
    return services.runtime.cancel(session, engagement.instance_id, actor=actor, reason=reason.strip())


def view_engagement(session: Session, services: Services, engagement_id: int) -> EngagementView:
    """Everything the engagement page and `baton show` display (no workflow is loaded)."""
    engagement = get_engagement(session, engagement_id)
    instance = session.get(WorkflowInstance, engagement.instance_id)
    assert instance is not None  # the foreign key guarantees it
    definition = services.definitions.get(session, instance.definition_id)  # the row: note, deployer...
    task_specs = _task_specs(services.definitions.spec_for(definition))
    return EngagementView(
        engagement=engagement,
        instance=instance,
        definition=definition,
        open_tasks=services.runtime.ready_tasks(session, instance.id),
        history=services.runtime.history(session, instance.id),
        team=people.team_of(session, engagement.id),
        approval_steps=approval_steps(task_specs),
        time=clock_split(
            session,
            services.calendar,
            instance.id,
            instance.started_at,
            instance.ended_at or services.runtime.clock(),
        ),
        step_names={element_id(ts): ts.bpmn_name for ts in task_specs if getattr(ts, "bpmn_name", None)},
    )


def _task_specs(specs: tuple[Any, dict[str, Any]]) -> list[Any]:
    spec, subprocesses = specs
    return [ts for s in (spec, *subprocesses.values()) for ts in s.task_specs.values()]


def list_open_tasks(
    session: Session,
    *,
    lane: str | None = None,
    engagement_id: int | None = None,
    holders: Iterable[str] | None = None,
    roles: Iterable[str] | None = None,
    unclaimed: bool = False,
    limit: int = 200,
) -> list[tuple[HumanTask, Engagement]]:
    """Open tasks with their engagements, soonest due first (an indexed projection query).

    Args:
        session: the unit of work.
        lane: only this lane.
        engagement_id: only this engagement.
        holders: only tasks assigned to or claimed by one of these usernames.
        roles: only tasks that members of one of these roles may work (their candidate group:
            the lane's role, or the role an approval instance went to).
        unclaimed: only tasks nobody has claimed.
        limit: at most this many.
    """
    stmt = (
        select(HumanTask, Engagement)
        .join(Engagement, Engagement.instance_id == HumanTask.instance_id)
        .where(HumanTask.state == "ready")
        .order_by(HumanTask.due_at, HumanTask.id)
        .limit(limit)
    )
    if lane is not None:
        stmt = stmt.where(HumanTask.lane == lane)
    if engagement_id is not None:
        stmt = stmt.where(Engagement.id == engagement_id)
    if holders is not None:
        names = sorted(set(holders))
        stmt = stmt.where(or_(HumanTask.assignee.in_(names), HumanTask.claimed_by.in_(names)))
    if roles is not None:
        stmt = stmt.where(HumanTask.candidate_group.in_(sorted(set(roles))))
    if unclaimed:
        stmt = stmt.where(HumanTask.claimed_by.is_(None))
    return [(t, e) for t, e in session.execute(stmt)]


def pool_tasks(
    session: Session, services: Services, username: str, *, limit: int = 200
) -> list[tuple[HumanTask, Engagement]]:
    """Unclaimed open tasks that `username`'s roles may work (their lanes' pool), soonest due first.

    Raises:
        PermissionDenied: no such active user.
    """
    user = people.acting_user(session, username)
    return list_open_tasks(session, roles=user.roles, unclaimed=True, limit=limit)


def my_tasks(
    session: Session, services: Services, username: str, *, limit: int = 200
) -> list[tuple[HumanTask, Engagement]]:
    """The open tasks `username` holds, and those of the people they cover today."""
    holders = {username, *people.covered_by(session, username, people.today(services))}
    return list_open_tasks(session, holders=holders, limit=limit)


def list_engagements(session: Session, *, limit: int = 200) -> list[tuple[Engagement, WorkflowInstance]]:
    """Engagements with their instance rows, newest first."""
    stmt = (
        select(Engagement, WorkflowInstance)
        .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
        .order_by(Engagement.id.desc())
        .limit(limit)
    )
    return [(e, i) for e, i in session.execute(stmt)]
