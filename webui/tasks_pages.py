"""The task page: a step's instructions, its engagement, its form; claim, release, complete, log effort."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.definitions import element_id
from engine.errors import (
    ConflictError,
    FormValidationError,
    NotFoundError,
    ScriptsUnavailableError,
    WorkflowExecutionError,
)
from workflows.agency import LANE_ROLES, STAGE_LABELS, STAGES, is_true
from workflows.engagements.effort import MAX_HOURS_PER_ENTRY, MAX_NOTE, log_effort
from workflows.engagements.lifecycle import view_engagement
from workflows.engagements.tasks import claim_task, complete_task, unclaim_task
from workflows.engagements.versions import StaleVersion
from workflows.people.permissions import PermissionDenied
from workflows.services import Services
from workflows.views.inbox import TaskDetail, task_detail
from workflows.views.record import task_record

from .api.problems import for_domain_error
from .auth import current_user
from .forms import COMMENT_SUFFIX, decision_field, instructions_html, kind_of, map_rows, read_form
from .inbox_pages import SLA_LABELS, row_of
from .request_work import work

bp = Blueprint("task_pages", __name__)
TASK = "/engagements/<int:engagement_id>/tasks/<task_id>"
# form fields of the task page's "acting for someone else" part (not the step's own data)
ON_BEHALF, REASON = "on_behalf_of", "on_behalf_reason"
TAKE_OVER = "take_over"  # "1": complete a task someone else claimed, in their place
DECISIONS = (
    ("approved", "Approve", "primary"),
    ("changes_requested", "Request changes", ""),
    ("rejected", "Reject", "danger"),
)


def decisions_of(schema: dict[str, Any] | None, decision: str | None) -> list[tuple[str, str, str]]:
    """The decision buttons a step offers: the values its form's ``*_decision`` enum allows."""
    if decision is None:
        return []
    allowed = ((schema or {}).get("properties", {}).get(decision) or {}).get("enum")
    if not allowed:
        return list(DECISIONS)
    return [d for d in DECISIONS if d[0] in allowed]


def instructions_of(services: Services, detail: TaskDetail, definition_id: int, session: Any) -> str | None:
    """The step's instructions for the person doing it (``instructionsForEndUser`` in the BPMN)."""
    info = services.definitions.info(session, definition_id)
    spec, subprocesses = services.definitions.spec_for(info)
    for process in (spec, *subprocesses.values()):
        for task_spec in process.task_specs.values():
            if getattr(task_spec, "manual", False) and element_id(task_spec) == detail.task.bpmn_id:
                text = (getattr(task_spec, "extensions", None) or {}).get("instructionsForEndUser")
                return str(text) if text else None
    return None


def _render(
    engagement_id: int,
    task_id: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    acting: tuple[str | None, str | None] = (None, None),
) -> tuple[str, int]:
    me = current_user().username
    with work() as (session, svc):  # an unknown task: NotFoundError, the 404 page
        detail = task_detail(session, svc, engagement_id, task_id, actor=me)
        view = view_engagement(session, svc, engagement_id)
        instructions = instructions_of(svc, detail, view.instance.definition_id, session)
        record = task_record(session, svc, detail.task, view.instance.definition_id)
        forms = svc.definitions.info(session, view.instance.definition_id).forms
    task = detail.task
    schema = detail.form_schema
    decision = decision_field(schema) if is_true(task.properties or {}, "approval") else None
    comment = decision.removesuffix("_decision") + COMMENT_SUFFIX if decision else None
    if values is None and record.previous is not None and record.previous.data and task.state == "ready":
        values = dict(record.previous.data)  # a rework starts from the last round
    html = render_template(
        "task.html",
        detail=detail,
        task=task,
        view=view,
        schema=schema,
        instructions=instructions_html(instructions),
        decision=decision,
        comment=comment,
        decisions=decisions_of(schema, decision),
        record=record,
        forms=forms,
        values=values or {},
        errors=errors or {},
        row=row_of(task, detail.engagement, svc.calendar, svc.runtime.clock()),
        sla_labels=SLA_LABELS,
        stages=STAGES,
        stage_labels=STAGE_LABELS,
        lane_roles=LANE_ROLES,
        kind_of=kind_of,
        map_rows=map_rows,
        me=me,
        max_hours=MAX_HOURS_PER_ENTRY,
        max_note=MAX_NOTE,
        on_behalf=ON_BEHALF,
        reason_field=REASON,
        take_over=TAKE_OVER,
        acting=acting,
    )
    return html, status


@bp.get(TASK)
def task(engagement_id: int, task_id: str) -> tuple[str, int]:
    """One task: instructions, engagement, form and actions."""
    return _render(engagement_id, task_id)


