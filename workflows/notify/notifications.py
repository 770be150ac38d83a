"""Notifications: who hears of what happens to tasks, in the app and by e-mail.

`Notifier` listens to the event log and turns events into one notification per person, in
the transaction that logged them:

* ``assigned``: a task became ready with an assignee, or was given to someone;
* ``due_soon``: a task passed its warning point (to whoever holds it: claimer, else assignee);
* ``breached``: a task passed its due time (to its holder and the leads of its lane's role,
  see `workflows.people.leads`); an ``sla_escalated`` event records whom it told;
* ``sent_back``: a decision sent work back (``changes_requested``, ``rejected``, or the
  older ``declined``/``fail``/``change_request``): to the holders of the tasks it reopened.

Whoever covers the recipient that day gets a copy; nobody hears of their own action.
E-mail never leaves inside that transaction: when SMTP is configured, a notification for a
user with an address is written as ``pending`` and `workflows.notify.outbox` sends it later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Date,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from engine.errors import NotFoundError
from engine.events import EventLog
from engine.fastsql import FastStatement
from engine.models import HumanTask, UTCDateTime, WorkflowInstance
from workflows.agency import OPS_LEAD
from workflows.models import Cover, Engagement, Notification, User
from workflows.people.assignment import LaneRoleCache
from workflows.people.leads import leads_by_role
from workflows.people.permissions import PermissionDenied, acting_user
from workflows.services import Services
from workflows.time import zones
from workflows.time.calendar import BusinessCalendar

ASSIGNED, DUE_SOON, BREACHED, SENT_BACK = "assigned", "due_soon", "breached", "sent_back"
KINDS = (ASSIGNED, DUE_SOON, BREACHED, SENT_BACK)
LABELS = {ASSIGNED: "New task", DUE_SOON: "Due soon", BREACHED: "Overdue", SENT_BACK: "Sent back"}
# decisions that send work back to someone (the last three are older forms' words)
SEND_BACK = frozenset({"changes_requested", "rejected", "declined", "fail", "change_request"})
ESCALATED = "sla_escalated"

# -- writing notifications -------------------------------------------------------------------

_NOTE = cast(Table, Notification.__table__)
_USER = cast(Table, User.__table__)
_COVER = cast(Table, Cover.__table__)
_ENGAGEMENT = cast(Table, Engagement.__table__).alias("e")
_TASK = cast(Table, HumanTask.__table__).alias("h")
_COLUMNS = (
    "user_id",
    "kind",
    "engagement_id",
    "instance_id",
    "task_id",
    "title",
    "message",
    "link",
    "created_at",
    "email_state",
    "email_attempts",
    "email_next_at",
)


def _param(name: str, type_: Any) -> Any:
    return bindparam(name, type_=type_)


def _rows_for(recipient: Any, message: str, from_: Any) -> Any:
    """SELECT the notification row(s) for `recipient` (a user_account alias), with the
    engagement, its link and the task's title read in the same statement."""
    instance = _param("instance_id", BigInteger())
    created = _param("created_at", UTCDateTime())
    return select(
        recipient.c.id,
        _param("kind", String()),
        _ENGAGEMENT.c.id,
        instance,
        _param("task_id", String()),
        func.coalesce(_TASK.c.title, _param("bpmn_id", String())),
        _param(message, Text()),
        case(
            (
                _ENGAGEMENT.c.id.is_not(None),
                literal_column("'/engagements/'", String) + sql_cast(_ENGAGEMENT.c.id, String),
            ),
            else_=None,
        ),
        created,
        case(
            # e-mail to those with an address who did not turn it off on My account
            (
                and_(recipient.c.email.is_not(None), recipient.c.notify_email.is_(True)),
                _param("mail_state", String()),
            ),
            else_=literal_column("'none'"),
        ),
        literal_column("0"),
        created,
    ).select_from(
        from_.outerjoin(_ENGAGEMENT, _ENGAGEMENT.c.instance_id == instance).outerjoin(
            _TASK, and_(_TASK.c.instance_id == instance, _TASK.c.task_id == _param("task_id", String()))
        )
    )


_DIRECT = _USER.alias("u")
_AWAY, _COVERING = _USER.alias("away"), _USER.alias("c")
# One statement per notification, no round trip of its own: the recipient's row (when they
# are an active user) and one for whoever covers them that day.
_INSERT = FastStatement(
    insert(_NOTE).from_select(
        list(_COLUMNS),
        union_all(
            _rows_for(_DIRECT, "message", _DIRECT).where(
                _DIRECT.c.username == _param("username", String()), _DIRECT.c.active.is_(True)
            ),
            _rows_for(
                _COVERING,
                "cover_message",
                _COVER.join(_AWAY, _AWAY.c.id == _COVER.c.user_id).join(
                    _COVERING, _COVERING.c.id == _COVER.c.cover_id
                ),
            ).where(
                _AWAY.c.username == _param("username", String()),
                _COVER.c.starts_on <= _param("day", Date()),
                _COVER.c.ends_on >= _param("day", Date()),
                _COVERING.c.active.is_(True),
                _COVERING.c.username != _param("actor", String()),
            ),
        ),
    )
)


