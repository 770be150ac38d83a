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
from workflows.people.auth import check_password_rules, end_access, hash_password
from workflows.people.permissions import READ, authorize, authorize_administration
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
) -> User:
    """Add a user as an admin, optionally with a first password.

    Raises:
        PermissionDenied: the actor is not an admin (see `authorize_administration`).
        ValueError: see `workflows.people.users.add_user`; the password breaks the rules.
    """
    authorize_administration(session, actor)
    if password is not None:
        check_password_rules(username, password)
    user = add_user(session, services, username, name=name, roles=roles, email=email)
    if password is not None:
        user.password_hash = hash_password(password)
        session.flush()
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
) -> User:
    """Change a user's name, e-mail, roles or activation, as an admin (None: unchanged).

    Deactivating a user revokes their API tokens and ends their browser sessions, at `at` (the
    clock's now; wall-clock time when not given); reactivating them revives none of it.

    Raises:
        PermissionDenied: the actor is not an admin.
        NotFoundError: no such user.
        ValueError: a bad e-mail or role, no role left, or an admin locking themselves out.
    """
    doer = authorize_administration(session, actor)
    user = get_user(session, username)
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
    if active is not None:
        if doer is not None and user.id == doer.id and not active:
            raise ValueError("you cannot deactivate yourself: ask another admin")
        if user.active and not active:
            end_access(session, user.id, at=at or datetime.now(UTC))
        user.active = active
    session.flush()
    return user
