"""Staff pages: my inbox (mine, my lanes' pool, overdue, due this week) and my notifications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.models import HumanTask
from workflows.agency import STAGE_LABELS, STAGES
from workflows.models import Engagement
from workflows.notify.notifications import LABELS, list_notifications, mark_all_read, mark_read, unread_count
from workflows.people.permissions import PermissionDenied
from workflows.time.calendar import BusinessCalendar
from workflows.views.inbox import inbox as inbox_query
from workflows.views.lists import my_tasks, pool_tasks

from .auth import current_user
from .request_work import current, work
from .services import get_services

bp = Blueprint("inbox", __name__)
SLA_LABELS = {"on_track": "on track", "at_risk": "at risk", "breached": "breached", "paused": "paused"}


@dataclass(frozen=True)
class InboxRow:
    """A task in the inbox, with its SLA badge and the business time left (negative: overdue)."""

    task: HumanTask
    engagement: Engagement
    sla: str | None
    hours_left: float | None

    @property
    def time_left(self) -> str:
        """'3.5 bh left' or '2 bh over' (business hours), '' without a deadline."""
        if self.hours_left is None:
            return ""
        hours = abs(self.hours_left)
        amount = f"{hours:.1f}".rstrip("0").rstrip(".")
        return f"{amount} bh left" if self.hours_left >= 0 else f"{amount} bh over"


def sla_of(task: HumanTask) -> str | None:
    """The task's SLA badge: paused, on track, at risk, breached (None: no deadline)."""
    if task.sla_paused_at is not None:
        return "paused"
    if task.due_at is None:
        return None
    return task.sla_state or "on_track"


def row_of(task: HumanTask, engagement: Engagement, calendar: BusinessCalendar, now: datetime) -> InboxRow:
    """A task with its badge and business hours left until (or past) its due time."""
    left: float | None = None
    if task.due_at is not None:
        if task.due_at >= now:
            left = calendar.business_hours_between(now, task.due_at)
        else:
            left = -calendar.business_hours_between(task.due_at, now)
    return InboxRow(task, engagement, sla_of(task), left)


def _matches(row: InboxRow, engagement: int | None, client: str, stage: str) -> bool:
    if engagement is not None and row.engagement.id != engagement:
        return False
    if client and client.lower() not in row.engagement.client.lower():
        return False
    return not (stage and row.task.stage != stage)


@bp.get("/inbox")
def inbox() -> str:
    """My tasks, my lanes' unclaimed pool, what is overdue and what is due this week, filtered."""
    engagement = request.args.get("engagement", type=int)
    client = request.args.get("client", "").strip()
    stage = request.args.get("stage", "").strip()
    me = current_user().username
    with work() as (session, svc):
        now = svc.runtime.clock()

        def rows(found: list[tuple[HumanTask, Engagement]]) -> list[InboxRow]:
            made = [row_of(t, e, svc.calendar, now) for t, e in found]
            return [r for r in made if _matches(r, engagement, client, stage)]

        mine = rows(my_tasks(session, svc, me))
        pool = rows(pool_tasks(session, me))
        overdue = rows(inbox_query(session, svc, actor=me, view="overdue", per_page=200).items)
    # each task in one section: mine first, then my lanes' pool, then what is overdue elsewhere
    # (an overseer's view of other people's late work); a late task of mine is marked late in mine
    seen = {row.task.id for row in mine}
    pool = [row for row in pool if row.task.id not in seen]
    seen |= {row.task.id for row in pool}
    overdue = [row for row in overdue if row.task.id not in seen]
    sections = [
        ("mine", "My tasks", mine, "Nothing is waiting for you."),
        ("pool", "My lanes' pool", pool, "No unclaimed work in your lanes."),
        ("overdue", "Overdue elsewhere", overdue, "Nothing overdue."),
    ]
    filters = {"engagement": engagement, "client": client, "stage": stage}
    return render_template(
        "inbox.html",
        sections=sections,
        filters=filters,
        stages=STAGES,
        stage_labels=STAGE_LABELS,
        sla_labels=SLA_LABELS,
    )


@bp.get("/notifications")
def notifications() -> str:
    """My notifications, unread first."""
    with work() as (session, _svc):
        notes = list_notifications(session, user=current_user().username, include_read=True, limit=100)
    return render_template("notifications.html", notes=notes, labels=LABELS)


@bp.post("/notifications/<int:notification_id>/read")
def notification_read(notification_id: int) -> Response:
    """Mark one notification read, then follow its link (or back to the list)."""
    try:
        with work(write=True) as (session, svc):
            note = mark_read(session, svc, notification_id, user=current_user().username)
            link = note.link
    except PermissionDenied:
        abort(404)  # someone else's notification is none of this user's business (unknown: 404 too)
    if request.form.get("follow") and link and link.startswith("/"):
        return redirect(link)
    return redirect(url_for("inbox.notifications"))


@bp.post("/notifications/read-all")
def notifications_read_all() -> Response:
    """Mark every unread notification read."""
    with work(write=True) as (session, svc):
        marked = mark_all_read(session, svc, user=current_user().username)
    flash(f"Marked {marked} notification{'s' if marked != 1 else ''} read.", "ok")
    return redirect(url_for("inbox.notifications"))


@bp.app_context_processor
def unread_badge() -> dict[str, Any]:
    """The unread count for the nav badge (pages of a logged-in user only)."""
    user = g.get("user")
    if user is None or request.path.startswith("/api/"):
        return {"unread_notifications": 0}
    svc = get_services()
    ongoing = current()
    if ongoing is not None:  # the request's (reading) unit of work
        return {"unread_notifications": unread_count(ongoing.session, user=user.username)}
    with svc.db.unit_of_work(write=False) as session:  # after a write was committed, or public pages
        return {"unread_notifications": unread_count(session, user=user.username)}
