"""Engagement operations for ops leads and admins, on the engagement page (`_engagement_ops.html`)
and the workload board: change the team (open tasks follow), reassign or release a task, cancel.

Each form posts to one of these views, which calls the engagement use case (the same the API and
the CLI call, with its permission check) and goes back where it came from with the outcome flashed.
Every change lands in the engagement's history and in the audit log.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from engine.errors import ConflictError, NotFoundError, TaskNotReadyError
from workflows.agency import TEAM_ROLES
from workflows.engagements.lifecycle import cancel_engagement, change_team
from workflows.engagements.tasks import reassign_task, unclaim_task
from workflows.people.directory import directory
from workflows.people.permissions import OPERATORS

from .auth import current_user
from .request_work import work

bp = Blueprint("engagement_ops", __name__)
# refusals of the input or of the moment, shown on the page the form came from
REFUSALS = (ValueError, NotFoundError, ConflictError, TaskNotReadyError)


def _back(engagement_id: int) -> Response:
    """Where the form came from (a path on this site), else the engagement page."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(url_for("pages.engagement", engagement_id=engagement_id) + "#operations")


@bp.app_context_processor
def _helpers() -> dict[str, object]:
    """For the engagement page's operations partial: who may operate, and who can fill a role."""

    def people_for(role: str) -> list[str]:
        with work() as (session, _svc):
            return [
                u.username for u in directory(session, actor=current_user().username, role=role) if u.active
            ]

    def may_operate() -> bool:
        user = current_user()
        return user.has_role(*OPERATORS)

    return {"people_for": people_for, "may_operate": may_operate, "team_roles": TEAM_ROLES}


def _reason() -> str:
    return request.form.get("reason", "").strip()


@bp.post("/engagements/<int:engagement_id>/team")
def team(engagement_id: int) -> Response:
    """Change the team; open tasks of the changed roles follow the new people."""
    named = {role: request.form.get(role, "").strip() or None for role in TEAM_ROLES}
    if not _reason():
        flash("Say why the team changes.", "error")
        return _back(engagement_id)
    try:
        with work(write=True) as (session, svc):
            changes = change_team(
                session,
                svc,
                engagement_id,
                actor=current_user().username,
                account_manager=named["account_manager"],
                project_manager=named["project_manager"],
                resource_manager=named["resource_manager"],
                reason=_reason(),
            )
    except REFUSALS as exc:
        flash(f"The team is unchanged: {exc}.", "error")
        return _back(engagement_id)
    if changes:
        said = ", ".join(
            f"{r.replace('_', ' ')} {old or 'nobody'} → {new}" for r, (old, new) in changes.items()
        )
        flash(f"Team changed: {said}. Their open tasks follow.", "ok")
    else:
        flash("Nothing to change: the team was already so.", "info")
    return _back(engagement_id)


@bp.post("/engagements/<int:engagement_id>/tasks/<task_id>/reassign")
def reassign(engagement_id: int, task_id: str) -> Response:
    """Give an open task to someone else (empty: back to its lane's pool)."""
    assignee = request.form.get("assignee", "").strip() or None
    try:
        with work(write=True) as (session, svc):
            task = reassign_task(
                session,
                svc,
                engagement_id,
                task_id,
                assignee,
                actor=current_user().username,
                reason=_reason(),
            )
            title = task.title
    except REFUSALS as exc:
        flash(f"Not reassigned: {exc}.", "error")
        return _back(engagement_id)
    flash(f"“{title}” now goes to {assignee or 'its lane'}.", "ok")
    return _back(engagement_id)


@bp.post("/engagements/<int:engagement_id>/tasks/<task_id>/release")
def release(engagement_id: int, task_id: str) -> Response:
    """Release someone's claim on an open task (it stays with its assignee)."""
    try:
        with work(write=True) as (session, svc):
            title = unclaim_task(session, svc, engagement_id, task_id, actor=current_user().username).title
    except REFUSALS as exc:
        flash(f"Not released: {exc}.", "error")
        return _back(engagement_id)
    flash(f"Released the claim on “{title}”.", "ok")
    return _back(engagement_id)


@bp.post("/engagements/<int:engagement_id>/cancel")
def cancel(engagement_id: int) -> Response:
    """Cancel the engagement with a reason: its open tasks are withdrawn."""
    try:
        with work(write=True) as (session, svc):
            cancel_engagement(session, svc, engagement_id, actor=current_user().username, reason=_reason())
    except REFUSALS as exc:
        flash(f"Not cancelled: {exc}.", "error")
        return _back(engagement_id)
    flash("The engagement is cancelled; its open tasks are withdrawn.", "ok")
    return _back(engagement_id)
