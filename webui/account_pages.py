"""My account, for everyone: a new password, one's time zone, how one hears of tasks, and one's
own API tokens (a new token's secret is shown once, on the page that issued it).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from workflows.people.auth import change_password, issue_token, list_tokens, revoke_token
from workflows.people.directory import whoami
from workflows.people.permissions import PermissionDenied
from workflows.people.profile import time_zones, update_my_account

from .auth import current_user, session_secret
from .request_work import work

bp = Blueprint("account", __name__)


def _page(*, error: str | None = None, status: int = 200, secret: str | None = None) -> tuple[str, int]:
    me = current_user().username
    with work() as (db, _svc):
        user = whoami(db, actor=me)
        tokens = list_tokens(db, me, actor=me)
        html = render_template(
            "account.html", user=user, tokens=tokens, zones=time_zones(), error=error, secret=secret
        )
    return html, status


@bp.get("/account")
def account() -> tuple[str, int]:
    """The page."""
    return _page()


@bp.post("/account/password")
def password() -> Response | tuple[str, int]:
    """Change one's password; this browser stays logged in."""
    new = request.form.get("password", "")
    if new != request.form.get("confirm", ""):
        return _page(error="the two new passwords differ", status=422)
    try:
        with work(write=True) as (db, svc):
            change_password(
                db,
                svc,
                current_user().username,
                new,
                actor=current_user().username,
                current_password=request.form.get("current") or None,
                keep_session=session_secret(),  # other sessions and the tokens end; this one stays
            )
    except (ValueError, PermissionDenied) as exc:
        return _page(error=str(exc), status=422)
    flash("Your password is changed.", "ok")
    return redirect(url_for("account.account"))


@bp.post("/account/preferences")
def preferences() -> Response | tuple[str, int]:
    """Save one's time zone and notification preferences."""
    form = request.form
    try:
        with work(write=True) as (db, _svc):
            update_my_account(
                db,
                actor=current_user().username,
                time_zone=form.get("time_zone", ""),
                notify_in_app="notify_in_app" in form,
                notify_email="notify_email" in form,
                notify_digest="notify_digest" in form,
            )
    except ValueError as exc:
        return _page(error=str(exc), status=422)
    flash("Your preferences are saved.", "ok")
    return redirect(url_for("account.account"))


@bp.post("/account/tokens")
def issue() -> tuple[str, int]:
    """Issue a token and show its secret once (the page is not cached: `Cache-Control: no-store`)."""
    me = current_user().username
    try:
        with work(write=True) as (db, svc):
            secret = issue_token(db, svc, me, name=request.form.get("name", ""), actor=me).secret
    except ValueError as exc:
        return _page(error=str(exc), status=422)
    return _page(secret=secret)


@bp.post("/account/tokens/<int:token_id>/revoke")
def revoke(token_id: int) -> Response:
    """Revoke one of one's tokens."""
    with work(write=True) as (db, svc):
        name = revoke_token(db, svc, token_id, actor=current_user().username).name
    flash(f"Revoked the token '{name}'.", "ok")
    return redirect(url_for("account.account"))
