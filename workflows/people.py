"""People: users and roles, engagement teams, cover while someone is away, and who may act.

Use cases take the unit of work (a session) first and the services second.

Who may do what on an open task (checked here, in the service layer):

* **complete**: when the task is claimed, its claimer or their cover; otherwise its
  assignee, their cover, or any member of the role of the task's lane. So a PM cannot
  complete an AM task, but any AM can pick up an AM task of the pool.
* **claim**: the assignee, their cover, or a member of the lane's role.
* **unclaim**: the claimer, their cover, or an ops lead / admin (releasing someone's claim).
* **reassign**: ops leads and admins only (the roles have no per-lane lead tier); the new
  assignee must be active and hold the lane's role.
* **act on behalf** of someone (complete as them): ops leads and admins, with a reason;
  the person acted for must themselves be allowed to complete the task. The event keeps
  the real actor and records ``on_behalf_of`` and the reason.
* **change a team**: ops leads and admins. **Cover**: the person away, an ops lead or an admin.

Cover dates are whole days in the agency calendar's time zone, both ends included.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session, aliased

from engine import tasks as task_ops
from engine.errors import EngineError, NotFoundError
from engine.fastsql import FastStatement
from engine.models import HumanTask, WorkflowInstance

from .agency import ADMIN, OPS_LEAD, ROLES, TEAM_ROLES
from .assignment import forget_team
from .models import Cover, Engagement, TeamMember, User, UserRole
from .services import Services

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{0,99}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# roles that run the agency's operations: reassign, act on behalf, change teams
OPERATORS = (OPS_LEAD, ADMIN)


class PermissionDenied(EngineError):
    """The acting user may not do this (wrong role, not their task, unknown or inactive user)."""


@dataclass(frozen=True)
class OpenTask:
    """An open task as the access rules see it."""

    instance_id: int
    task_id: str
    bpmn_id: str
    lane: str | None
    role: str | None  # the role working the task (its own, else its lane's; None: unknown)
    assignee: str | None
    claimed_by: str | None
    properties: Mapping[str, str] = field(default_factory=dict)  # the step's BPMN properties
    multi_instance_of: str | None = None  # its multi-instance activity, for one of its instances

    def __str__(self) -> str:
        return f"{self.bpmn_id} ({self.lane or 'no lane'})"


def open_task(session: Session, services: Services, definition_id: int, task: Any) -> OpenTask:
    """The access rules' view of a `human_task` row (or a lookup row with the same fields)."""
    return OpenTask(
        instance_id=task.instance_id,
        task_id=task.task_id,
        bpmn_id=task.bpmn_id,
        lane=task.lane,
        role=getattr(task, "candidate_group", None)
        or services.lanes.role_of(session, definition_id, task.lane),
        assignee=task.assignee,
        claimed_by=task.claimed_by,
        properties=getattr(task, "properties", None) or {},
        multi_instance_of=getattr(task, "multi_instance_of", None),
    )


def today(services: Services) -> date:
    """Today in the agency calendar's time zone."""
    return services.runtime.clock().astimezone(services.calendar.zone).date()


# -- users ---------------------------------------------------------------------------------


