"""Who may do what beyond working a task, and the guarded engagement use cases the API calls.

Who may do what (working a task -- complete, claim, unclaim, reassign, effort -- follows the
rules of `workflows.people`):

* **read** engagements, tasks, definitions and the user directory: any active user;
* **validate and deploy definitions**: ops leads;
* **start an engagement**: account managers, ops leads and admins;
* **cancel an engagement, change its team**: ops leads and admins;
* **manage users** (add them, change roles, activate, set passwords): admins;
* **read reports**: leadership, ops leads and admins.

Optimistic concurrency: an engagement's *version* (`engagement_version`) is its instance's
revision, which every step bumps, and its last event, which every claim, assignment and team
change adds. A caller that read an engagement may make its edit conditional on that version;
a mismatch raises `StaleVersion` and nothing changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from engine.errors import ConflictError, NotFoundError
from engine.fastsql import FastStatement
from engine.models import Event, WorkflowInstance
from engine.runtime import StepResult

from . import people
from .agency import ACCOUNT_MANAGER, ADMIN, LEADERSHIP, OPS_LEAD
from .engagements import cancel_engagement, complete_task, start_engagement, view_engagement
from .models import Engagement
from .people import PermissionDenied, Person, acting_user
from .services import Services

READ = "read"
VALIDATE_DEFINITION = "validate_definition"
DEPLOY_DEFINITION = "deploy_definition"
START_ENGAGEMENT = "start_engagement"
CANCEL_ENGAGEMENT = "cancel_engagement"
CHANGE_TEAM = "change_team"
MANAGE_USERS = "manage_users"
READ_REPORTS = "read_reports"

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
}


class StaleVersion(ConflictError):
    """The engagement changed since the caller read it (its version does not match)."""


class Versioned(NamedTuple):
    """What a guarded edit returns, with the engagement's version after it."""

    value: Any
    version: str


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


# -- versions ------------------------------------------------------------------------------


_INSTANCE = cast(Table, WorkflowInstance.__table__)
_ENGAGEMENT = cast(Table, Engagement.__table__)
_EVENT = cast(Table, Event.__table__)
_LAST_EVENT = (
    select(func.max(_EVENT.c.id)).where(_EVENT.c.instance_id == _INSTANCE.c.id).scalar_subquery()
)  # ix_event_instance (instance_id, id) answers it from the index
_VERSION_QUERY = (
    select(_INSTANCE.c.revision, _LAST_EVENT)
    .select_from(_ENGAGEMENT.join(_INSTANCE, _INSTANCE.c.id == _ENGAGEMENT.c.instance_id))
    .where(_ENGAGEMENT.c.id == bindparam("engagement_id"))
)
_VERSION = FastStatement(_VERSION_QUERY)
# the same under the instance's row lock (PostgreSQL; SQLite writers hold the database lock)
_LOCKED_VERSION = FastStatement(_VERSION_QUERY.with_for_update(of=_INSTANCE))


def engagement_version(session: Session, engagement_id: int) -> str:
    """The engagement's version: ``<instance revision>.<last event id>``.

    Raises:
        NotFoundError: no such engagement.
    """
    return _version(session, engagement_id, _VERSION)


def _version(session: Session, engagement_id: int, query: FastStatement) -> str:
    rows = query.fetchall(session.connection(), {"engagement_id": engagement_id})
    if not rows:
        raise NotFoundError(f"no engagement {engagement_id}")
    revision, event_id = rows[0]
    return f"{revision}.{event_id or 0}"


def _check_version(session: Session, engagement_id: int, expected: str | None) -> int | None:
    """Lock the engagement's instance and compare its version with `expected` (None: no check).

    Returns:
        The instance revision to insist on in a step (None when nothing was expected).

    Raises:
        NotFoundError, StaleVersion.
    """
    if expected is None:
        return None
    current = _version(session, engagement_id, _LOCKED_VERSION)  # what is compared stays true
    if current != expected:
        raise StaleVersion(
            f"engagement {engagement_id} is at version {current}, not {expected}: reload it and try again"
        )
    return int(current.split(".")[0])


# -- guarded engagement use cases ----------------------------------------------------------


def start(
    session: Session,
    services: Services,
    *,
    actor: str,
    client: str,
    name: str,
    process_id: str = "engagement",
    options: Mapping[str, Any] | None = None,
    account_manager: str | None = None,
    project_manager: str | None = None,
    resource_manager: str | None = None,
) -> Versioned:
    """Start an engagement as `actor` (see `workflows.engagements.start_engagement`).

    Returns:
        The engagement's view (`workflows.engagements.view_engagement`) and version.

    Raises:
        PermissionDenied, NotFoundError, ValueError, WorkflowExecutionError.
    """
    doer = authorize(session, actor, START_ENGAGEMENT)
    engagement = start_engagement(
        session,
        services,
        client=client,
        name=name,
        process_id=process_id,
        options=options,
        actor=doer.username,
        account_manager=account_manager,
        project_manager=project_manager,
        resource_manager=resource_manager,
    )
    return Versioned(
        view_engagement(session, services, engagement.id), engagement_version(session, engagement.id)
    )


def cancel(
    session: Session,
    services: Services,
    engagement_id: int,
    *,
    actor: str,
    reason: str,
    expected_version: str | None = None,
) -> Versioned:
    """Cancel a running engagement as `actor` (an ops lead or an admin), if still at `expected_version`.

    Returns:
        The engagement's view and version after it.

    Raises:
        PermissionDenied, NotFoundError, StaleVersion, ConflictError (not running), ValueError (no reason).
    """
    doer = authorize(session, actor, CANCEL_ENGAGEMENT)
    _check_version(session, engagement_id, expected_version)
    cancel_engagement(session, services, engagement_id, actor=doer.username, reason=reason)
    return Versioned(
        view_engagement(session, services, engagement_id), engagement_version(session, engagement_id)
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
    expected_version: str | None = None,
) -> Versioned:
    """Change an engagement's team (see `workflows.people.change_team`), if still at `expected_version`.

    Returns:
        The engagement's view and version after it (its history's ``team_changed`` event
        lists the changes).

    Raises:
        PermissionDenied, NotFoundError, StaleVersion, ValueError.
    """
    authorize(session, actor, CHANGE_TEAM)
    _check_version(session, engagement_id, expected_version)
    changes = people.change_team(
        session,
        services,
        engagement_id,
        actor=actor,
        account_manager=account_manager,
        project_manager=project_manager,
        resource_manager=resource_manager,
        reason=reason,
    )
    del changes  # the history's team_changed event lists them
    return Versioned(
        view_engagement(session, services, engagement_id), engagement_version(session, engagement_id)
    )


def complete(
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
) -> Versioned:
    """Complete a task (see `workflows.engagements.complete_task`), if still at `expected_version`.

    Returns:
        The step's result and the engagement's version after it.

    Raises:
        PermissionDenied, NotFoundError, StaleVersion, TaskNotReadyError, ConflictError,
        FormValidationError, WorkflowExecutionError, ValueError.
    """
    revision = _check_version(session, engagement_id, expected_version)
    result: StepResult = complete_task(
        session,
        services,
        engagement_id,
        task_ref,
        data,
        actor=actor,
        on_behalf_of=on_behalf_of,
        reason=reason,
        expected_revision=revision,
    )
    return Versioned(result, engagement_version(session, engagement_id))
