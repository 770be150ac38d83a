"""Lists of open tasks and engagements, as the board, the inbox and `baton tasks` show them.

Every list names who reads it (any active user may read; `workflows.people.permissions`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.models import HumanTask, WorkflowInstance
from workflows.models import Engagement
from workflows.people.covers import covered_by, today
from workflows.people.permissions import READ, acting_user, authorize
from workflows.services import Services


def list_open_tasks(
    session: Session,
    *,
    actor: str,
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
        actor: who reads the list (any active user).
        lane: only this lane.
        engagement_id: only this engagement.
        holders: only tasks assigned to or claimed by one of these usernames.
        roles: only tasks that members of one of these roles may work (their candidate group:
            the lane's role, or the role an approval instance went to).
        unclaimed: only tasks nobody has claimed.
        limit: at most this many.

    Raises:
        PermissionDenied: the reader is unknown or inactive.
    """
    authorize(session, actor, READ)
    return _open_tasks(
        session,
        lane=lane,
        engagement_id=engagement_id,
        holders=holders,
        roles=roles,
        unclaimed=unclaimed,
        limit=limit,
    )


def _open_tasks(
    session: Session,
    *,
    lane: str | None = None,
    engagement_id: int | None = None,
    holders: Iterable[str] | None = None,
    roles: Iterable[str] | None = None,
    unclaimed: bool = False,
    limit: int = 200,
) -> list[tuple[HumanTask, Engagement]]:
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
    session: Session, username: str, *, limit: int = 200
) -> list[tuple[HumanTask, Engagement]]:
    """Unclaimed open tasks that `username`'s roles may work (their lanes' pool), soonest due first.

    Raises:
        PermissionDenied: no such active user.
    """
    user = acting_user(session, username)
    return _open_tasks(session, roles=user.roles, unclaimed=True, limit=limit)


def my_tasks(
    session: Session, services: Services, username: str, *, actor: str | None = None, limit: int = 200
) -> list[tuple[HumanTask, Engagement]]:
    """The open tasks `username` holds, and those of the people they cover today.

    Args:
        session: the unit of work.
        services: Baton's services.
        username: whose tasks.
        actor: who reads them (default: `username` themselves); any active user may.
        limit: at most this many.

    Raises:
        PermissionDenied: the reader is unknown or inactive.
    """
    if actor is not None:
        authorize(session, actor, READ)
    holders = {username, *covered_by(session, username, today(services))}
    return _open_tasks(session, holders=holders, limit=limit)


def list_engagements(
    session: Session, *, actor: str, limit: int = 200
) -> list[tuple[Engagement, WorkflowInstance]]:
    """Engagements with their instance rows, newest first (any active user reads them).

    Raises:
        PermissionDenied: the reader is unknown or inactive.
    """
    authorize(session, actor, READ)
    stmt = (
        select(Engagement, WorkflowInstance)
        .join(WorkflowInstance, WorkflowInstance.id == Engagement.instance_id)
        .order_by(Engagement.id.desc())
        .limit(limit)
    )
    return [(e, i) for e, i in session.execute(stmt)]
