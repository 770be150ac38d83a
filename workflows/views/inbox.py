"""What people look at: engagement lists with filters, task inboxes, one task with its form, pages.

Reads only (any active user may read, see `workflows.people.permissions`); every list is paginated and
answered from the projections (`human_task`, `engagement`, `workflow_instance`) by indexed
queries -- no workflow is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, String, bindparam, cast, exists, or_, select, union
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.models import DefinitionVersion, HumanTask, WorkflowInstance
from workflows.agency import ADMIN, LEADERSHIP, OPS_LEAD, STAGES
from workflows.engagements.lifecycle import EngagementView, get_engagement, view_engagement
from workflows.engagements.tasks import find_open_task
from workflows.engagements.versions import engagement_version
from workflows.models import Engagement, TeamMember, User
from workflows.people.covers import covered_by, today
from workflows.people.permissions import OPERATORS, READ, PermissionDenied, acting_user, authorize
from workflows.people.task_permissions import authorize_completion, open_task
from workflows.people.users import list_users
from workflows.services import Services

T = TypeVar("T")
MAX_PER_PAGE = 200
MAX_PAGE = 10_000  # offsets beyond this are refused: filter instead
STATUSES = ("running", "completed", "cancelled")
VIEWS = ("mine", "lanes", "overdue", "all")
# roles that oversee every lane: their overdue view is the whole agency's
OVERSEERS = (OPS_LEAD, LEADERSHIP, ADMIN)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `has_more` says whether a next page has anything."""

    items: list[T]
    page: int
    per_page: int
    has_more: bool


def _check_page(page: int, per_page: int) -> None:
    if not 1 <= page <= MAX_PAGE:
        raise ValueError(f"page must be between 1 and {MAX_PAGE}")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")


def _paged(session: Session, stmt: Select[*tuple[Any, ...]], page: int, per_page: int) -> Page[Any]:
    """Run `stmt` for one page: one row more than asked tells whether another page follows."""
    rows = [tuple(r) for r in session.execute(stmt.limit(per_page + 1).offset((page - 1) * per_page))]
    return Page(rows[:per_page], page, per_page, len(rows) > per_page)


# -- engagements ---------------------------------------------------------------------------


def search_engagements(
    session: Session,
    *,
    actor: str,
    status: str | None = None,
    stage: str | None = None,
    client: str | None = None,
    member: str | None = None,
    process_id: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[tuple[Engagement, WorkflowInstance]]:
    """Engagements with their instance rows, newest first, filtered.

    Args:
        session: the unit of work.
        services: Baton's services.
        actor: who reads.
        status: running, completed or cancelled.
        stage: only engagements in this stage now.
        client: only clients whose name contains this (any case).
        member: only engagements whose team has this username.
        process_id: only engagements of this definition.
        page: 1 for the first page.
        per_page: at most `MAX_PER_PAGE`.

    Raises:
        PermissionDenied: unknown or inactive actor.
        ValueError: an unknown status or stage, or a page out of range.
    """
    authorize(session, actor, READ)
    _check_page(page, per_page)
    stmt = (
        select(Engagement, WorkflowInstance)
        .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
        .order_by(Engagement.id.desc())
    )
    if status is not None:
        if status not in STATUSES:
            raise ValueError(f"unknown status '{status}' (one of: {', '.join(STATUSES)})")
        stmt = stmt.where(WorkflowInstance.status == status)
    if stage is not None:
        if stage not in STAGES:
            raise ValueError(f"unknown stage '{stage}' (one of: {', '.join(STAGES)})")
        # the stages are a JSON list of known words: a text match is exact and portable
        stmt = stmt.where(cast(WorkflowInstance.active_stages, String).like(f'%"{stage}"%'))
    if client:
        pattern = client.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Engagement.client.ilike(f"%{pattern}%", escape="\\"))
    if member:
        stmt = stmt.where(
            exists(
                select(TeamMember.engagement_id)
                .join(User, User.id == TeamMember.user_id)
                .where(TeamMember.engagement_id == Engagement.id, User.username == member)
            )
        )
    if process_id:
        stmt = stmt.where(Engagement.process_id == process_id)
    return _paged(session, stmt, page, per_page)


