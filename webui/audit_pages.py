"""The audit log page (admins): permission-relevant actions, filtered by action, person and
dates, and the same rows as CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, Response, render_template, request

from workflows.people.audit import ACTIONS, AuditFilter, audit_csv, audit_log, describe

from .auth import current_user
from .request_work import work

bp = Blueprint("audit", __name__)


def _day(name: str, errors: list[str]) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"'{raw}' is not a date (YYYY-MM-DD)")
        return None


def _filters() -> tuple[AuditFilter, list[str]]:
    """The filters in the query string (dates are whole UTC days, both included)."""
    errors: list[str] = []
    since, until = _day("from", errors), _day("to", errors)
    action = request.args.get("action") or None
    if action is not None and action not in ACTIONS:
        errors.append(f"unknown action '{action}'")
        action = None
    return (
        AuditFilter(
            action=action,
            person=request.args.get("person") or None,
            since=datetime.combine(since, time(0), UTC) if since else None,
            until=datetime.combine(until + timedelta(days=1), time(0), UTC) if until else None,
        ),
        errors,
    )


@bp.get("/audit")
def log() -> tuple[str, int]:
    """The newest entries first."""
    filters, errors = _filters()
    with work() as (session, _svc):
        entries = audit_log(session, actor=current_user().username, filters=filters)
    html = render_template(
        "audit.html", entries=entries, actions=ACTIONS, describe=describe, args=request.args, errors=errors
    )
    return html, 422 if errors else 200


@bp.get("/audit.csv")
def export() -> Response:
    """The filtered entries as CSV."""
    filters, errors = _filters()
    if errors:
        return Response("; ".join(errors) + "\n", status=422, mimetype="text/plain")
    with work() as (session, _svc):
        entries = audit_log(session, actor=current_user().username, filters=filters)
        body = audit_csv(entries)
    return Response(
        body, mimetype="text/csv", headers={"Content-Disposition": 'attachment; filename="baton-audit.csv"'}
    )
