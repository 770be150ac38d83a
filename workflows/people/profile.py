"""What a person sets for themselves on *My account* (their time zone, how they hear of their
tasks), and the checks of the per-person settings admins edit (capacity, rate role).

Times are shown in the reader's zone by the pages; this module only keeps the zone.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy.orm import Session

from workflows.agency import ROLES
from workflows.models import User
from workflows.people.permissions import READ, authorize
from workflows.people.users import get_user

MAX_WEEKLY_HOURS = 80.0


@lru_cache(maxsize=1)
def time_zones() -> list[str]:
    """Every IANA zone name the server knows, sorted (for the pages' pickers)."""
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


def check_time_zone(name: str) -> str | None:
    """A valid IANA zone name, or None for an empty one (the calendar's zone).

    Raises:
        ValueError: not a zone the server knows.
    """
    name = name.strip()
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not a time zone (an IANA name such as Europe/London)") from None
    return name


def check_capacity(value: float | str) -> float | None:
    """Weekly hours for engagement work, or None for an empty value (the role's default).

    Raises:
        ValueError: not a number of hours from 0 to `MAX_WEEKLY_HOURS`.
    """
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"the weekly capacity is a number of hours, not '{value}'") from None
    if not 0 <= value <= MAX_WEEKLY_HOURS:
        raise ValueError(f"the weekly capacity is between 0 and {MAX_WEEKLY_HOURS:g} hours")
    return float(value)


def check_rate_role(role: str) -> str | None:
    """A role of the rate card, or None for an empty one (effort is priced at the lane's role).

    Raises:
        ValueError: an unknown role.
    """
    role = role.strip()
    if not role:
        return None
    if role not in ROLES:
        raise ValueError(f"unknown rate role '{role}' (one of: {', '.join(ROLES)})")
    return role


def update_my_account(
    session: Session,
    *,
    actor: str,
    time_zone: str | None = None,
    notify_in_app: bool | None = None,
    notify_email: bool | None = None,
    notify_digest: bool | None = None,
) -> User:
    """Set one's own time zone and notification preferences (None: unchanged).

    Raises:
        PermissionDenied: unknown or inactive actor.
        ValueError: an unknown time zone; nothing left to hear of tasks by.
    """
    doer = authorize(session, actor, READ)
    user = get_user(session, doer.username)
    if time_zone is not None:
        user.time_zone = check_time_zone(time_zone)
    if notify_in_app is not None:
        user.notify_in_app = notify_in_app
    if notify_email is not None:
        user.notify_email = notify_email
    if notify_digest is not None:
        user.notify_digest = notify_digest
    if not user.notify_in_app and not user.notify_email:
        # a breach nobody hears of helps no one: one channel stays on
        raise ValueError("keep at least one way to hear of your tasks: in the app or by e-mail")
    session.flush()
    return user
