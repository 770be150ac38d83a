"""Engagement teams: who is the AM, PM and resource manager, and open tasks following a change.

Changing a team is an engagement use case (`workflows.engagements.lifecycle.change_team`,
ops leads and admins); this module validates the people named and moves the open tasks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import tasks as task_ops
from engine.models import HumanTask, WorkflowInstance
from workflows.agency import TEAM_ROLES
from workflows.models import Engagement, TeamMember, User
from workflows.people.assignment import forget_team
from workflows.people.users import member_for
from workflows.services import Services

# -- teams ---------------------------------------------------------------------------------


def team_of(session: Session, engagement_id: int) -> dict[str, str]:
    """An engagement's team: role -> username."""
    rows = session.execute(
        select(TeamMember.role, User.username)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.engagement_id == engagement_id)
    )
    return {role: username for role, username in rows}


def team_members(
    session: Session,
    *,
    account_manager: str | None = None,
    project_manager: str | None = None,
    resource_manager: str | None = None,
) -> dict[str, User]:
    """Validate the people named for a team (see `member_for`); role -> user."""
    named = zip(TEAM_ROLES, (account_manager, project_manager, resource_manager), strict=True)
    return {role: member_for(session, username, role) for role, username in named if username}


def staff(
    session: Session,
    services: Services,
    engagement: Engagement,
    members: Mapping[str, User],
    *,
    actor: str | None,
    reason: str | None = None,
) -> dict[str, tuple[str | None, str]]:
    """Put people on an engagement's team; open tasks of their lanes follow them.

    An open task follows when it was assigned to the member being replaced, or to nobody;
    a task someone reassigned by hand stays where it is. The leaving member's claims are
    released; a claim by anyone else stays. One ``team_changed`` event lists
    the changes; each moved task gets its ``task_assigned`` event.

    Returns:
        role -> (previous username, new username), for the roles that changed.
    """
    task_ops.lock_instance(session, engagement.instance_id)  # steps and claims wait for the change
    now = services.runtime.clock()
    changes: dict[str, tuple[str | None, str]] = {}
    for role, user in members.items():
        row = session.get(TeamMember, (engagement.id, role))
        if row is not None and row.user_id == user.id:
            continue
        changes[role] = (row.user.username if row is not None else None, user.username)
        if row is None:
            session.add(TeamMember(engagement_id=engagement.id, role=role, user_id=user.id, since=now))
        else:
            row.user_id, row.since = user.id, now
    if not changes:
        return changes
    session.flush()
    detail: dict[str, Any] = {
        "changes": {role: {"from": old, "to": new} for role, (old, new) in changes.items()}
    }
    if reason:
        detail["reason"] = reason
    forget_team(session, engagement.instance_id)
    task_ops.record_event(
        session,
        engagement.instance_id,
        "team_changed",
        actor=actor,
        detail=detail,
        now=now,
        log=services.runtime.events,
    )
    _follow_team(session, services, engagement, changes, actor=actor, reason=reason)
    return changes


def _follow_team(
    session: Session,
    services: Services,
    engagement: Engagement,
    changes: Mapping[str, tuple[str | None, str]],
    *,
    actor: str | None,
    reason: str | None,
) -> None:
    definition_id = session.scalar(
        select(WorkflowInstance.definition_id).where(WorkflowInstance.id == engagement.instance_id)
    )
    assert definition_id is not None  # the foreign key guarantees it
    open_tasks = session.execute(
        select(HumanTask.task_id, HumanTask.lane, HumanTask.assignee, HumanTask.claimed_by)
        .where(HumanTask.instance_id == engagement.instance_id, HumanTask.state == "ready")
        .order_by(HumanTask.id)
    ).all()
    for task_id, lane, assignee, claimed_by in open_tasks:
        role = services.lanes.role_of(session, definition_id, lane)
        if role is None or role not in changes:
            continue
        old, new = changes[role]
        if assignee is None or assignee == old:
            task_ops.assign(
                session,
                engagement.instance_id,
                task_id,
                new,
                actor=actor,
                now=services.runtime.clock(),
                reason=reason or f"the engagement's {role.replace('_', ' ')} is now {new}",
                keep_claim=claimed_by not in (None, old),  # someone else works on it: let them
                log=services.runtime.events,
            )
