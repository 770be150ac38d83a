"""Engagement versions for optimistic concurrency (the API's ETag / If-Match).

An engagement's *version* is its instance's revision, which every step bumps, and its last
event, which every claim, assignment and team change adds. A use case given an expected
version locks the instance and compares: a mismatch raises `StaleVersion` and nothing changes.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from engine.errors import ConflictError, NotFoundError
from engine.fastsql import FastStatement
from engine.models import Event, WorkflowInstance
from workflows.models import Engagement


class StaleVersion(ConflictError):
    """The engagement changed since the caller read it (its version does not match)."""


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


def check_version(session: Session, engagement_id: int, expected: str | None) -> int | None:
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
