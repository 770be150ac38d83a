"""Users and their roles: adding, finding, activating; a user as the access rules see them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.fastsql import FastStatement
from workflows.agency import ROLES
from workflows.models import User, UserRole
from workflows.services import Services

USERNAME = re.compile(r"^[a-z][a-z0-9._-]{0,99}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


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
