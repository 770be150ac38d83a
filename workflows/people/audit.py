"""The audit log: every permission-relevant action, written by the use case that acts, in its
own transaction (a refused or rolled-back action leaves no entry; a failed login does, because
`attempt_login` commits its failures).

Actions (`ACTIONS`): logins and their failures, users added or changed (roles, activation),
passwords set, tokens issued and revoked, definitions deployed, tasks done on someone's behalf or
reassigned, teams changed, engagements cancelled, lane leads named, cover arranged. Admins read
the log (`audit_log`), filtered, and as CSV (`audit_csv`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workflows.models import AuditEntry
from workflows.people.permissions import READ_AUDIT, authorize

ACTIONS: dict[str, str] = {
    "login": "logged in",
    "login_failed": "login failed",
    "login_throttled": "login refused: too many failures",
    "user_created": "user added",
    "roles_changed": "roles changed",
    "user_updated": "user details changed",
    "user_deactivated": "user deactivated",
    "user_reactivated": "user reactivated",
    "password_set": "password set",
    "token_issued": "API token issued",
    "token_revoked": "API token revoked",
    "definition_deployed": "definition deployed",
    "acted_on_behalf": "acted on someone's behalf",
    "task_reassigned": "task reassigned",
    "team_changed": "team changed",
    "engagement_cancelled": "engagement cancelled",
    "lead_changed": "lane lead changed",
    "cover_arranged": "cover arranged",
}
MAX_ROWS = 1000


def record(
    session: Session,
    action: str,
    *,
    actor: str | None,
    subject: str | None = None,
    at: datetime | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add an entry to the audit log in the caller's unit of work.

    Args:
        session: the unit of work of the action itself (the entry commits or rolls back with it).
        action: one of `ACTIONS`.
        actor: who acted (None: an operator at the command line, before the store has an admin).
        subject: whom or what it was done to (a username, ``engagement 7``, a definition).
        at: when (default: now; use cases pass their services' clock).
        **detail: facts worth keeping (JSON-serialisable: roles before and after, a reason...).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action '{action}'")
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        action=action,
        actor=actor,
        subject=subject,
        detail={k: v for k, v in detail.items() if v is not None},
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page narrows to (None: everything)."""

    action: str | None = None
    person: str | None = None  # the actor or the subject
    since: datetime | None = None
    until: datetime | None = None  # excluded


def audit_log(session: Session, *, actor: str, filters: AuditFilter = AuditFilter()) -> list[AuditEntry]:
    """The newest entries (at most `MAX_ROWS`) matching `filters` (admins).

    Raises:
        PermissionDenied: the actor is not an admin.
        ValueError: an unknown action.
    """
    authorize(session, actor, READ_AUDIT)
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(MAX_ROWS)
    if filters.action:
        if filters.action not in ACTIONS:
            raise ValueError(f"unknown action '{filters.action}' (one of: {', '.join(ACTIONS)})")
        stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.person:
        name = filters.person.strip().lower()
        stmt = stmt.where(or_(AuditEntry.actor == name, AuditEntry.subject == name))
    if filters.since is not None:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEntry.at < filters.until)
    return list(session.scalars(stmt))


def describe(detail: Mapping[str, Any]) -> str:
    """An entry's detail as one readable line (``reason: on leave; roles: admin -> ops_lead``)."""
    parts = []
    for key, value in sorted(detail.items()):
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value) or "none"
        elif isinstance(value, dict):
            value = "; ".join(f"{k} {v}" for k, v in value.items())
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return " · ".join(parts)


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    """Entries as CSV (UTC times in ISO 8601), one row each, a header first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "action", "actor", "subject", "detail"])
    for e in entries:
        cells = [e.at.isoformat(), e.action, e.actor or "", e.subject or "", describe(e.detail or {})]
        writer.writerow([_inert(c) for c in cells])
    return out.getvalue()


def _inert(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (a reason may start with '=')."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
