"""Response schemas several resources share: engagements and tasks as the API shows them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from engine.models import HumanTask, WorkflowInstance
from workflows.models import Engagement

from .common import PageInfo


class EngagementRefSchema(Schema):
    """Which engagement something belongs to."""

    id = fields.Integer(required=True)
    client = fields.String(required=True)
    name = fields.String(required=True)


class EngagementSchema(EngagementRefSchema):
    """An engagement in a list."""

    process_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "running, completed or cancelled"})
    stages = fields.List(fields.String(), required=True, metadata={"description": "the stage(s) it is in"})
    options = fields.Dict(required=True)
    created_by = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


class EngagementPageSchema(PageInfo):
    """A page of engagements."""

    items = fields.List(fields.Nested(EngagementSchema), required=True)


class TaskSchema(Schema):
    """A human task: who holds it, its deadline, its form."""

    task_id = fields.String(required=True)
    bpmn_id = fields.String(required=True)
    title = fields.String(required=True)
    lane = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    form = fields.String(allow_none=True)
    state = fields.String(required=True, metadata={"description": "ready, completed or cancelled"})
    assignee = fields.String(allow_none=True)
    claimed_by = fields.String(allow_none=True)
    claimed_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)
    warn_at = fields.DateTime(allow_none=True)
    sla_state = fields.String(allow_none=True, metadata={"description": "on_track, at_risk or breached"})
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.String(allow_none=True)
    engagement = fields.Nested(EngagementRefSchema)


class TaskPageSchema(PageInfo):
    """A page of tasks."""

    items = fields.List(fields.Nested(TaskSchema), required=True)


def engagement_body(engagement: Engagement, instance: WorkflowInstance) -> dict[str, Any]:
    """An engagement and its instance row as `EngagementSchema` dumps them."""
    return {
        "id": engagement.id,
        "client": engagement.client,
        "name": engagement.name,
        "process_id": engagement.process_id,
        "status": instance.status,
        "stages": list(instance.active_stages or []),
        "options": engagement.options or {},
        "created_by": engagement.created_by,
        "created_at": engagement.created_at,
    }


def task_body(task: HumanTask, engagement: Engagement | None = None) -> dict[str, Any]:
    """A task (and the engagement it belongs to) as `TaskSchema` dumps it."""
    body = {name: getattr(task, name) for name in TaskSchema._declared_fields if name != "engagement"}
    if engagement is not None:
        body["engagement"] = {"id": engagement.id, "client": engagement.client, "name": engagement.name}
    return body
