"""Slowing down password guessing: failed logins counted per username and per address apart.

After `MAX_PER_USER` failures for one username, or `MAX_PER_ADDRESS` from one address, within
`FAILURE_WINDOW`, further attempts are refused without looking at the password until the oldest
of those failures ages out. The two counts are apart so that guessing one user's password from
many addresses, or many users' passwords from one address, both run into a limit. Failures live
in the database, so the limit holds across processes and workers.

The count and the password check must not race: an attempt first locks its username and then its
address (PostgreSQL transaction advisory locks, released at commit; on SQLite the write
transaction already holds the database lock), so parallel attempts are counted one by one.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from workflows.models import LoginFailure

MAX_PER_USER = 5
MAX_PER_ADDRESS = 20  # an office behind one address has many people mistyping
FAILURE_WINDOW = timedelta(minutes=15)


def _lock_key(kind: str, value: str) -> int:
    """A signed 64-bit key for `pg_advisory_xact_lock` (stable across processes)."""
    digest = hashlib.sha256(f"baton-login:{kind}:{value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock(session: Session, username: str, address: str) -> None:
    """Hold the attempt's username and address until the transaction ends (PostgreSQL).

    Always the username first, then the address: no two attempts wait on each other in a circle.
    """
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the write transaction (BEGIN IMMEDIATE) is already exclusive
    for key in (_lock_key("user", username), _lock_key("addr", address)):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _wait(
    session: Session, column: InstrumentedAttribute[str], value: str, limit: int, now: datetime
) -> int | None:
    recent = list(
        session.scalars(
            select(LoginFailure.at)
            .where(column == value, LoginFailure.at > now - FAILURE_WINDOW)
            .order_by(LoginFailure.at.desc())
            .limit(limit)
        )
    )
    if len(recent) < limit:
        return None
    # allowed again once the oldest of the last `limit` failures ages out
    wait = recent[-1] + FAILURE_WINDOW - now
    return max(1, math.ceil(wait.total_seconds()))


def wait_for(session: Session, username: str, address: str, *, now: datetime) -> int | None:
    """Seconds to wait before this username or address may try again (None: it may now)."""
    waits = [
        w
        for w in (
            _wait(session, LoginFailure.username, username, MAX_PER_USER, now),
            _wait(session, LoginFailure.remote_addr, address, MAX_PER_ADDRESS, now),
        )
        if w is not None
    ]
    return max(waits) if waits else None


def record_failure(session: Session, username: str, address: str, *, now: datetime) -> None:
    """Count a failed attempt against the username and the address."""
    session.add(LoginFailure(username=username, remote_addr=address, at=now))
    session.flush()


def forget(session: Session, username: str) -> None:
    """A right password: the username's failures are forgotten (the address's are kept)."""
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))


def purge(session: Session, *, now: datetime) -> int:
    """Delete the failures that no longer count; returns how many."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.at <= now - FAILURE_WINDOW))
    return int(getattr(result, "rowcount", 0) or 0)
