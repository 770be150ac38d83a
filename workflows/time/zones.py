"""Times as a reader sees them: in their own zone (``user_account.time_zone``), else the calendar's.

One helper for every place that shows a time — pages, e-mails, CSV exports — so nobody reads UTC
where they live in London or New York. Stored times stay timezone-aware UTC; only the display
changes. CSV and machine-readable attributes take ISO 8601 with the offset (`iso`).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.models import User

SHORT = "%a %d %b %H:%M"  # Thu 03 Dec 15:10
LONG = "%Y-%m-%d %H:%M"
DAY = "%a %d %b"
BRIEF = "%a %-d %b %H:%M"  # Fri 4 Dec 10:00 (notifications and e-mails)


def zone_named(name: str | None, default: str) -> ZoneInfo:
    """The zone called `name` (IANA), or `default` when it is unset or unknown."""
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def zone_of(session: Session, username: str | None, default: str) -> ZoneInfo:
    """The zone `username` reads times in: theirs when set, else `default` (the calendar's)."""
    name = None
    if username:
        name = session.scalar(select(User.time_zone).where(User.username == username))
    return zone_named(name, default)


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` on the wall clock of `zone` (a naive value is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment.astimezone(zone)


def when(moment: datetime | None, zone: ZoneInfo, style: str = SHORT, *, named: bool = True) -> str:
    """A time for people: ``Thu 03 Dec 10:10 EST`` (empty for None; `named`: with the zone)."""
    if moment is None:
        return ""
    there = local(moment, zone)
    if "%H" not in style or not named:  # a day, or the reader knows the zone
        return there.strftime(style)
    return f"{there.strftime(style)} {there.tzname() or ''}".strip()


def iso(moment: datetime | None, zone: ZoneInfo) -> str:
    """ISO 8601 with the offset of `zone`, to the second: ``2026-12-03T10:10:00-05:00``."""
    if moment is None:
        return ""
    return local(moment, zone).isoformat(timespec="seconds")
