"""Your notifications: what happened to your tasks, unread first; mark one or all read."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from workflows.notify.notifications import KINDS, list_notifications, mark_all_read, mark_read, unread_count

from .common import BIGINT_MAX, actor, problems, work

blp = Blueprint(
    "notifications",
    __name__,
    url_prefix="/api/v1",
    description="Your notifications (new task, due soon, overdue, sent back); nobody reads another's.",
)


class NotificationQuery(Schema):
    """Which of your notifications."""

    include_read = fields.Boolean(load_default=False, metadata={"description": "also those already read"})
    limit = fields.Integer(load_default=20, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, BIGINT_MAX))


class NotificationSchema(Schema):
    """A message about one of your tasks."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    engagement_id = fields.Integer(allow_none=True)
    client = fields.Function(
        lambda n: n.engagement.client if n.engagement else None,
        allow_none=True,
        metadata={"description": "the engagement's client"},
    )
    engagement_name = fields.Function(
        lambda n: n.engagement.name if n.engagement else None,
        allow_none=True,
        metadata={"description": "the engagement's name"},
    )
    task_id = fields.String(allow_none=True)
    title = fields.String(required=True)
    message = fields.String(required=True)
    link = fields.String(allow_none=True, metadata={"description": "where it is in the app"})
    created_at = fields.DateTime(required=True)
    read_at = fields.DateTime(allow_none=True)


class NotificationListSchema(Schema):
    """A page of your notifications, with how many are unread in all."""

    items = fields.List(fields.Nested(NotificationSchema), required=True)
    unread = fields.Integer(required=True)


class MarkedSchema(Schema):
    """How many were marked read."""

    marked = fields.Integer(required=True)
    unread = fields.Integer(required=True)


@blp.get("/me/notifications")
@blp.arguments(NotificationQuery, location="query", as_kwargs=True)
@blp.response(200, NotificationListSchema)
@problems(blp, 422)
def index(include_read: bool, limit: int, offset: int) -> Any:
    """Your notifications: unread ones first, newest first within each."""
    with work() as (session, _services):
        me = actor()
        items = list_notifications(
            session, user=me, include_read=include_read, limit=limit, offset=offset
        )
        return {"items": items, "unread": unread_count(session, user=me)}


@blp.post(f"/me/notifications/<id(max={BIGINT_MAX}):notification_id>/read")
@blp.response(200, NotificationSchema)
@problems(blp, 403, 404)
def read(notification_id: int) -> Any:
    """Mark one of your notifications read (again: no change)."""
    with work(write=True) as (session, services):
        return mark_read(session, services, notification_id, user=actor())


@blp.post("/me/notifications/read-all")
@blp.response(200, MarkedSchema)
@problems(blp)
def read_all() -> Any:
    """Mark all your unread notifications read."""
    with work(write=True) as (session, services):
        me = actor()
        marked = mark_all_read(session, services, user=me)
        return {"marked": marked, "unread": unread_count(session, user=me)}
