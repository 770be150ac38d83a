"""Lane leads: per role, the people an overdue task of the role's lanes escalates to.

A user is a lead of a role they hold (the `lead` flag of their `UserRole`); ops leads and
admins name them. A role without an active lead escalates to the active ops leads.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.agency import OPS_LEAD, ROLES
from workflows.models import User, UserRole
from workflows.people import audit
from workflows.people.permissions import OPERATORS, PermissionDenied, acting_user
from workflows.people.users import get_user


def set_lead(
    session: Session, username: str, role: str, *, lead: bool = True, actor: str
) -> User:
    """Make a user a lead of one of their roles (or, with ``lead=False``, no longer one).

    Raises:
        PermissionDenied: the actor is not an ops lead or an admin.
        NotFoundError: no such user.
        ValueError: unknown role, or the user does not hold it.
    """
    doer = acting_user(session, actor)
    if not doer.has_role(*OPERATORS):
        raise PermissionDenied(
            f"{doer.username} may not name the leads of a role: only an ops lead or an admin may"
        )
    if role not in ROLES:
        raise ValueError(f"unknown role '{role}' (one of: {', '.join(ROLES)})")
    user = get_user(session, username)
    held = next((r for r in user.roles if r.role == role), None)
    if held is None:
        raise ValueError(f"{username} does not hold the role {role}, so cannot lead it")
    if held.lead != lead:
        audit.record(session, "lead_changed", actor=doer.username, subject=username, role=role, lead=lead)
    held.lead = lead
    session.flush()
    return user


def lane_leads(session: Session, role: str) -> list[str]:
    """Usernames of the active leads of `role`, or of the active ops leads when it has none."""
    return leads_by_role(session, [role])[role]


def leads_by_role(session: Session, roles: list[str] | set[str]) -> dict[str, list[str]]:
    """`lane_leads` of several roles with one query: role -> usernames (sorted)."""
    wanted = sorted(set(roles))
    rows = session.execute(
        select(UserRole.role, UserRole.lead, User.username)
        .join(User, User.id == UserRole.user_id)
        .where(
            User.active.is_(True),
            (UserRole.role == OPS_LEAD) | (UserRole.role.in_(wanted) & UserRole.lead.is_(True)),
        )
        .order_by(User.username)
    ).all()
    ops = [name for role, _lead, name in rows if role == OPS_LEAD]
    leads = {role: [name for r, lead, name in rows if r == role and lead] for role in wanted}
    return {role: names or ops for role, names in leads.items()}
