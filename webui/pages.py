"""Read-only pages: engagements, their stage, open tasks and history."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from engine.errors import NotFoundError
from workflows.agency import ACCOUNT_MANAGER, AM_LANE, PM_LANE, PROJECT_MANAGER, STAGE_LABELS, STAGES
from workflows.board import engagement_board
from workflows.engagements import list_engagements, list_open_tasks, view_engagement

from .auth import current_user
from .services import get_services

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    """Engagements and the open tasks of both lanes."""
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        engagements = list_engagements(session)
        tasks = {lane: list_open_tasks(session, lane=lane) for lane in (AM_LANE, PM_LANE)}
    return render_template(
        "index.html", engagements=engagements, tasks=tasks, stages=STAGES, stage_labels=STAGE_LABELS
    )


@bp.get("/engagements")
def engagements() -> str:
    """Every engagement with stage, AM, PM, SLA health and budget burn."""
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        rows = engagement_board(session, svc, actor=current_user().username)
    return render_template(
        "engagements.html",
        rows=rows,
        stage_labels=STAGE_LABELS,
        am=ACCOUNT_MANAGER,
        pm=PROJECT_MANAGER,
    )


@bp.get("/engagements/<int:engagement_id>")
def engagement(engagement_id: int) -> str:
    """One engagement: stage bar, open tasks, history."""
    svc = get_services()
    try:
        with svc.db.unit_of_work(write=False) as session:
            view = view_engagement(session, svc, engagement_id)
    except NotFoundError:
        abort(404)
    return render_template("engagement.html", view=view, stages=STAGES, stage_labels=STAGE_LABELS)


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the database answers."""
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        list_engagements(session, limit=1)
    return {"status": "ok"}
