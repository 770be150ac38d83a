"""Lanes and cover: each team role's people and its lane leads (ops leads and admins name them),
cover while someone is away (for oneself; ops leads and admins for anyone), and the days the
agency calendar is closed."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from engine.errors import NotFoundError
from workflows.agency import TEAM_ROLES
from workflows.people.covers import add_cover, today, upcoming_covers
from workflows.people.directory import directory
from workflows.people.leads import set_lead
from workflows.people.permissions import OPERATORS

from .auth import current_user
from .request_work import work

bp = Blueprint("lanes", __name__)
CLOSURES_AHEAD = timedelta(days=120)


def _page(
    error: str | None = None, status: int = 200, values: dict[str, str] | None = None
) -> tuple[str, int]:
    me = current_user()
    with work() as (session, svc):
        by_role = {role: directory(session, actor=me.username, role=role) for role in TEAM_ROLES}
        everyone = [u for u in directory(session, actor=me.username) if u.active]
        covers = upcoming_covers(session, svc, actor=me.username)
        day = today(svc)
        closed = svc.calendar.closed_days(day, day + CLOSURES_AHEAD)
        html = render_template(
            "lanes.html",
            by_role=by_role,
            everyone=everyone,
            covers=covers,
            closed=closed,
            today=day,
            operator=me.has_role(*OPERATORS),
            error=error,
            values=values or {},
        )
    return html, status


@bp.get("/lanes")
def lanes() -> tuple[str, int]:
    """The page."""
    return _page()


@bp.post("/lanes/leads")
def leads() -> Response | tuple[str, int]:
    """Make someone a lead of a role, or no longer one."""
    try:
        with work(write=True) as (session, _svc):
            set_lead(
                session,
                request.form.get("username", ""),
                request.form.get("role", ""),
                lead=request.form.get("lead") == "1",
                actor=current_user().username,
            )
    except (ValueError, NotFoundError) as exc:
        return _page(str(exc), 422)
    flash("Lane leads saved.", "ok")
    return redirect(url_for("lanes.lanes"))


@bp.post("/lanes/cover")
def cover() -> Response | tuple[str, int]:
    """Arrange cover: from, to (both included) and who covers."""
    values = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    try:
        starts, ends = date.fromisoformat(values.get("from", "")), date.fromisoformat(values.get("to", ""))
    except ValueError:
        return _page("give the first and the last day of the cover (YYYY-MM-DD)", 422, values)
    away = values.get("away") or current_user().username
    try:
        with work(write=True) as (session, svc):
            add_cover(
                session,
                svc,
                away,
                by=values.get("by", ""),
                starts_on=starts,
                ends_on=ends,
                actor=current_user().username,
                note=values.get("note", ""),
            )
    except (ValueError, NotFoundError) as exc:
        return _page(str(exc), 422, values)
    flash(f"{values.get('by')} covers {away} from {starts:%a %d %b} to {ends:%a %d %b}.", "ok")
    return redirect(url_for("lanes.lanes"))
