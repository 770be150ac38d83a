"""Who may do what beyond working a task, checked inside each use case.

* **read** engagements, tasks, definitions and the user directory: any active user;
* **validate and deploy definitions**: ops leads;
* **start an engagement**: account managers, ops leads and admins;
* **cancel an engagement, change its team**: ops leads and admins;
* **manage users** (add them, change roles, activate, set passwords, their tokens): admins;
* **read reports**: leadership, ops leads and admins;
* **move running engagements to another version** (dry run and batch): ops leads and admins;
* **read the audit log**: admins;
* **see the workload board**: ops leads, resource managers and admins;
* **reassign, act on behalf**: ops leads and admins (`require_operator`).

Working a task (complete, claim, unclaim, reassign, log effort) follows the rules of
`workflows.people.task_permissions`. Every refusal names who may do it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import EngineError
from workflows.agency import ACCOUNT_MANAGER, ADMIN, LEADERSHIP, OPS_LEAD, RESOURCE_MANAGER
from workflows.models import User, UserRole
from workflows.people.users import Known, Person, find_person

# roles that run the agency's operations: reassign, act on behalf, change teams
OPERATORS = (OPS_LEAD, ADMIN)


class PermissionDenied(EngineError):
    """The acting user may not do this (wrong role, not their task, unknown or inactive user)."""


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


def require_operator(user: Person, what: str) -> None:
    if not user.has_role(*OPERATORS):
        raise PermissionDenied(f"{user.username} may not {what}: only an ops lead or an admin may")


READ = "read"
VALIDATE_DEFINITION = "validate_definition"
DEPLOY_DEFINITION = "deploy_definition"
START_ENGAGEMENT = "start_engagement"
CANCEL_ENGAGEMENT = "cancel_engagement"
CHANGE_TEAM = "change_team"
MANAGE_USERS = "manage_users"
READ_REPORTS = "read_reports"
MIGRATE_ENGAGEMENTS = "migrate_engagements"
READ_AUDIT = "read_audit"
VIEW_WORKLOAD = "view_workload"

# action -> (the roles allowed, or None for any active user; what the refusal says)
RULES: dict[str, tuple[tuple[str, ...] | None, str]] = {
    READ: (None, "read"),
    VALIDATE_DEFINITION: ((OPS_LEAD,), "validate definitions"),
    DEPLOY_DEFINITION: ((OPS_LEAD,), "deploy definitions"),
    START_ENGAGEMENT: ((ACCOUNT_MANAGER, OPS_LEAD, ADMIN), "start engagements"),
    CANCEL_ENGAGEMENT: ((OPS_LEAD, ADMIN), "cancel engagements"),
    CHANGE_TEAM: ((OPS_LEAD, ADMIN), "change an engagement's team"),
    MANAGE_USERS: ((ADMIN,), "manage users"),
    READ_REPORTS: ((LEADERSHIP, OPS_LEAD, ADMIN), "read reports"),
    MIGRATE_ENGAGEMENTS: ((OPS_LEAD, ADMIN), "move running engagements to another version"),
    READ_AUDIT: ((ADMIN,), "read the audit log"),
    VIEW_WORKLOAD: ((OPS_LEAD, RESOURCE_MANAGER, ADMIN), "see the workload board"),
}


def authorize(session: Session, actor: str | None, action: str) -> Person:
    """Check that `actor` may do `action` (one of `RULES`); returns the acting person.

    Raises:
        PermissionDenied: unknown or inactive user, or none of the roles the action needs.
    """
    roles, what = RULES[action]
    doer = acting_user(session, actor)
    if roles is not None and not doer.has_role(*roles):
        names = [r.replace("_", " ") + "s" for r in roles]
        who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise PermissionDenied(f"{doer.username} may not {what}: only {who} may")
    return doer


def has_admin(session: Session) -> bool:
    """True once the store has an active admin (user administration then names who acts)."""
    admin = session.scalar(
        select(User.username)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == ADMIN, User.active.is_(True))
        .limit(1)
    )
    return admin is not None


def authorize_administration(session: Session, actor: str | None) -> Person | None:
    """Check that `actor` may manage users and their tokens (an admin), or that nobody need.

    Until the store has an active admin, whoever holds the database sets it up from the
    command line without naming anyone (that is how the first admin is made); from then on
    the acting admin is named, as on the pages and the API.

    Returns:
        The acting admin, or None while the store is being set up.

    Raises:
        PermissionDenied: the actor is not an admin; or nobody is named though an admin exists.
    """
    if actor is not None:
        return authorize(session, actor, MANAGE_USERS)
    if has_admin(session):
        raise PermissionDenied(
            "say who you are (--as): this store has an admin, and only admins may manage users"
        )
    return None
