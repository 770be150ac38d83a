"""Engagements: start, list with filters, read (stage, team, tasks, decisions, history), team, cancel."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import Session

from workflows.agency import STAGES
from workflows.engagements.lifecycle import (
    EngagementView,
    cancel_engagement,
    start_engagement,
    view_engagement,
)
from workflows.engagements.lifecycle import change_team as change_team_of
from workflows.engagements.versions import engagement_version
from workflows.services import Services
from workflows.views.inbox import STATUSES, engagement_detail, search_engagements

from .common import (
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
from .schemas import EngagementPageSchema, EngagementSchema, TaskSchema, engagement_body, task_body

blp = Blueprint(
    "engagements",
    __name__,
    url_prefix="/api/v1/engagements",
    description="Client engagements: one BPMN instance each, with its team.",
)
USERNAME_MAX = 100


class EngagementQuery(PageArgs):
    """Filters of the engagement list."""

    status = fields.String(validate=validate.OneOf(STATUSES))
    stage = fields.String(validate=validate.OneOf(STAGES))
    client = text(max_length=200, metadata={"description": "part of the client's name, any case"})
    member = text(max_length=100, metadata={"description": "a username on the team"})
    process_id = text(max_length=200)


class StartSchema(Schema):
    """A new engagement and its team."""

    client = text(max_length=200, required=True, blank=False)
    name = text(max_length=300, required=True, blank=False)
    process_id = text(max_length=200, load_default="engagement")
    options = fields.Dict(
        keys=fields.String(), load_default=dict, metadata={"description": "see definitions/README.md"}
    )
    account_manager = text(max_length=USERNAME_MAX, allow_none=True)
    project_manager = text(max_length=USERNAME_MAX, allow_none=True)
    resource_manager = text(max_length=USERNAME_MAX, allow_none=True)


class TeamChangeSchema(Schema):
    """Who joins the team (roles not named stay as they are)."""

    account_manager = text(max_length=USERNAME_MAX)
    project_manager = text(max_length=USERNAME_MAX)
    resource_manager = text(max_length=USERNAME_MAX)
    reason = text(max_length=2000, metadata={"description": "kept in the history"})


class CancelSchema(Schema):
    """Why an engagement is cancelled."""

    reason = text(max_length=2000, required=True, blank=False)


class DecisionSchema(Schema):
    """A decision taken at a step (sign-offs, approvals, QC, client feedback)."""

    step = fields.String(required=True)
    decision = fields.String(required=True)
    comment = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    at = fields.DateTime(required=True)
    lane = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)


class EventSchema(Schema):
    """One entry of the engagement's history."""

    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    kind = fields.String(required=True)
    task_id = fields.String(allow_none=True)
    bpmn_id = fields.String(allow_none=True)
    lane = fields.String(allow_none=True)
    stage = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    decision = fields.String(allow_none=True)
    detail = fields.Dict()


class DefinitionRefSchema(Schema):
    """The definition version an engagement runs."""

    process_id = fields.String(required=True)
    version = fields.Integer(required=True)


class EngagementDetailSchema(EngagementSchema):
    """An engagement with everything the engagement page shows."""

    definition = fields.Nested(DefinitionRefSchema, required=True)
    ended_at = fields.DateTime(allow_none=True)
    end_event = fields.String(allow_none=True)
    team = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    open_tasks = fields.List(fields.Nested(TaskSchema), required=True)
    decisions = fields.List(fields.Nested(DecisionSchema), required=True)
    history = fields.List(fields.Nested(EventSchema), required=True)
    version = fields.String(required=True, metadata={"description": "also the ETag"})


@blp.get("")
@blp.arguments(EngagementQuery, location="query", as_kwargs=True)
@blp.response(200, EngagementPageSchema)
@problems(blp, 422)
def index(**query: Any) -> Any:
    """Engagements, newest first, filtered by status, stage, client, team member or definition."""
    with work() as (session, _services):
        page = search_engagements(session, actor=actor(), **query)
        return page_body(page, [engagement_body(e, i) for e, i in page.items])


@blp.post("")
@blp.arguments(StartSchema)
@blp.response(201, EngagementDetailSchema, headers=ETAG_HEADER)
@problems(blp, 400, 403, 404, 422)
def start(args: dict[str, Any]) -> Any:
    """Start an engagement on the latest version of its definition (AMs, ops leads, admins)."""
    with work(write=True) as (session, services):
        engagement = start_engagement(session, services, actor=actor(), **args)
        view, version = _edited(session, services, engagement.id)
        body = detail_body(view, version)
    location = url_for("engagements.show", engagement_id=body["id"])
    return body, 201, {**etag(version), "Location": location}


def _edited(session: Session, services: Services, engagement_id: int) -> tuple[EngagementView, str]:
    """The engagement as the edit that just passed its use case's check left it, with its version."""
    return view_engagement(session, services, engagement_id), engagement_version(session, engagement_id)


def detail_body(view: EngagementView, version: str) -> dict[str, Any]:
    """An engagement's view as `EngagementDetailSchema` dumps it."""
    return {
        **engagement_body(view.engagement, view.instance),
        "definition": {"process_id": view.definition.process_id, "version": view.definition.version},
        "ended_at": view.instance.ended_at,
        "end_event": view.instance.end_event,
        "team": view.team,
        "open_tasks": [task_body(t) for t in view.open_tasks],
        "decisions": [vars(d) for d in view.decisions],
        "history": view.history,
        "version": version,
    }


@blp.get("/<id:engagement_id>")
@blp.response(200, EngagementDetailSchema, headers=ETAG_HEADER)
@problems(blp, 404)
def show(engagement_id: int) -> Any:
    """One engagement: stage, team, open tasks, decisions and history, with its ETag."""
    with work() as (session, services):
        view, version = engagement_detail(session, services, engagement_id, actor=actor())
        return detail_body(view, version), 200, etag(version)


@blp.patch("/<id:engagement_id>/team")
@blp.arguments(TeamChangeSchema)
@blp.response(200, EngagementDetailSchema, headers=ETAG_HEADER)
@blp.doc(parameters=[IF_MATCH])
@problems(blp, 400, 403, 404, 412, 422)
def change_team(args: dict[str, Any], engagement_id: int) -> Any:
    """Change the team (ops leads, admins); open tasks of the changed lanes follow the new member."""
    with work(write=True) as (session, services):
        change_team_of(
            session, services, engagement_id, actor=actor(), expected_version=expected_version(), **args
        )
        view, version = _edited(session, services, engagement_id)
        return detail_body(view, version), 200, etag(version)


@blp.post("/<id:engagement_id>/cancel")
@blp.arguments(CancelSchema)
@blp.response(200, EngagementDetailSchema, headers=ETAG_HEADER)
@blp.doc(parameters=[IF_MATCH])
@problems(blp, 400, 403, 404, 409, 412, 422)
def cancel(args: dict[str, Any], engagement_id: int) -> Any:
    """Cancel a running engagement (ops leads, admins): its open tasks are withdrawn."""
    with work(write=True) as (session, services):
        cancel_engagement(
            session,
            services,
            engagement_id,
            actor=actor(),
            reason=args["reason"],
            expected_version=expected_version(),
        )
        view, version = _edited(session, services, engagement_id)
        return detail_body(view, version), 200, etag(version)