def engagement_detail(
    session: Session, services: Services, engagement_id: int, *, actor: str
) -> tuple[EngagementView, str]:
    """An engagement's stage, team, open tasks, decisions and history, with its version.

    Raises:
        PermissionDenied, NotFoundError.
    """
    authorize(session, actor, READ)
    view = view_engagement(session, services, engagement_id)
    return view, engagement_version(session, engagement_id)


# -- tasks ---------------------------------------------------------------------------------


def lanes_of_roles(session: Session, services: Services, roles: frozenset[str]) -> list[str]:
    """The lanes (by name, over every deployed version) worked by any of `roles`."""
    names: set[str] = set()
    for definition_id in session.scalars(select(DefinitionVersion.id)):
        lane_roles = services.lanes.roles(session, definition_id)
        names.update(lane for lane, role in lane_roles.items() if role in roles)
    return sorted(names)


def inbox(
    session: Session,
    services: Services,
    *,
    actor: str,
    view: str = "mine",
    engagement_id: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> Page[tuple[HumanTask, Engagement]]:
    """Open tasks for `actor`, soonest due first.

    Args:
        session: the unit of work.
        services: Baton's services.
        actor: whose inbox.
        view: ``mine`` (assigned to or claimed by them, or by whom they cover today),
            ``lanes`` (the pools of the lanes their roles work), ``overdue`` (past due, among
            theirs and their lanes'; the whole agency's for ops leads, leadership and admins)
            or ``all``.
        engagement_id: only this engagement's tasks.
        page: 1 for the first page.
        per_page: at most `MAX_PER_PAGE`.

    Raises:
        PermissionDenied, ValueError (unknown view, page out of range).
    """
    doer = authorize(session, actor, READ)
    _check_page(page, per_page)
    if view not in VIEWS:
        raise ValueError(f"unknown view '{view}' (one of: {', '.join(VIEWS)})")
    stmt = (
        select(HumanTask, Engagement)
        .join(Engagement, Engagement.instance_id == HumanTask.instance_id)
        .where(HumanTask.state == "ready")
        .order_by(HumanTask.due_at, HumanTask.id)
    )
    if engagement_id is not None:
        stmt = stmt.where(Engagement.id == engagement_id)
    if view in ("mine", "overdue"):
        holders = sorted({doer.username, *covered_by(session, doer.username, today(services))})
        mine = or_(HumanTask.assignee.in_(holders), HumanTask.claimed_by.in_(holders))
    if view in ("lanes", "overdue"):
        lanes = HumanTask.lane.in_(lanes_of_roles(session, services, doer.roles))
    if view == "mine" and engagement_id is None:
        offset = (page - 1) * per_page
        params = {"holders": holders, "reach": offset + per_page + 1, "limit": per_page + 1, "offset": offset}
        rows: list[Any] = [tuple(r) for r in session.execute(_MY_PAGE, params)]
        return Page(rows[:per_page], page, per_page, len(rows) > per_page)
    if view == "mine":
        stmt = stmt.where(mine)
    elif view == "lanes":
        stmt = stmt.where(lanes)
    elif view == "overdue":
        stmt = stmt.where(HumanTask.due_at < services.runtime.clock())
        if not doer.has_role(*OVERSEERS):
            stmt = stmt.where(or_(mine, lanes))
    return _paged(session, stmt, page, per_page)


def held_by(holders: Any, *, reach: Any) -> Any:
    """Ids of the first `reach` open tasks assigned to, and of those claimed by, `holders`.

    Each half walks its own index (state, assignee | claimed_by, due_at) in order and stops
    early, where one query with an OR would fetch and sort every task the person holds.

    Args:
        holders: usernames (a list, or an expanding bind parameter).
        reach: how many of each half (an int, or a bind parameter).
    """
    halves = [
        select(HumanTask.id, HumanTask.due_at)
        .where(HumanTask.state == "ready", column.in_(holders))
        .order_by(HumanTask.due_at, HumanTask.id)
        .limit(reach)
        .subquery()
        for column in (HumanTask.assignee, HumanTask.claimed_by)
    ]
    return union(*(select(half.c.id) for half in halves))


# a page of "mine", built once (its values are parameters): the statement is not rebuilt per call
_MY_PAGE = (
    select(HumanTask, Engagement)
    .join(Engagement, Engagement.instance_id == HumanTask.instance_id)
    .where(
        HumanTask.state == "ready",
        HumanTask.id.in_(held_by(bindparam("holders", expanding=True), reach=bindparam("reach"))),
    )
    .order_by(HumanTask.due_at, HumanTask.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)


@dataclass(frozen=True)
class TaskDetail:
    """A task with its engagement, the JSON Schema of its form, and the engagement's version."""

    task: HumanTask
    engagement: Engagement
    form_schema: dict[str, Any] | None
    version: str
    # for an ops lead or admin: whom they may complete the open task for (its holder first)
    stand_ins: list[str] = field(default_factory=list)
    may_complete: bool = True  # whether the reader may complete it as themselves
    # the claimer the reader may take the task over from (a member of its role; None: no take-over)
    take_over_from: str | None = None


def task_detail(
    session: Session, services: Services, engagement_id: int, task_ref: str, *, actor: str
) -> TaskDetail:
    """One task of an engagement (open or not) by task id, or an open one by BPMN id.

    Raises:
        PermissionDenied, NotFoundError.
    """
    authorize(session, actor, READ)
    engagement = get_engagement(session, engagement_id)
    task = session.scalar(
        select(HumanTask).where(
            HumanTask.instance_id == engagement.instance_id, HumanTask.task_id == task_ref
        )
    )
    if task is None:
        task = find_open_task(session, engagement, task_ref)
    definition_id = session.scalar(
        select(WorkflowInstance.definition_id).where(WorkflowInstance.id == engagement.instance_id)
    )
    if definition_id is None:
        raise NotFoundError(f"no engagement {engagement_id}")
    forms = services.definitions.info(session, definition_id).forms
    schema = forms.get(task.form) if task.form else None
    stand_ins, may_complete, take_over_from = (
        _who_may_complete(session, services, task, definition_id, actor)
        if task.state == "ready"
        else ([], False, None)
    )
    return TaskDetail(
        task,
        engagement,
        schema,
        engagement_version(session, engagement_id),
        stand_ins,
        may_complete,
        take_over_from,
    )


def _who_may_complete(
    session: Session, services: Services, task: HumanTask, definition_id: int, actor: str
) -> tuple[list[str], bool, str | None]:
    """Whom an ops lead or admin may complete `task` for, whether `actor` may do it themselves,
    and whose claim they may take it over from."""
    rules = open_task(session, services, definition_id, task)
    reader = acting_user(session, actor)
    try:
        authorize_completion(session, services, rules, actor, known={actor: reader})
        may_complete = True
    except PermissionDenied:
        may_complete = False
    take_over_from = None
    if not may_complete and task.claimed_by is not None:
        try:
            authorize_completion(session, services, rules, actor, known={actor: reader}, take_over=True)
            take_over_from = task.claimed_by
        except PermissionDenied:
            pass
    if not reader.has_role(*OPERATORS):
        return [], may_complete, take_over_from
    # the person holding the step, then whoever else may work it (the lane's role)
    holders = [h for h in (task.claimed_by or task.assignee,) if h]
    if task.claimed_by is None and rules.role is not None:
        holders += [u.username for u in list_users(session, role=rules.role) if u.active]
    return [h for h in dict.fromkeys(holders) if h != actor], may_complete, take_over_from
