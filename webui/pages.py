"""Pages: engagements (the board, starting one, one engagement with its stage, tasks and history).

Views run in the request's unit of work (`webui.request_work.work`); a use case's refusal
(PermissionDenied, NotFoundError...) goes on to the app's one error handler (`webui.api.setup`),
which answers pages with the matching error page.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import text
from werkzeug.wrappers import Response

from engine.errors import FormValidationError, NotFoundError
from workflows.agency import ACCOUNT_MANAGER, AM_LANE, PM_LANE, PROJECT_MANAGER, STAGE_LABELS, STAGES
from workflows.definitions.catalog import list_definitions
from workflows.engagements.effort import effort_totals
from workflows.engagements.lifecycle import start_engagement as start_use_case
from workflows.engagements.lifecycle import view_engagement
from workflows.engagements.migration import migration_history
from workflows.engagements.options import option_names
from workflows.people.directory import directory
from workflows.people.permissions import RULES, START_ENGAGEMENT
from workflows.reports.forecast import forecast_engagement, forecast_engagements
from workflows.views.board import engagement_board
from workflows.views.lists import list_engagements, list_open_tasks
from workflows.views.record import by_step, history_rounds
from workflows.views.timeline import engagement_timeline

from .auth import current_user
from .request_work import work
from .services import get_services

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    """Engagements and the open tasks of both lanes."""
    me = current_user().username
    with work() as (session, _svc):
        engagements = list_engagements(session, actor=me)
        tasks = {lane: list_open_tasks(session, actor=me, lane=lane) for lane in (AM_LANE, PM_LANE)}
    return render_template(
        "index.html", engagements=engagements, tasks=tasks, stages=STAGES, stage_labels=STAGE_LABELS
    )


@bp.get("/engagements")
def engagements() -> str:
    """Every engagement with stage, AM, PM, SLA health and budget burn."""
    with work() as (session, svc):
        rows = engagement_board(session, actor=current_user().username)
        running = [r.engagement.id for r in rows if r.instance.status == "running"]
        forecasts = forecast_engagements(session, svc, running)
    return render_template(
        "engagements.html",
        rows=rows,
        forecasts=forecasts,
        stage_labels=STAGE_LABELS,
        am=ACCOUNT_MANAGER,
        pm=PROJECT_MANAGER,
        may_start=may_start(),
    )


def may_start() -> bool:
    """Whether the current user's roles may start engagements (`workflows.people.permissions.RULES`)."""
    roles = RULES[START_ENGAGEMENT][0]
    return roles is None or current_user().has_role(*roles)


def _start_form(values: dict[str, str], error: str | None = None, status: int = 200) -> tuple[str, int]:
    me = current_user().username
    with work() as (session, svc):
        definitions = sorted({d.process_id for d in list_definitions(session, svc, actor=me)})
        ams = [u.username for u in directory(session, actor=me, role=ACCOUNT_MANAGER)]
        pms = [u.username for u in directory(session, actor=me, role=PROJECT_MANAGER)]
    html = render_template(
        "engagement_new.html", values=values, error=error, definitions=definitions, ams=ams, pms=pms
    )
    return html, status


@bp.get("/engagements/new")
def new_engagement() -> tuple[str, int]:
    """The form to start an engagement (account managers, ops leads, admins)."""
    if not may_start():
        abort(403)
    return _start_form({"process_id": "engagement", "budget_alert_ratio": "0.9"})


@bp.post("/engagements/new")
def start_engagement() -> Response | tuple[str, int]:
    """Start an engagement from the form; a refusal comes back with the input kept."""
    form = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    options: dict[str, object] = {"pm_joins_scoping": form.get("pm_joins_scoping") == "on"}
    try:
        options["budget_alert_ratio"] = float(form.get("budget_alert_ratio") or 0.9)
    except ValueError:
        return _start_form(form, "the budget alert ratio is a number such as 0.9", 422)
    if not form.get("client") or not form.get("name"):
        return _start_form(form, "give the client and the engagement a name", 422)
    try:
        with work(write=True) as (session, svc):
            process_id = form.get("process_id") or "engagement"
            known = option_names(session, svc, process_id)  # another definition takes other options
            options = {k: v for k, v in options.items() if k in known}
            engagement = start_use_case(
                session,
                svc,
                actor=current_user().username,
                client=form["client"],
                name=form["name"],
                process_id=process_id,
                options=options,
                account_manager=form.get("account_manager") or None,
                project_manager=form.get("project_manager") or None,
            )
            engagement_id = engagement.id
    except (ValueError, NotFoundError, FormValidationError) as exc:  # kept: the form comes back as typed
        return _start_form(form, str(exc), 422)
    flash(f"Started {form['client']} — {form['name']}.", "ok")
    return redirect(url_for("pages.engagement", engagement_id=engagement_id))


@bp.get("/engagements/<int:engagement_id>")
def engagement(engagement_id: int) -> str:
    """One engagement: stage bar, open tasks, history."""
    with work() as (session, svc):  # an unknown engagement: NotFoundError, the 404 page
        view = view_engagement(session, svc, engagement_id)
        effort = effort_totals(session, engagement_id)
        timeline = engagement_timeline(session, svc, engagement_id)
        record = by_step(history_rounds(session, svc, engagement_id, actor=current_user().username))
        migrations = migration_history(session, view.instance.id)
        forecast = forecast_engagement(session, svc, engagement_id)
    lanes: dict[str, float] = {}
    for total in effort:
        lanes[total.lane or "no lane"] = lanes.get(total.lane or "no lane", 0.0) + total.hours
    facts = view.instance.facts or {}
    return render_template(
        "engagement.html",
        view=view,
        stages=STAGES,
        stage_labels=STAGE_LABELS,
        effort_by_lane=lanes,
        timeline=timeline,
        budget=_amount(facts.get("budget")),
        cost_to_date=_amount(facts.get("cost_to_date")),
        record=record,
        forms=view.definition.forms or {},
        migrations=migrations,
        forecast=forecast,
    )


def _amount(value: object) -> float | None:
    """A money figure from the engagement's facts (None when absent or not a number)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the database answers (a public route: no request unit of work, its own)."""
    svc = get_services()
    with svc.db.unit_of_work(write=False) as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}