def add_user(
    session: Session,
    services: Services,
    username: str,
    *,
    name: str,
    roles: Iterable[str],
    email: str | None = None,
) -> User:
    """Create an active user with one or more roles.

    Raises:
        ValueError: bad username, e-mail or role; no role; the username is taken.
    """
    username = username.strip()
    if not USERNAME.match(username):
        raise ValueError(
            f"'{username}' is not a username: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter"
        )
    wanted = sorted(set(roles))
    if not wanted:
        raise ValueError(f"give {username} at least one role (one of: {', '.join(ROLES)})")
    unknown = [r for r in wanted if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role '{unknown[0]}' (one of: {', '.join(ROLES)})")
    if email is not None and not EMAIL.match(email.strip()):
        raise ValueError(f"'{email}' is not an e-mail address")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValueError(f"there is already a user '{username}'")
    user = User(
        username=username,
        display_name=name.strip() or username,
        email=email.strip() if email else None,
        active=True,
        created_at=services.runtime.clock(),
        roles=[UserRole(role=r) for r in wanted],
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, username: str) -> User:
    """A user by username (raises NotFoundError)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFoundError(f"no user '{username}'")
    return user


def list_users(session: Session, *, role: str | None = None) -> list[User]:
    """Every user (or the holders of `role`), by username."""
    stmt = select(User).order_by(User.username)
    if role is not None:
        stmt = stmt.where(User.roles.any(UserRole.role == role))
    return list(session.scalars(stmt))


def set_user_active(session: Session, services: Services, username: str, active: bool) -> User:
    """Activate or deactivate a user (a deactivated user can do nothing and gets no new task)."""
    user = get_user(session, username)
    user.active = active
    session.flush()
    return user


def member_for(session: Session, username: str, role: str) -> User:
    """A user who can fill `role` on a team: they exist, are active and hold the role.

    Raises:
        NotFoundError: no such user.
        ValueError: the user is inactive or lacks the role.
    """
    user = get_user(session, username)
    if not user.active:
        raise ValueError(f"{username} is not active")
    if not user.has_role(role):
        raise ValueError(f"{username} does not hold the role {role}")
    return user


@dataclass(frozen=True)
class Person:
    """A user as the access rules see them (a plain copy: no session needed)."""

    id: int
    username: str
    active: bool
    roles: frozenset[str]

    def has_role(self, *roles: str) -> bool:
        """True when the person holds any of `roles`."""
        return not self.roles.isdisjoint(roles)


_USER = cast(Table, User.__table__)
_USER_ROLE = cast(Table, UserRole.__table__)
# a user and their roles in one indexed query (checked on every task action)
_PERSON = FastStatement(
    select(_USER.c.id, _USER.c.username, _USER.c.active, _USER_ROLE.c.role)
    .select_from(_USER.outerjoin(_USER_ROLE, _USER_ROLE.c.user_id == _USER.c.id))
    .where(_USER.c.username == bindparam("username"))
)


def person_query(username: str) -> tuple[FastStatement, dict[str, Any]]:
    """The query `find_person` runs, to send along with others (`engine.fastsql.fetch_together`)."""
    return _PERSON, {"username": username}


def person_from_rows(rows: list[tuple[Any, ...]]) -> Person | None:
    """The person in the rows of `person_query` (None: no such user)."""
    if not rows:
        return None
    user_id, name, active, _role = rows[0]
    return Person(user_id, name, bool(active), frozenset(r[3] for r in rows if r[3] is not None))


Known = Mapping[str, Person | None]  # people already looked up, by username


def find_person(session: Session, username: str, known: Known | None = None) -> Person | None:
    """A user with their roles, or None."""
    if known is not None and username in known:
        return known[username]
    stmt, params = person_query(username)
    return person_from_rows(stmt.fetchall(session.connection(), params))


def acting_user(session: Session, username: str | None, known: Known | None = None) -> Person:
    """The active user behind an action (raises PermissionDenied for anyone else)."""
    if not username:
        raise PermissionDenied("say who you are: the action needs a user")
    person = find_person(session, username, known)
    if person is None:
        raise PermissionDenied(f"'{username}' is not a Baton user")
    if not person.active:
        raise PermissionDenied(f"{username} is not active")
    return person


def _require_operator(user: Person, what: str) -> None:
    if not user.has_role(*OPERATORS):
        raise PermissionDenied(f"{user.username} may not {what}: only an ops lead or an admin may")


# -- cover ---------------------------------------------------------------------------------


def add_cover(
    session: Session,
    services: Services,
    username: str,
    *,
    by: str,
    starts_on: date,
    ends_on: date,
    actor: str,
    note: str = "",
) -> Cover:
    """While `username` is away (both dates included), `by` may act on their tasks.

    Raises:
        PermissionDenied: the actor is neither the person away nor an ops lead / admin.
        NotFoundError: no such user.
        ValueError: the dates are reversed, someone covers themselves, or the cover is inactive.
    """
    doer = acting_user(session, actor)
    away = get_user(session, username)
    if doer.id != away.id:
        _require_operator(doer, f"arrange cover for {username}")
    cover = get_user(session, by)
    if cover.id == away.id:
        raise ValueError(f"{username} cannot cover themselves")
    if not cover.active:
        raise ValueError(f"{by} is not active")
    if ends_on < starts_on:
        raise ValueError(f"the cover ends ({ends_on}) before it starts ({starts_on})")
    row = Cover(
        user_id=away.id,
        cover_id=cover.id,
        starts_on=starts_on,
        ends_on=ends_on,
        note=note,
        created_by=doer.username,
        created_at=services.runtime.clock(),
    )
    session.add(row)
    session.flush()
    return row


_AWAY, _COVERING = aliased(User), aliased(User)
# built once: inboxes and access checks ask on every request
_COVERED = (
    select(_AWAY.username)
    .join(Cover, Cover.user_id == _AWAY.id)
    .join(_COVERING, _COVERING.id == Cover.cover_id)
    .where(
        _COVERING.username == bindparam("username"),
        Cover.starts_on <= bindparam("day"),
        Cover.ends_on >= bindparam("day"),
    )
)


def covered_by(session: Session, username: str, day: date) -> set[str]:
    """Whom `username` covers on `day`."""
    return set(session.scalars(_COVERED, {"username": username, "day": day}))


def list_covers(session: Session, *, on: date | None = None) -> list[Cover]:
    """Cover arrangements (those in force on `on`, if given), soonest first."""
    stmt = select(Cover).order_by(Cover.starts_on, Cover.id)
    if on is not None:
        stmt = stmt.where(Cover.starts_on <= on, Cover.ends_on >= on)
    return list(session.scalars(stmt))


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


def change_team(
    session: Session,
    services: Services,
    engagement_id: int,
    *,
    actor: str,
    account_manager: str | None = None,
    project_manager: str | None = None,
    resource_manager: str | None = None,
    reason: str | None = None,
) -> dict[str, tuple[str | None, str]]:
    """Change who is on an engagement's team, mid-flight; open tasks of their lanes follow.

    Returns:
        role -> (previous username, new username), for the roles that changed.

    Raises:
        PermissionDenied: the actor is not an ops lead or an admin.
        NotFoundError: no such engagement or user.
        ValueError: nobody named, or someone named is inactive or lacks the role.
    """
    doer = acting_user(session, actor)
    _require_operator(doer, "change an engagement's team")
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFoundError(f"no engagement {engagement_id}")
    members = team_members(
        session,
        account_manager=account_manager,
        project_manager=project_manager,
        resource_manager=resource_manager,
    )
    if not members:
        raise ValueError("name at least one team member to change")
    return staff(session, services, engagement, members, actor=doer.username, reason=reason)


# -- who may act on a task -----------------------------------------------------------------


def _standing(
    session: Session, services: Services, user: Person, task: OpenTask, *, mind_claim: bool
) -> dict[str, Any] | None:
    """How `user` may work `task` (facts for the event), or None when they may not."""
    holder = task.claimed_by if mind_claim else None
    if holder is not None:
        if holder == user.username:
            return {}
        return (
            {"covering_for": holder}
            if holder in covered_by(session, user.username, today(services))
            else None
        )
    if task.assignee == user.username or (task.role is not None and user.has_role(task.role)):
        return {}
    if task.assignee is not None and task.assignee in covered_by(session, user.username, today(services)):
        return {"covering_for": task.assignee}
    return None


def _refusal(user: Person, task: OpenTask, what: str) -> PermissionDenied:
    if task.claimed_by is not None and what == "complete":
        return PermissionDenied(
            f"{user.username} may not complete {task}: it is claimed by {task.claimed_by}, "
            "and only they or their cover may complete it"
        )
    owner = f"assigned to {task.assignee}" if task.assignee else "not assigned to anyone"
    role = f"members of the role {task.role}" if task.role else "nobody else (the lane has no known role)"
    return PermissionDenied(
        f"{user.username} may not {what} {task}: it is {owner}, and besides its assignee and their "
        f"cover only {role} may"
    )


def authorize_completion(
    session: Session,
    services: Services,
    task: OpenTask,
    actor: str | None,
    *,
    on_behalf_of: str | None = None,
    reason: str | None = None,
    known: Known | None = None,
) -> dict[str, Any]:
    """Check that `actor` may complete `task` (themselves, or for someone else).

    `known` holds people the caller already looked up (saves a query each).

    Returns:
        Facts for the completion event: ``covering_for``, ``on_behalf_of`` and ``reason``.

    Raises:
        PermissionDenied: see the module's rules.
        NotFoundError: the person acted for does not exist.
        ValueError: acting on behalf of someone without a reason.
    """
    doer = acting_user(session, actor, known)
    facts: dict[str, Any] = {}
    principal = doer
    if on_behalf_of is not None and on_behalf_of != doer.username:
        _require_operator(doer, f"act on behalf of {on_behalf_of}")
        if not (reason or "").strip():
            raise ValueError(f"say why you act on behalf of {on_behalf_of}")
        found = find_person(session, on_behalf_of, known)
        if found is None:
            raise NotFoundError(f"no user '{on_behalf_of}'")
        principal = found
        facts = {"on_behalf_of": principal.username, "reason": (reason or "").strip()}
    standing = _standing(session, services, principal, task, mind_claim=True)
    if standing is None:
        raise _refusal(principal, task, "complete")
    return {**standing, **facts}


def authorize_claim(
    session: Session, services: Services, task: OpenTask, actor: str | None
) -> dict[str, Any]:
    """Check that `actor` may claim `task`; returns facts for the event (``covering_for``)."""
    return authorize_work(session, services, task, actor, what="claim")


def authorize_work(
    session: Session, services: Services, task: OpenTask, actor: str | None, *, what: str
) -> dict[str, Any]:
    """Check that `actor` may work on `task` (its assignee, their cover, a lane member).

    Args:
        what: the action, for the refusal message (e.g. "claim", "log effort on").

    Returns:
        Facts for the event (``covering_for``).
    """
    doer = acting_user(session, actor)
    standing = _standing(session, services, doer, task, mind_claim=False)
    if standing is None:
        raise _refusal(doer, task, what)
    return standing


def authorize_unclaim(
    session: Session, services: Services, task: OpenTask, actor: str | None
) -> tuple[bool, dict[str, Any]]:
    """Check that `actor` may release the claim on `task`.

    Returns:
        Whether the claim is someone else's (a forced release), and facts for the event.
    """
    doer = acting_user(session, actor)
    holder = task.claimed_by
    if holder is None or holder == doer.username:
        return False, {}
    if holder in covered_by(session, doer.username, today(services)):
        return True, {"covering_for": holder}
    if doer.has_role(*OPERATORS):
        return True, {}
    raise PermissionDenied(
        f"{doer.username} may not release {task}: it is claimed by {holder} "
        "(only they, their cover, an ops lead or an admin may)"
    )


def authorize_reassign(
    session: Session, services: Services, task: OpenTask, actor: str | None, assignee: str | None
) -> Person:
    """Check that `actor` may give `task` to `assignee`; returns the acting user.

    Raises:
        PermissionDenied: the actor is not an ops lead or an admin.
        NotFoundError: no such assignee.
        ValueError: the assignee is inactive or does not hold the lane's role.
    """
    doer = acting_user(session, actor)
    _require_operator(doer, f"reassign {task}")
    if assignee is not None:
        user = get_user(session, assignee)
        if not user.active:
            raise ValueError(f"{assignee} is not active")
        if task.role is not None and not user.has_role(task.role):
            raise ValueError(f"{assignee} cannot take {task}: the lane is worked by the role {task.role}")
    return doer