@bp.post(TASK + "/complete")
def complete(engagement_id: int, task_id: str) -> Response | tuple[str, int]:
    """Complete the task with the posted form; invalid input comes back with its errors, kept.

    One unit of work: the form's schema is read and the task completed in it. A refusal rolls it
    back and the page comes back with what was typed (see `_refused`).
    """
    # an ops lead or admin may complete the step for the person holding it, saying why
    on_behalf_of = request.form.get(ON_BEHALF) or None
    reason = request.form.get(REASON, "").strip() or None
    acting = (on_behalf_of, reason)
    data: dict[str, Any] = {}
    read = False  # the form was read: a refusal from here on shows it again
    try:
        with work(write=True) as (session, svc):
            me = current_user().username
            schema = task_detail(session, svc, engagement_id, task_id, actor=me).form_schema
            data, read = read_form(schema, request.form), True
            if on_behalf_of is not None and reason is None:
                raise _MissingReason(f"say why you complete this for {on_behalf_of}")
            result = complete_task(
                session,
                svc,
                engagement_id,
                task_id,
                data,
                actor=me,
                on_behalf_of=on_behalf_of,
                reason=reason,
                expected_version=request.form.get("version") or None,
                take_over=request.form.get(TAKE_OVER) == "1",
            )
    except _MissingReason as exc:
        return _render(
            engagement_id, task_id, values=data, errors={REASON: [str(exc)]}, status=422, acting=acting
        )
    except FormValidationError as exc:
        errors: dict[str, list[str]] = {}
        for error in exc.errors:
            errors.setdefault(error.path, []).append(error.message)
        return _render(engagement_id, task_id, values=data, errors=errors, status=422, acting=acting)
    except (PermissionDenied, ConflictError, NotFoundError) as exc:
        if not read:  # refused before the form was read (no such task): the error page
            raise
        return _refused(exc, engagement_id, task_id, values=data, acting=acting)
    except (WorkflowExecutionError, ScriptsUnavailableError) as exc:  # the step was rolled back
        return _refused(exc, engagement_id, task_id, values=data, acting=acting)
    title = request.form.get("title", "The task")
    ended = f" The engagement is {result.status}." if result.status != "running" else ""
    done_for = f" for {on_behalf_of}" if on_behalf_of else ""
    flash(f"{title}: done{done_for}.{ended}", "ok")
    return redirect(url_for("inbox.inbox"))


class _MissingReason(Exception):
    """Completing for someone else without saying why (checked before anything is written)."""


def _refused(
    exc: Exception,
    engagement_id: int,
    task_id: str,
    *,
    values: dict[str, Any] | None = None,
    acting: tuple[str | None, str | None] = (None, None),
) -> tuple[str, int]:
    """The task page again after a use case refused, what was typed kept, the refusal flashed.

    The status is the API's for the same error (`webui.api.problems.for_domain_error`): 403 not
    allowed, 404 gone, 409 taken or done meanwhile, 412 the engagement moved on.
    """
    if isinstance(exc, StaleVersion):
        with work() as (session, svc):
            task = task_detail(session, svc, engagement_id, task_id, actor=current_user().username).task
        if task.state != "ready":  # someone else finished it: say who, keep what was typed
            who = task.completed_by or "Someone"
            flash(f"{who} {task.state} this step while you were editing; what you typed is kept below.",
                  "error")
        else:
            flash("The engagement moved on while you were editing: check the task and submit again.", "error")
        status = 409
    else:
        flash(str(exc), "error")
        response = for_domain_error(exc)
        status = response.status_code if response is not None else 500
    return _render(engagement_id, task_id, values=values, status=status, acting=acting)


def _act(engagement_id: int, task_id: str, action: str) -> Response | tuple[str, int]:
    me = current_user().username
    try:
        with work(write=True) as (session, svc):
            if action == "claim":
                claim_task(session, svc, engagement_id, task_id, actor=me)
                flash("You claimed this task: it is yours to work on.", "ok")
            else:
                unclaim_task(session, svc, engagement_id, task_id, actor=me)
                flash("You released this task back to its lane.", "ok")
    except (PermissionDenied, ConflictError) as exc:  # NotFoundError: the 404 page
        return _refused(exc, engagement_id, task_id)
    return redirect(url_for("task_pages.task", engagement_id=engagement_id, task_id=task_id))


@bp.post(TASK + "/claim")
def claim(engagement_id: int, task_id: str) -> Response | tuple[str, int]:
    """Claim the task (its assignee, their cover, or a member of its lane)."""
    return _act(engagement_id, task_id, "claim")


@bp.post(TASK + "/unclaim")
def unclaim(engagement_id: int, task_id: str) -> Response | tuple[str, int]:
    """Release the claim (the claimer, their cover, an ops lead or an admin)."""
    return _act(engagement_id, task_id, "unclaim")


@bp.post(TASK + "/effort")
def effort(engagement_id: int, task_id: str) -> Response | tuple[str, int]:
    """Log hours worked on the task."""
    raw = request.form.get("hours", "").strip()
    try:
        hours = float(raw)
    except ValueError:
        return _render(
            engagement_id, task_id, errors={"effort/hours": ["enter the hours as a number"]}, status=422
        )
    try:
        with work(write=True) as (session, svc):
            log_effort(
                session,
                svc,
                engagement_id,
                task_id,
                hours,
                actor=current_user().username,
                note=request.form.get("note", "").strip(),
            )
    except PermissionDenied as exc:  # NotFoundError: the 404 page
        return _refused(exc, engagement_id, task_id)
    except ValueError as exc:
        return _render(engagement_id, task_id, errors={"effort/hours": [str(exc)]}, status=422)
    flash(f"Logged {raw} h.", "ok")
    return redirect(url_for("task_pages.task", engagement_id=engagement_id, task_id=task_id))
