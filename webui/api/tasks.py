"""Tasks: inboxes, one task with its form, claim, release, reassign, complete, log effort."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from workflows.engagements.effort import MAX_HOURS_PER_ENTRY, MAX_NOTE, log_effort
from workflows.engagements.tasks import claim_task, complete_task, reassign_task, unclaim_task
from workflows.engagements.versions import engagement_version
from workflows.views.inbox import VIEWS, inbox, task_detail

from .common import (
    BIGINT_MAX,
    ETAG_HEADER,
    IF_MATCH,
    PageArgs,
    actor,
    etag,
    expected_version,
    page_body,
    problems,
    text,
    work,
)
from .schemas import TaskPageSchema, TaskSchema, task_body

blp = Blueprint(
    "tasks",
    __name__,
    url_prefix="/api/v1",
    description="Human tasks of engagements. {task} is a task id, or the BPMN id of a single open task.",
)
TASK = "/engagements/<id:engagement_id>/tasks/<task_ref>"


class InboxQuery(PageArgs):
    """Which inbox."""

    view = fields.String(
        load_default="mine",
        validate=validate.OneOf(VIEWS),
        metadata={
            "description": "mine: held by me or whom I cover; lanes: my roles' lanes; overdue: past due "
            "(mine and my lanes', everyone's for ops leads, leadership, admins); all"
        },
    )
    engagement = fields.Integer(
        validate=validate.Range(0, BIGINT_MAX), metadata={"description": "only this one"}
    )


class TaskDetailSchema(TaskSchema):
    """A task with the JSON Schema its completion data must satisfy."""

    form_schema = fields.Dict(allow_none=True, metadata={"description": "JSON Schema of the form"})
    version = fields.String(required=True, metadata={"description": "the engagement's version (the ETag)"})


class ReassignSchema(Schema):
    """Whom a task goes to."""

    assignee = text(
        max_length=100, required=True, allow_none=True, metadata={"description": "null: the lane"}
    )
    reason = text(max_length=2000)


class CompleteSchema(Schema):
    """A task's form data; its `*_decision` field, if any, is the decision recorded."""

    data = fields.Dict(keys=fields.String(), load_default=dict, metadata={"description": "the form"})
    on_behalf_of = text(max_length=100, metadata={"description": "ops leads and admins, with a reason"})
    reason = text(max_length=2000)
    take_over = fields.Boolean(
        load_default=False,
        metadata={"description": "complete a task someone else claimed, in their place (its role's members)"},
    )


class CompletedSchema(Schema):
    """What a completion did."""

    status = fields.String(required=True, metadata={"description": "the engagement's status"})
    ready = fields.List(fields.String(), required=True, metadata={"description": "steps now open"})
    end_event = fields.String(allow_none=True)
    version = fields.String(required=True)


class EffortSchema(Schema):
    """Hours worked on a task."""

    hours = fields.Float(required=True, validate=validate.Range(0, MAX_HOURS_PER_ENTRY, min_inclusive=False))
    note = text(max_length=MAX_NOTE, load_default="")
    worked_on = fields.Date(metadata={"description": "default: today"})


class EffortLoggedSchema(Schema):
    """An effort entry."""

    id = fields.Integer(required=True)
    task_id = fields.String(required=True)
    bpmn_id = fields.String(required=True)
    lane = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    username = fields.String(required=True)
    hours = fields.Float(required=True)
    note = fields.String(required=True)
    worked_on = fields.Date(required=True)


@blp.get("/tasks")
@blp.arguments(InboxQuery, location="query", as_kwargs=True)
@blp.response(200, TaskPageSchema)
@problems(blp, 422)
def index(view: str, page: int, per_page: int, engagement: int | None = None) -> Any:
    """My inbox, my lanes' pools, what is overdue, or everything; soonest due first."""
    with work() as (session, services):
        found = inbox(
            session,
            services,
            actor=actor(),
            view=view,
            engagement_id=engagement,
            page=page,
            per_page=per_page,
        )
        return page_body(found, [task_body(t, e) for t, e in found.items])


@blp.get(TASK)
@blp.response(200, TaskDetailSchema, headers=ETAG_HEADER)
@problems(blp, 404)
def show(engagement_id: int, task_ref: str) -> Any:
    """One task (open or done) with its form's JSON Schema and the engagement's ETag."""
    with work() as (session, services):
        found = task_detail(session, services, engagement_id, task_ref, actor=actor())
        body = {
            **task_body(found.task, found.engagement),
            "form_schema": found.form_schema,
            "version": found.version,
        }
    return body, 200, etag(found.version)


@blp.post(f"{TASK}/claim")
@blp.response(200, TaskSchema)
@problems(blp, 403, 404, 409)
def claim(engagement_id: int, task_ref: str) -> Any:
    """Claim a task: it is yours to work on (its assignee, their cover, or a lane member)."""
    with work(write=True) as (session, services):
        return task_body(claim_task(session, services, engagement_id, task_ref, actor=actor()))


@blp.delete(f"{TASK}/claim")
@blp.response(200, TaskSchema)
@problems(blp, 403, 404, 409)
def unclaim(engagement_id: int, task_ref: str) -> Any:
    """Release a claim (the claimer, their cover, an ops lead or an admin)."""
    with work(write=True) as (session, services):
        return task_body(unclaim_task(session, services, engagement_id, task_ref, actor=actor()))


@blp.post(f"{TASK}/reassign")
@blp.arguments(ReassignSchema)
@blp.response(200, TaskSchema)
@problems(blp, 400, 403, 404, 409, 422)
def reassign(args: dict[str, Any], engagement_id: int, task_ref: str) -> Any:
    """Give a task to someone else of its lane's role, or to the lane (ops leads, admins)."""
    with work(write=True) as (session, services):
        row = reassign_task(
            session,
            services,
            engagement_id,
            task_ref,
            args["assignee"],
            actor=actor(),
            reason=args.get("reason"),
        )
        return task_body(row)


@blp.post(f"{TASK}/complete")
@blp.arguments(CompleteSchema)
@blp.response(200, CompletedSchema, headers=ETAG_HEADER)
@blp.doc(parameters=[IF_MATCH])
@problems(blp, 400, 403, 404, 409, 412, 422)
def complete(args: dict[str, Any], engagement_id: int, task_ref: str) -> Any:
    """Complete a task with its form data; the workflow runs on to the next steps."""
    with work(write=True) as (session, services):
        result = complete_task(
            session,
            services,
            engagement_id,
            task_ref,
            args["data"],
            actor=actor(),
            on_behalf_of=args.get("on_behalf_of"),
            reason=args.get("reason"),
            expected_version=expected_version(),
            take_over=args["take_over"],
        )
        version = engagement_version(session, engagement_id)
    body = {"status": result.status, "ready": result.ready, "end_event": result.end_event, "version": version}
    return body, 200, etag(version)


@blp.post(f"{TASK}/effort")
@blp.arguments(EffortSchema)
@blp.response(201, EffortLoggedSchema)
@problems(blp, 400, 403, 404, 422)
def effort(args: dict[str, Any], engagement_id: int, task_ref: str) -> Any:
    """Log hours worked on a task (open or done), by someone who may work it."""
    with work(write=True) as (session, services):
        return log_effort(
            session,
            services,
            engagement_id,
            task_ref,
            args["hours"],
            actor=actor(),
            note=args["note"],
            worked_on=args.get("worked_on"),
        )
