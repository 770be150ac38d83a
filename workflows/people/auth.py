"""Who is asking: passwords, personal API tokens, server-side browser sessions, and slowing down guessing.

Use cases take the unit of work (a session) first and the services second. Nothing here knows
about HTTP: the web layer hands in what it read (a password, a bearer secret, the client's
address) and gets back a person, or a refusal.

* **Passwords** are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory
  profile); a hash made with older parameters is upgraded at the next successful login.
* **Login attempts** are slowed down per username and per address apart
  (`workflows.people.throttle`), counted atomically on PostgreSQL too.
* **Changing a password** needs the current one (an admin resetting someone else's excepted),
  revokes the user's API tokens and ends their other browser sessions; deactivation does the
  same (`end_access`), and reactivation revives nothing.
* **API tokens** are random secrets (256 bits) shown once; only their SHA-256 is stored (a
  slow hash adds nothing for secrets that cannot be guessed). They can be revoked, and
  remember when they were last used (to the minute, so a request does not write each time).
  A request authenticated by a token may neither issue tokens nor change the password.
* **Browser sessions** are rows (`LoginSession`): the cookie carries a random secret whose
  SHA-256 is stored; logging out deletes the row, so a saved cookie stops working.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.fastsql import FastStatement
from workflows.agency import ADMIN
from workflows.models import ApiToken, LoginSession, User, UserRole
from workflows.people import audit, throttle
from workflows.people.permissions import PermissionDenied, acting_user, authorize_administration
from workflows.people.users import Person, get_user
from workflows.services import Services

MIN_PASSWORD = 8
MAX_PASSWORD = 256  # argon2 takes any length; a bound keeps a login request cheap
SESSION_LIFETIME = timedelta(hours=12)  # a browser session's default lifetime
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


def set_password(
    session: Session,
    username: str,
    password: str,
    *,
    at: datetime | None = None,
    keep_session: str | None = None,
) -> User:
    """Give a user a new password, ending their access by other means (an operator's primitive).

    Every API token of the user is revoked and every browser session ends, except the one whose
    secret is `keep_session` (the session making the change keeps going).

    Args:
        session: the unit of work.
        username: whose password.
        password: the new password.
        at: when (the clock's now; wall-clock time when not given, as for the demo seed).
        keep_session: the secret of a browser session to keep.

    Raises:
        NotFoundError: no such user.
        PasswordRejected: the password breaks the rules.
    """
    user = get_user(session, username)
    check_password_rules(username, password)
    user.password_hash = hash_password(password)
    end_access(session, user.id, at=at or datetime.now(UTC), keep_session=keep_session)
    session.flush()
    return user


def end_access(session: Session, user_id: int, *, at: datetime, keep_session: str | None = None) -> None:
    """Revoke every API token of a user and end their browser sessions (but `keep_session`)."""
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    ended = delete(LoginSession).where(LoginSession.user_id == user_id)
    if keep_session is not None:
        ended = ended.where(LoginSession.secret_hash != _digest(keep_session))
    session.execute(ended)


def _refuse_token(by_token: bool, what: str) -> None:
    if by_token:
        raise PermissionDenied(f"a request made with an API token may not {what}: log in with your password")


def needs_current_password(session: Session, username: str, *, actor: str | None) -> bool:
    """True when `actor` changing `username`'s password must give the current one.

    That is when they change their own and have one (an admin resetting someone else's, or a
    user without a password yet, need none). Pages and the CLI use it to ask for it.
    """
    if actor is None or actor != username:
        return False
    return session.scalar(select(User.password_hash).where(User.username == username)) is not None


def change_password(
    session: Session,
    services: Services,
    username: str,
    password: str,
    *,
    actor: str | None,
    current_password: str | None = None,
    by_token: bool = False,
    keep_session: str | None = None,
) -> User:
    """Set `username`'s password as `actor`: the user themselves, with their current password,
    or an admin resetting someone else's (no current password needed).

    The user's API tokens are revoked and their browser sessions end, all but `keep_session`
    (the session that made the change). With no actor, only while the store has no admin yet
    (see `authorize_administration`).

    Args:
        session: the unit of work.
        services: Baton's services (the clock).
        username: whose password.
        password: the new password.
        actor: who changes it; None for an operator setting up a store without an admin.
        current_password: the user's current password (needed unless an admin resets another's).
        by_token: the request was authenticated by an API token (refused: a stolen token must
            not take the account).
        keep_session: the secret of the browser session making the change (it stays open).

    Raises:
        PermissionDenied: anyone else; a wrong or missing current password; a token request.
        NotFoundError, PasswordRejected.
    """
    _refuse_token(by_token, "change a password")
    now = services.runtime.clock()
    if actor is None:
        authorize_administration(session, None)
        user = set_password(session, username, password, at=now)
        audit.record(session, "password_set", actor=None, subject=username, at=now)
        return user
    doer = acting_user(session, actor)
    if doer.username != username and not doer.has_role(ADMIN):
        raise PermissionDenied(
            f"{doer.username} may not set {username}'s password: only they or an admin may"
        )
    user = get_user(session, username)
    if needs_current_password(session, username, actor=doer.username):
        if current_password is None:
            raise PermissionDenied("give your current password to change it")
        if not _verify(user.password_hash, current_password):
            raise PermissionDenied("the current password is wrong")
    user = set_password(session, username, password, at=now, keep_session=keep_session)
    audit.record(session, "password_set", actor=doer.username, subject=username, at=now)
    return user


# -- logging in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginOutcome:
    """What a login attempt gave: the user, or a refusal (and for how long, when throttled).

    A refusal is an outcome, not an exception: the failure it records must be committed.
    """

    user: User | None
    retry_after: int | None = None  # seconds, when too many attempts failed lately
    session_secret: str | None = None  # the new browser session's, on success (for the cookie)

    @property
    def throttled(self) -> bool:
        """True when the attempt was refused without looking at the password."""
        return self.retry_after is not None


def attempt_login(
    session: Session,
    services: Services,
    username: str,
    password: str,
    *,
    remote_addr: str,
    session_lifetime: timedelta = SESSION_LIFETIME,
) -> LoginOutcome:
    """Check a username and password, counting failures per username and per address apart.

    The attempt takes a lock on its username and its address first (PostgreSQL: transaction
    advisory locks; SQLite: the write transaction itself), so parallel attempts are counted
    one after another and no more than `MAX_FAILURES` passwords are checked per window.

    Args:
        session: the unit of work (commit it whatever the outcome: failures are recorded).
        services: Baton's services (the clock).
        username: as typed (surrounding blanks and case do not matter).
        password: as typed.
        remote_addr: the client's address (behind a trusted proxy: the one it forwarded).
        session_lifetime: how long the browser session a success starts may last.

    Returns:
        The user and the new browser session's secret when the password is right and the user
        active; otherwise no user, and the seconds to wait when the attempt was refused for too
        many recent failures.
    """
    now = services.runtime.clock()
    name = username.strip().lower()[:100]
    addr = (remote_addr or "unknown")[:64]
    throttle.lock(session, name, addr)
    wait = throttle.wait_for(session, name, addr, now=now)
    if wait is not None:
        audit.record(session, "login_throttled", actor=None, subject=name, at=now, address=addr)
        return LoginOutcome(None, retry_after=wait)
    user = session.scalar(select(User).where(User.username == name))
    if user is None or not user.active or not _verify(user.password_hash, password):
        throttle.record_failure(session, name, addr, now=now)
        audit.record(session, "login_failed", actor=None, subject=name, at=now, address=addr)
        return LoginOutcome(None)
    throttle.forget(session, name)
    if user.password_hash and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    secret = start_session(session, user.id, at=datetime.now(UTC), lifetime=session_lifetime)
    audit.record(session, "login", actor=user.username, subject=user.username, at=now, address=addr)
    return LoginOutcome(user, session_secret=secret)


def _verify(password_hash: str | None, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def purge_login_records(session: Session, services: Services) -> int:
    """Delete login failures older than the window and expired browser sessions (the worker runs it).

    Returns:
        How many rows went.
    """
    gone = throttle.purge(session, now=services.runtime.clock())
    result = session.execute(delete(LoginSession).where(LoginSession.expires_at <= datetime.now(UTC)))
    return gone + int(getattr(result, "rowcount", 0) or 0)


# -- browser sessions ----------------------------------------------------------------------


def start_session(session: Session, user_id: int, *, at: datetime, lifetime: timedelta) -> str:
    """Open a server-side browser session for a user; returns its secret (for the cookie).

    Sessions live on the wall clock (`datetime.now`), as the signed cookie's own expiry does,
    not on the services' clock, which tests and simulations move by days.
    """
    secret = secrets.token_urlsafe(32)
    session.add(
        LoginSession(user_id=user_id, secret_hash=_digest(secret), created_at=at, expires_at=at + lifetime)
    )
    session.flush()
    return secret


def person_for_session(session: Session, secret: str) -> Person | None:
    """The active user whose open browser session has this secret (None: ended, expired, unknown)."""
    if not secret or len(secret) > 100:
        return None
    rows: list[Any] = _SESSION_HOLDER.fetchall(
        session.connection(), {"secret_hash": _digest(secret), "now": datetime.now(UTC)}
    )
    if not rows:
        return None
    user_id, username, _role = rows[0]
    return Person(user_id, username, True, frozenset(r[2] for r in rows if r[2] is not None))


def end_session(session: Session, secret: str) -> None:
    """Log out: the browser session with this secret ends (a saved cookie no longer works)."""
    if secret:
        session.execute(delete(LoginSession).where(LoginSession.secret_hash == _digest(secret)))


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
    session: Session,
    services: Services,
    username: str,
    *,
    name: str,
    actor: str | None = None,
    by_token: bool = False,
) -> IssuedToken:
    """Issue a personal API token for `username`.

    Args:
        session: the unit of work.
        services: Baton's services.
        username: whose token it is (it acts as them).
        name: what it is for (e.g. "ci"), to tell tokens apart.
        actor: who asks (the user themselves or an admin); None for an operator at the command line.
        by_token: the request was authenticated by an API token (refused: a token cannot mint
            tokens that would outlive its own revocation).

    Raises:
        NotFoundError: no such user.
        PermissionDenied: the actor may not; the user is inactive; a token request.
        ValueError: blank or overlong name.
    """
    _refuse_token(by_token, "issue API tokens")
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
    hint = f"{label} ({token.hint}…)"
    audit.record(session, "token_issued", actor=actor, subject=username, at=token.created_at, token=hint)
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
        audit.record(
            session,
            "token_revoked",
            actor=actor,
            subject=token.user.username,
            at=token.revoked_at,
            token=f"{token.name} ({token.hint}…)",
        )
        session.flush()
    return token


@dataclass(frozen=True)
class TokenHolder:
    """The person a bearer token acts for."""

    person: Person
    token_id: int
    stale: bool  # its last use is older than TOKEN_TOUCH_EVERY: call `touch_token`


_SESSION = cast(Table, LoginSession.__table__)
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


# the session's user with their roles, in one indexed query (run on every page request)
_SESSION_HOLDER = FastStatement(
    select(_USER.c.id, _USER.c.username, _USER_ROLE.c.role)
    .select_from(
        _SESSION.join(_USER, _USER.c.id == _SESSION.c.user_id).outerjoin(
            _USER_ROLE, _USER_ROLE.c.user_id == _USER.c.id
        )
    )
    .where(
        _SESSION.c.secret_hash == bindparam("secret_hash"),
        _SESSION.c.expires_at > bindparam("now"),
        _USER.c.active.is_(True),
        _USER.c.password_hash.is_not(None),
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
