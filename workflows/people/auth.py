"""Who is asking: passwords, personal API tokens, browser-session stamps, and slowing down guessing.

Use cases take the unit of work (a session) first and the services second. Nothing here knows
about HTTP: the web layer hands in what it read (a password, a bearer secret, the client's
address) and gets back a person, or a refusal.

* **Passwords** are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory
  profile); a hash made with older parameters is upgraded at the next successful login.
* **Login attempts** are slowed down per username and client address: after
  `MAX_FAILURES` failures within `FAILURE_WINDOW`, further attempts are refused without
  looking at the password until the oldest failure ages out. Failures live in the database,
  so the limit holds across processes and workers; a successful login clears them.
* **API tokens** are random secrets (256 bits) shown once; only their SHA-256 is stored (a
  slow hash adds nothing for secrets that cannot be guessed). They can be revoked, and
  remember when they were last used (to the minute, so a request does not write each time).
* **Browser sessions** carry the username and a stamp derived from the password hash:
  changing the password or deactivating the user ends every session.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.fastsql import FastStatement
from workflows.agency import ADMIN
from workflows.models import ApiToken, LoginFailure, User, UserRole
from workflows.people.permissions import PermissionDenied, acting_user, authorize_administration
from workflows.people.users import Person, get_user
from workflows.services import Services

MIN_PASSWORD = 8
MAX_PASSWORD = 256  # argon2 takes any length; a bound keeps a login request cheap
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
TOKEN_PREFIX = "baton_"
TOKEN_TOUCH_EVERY = timedelta(minutes=1)  # how stale `last_used_at` may get before a write
MAX_TOKEN_NAME = 100

_hasher = PasswordHasher()
# verified against when the username is unknown, so that a miss costs as much as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class PasswordRejected(ValueError):
    """A new password does not meet the rules (too short, too long, the username itself)."""


# -- passwords -----------------------------------------------------------------------------


def check_password_rules(username: str, password: str) -> None:
    """Raise PasswordRejected unless `password` is acceptable for `username`."""
    if len(password) < MIN_PASSWORD:
        raise PasswordRejected(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PasswordRejected(f"a password has at most {MAX_PASSWORD} characters")
    if password.strip().lower() == username.lower():
        raise PasswordRejected("a password cannot be the username")


def hash_password(password: str) -> str:
    """The argon2id hash of a password (salted: two calls give two different hashes)."""
    return _hasher.hash(password)


def set_password(session: Session, username: str, password: str) -> User:
    """Give a user a new password (an operator command: `baton users password`).

    Every browser session of the user ends (their stamp changes).

    Raises:
        NotFoundError: no such user.
        PasswordRejected: the password breaks the rules.
    """
    user = get_user(session, username)
    check_password_rules(username, password)
    user.password_hash = hash_password(password)
    session.flush()
    return user


def change_password(
    session: Session, username: str, password: str, *, actor: str | None
) -> User:
    """Set `username`'s password as `actor`: the user themselves or an admin.

    Their browser sessions end. With no actor, only while the store has no admin yet (see
    `authorize_administration`).

    Raises:
        PermissionDenied: anyone else.
        NotFoundError, PasswordRejected.
    """
    if actor is None:
        authorize_administration(session, None)
        return set_password(session, username, password)
    doer = acting_user(session, actor)
    if doer.username != username and not doer.has_role(ADMIN):
        raise PermissionDenied(
            f"{doer.username} may not set {username}'s password: only they or an admin may"
        )
    return set_password(session, username, password)


# -- logging in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOutcome:
    """What a login attempt gave: the user, or a refusal (and for how long, when throttled).

    A refusal is an outcome, not an exception: the failure it records must be committed.
    """

    user: User | None
    retry_after: int | None = None  # seconds, when too many attempts failed lately

    @property
    def throttled(self) -> bool:
        """True when the attempt was refused without looking at the password."""
        return self.retry_after is not None


def attempt_login(
    session: Session, services: Services, username: str, password: str, *, remote_addr: str
) -> LoginOutcome:
    """Check a username and password, counting failures per username and client address.

    Args:
        session: the unit of work (commit it whatever the outcome: failures are recorded).
        services: Baton's services (the clock).
        username: as typed (surrounding blanks and case do not matter).
        password: as typed.
        remote_addr: the client's address, as the web server saw it.

    Returns:
        The user when the password is right and the user active; otherwise no user, and the
        seconds to wait when the attempt was refused for too many recent failures.
    """
    now = services.runtime.clock()
    name = username.strip().lower()[:100]
    addr = (remote_addr or "unknown")[:64]
    key = (LoginFailure.username == name) & (LoginFailure.remote_addr == addr)
    session.execute(delete(LoginFailure).where(key, LoginFailure.at <= now - FAILURE_WINDOW))
    recent = list(
        session.scalars(
            select(LoginFailure.at).where(key).order_by(LoginFailure.at.desc()).limit(MAX_FAILURES)
        )
    )
    if len(recent) >= MAX_FAILURES:
        # the attempt is allowed again once the oldest of the last MAX_FAILURES failures ages out
        wait = recent[-1] + FAILURE_WINDOW - now
        return LoginOutcome(None, retry_after=max(1, math.ceil(wait.total_seconds())))
    user = session.scalar(select(User).where(User.username == name))
    if user is None or not user.active or not _verify(user.password_hash, password):
        session.add(LoginFailure(username=name, remote_addr=addr, at=now))
        session.flush()
        return LoginOutcome(None)
    session.execute(delete(LoginFailure).where(key))
    if user.password_hash and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.flush()
    return LoginOutcome(user)


def _verify(password_hash: str | None, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


# -- browser sessions ----------------------------------------------------------------------


def session_stamp(user: User) -> str:
    """A value that changes with the user's password: kept in the session cookie."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:20]


