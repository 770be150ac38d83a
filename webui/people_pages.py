"""People pages: the directory (search, role and status filters) and, for admins, adding a
person, editing them (roles, time zone, weekly capacity, rate role), deactivating and
reactivating them, resetting their password and revoking their API tokens.

Each view calls one use case of `workflows.people`, which checks the admin's right; a refusal
of the input comes back on the page with what was typed, a refused permission is the 403 page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from workflows.agency import ROLES
from workflows.people.auth import change_password, list_tokens, revoke_token
from workflows.people.directory import create_user, person, search_people, update_user
from workflows.people.permissions import authorize_administration
from workflows.people.profile import time_zones

from .auth import current_user
from .request_work import work

bp = Blueprint("people", __name__)


def _form() -> dict[str, Any]:
    """The posted fields, trimmed (roles as a list)."""
    values: dict[str, Any] = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    values["roles"] = request.form.getlist("roles")
    return values


@bp.get("/people")
def directory() -> str:
    """Everyone, narrowed by a search text, a role and a status."""
    text = request.args.get("q", "")
    role = request.args.get("role") or None
    status = request.args.get("status") or None
    with work() as (session, _svc):
        people = search_people(session, actor=current_user().username, text=text, role=role, status=status)
    return render_template(
        "people.html",
        people=people,
        roles=ROLES,
        q=text,
        role=role,
        status=status,
        admin=current_user().has_role("admin"),
    )


def _new_form(values: dict[str, Any], error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template(
        "person_new.html", values=values, roles=ROLES, zones=time_zones(), error=error
    ), status


@bp.get("/people/new")
def new_person() -> tuple[str, int]:
    """The form to add a person (admins)."""
    with work() as (session, _svc):
        authorize_administration(session, current_user().username)  # the rule `create_user` applies
    return _new_form({"roles": []})


@bp.post("/people/new")
def add_person() -> Response | tuple[str, int]:
    """Add the person; a refusal comes back with the input kept (the password is typed again)."""
    values = _form()
    try:
        with work(write=True) as (session, svc):
            user = create_user(
                session,
                svc,
                values.get("username", "").lower(),
                actor=current_user().username,
                name=values.get("name", ""),
                roles=values["roles"],
                email=values.get("email") or None,
                password=request.form.get("password") or None,
                time_zone=values.get("time_zone", ""),
                weekly_capacity_hours=values.get("weekly_capacity_hours", ""),
                rate_role=values.get("rate_role", ""),
            )
            username = user.username
    except ValueError as exc:
        return _new_form(values, str(exc), 422)
    flash(f"Added {username}.", "ok")
    return redirect(url_for("people.edit", username=username))


def _person_page(
    username: str, error: str | None = None, status: int = 200, values: dict[str, Any] | None = None
) -> tuple[str, int]:
    me = current_user().username
    with work() as (session, _svc):
        authorize_administration(session, me)  # the page edits: admins only (as `update_user` rules)
        user = person(session, username, actor=me)
        tokens = list_tokens(session, username, actor=me)  # admins (or the person): else refused
        html = render_template(
            "person.html",
            user=user,
            tokens=tokens,
            roles=ROLES,
            zones=time_zones(),
            error=error,
            values=values or {},
        )
    return html, status


@bp.get("/people/<username>")
def edit(username: str) -> tuple[str, int]:
    """One person: their details, roles, activation, password reset and tokens (admins)."""
    return _person_page(username)


@bp.post("/people/<username>")
def save(username: str) -> Response | tuple[str, int]:
    """Save the details and roles."""
    values = _form()
    try:
        with work(write=True) as (session, _svc):
            update_user(
                session,
                username,
                actor=current_user().username,
                name=values.get("name", ""),
                email=values.get("email", ""),
                roles=values["roles"],
                time_zone=values.get("time_zone", ""),
                weekly_capacity_hours=values.get("weekly_capacity_hours", ""),
                rate_role=values.get("rate_role", ""),
            )
    except ValueError as exc:
        return _person_page(username, str(exc), 422, values)
    flash(f"Saved {username}.", "ok")
    return redirect(url_for("people.edit", username=username))


@bp.post("/people/<username>/activation")
def activation(username: str) -> Response | tuple[str, int]:
    """Deactivate (they can no longer log in or use their tokens) or reactivate a person."""
    active = request.form.get("active") == "1"
    try:
        with work(write=True) as (session, svc):
            update_user(
                session, username, actor=current_user().username, active=active, at=svc.runtime.clock()
            )
    except ValueError as exc:
        return _person_page(username, str(exc), 422)
    flash(f"{username} is {'active again' if active else 'deactivated'}.", "ok")
    return redirect(url_for("people.edit", username=username))


@bp.post("/people/<username>/password")
def reset_password(username: str) -> Response | tuple[str, int]:
    """Give the person a new password: their open sessions end."""
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        return _person_page(username, "the two passwords differ", 422)
    try:
        with work(write=True) as (session, svc):
            change_password(session, svc, username, password, actor=current_user().username)
    except ValueError as exc:
        return _person_page(username, str(exc), 422)
    flash(f"{username} has a new password; their sessions have ended.", "ok")
    return redirect(url_for("people.edit", username=username))


@bp.post("/people/<username>/tokens/<int:token_id>/revoke")
def revoke(username: str, token_id: int) -> Response:
    """Revoke one of the person's API tokens: it is refused from the next request on."""
    with work(write=True) as (session, svc):
        token = revoke_token(session, svc, token_id, actor=current_user().username)
        name = token.name
    flash(f"Revoked the token '{name}'.", "ok")
    return redirect(url_for("people.edit", username=username))
