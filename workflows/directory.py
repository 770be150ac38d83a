"""The user directory as the API serves it: everyone reads it, admins change it.

`workflows.people.add_user` stays the operator's command (``baton users add``); here every
change names the acting admin, and an admin cannot lock themselves out (deactivate
themselves or drop their own admin role).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from .access import MANAGE_USERS, READ, authorize
from .agency import ADMIN, ROLES
from .auth import check_password_rules, hash_password
from .models import User, UserRole
from .people import EMAIL, add_user, get_user, list_users
from .services import Services


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
    actor: str,
    name: str,
    roles: Iterable[str],
    email: str | None = None,
    password: str | None = None,
) -> User:
    """Add a user as an admin, optionally with a first password.

    Raises:
        PermissionDenied: the actor is not an admin.
        ValueError: see `workflows.people.add_user`; the password breaks the rules.
    """
    authorize(session, actor, MANAGE_USERS)
    if password is not None:
        check_password_rules(username, password)
    user = add_user(session, services, username, name=name, roles=roles, email=email)
    if password is not None:
        user.password_hash = hash_password(password)
        session.flush()
    return user


def update_user(
    session: Session,
    services: Services,
    username: str,
    *,
    actor: str,
    name: str | None = None,
    email: str | None = None,
    roles: Iterable[str] | None = None,
    active: bool | None = None,
) -> User:
    """Change a user's name, e-mail, roles or activation, as an admin (None: unchanged).

    Raises:
        PermissionDenied: the actor is not an admin.
        NotFoundError: no such user.
        ValueError: a bad e-mail or role, no role left, or an admin locking themselves out.
    """
    doer = authorize(session, actor, MANAGE_USERS)
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
        if user.id == doer.id and ADMIN not in wanted:
            raise ValueError("you cannot drop your own admin role: ask another admin")
        user.roles = [r for r in user.roles if r.role in wanted] + [
            UserRole(role=r) for r in wanted if r not in user.role_names
        ]
    if active is not None:
        if user.id == doer.id and not active:
            raise ValueError("you cannot deactivate yourself: ask another admin")
        user.active = active
    session.flush()
    return user
