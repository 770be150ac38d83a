"""Cover while someone is away: arranging it, and whom a person covers on a day.

Cover dates are whole days in the agency calendar's time zone, both ends included. Cover is
arranged by the person away, an ops lead or an admin.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from workflows.models import Cover, User
from workflows.people import audit
from workflows.people.permissions import READ, acting_user, authorize, require_operator
from workflows.people.users import get_user
from workflows.services import Services


def today(services: Services) -> date:
    """Today in the agency calendar's time zone."""
    return services.runtime.clock().astimezone(services.calendar.zone).date()


# -- cover ---------------------------------------------------------------------------------


def add_cover(
    session: Session,
    services: Services,
    username: str,
    *,
    by: str,
    starts_on: date,
    ends_on: date,
    actor: str,
    note: str = "",
) -> Cover:
    """While `username` is away (both dates included), `by` may act on their tasks.

    Raises:
        PermissionDenied: the actor is neither the person away nor an ops lead / admin.
        NotFoundError: no such user.
        ValueError: the dates are reversed, someone covers themselves, or the cover is inactive.
    """
    doer = acting_user(session, actor)
    away = get_user(session, username)
    if doer.id != away.id:
        require_operator(doer, f"arrange cover for {username}")
    cover = get_user(session, by)
    if cover.id == away.id:
        raise ValueError(f"{username} cannot cover themselves")
    if not cover.active:
        raise ValueError(f"{by} is not active")
    if ends_on < starts_on:
        raise ValueError(f"the cover ends ({ends_on}) before it starts ({starts_on})")
    row = Cover(
        user_id=away.id,
        cover_id=cover.id,
        starts_on=starts_on,
        ends_on=ends_on,
        note=note,
        created_by=doer.username,
        created_at=services.runtime.clock(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        "cover_arranged",
        actor=doer.username,
        subject=away.username,
        at=row.created_at,
        cover=cover.username,
        dates=f"{starts_on} to {ends_on}",
    )
    return row


_AWAY, _COVERING = aliased(User), aliased(User)
# built once: inboxes and access checks ask on every request
_COVERED = (
    select(_AWAY.username)
    .join(Cover, Cover.user_id == _AWAY.id)
    .join(_COVERING, _COVERING.id == Cover.cover_id)
    .where(
        _COVERING.username == bindparam("username"),
        Cover.starts_on <= bindparam("day"),
        Cover.ends_on >= bindparam("day"),
    )
)


def covered_by(session: Session, username: str, day: date) -> set[str]:
    """Whom `username` covers on `day`."""
    return set(session.scalars(_COVERED, {"username": username, "day": day}))


def upcoming_covers(session: Session, services: Services, *, actor: str) -> list[Cover]:
    """Cover in force today or later, soonest first (anyone active may read it).

    Raises:
        PermissionDenied: unknown or inactive actor.
    """
    authorize(session, actor, READ)
    stmt = select(Cover).where(Cover.ends_on >= today(services)).order_by(Cover.starts_on, Cover.id)
    return list(session.scalars(stmt))


def list_covers(session: Session, *, actor: str, on: date | None = None) -> list[Cover]:
    """Cover arrangements (those in force on `on`, if given), soonest first (any active user).

    Raises:
        PermissionDenied: unknown or inactive actor.
    """
    authorize(session, actor, READ)
    stmt = select(Cover).order_by(Cover.starts_on, Cover.id)
    if on is not None:
        stmt = stmt.where(Cover.starts_on <= on, Cover.ends_on >= on)
    return list(session.scalars(stmt))