class Notifier:
    """The event listener that writes notifications (and records escalations).

    Args:
        lanes: lane -> role of each deployed version (whose leads hear of a breach).
        calendar: the agency calendar (its time zone dates cover and formats due times).
        email: whether e-mail is configured (then users with an address get one).
    """

    def __init__(self, lanes: LaneRoleCache, calendar: BusinessCalendar, *, email: bool) -> None:
        self.lanes = lanes
        self.calendar = calendar
        self.mail_state = "pending" if email else "none"

    def on_events(self, session: Session, log: EventLog, events: Sequence[Mapping[str, Any]]) -> None:
        """Write the notifications `events` call for; log an escalation per breach."""
        step_actor: dict[int, str | None] = {}
        sent_back: dict[int, Mapping[str, Any]] = {}
        deadlines: list[Mapping[str, Any]] = []
        for event in events:
            kind = event["kind"]
            if kind in ("task_completed", "started"):
                step_actor[event["instance_id"]] = event["actor"]
                if event["decision"] in SEND_BACK:
                    sent_back[event["instance_id"]] = event
            elif kind in ("sla_at_risk", "sla_breached"):
                deadlines.append(event)
        notes: list[dict[str, Any]] = []
        for event in events:
            if event["kind"] == "task_ready":
                note = self._on_ready(event, step_actor, sent_back)
            elif event["kind"] == "task_assigned":
                note = self._on_assigned(event)
            else:
                continue
            if note is not None:
                notes.append(note)
        escalations: list[dict[str, Any]] = []
        if deadlines:
            notes += self._on_deadlines(session, deadlines, escalations)
        if notes:
            _INSERT.executemany(session.connection(), notes)
        if escalations:
            log.append(session, escalations)

    # -- what each event calls for ---------------------------------------------------------

    def _note(
        self, event: Mapping[str, Any], username: str, kind: str, message: str, cover: str
    ) -> dict[str, Any]:
        at: datetime = event["at"]
        return {
            "username": username,
            "kind": kind,
            "instance_id": event["instance_id"],
            "task_id": event["task_id"],
            "bpmn_id": event["bpmn_id"] or "a task",
            "message": message,
            "cover_message": f"{cover} (you cover {username} today)",
            "created_at": at,
            "mail_state": self.mail_state,
            "day": at.astimezone(self.calendar.zone).date(),
            "actor": event["actor"] or "",
        }

    def _on_ready(
        self,
        event: Mapping[str, Any],
        step_actor: Mapping[int, str | None],
        sent_back: Mapping[int, Mapping[str, Any]],
    ) -> dict[str, Any] | None:
        assignee = (event["detail"] or {}).get("assignee")
        actor = step_actor.get(event["instance_id"])
        if not assignee or assignee == actor:
            return None  # in its lane's pool, or the next step of the one who just acted
        event = {**event, "actor": actor}
        back = sent_back.get(event["instance_id"])
        if back is None:
            return self._note(event, assignee, ASSIGNED, "Ready for you.", f"Ready for {assignee}")
        comment = (back["detail"] or {}).get("comment")
        why = f"{actor or 'Someone'} sent it back ({str(back['decision']).replace('_', ' ')})"
        said = f": “{comment}”" if comment else "."
        return self._note(event, assignee, SENT_BACK, f"{why}{said}", f"{why} to {assignee}{said}")

    def _on_assigned(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        detail = event["detail"] or {}
        to, actor = detail.get("to"), event["actor"]
        if not to or to == detail.get("from") or to == actor:
            return None
        reason = detail.get("reason")
        given = f"{actor} gave it to you" if actor else "It is yours now"
        message = f"{given}: {reason}." if reason else f"{given}."
        return self._note(event, to, ASSIGNED, message, f"Given to {to}")

    def _on_deadlines(
        self, session: Session, events: list[Mapping[str, Any]], escalations: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Notes for the holders (and, on breach, the lane leads) of tasks whose deadline state
        moved; fills `escalations` with one ``sla_escalated`` event per breach."""
        holders = _holders(session, events)
        roles = {
            (e["instance_id"], e["task_id"]): self.lanes.role_of(
                session, holders[(e["instance_id"], e["task_id"])][1], e["lane"]
            )
            or OPS_LEAD
            for e in events
            if e["kind"] == "sla_breached" and (e["instance_id"], e["task_id"]) in holders
        }
        leads = leads_by_role(session, set(roles.values())) if roles else {}
        notes = []
        for event in events:
            key = (event["instance_id"], event["task_id"])
            if key not in holders:
                continue  # the task is gone (its instance was deleted)
            holder = holders[key][0]
            due_iso = (event["detail"] or {}).get("due_at")
            if event["kind"] == "sla_at_risk":
                if holder:
                    due = self._when(session, due_iso, holder)
                    message = f"Due {due}: its warning point has passed."
                    notes.append(
                        self._note(event, holder, DUE_SOON, message, f"{holder}'s task is due {due}")
                    )
                continue
            role = roles[key]
            escalated_to = [lead for lead in leads[role] if lead != holder]
            if holder:
                due = self._when(session, due_iso, holder)
                also = f" Escalated to {', '.join(escalated_to)}." if escalated_to else ""
                message = f"Overdue: it was due {due}.{also}"
                notes.append(self._note(event, holder, BREACHED, message, f"{holder}'s task is overdue"))
            held = f"{holder} holds it" if holder else "nobody holds it"
            for lead in escalated_to:
                due = self._when(session, due_iso, lead)
                message = f"Overdue in your lane: it was due {due}; {held}."
                notes.append(self._note(event, lead, BREACHED, message, f"Overdue, due {due}"))
            told = [holder, *escalated_to] if holder else escalated_to
            escalations.append(
                {
                    **event,
                    "kind": ESCALATED,
                    "detail": {
                        "notified": told,
                        "holder": holder,
                        "role": role,
                        "leads": leads[role],
                        "due_at": (event["detail"] or {}).get("due_at"),
                    },
                }
            )
        return notes

    def _when(self, session: Session, iso: str | None, reader: str) -> str:
        """A due time as `reader` reads it: in their zone, named when it is not the calendar's."""
        if not iso:
            return "now"
        zone = zones.zone_of(session, reader, self.calendar.timezone)
        named = zone.key != self.calendar.zone.key
        return zones.when(datetime.fromisoformat(iso), zone, zones.BRIEF, named=named)


def _holders(
    session: Session, events: Sequence[Mapping[str, Any]]
) -> dict[tuple[int, str], tuple[str | None, int]]:
    """(instance, task) -> (who holds the task: claimer, else assignee; definition id), one query."""
    instances = {e["instance_id"] for e in events}
    tasks = {e["task_id"] for e in events}
    rows = session.execute(
        select(
            HumanTask.instance_id,
            HumanTask.task_id,
            HumanTask.claimed_by,
            HumanTask.assignee,
            WorkflowInstance.definition_id,
        )
        .join(WorkflowInstance, WorkflowInstance.id == HumanTask.instance_id)
        .where(HumanTask.instance_id.in_(instances), HumanTask.task_id.in_(tasks))
    )
    return {(i, t): (claimed or assignee, definition) for i, t, claimed, assignee, definition in rows}


# -- reading them -------------------------------------------------------------------------------


def list_notifications(
    session: Session,
    *,
    user: str,
    include_read: bool = False,
    limit: int = 20,
    offset: int = 0,
) -> list[Notification]:
    """A user's own notifications: unread ones first, newest first within each.

    None for a user who turned in-app notifications off on My account (they are still
    written, for e-mail).

    Args:
        session: the unit of work.
        services: Baton's services.
        user: whose (the acting user: nobody reads someone else's).
        include_read: also those already read.
        limit: a page of at most this many (1-200).
        offset: how many to skip (the pages before).

    Raises:
        PermissionDenied: unknown or inactive user.
        ValueError: a bad page.
    """
    person = acting_user(session, user)
    if not 1 <= limit <= 200 or offset < 0:
        raise ValueError("a page holds 1 to 200 notifications, from an offset of 0 or more")
    stmt = (
        select(Notification)
        .join(User, User.id == Notification.user_id)
        # in-app turned off on My account: none listed (they still exist for e-mail)
        .where(Notification.user_id == person.id, User.notify_in_app.is_(True))
        .order_by(Notification.read_at.is_not(None), Notification.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if not include_read:
        stmt = stmt.where(Notification.read_at.is_(None))
    return list(session.scalars(stmt))


def unread_count(session: Session, *, user: str) -> int:
    """How many of the user's notifications are unread (raises PermissionDenied for strangers).

    0 for a user who turned in-app notifications off on My account.
    """
    person = acting_user(session, user)
    stmt = (
        select(func.count())
        .select_from(Notification)
        .join(User, User.id == Notification.user_id)
        .where(
            Notification.user_id == person.id,
            Notification.read_at.is_(None),
            User.notify_in_app.is_(True),
        )
    )
    return int(session.scalar(stmt) or 0)


def mark_read(session: Session, services: Services, notification_id: int, *, user: str) -> Notification:
    """Mark one of the user's notifications read (reading it again changes nothing).

    Raises:
        NotFoundError: no such notification.
        PermissionDenied: it is someone else's, or the user is unknown or inactive.
    """
    person = acting_user(session, user)
    note = session.get(Notification, notification_id)
    if note is None:
        raise NotFoundError(f"no notification {notification_id}")
    if note.user_id != person.id:
        raise PermissionDenied(f"notification {notification_id} is not {person.username}'s to mark read")
    if note.read_at is None:
        note.read_at = services.runtime.clock()
        session.flush()
    return note


def mark_all_read(session: Session, services: Services, *, user: str) -> int:
    """Mark every unread notification of the user read; returns how many."""
    person = acting_user(session, user)
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == person.id, Notification.read_at.is_(None))
        .values(read_at=services.runtime.clock())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))