def person_for_session(session: Session, username: str, stamp: str) -> Person | None:
    """The active user a session cookie names, if its stamp still matches (else None)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or user.password_hash is None:
        return None
    if not secrets.compare_digest(session_stamp(user), stamp):
        return None
    return Person(user.id, user.username, user.active, frozenset(user.role_names))


# -- API tokens ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    """A new token and its secret (shown once: only its hash is stored)."""

    token: ApiToken
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _may_manage_tokens_of(session: Session, username: str, actor: str | None) -> None:
    if actor is None:  # setting up a store that has no admin yet
        authorize_administration(session, None)
        return
    doer = acting_user(session, actor)
    if doer.username != username and not doer.has_role(ADMIN):
        raise PermissionDenied(
            f"{doer.username} may not manage {username}'s API tokens: only they or an admin may"
        )


def issue_token(
    session: Session, services: Services, username: str, *, name: str, actor: str | None = None
) -> IssuedToken:
    """Issue a personal API token for `username`.

    Args:
        session: the unit of work.
        services: Baton's services.
        username: whose token it is (it acts as them).
        name: what it is for (e.g. "ci"), to tell tokens apart.
        actor: who asks (the user themselves or an admin); None for an operator at the command line.

    Raises:
        NotFoundError: no such user.
        PermissionDenied: the actor may not; the user is inactive.
        ValueError: blank or overlong name.
    """
    _may_manage_tokens_of(session, username, actor)
    label = name.strip()
    if not label or len(label) > MAX_TOKEN_NAME:
        raise ValueError(f"give the token a name of 1 to {MAX_TOKEN_NAME} characters")
    user = get_user(session, username)
    if not user.active:
        raise PermissionDenied(f"{username} is not active")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=label,
        token_hash=_digest(secret),
        hint=secret[: len(TOKEN_PREFIX) + 6],
        created_at=services.runtime.clock(),
    )
    session.add(token)
    session.flush()
    return IssuedToken(token, secret)


def list_tokens(session: Session, username: str, *, actor: str | None = None) -> list[ApiToken]:
    """`username`'s tokens, revoked ones included, oldest first.

    Raises:
        NotFoundError, PermissionDenied (see `issue_token`).
    """
    _may_manage_tokens_of(session, username, actor)
    user = get_user(session, username)
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def revoke_token(
    session: Session, services: Services, token_id: int, *, actor: str | None = None
) -> ApiToken:
    """Revoke a token: it stops working at once (revoking twice changes nothing).

    Raises:
        NotFoundError: no such token (or, for a user who is not an admin, not theirs).
        PermissionDenied: the actor may not.
    """
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"no API token {token_id}")
    if actor is None:
        authorize_administration(session, None)
    else:
        doer = acting_user(session, actor)
        if token.user.username != doer.username and not doer.has_role(ADMIN):
            raise NotFoundError(f"no API token {token_id}")  # others' tokens are not even listed
    if token.revoked_at is None:
        token.revoked_at = services.runtime.clock()
        session.flush()
    return token


@dataclass(frozen=True)
class TokenHolder:
    """The person a bearer token acts for."""

    person: Person
    token_id: int
    stale: bool  # its last use is older than TOKEN_TOUCH_EVERY: call `touch_token`


_TOKEN = cast(Table, ApiToken.__table__)
_USER = cast(Table, User.__table__)
_USER_ROLE = cast(Table, UserRole.__table__)
# the token's user with their roles, in one indexed query (run on every API request)
_HOLDER = FastStatement(
    select(_TOKEN.c.id, _TOKEN.c.last_used_at, _USER.c.id, _USER.c.username, _USER_ROLE.c.role)
    .select_from(
        _TOKEN.join(_USER, _USER.c.id == _TOKEN.c.user_id).outerjoin(
            _USER_ROLE, _USER_ROLE.c.user_id == _USER.c.id
        )
    )
    .where(
        _TOKEN.c.token_hash == bindparam("token_hash"),
        _TOKEN.c.revoked_at.is_(None),
        _USER.c.active.is_(True),
    )
)


def holder_of_token(session: Session, services: Services, secret: str) -> TokenHolder | None:
    """The active user a bearer secret belongs to (None: unknown, revoked, or inactive user)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    rows: list[Any] = _HOLDER.fetchall(session.connection(), {"token_hash": _digest(secret)})
    if not rows:
        return None
    token_id, last_used, user_id, username, _role = rows[0]
    stale = last_used is None or services.runtime.clock() - last_used >= TOKEN_TOUCH_EVERY
    roles = frozenset(r[4] for r in rows if r[4] is not None)
    return TokenHolder(Person(user_id, username, True, roles), token_id, stale)


def touch_token(session: Session, services: Services, token_id: int) -> None:
    """Record that a token was used now."""
    session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=services.runtime.clock())
    )
