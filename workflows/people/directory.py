"""The user directory as the API serves it: everyone reads it, admins change it.

Every change names the acting admin (`authorize_administration`: nobody need be named while
a new store has no admin yet), and an admin cannot lock themselves out (deactivate themselves
or drop their own admin role). The pages, the API and ``baton users`` call these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from workflows.agency import ADMIN, ROLES
from workflows.models import User, UserRole
from workflows.people import audit
from workflows.people.auth import check_password_rules, end_access, hash_password
from workflows.people.permissions import READ, authorize, authorize_administration
from workflows.people.profile import check_capacity, check_rate_role, check_time_zone
from workflows.people.users import EMAIL, add_user, get_user, list_users
from workflows.services import Services


def whoami(session: Session, *, actor: str) -> User:
    """The acting user's own record."""
    doer = authorize(session, actor, READ)
    return get_user(session, doer.username)


def directory(session: Session, *, actor: str, role: str | None = None) -> list[User]:
    """Every user (or the holders of `role`), by username."""
    authorize(session, actor, READ)
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role '{role}' (one of: {', '.join(ROLES)})")
    return list_users(session, role=role)


def search_people(
    session: Session,
    *,
    actor: str,
    text: str = "",
    role: str | None = None,
    status: str | None = None,
) -> list[User]:
    """The directory narrowed by a text in the username, name or e-mail, a role and a status.

    Args:
        session: the unit of work.
        actor: who asks (any active user reads the directory).
        text: matched anywhere in the username, display name or e-mail, ignoring case.
        role: only holders of this role.
        status: ``active``, ``inactive`` or None for both.

    Raises:
        PermissionDenied: unknown or inactive actor.
        ValueError: an unknown role or status.
    """
    if status not in (None, "active", "inactive"):
        raise ValueError(f"unknown status '{status}' (active or inactive)")
    people = directory(session, actor=actor, role=role)
    needle = text.strip().lower()
    return [
        u
        for u in people
        if (status is None or u.active == (status == "active"))
        and (not needle or any(needle in (v or "").lower() for v in (u.username, u.display_name, u.email)))
    ]


def person(session: Session, username: str, *, actor: str) -> User:
    """One user (raises NotFoundError)."""
    authorize(session, actor, READ)
    return get_user(session, username)


def create_user(
    session: Session,
    services: Services,
    username: str,
    *,
    actor: str | None,
    name: str,
    roles: Iterable[str],
    email: str | None = None,
    password: str | None = None,
    time_zone: str = "",
    weekly_capacity_hours: float | str = "",
    rate_role: str = "",
) -> User:
    """Add a user as an admin, optionally with a first password, a time zone, a weekly capacity
    and a rate role (empty: the defaults).

    Raises:
        PermissionDenied: the actor is not an admin (see `authorize_administration`).
        ValueError: see `workflows.people.users.add_user`; the password breaks the rules; a bad
            time zone, capacity or rate role.
    """
    doer = authorize_administration(session, actor)
    if password is not None:
        check_password_rules(username, password)
    zone, hours = check_time_zone(time_zone), check_capacity(weekly_capacity_hours)
    rate = check_rate_role(rate_role)
    user = add_user(session, services, username, name=name, roles=roles, email=email)
    user.time_zone, user.weekly_capacity_hours, user.rate_role = zone, hours, rate
    if password is not None:
        user.password_hash = hash_password(password)
        session.flush()
    audit.record(
        session,
        "user_created",
        actor=doer.username if doer is not None else None,
        subject=user.username,
        at=user.created_at,
        roles=sorted(user.role_names),
        password="set" if password is not None else None,
    )
    return user


def update_user(
    session: Session,
    username: str,
    *,
    actor: str | None,
    name: str | None = None,
    email: str | None = None,
    roles: Iterable[str] | None = None,
    active: bool | None = None,
    at: datetime | None = None,
    time_zone: str | None = None,
    weekly_capacity_hours: float | str | None = None,
    rate_role: str | None = None,
) -> User:
    """Change a user's name, e-mail, roles, activation, time zone, weekly capacity or rate role,
    as an admin (None: unchanged; an empty time zone, capacity or rate role: back to the default).

    Each change that matters to access (roles, activation) and the rest as one entry go to
    the audit log.

    Deactivating a user revokes their API tokens and ends their browser sessions, at `at` (the
    clock's now; wall-clock time when not given); reactivating them revives none of it.

    Raises:
        PermissionDenied: the actor is not an admin.
        NotFoundError: no such user.
        ValueError: a bad e-mail, role, time zone, capacity or rate role; no role left; or an
            admin locking themselves out.
    """
    doer = authorize_administration(session, actor)
    user = get_user(session, username)
    who = doer.username if doer is not None else None
    before = {
        "name": user.display_name,
        "email": user.email,
        "time zone": user.time_zone,
        "weekly capacity": user.weekly_capacity_hours,
        "rate role": user.rate_role,
    }
    old_roles = sorted(user.role_names)
    if name is not None:
        if not name.strip():
            raise ValueError("a name cannot be blank")
        user.display_name = name.strip()
    if email is not None:
        if email.strip() and not EMAIL.match(email.strip()):
            raise ValueError(f"'{email}' is not an e-mail address")
        user.email = email.strip() or None
    if roles is not None:
        wanted = sorted(set(roles))
        unknown = [r for r in wanted if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role '{unknown[0]}' (one of: {', '.join(ROLES)})")
        if not wanted:
            raise ValueError(f"{username} needs at least one role")
        if doer is not None and user.id == doer.id and ADMIN not in wanted:
            raise ValueError("you cannot drop your own admin role: ask another admin")
        user.roles = [r for r in user.roles if r.role in wanted] + [
            UserRole(role=r) for r in wanted if r not in user.role_names
        ]
        if wanted != old_roles:
            audit.record(
                session, "roles_changed", actor=who, subject=username, before=old_roles, after=wanted
            )
    if time_zone is not None:
        user.time_zone = check_time_zone(time_zone)
    if weekly_capacity_hours is not None:
        user.weekly_capacity_hours = check_capacity(weekly_capacity_hours)
    if rate_role is not None:
        user.rate_role = check_rate_role(rate_role)
    after = {
        "name": user.display_name,
        "email": user.email,
        "time zone": user.time_zone,
        "weekly capacity": user.weekly_capacity_hours,
        "rate role": user.rate_role,
    }
    changed = {k: f"{before[k] or 'default'} -> {v or 'default'}" for k, v in after.items() if before[k] != v}
    if changed:
        audit.record(session, "user_updated", actor=who, subject=username, changes=changed)
    if active is not None and active != user.active:
        if doer is not None and user.id == doer.id and not active:
            raise ValueError("you cannot deactivate yourself: ask another admin")
        if user.active and not active:
            end_access(session, user.id, at=at or datetime.now(UTC))
        user.active = active
        audit.record(
            session, "user_reactivated" if active else "user_deactivated", actor=who, subject=username
        )
    session.flush()
    return user
