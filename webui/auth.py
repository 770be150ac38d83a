"""Who is asking, for every request: browser sessions, bearer tokens, CSRF, security headers.

Every route needs a logged-in user unless it is listed in `PUBLIC` (default deny: a new
route is protected without anyone remembering to). Pages use a signed session cookie
(Secure, HttpOnly, SameSite=Lax); the JSON API also takes personal tokens
(``Authorization: Bearer baton_...``). Every form post, and every API write made with a
session cookie, must carry the CSRF token (Flask-WTF); bearer requests need none, since no
browser sends them on its own. The rules themselves live in `workflows.people.auth`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFProtect, generate_csrf
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix

from workflows.people.auth import (
    SESSION_LIFETIME,
    attempt_login,
    end_session,
    holder_of_token,
    person_for_session,
    touch_token,
)
from workflows.people.users import Person

from . import request_work
from .api.problems import problem
from .services import get_services

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()

# endpoints anyone may reach (the login page, liveness, static files, the API's description)
PUBLIC = frozenset({"auth.login", "pages.healthz", "static", "api-docs.openapi_json", "api_docs.page"})
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# settings `create_app` starts from (Flask's own defaults differ); the environment overrides them
DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_NAME": "baton_session",
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": SESSION_LIFETIME,
    # a CSRF token lives as long as its session (the cookie's lifetime bounds it)
    "WTF_CSRF_TIME_LIMIT": None,
    # how many proxies in front of Baton set X-Forwarded-For/-Proto: 0 trusts no such header
    "TRUSTED_PROXIES": 0,
}

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def init_app(app: Flask) -> None:
    """Configure cookies, CSRF and headers, and check who is asking before every request.

    Settings (``BATON_`` environment variables when the app reads the environment):
    ``SECRET_KEY`` (default: a random key kept in the instance folder, shared by the
    workers of one machine), ``SESSION_COOKIE_SECURE`` (default true; false only for
    plain-http development), ``PERMANENT_SESSION_LIFETIME`` (seconds, default 12 hours),
    ``TRUSTED_PROXIES`` (how many reverse proxies in front set ``X-Forwarded-For`` and
    ``-Proto``; default 0: the headers are ignored, the client is the connection's address).
    """
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:  # only then does a forwarded address name the client (login throttling)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # `_guard` decides, for pages and API alike
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(app.instance_path)
    csrf.init_app(app)
    request_work.init_app(app)
    app.before_request(_guard)
    app.after_request(_security_headers)
    app.context_processor(lambda: {"current_user": g.get("user")})
    app.register_blueprint(bp)


def _instance_secret(folder: str) -> str:
    """A random key kept in the instance folder: created once, read by every worker."""
    path = os.path.join(folder, "secret_key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key)
    return key


def current_user() -> Person:
    """The person making the request (every non-public route has one)."""
    user: Person | None = g.get("user")
    if user is None:  # `_guard` let an anonymous request through to a protected view
        raise RuntimeError("no user on a protected route")
    return user


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _guard() -> Any:
    """Identify the caller, refuse the anonymous, check CSRF where a browser could be tricked."""
    g.user, g.via = None, None
    header = request.headers.get("Authorization")
    if request.endpoint is not None and request.endpoint not in PUBLIC:  # pages and API alike
        request_work.begin(get_services(), write=request.method in UNSAFE)
    if header is not None and _is_api():
        refusal = _bearer(header)
        if refusal is not None:
            return refusal
    elif "sid" in session:
        _from_session()
    if request.endpoint is None:  # no such route: routing answers 404 or 405
        return None
    if g.user is None and request.endpoint not in PUBLIC:
        if _is_api():
            return problem(
                401,
                "log in, or send a personal API token as 'Authorization: Bearer <token>'",
                kind="unauthenticated",
                headers={"WWW-Authenticate": 'Bearer realm="baton"'},
            )
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.method in UNSAFE and g.via != "token":
        csrf.protect()  # every form post, and every API write made with the session cookie
    return None


def _bearer(header: str) -> Response | None:
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return problem(
            401,
            "the Authorization header must be 'Bearer <token>'",
            kind="unauthenticated",
            headers={"WWW-Authenticate": 'Bearer realm="baton"'},
        )
    services = get_services()
    with _identification_work() as work:
        holder = holder_of_token(work, services, secret.strip())
    if holder is None:
        return problem(
            401,
            "the token is unknown or revoked, or its user is inactive",
            kind="unauthenticated",
            headers={"WWW-Authenticate": 'Bearer realm="baton", error="invalid_token"'},
        )
    if holder.stale:  # remember the use, at most once a minute per token
        ongoing = request_work.current()
        if ongoing is not None and ongoing.write:  # kept if the request's own changes are
            touch_token(ongoing.session, services, holder.token_id)
        else:
            with services.db.unit_of_work() as work:
                touch_token(work, services, holder.token_id)
    g.user, g.via = holder.person, "token"
    return None


def _from_session() -> None:
    with _identification_work() as work:
        person = person_for_session(work, str(session.get("sid", "")))
    if person is None:  # logged out, deactivated, or the password changed: the session is over
        session.clear()
        return
    g.user, g.via = person, "session"


def session_secret() -> str | None:
    """The secret of the request's browser session (None for a token or no login)."""
    if g.get("via") != "session":
        return None
    return str(session.get("sid", "")) or None


def by_token() -> bool:
    """True when the request was authenticated by an API token (not a password login)."""
    return bool(g.get("via") == "token")


@contextmanager
def _identification_work() -> Iterator[Session]:
    """The request's unit of work when it has one (protected routes), else a read-only one of its own."""
    ongoing = request_work.current()
    if ongoing is not None:
        yield ongoing.session
        return
    with get_services().db.unit_of_work(write=False) as work:
        yield work


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if g.get("user") is not None:  # personal data: never in a shared cache
        headers.setdefault("Cache-Control", "no-store")
    return response


# -- login and logout pages ----------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (never another host)."""
    if not target:
        return url_for("pages.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The login form; a right password starts a session, repeated failures are slowed down."""
    next_url = _safe_next(request.values.get("next"))
    if request.method != "POST":  # GET and HEAD: the form, never a password check
        if g.user is not None:
            return redirect(next_url)
        return render_template("login.html", next=next_url)
    username = request.form.get("username", "")
    password = request.form.get("password", "")
    services = get_services()
    with services.db.unit_of_work() as work:  # commits the failure it records, too
        lifetime = current_app.permanent_session_lifetime
        outcome = attempt_login(
            work,
            services,
            username,
            password,
            remote_addr=request.remote_addr or "",
            session_lifetime=lifetime,
        )
        user = outcome.user
    if outcome.throttled:
        minutes = max(1, round((outcome.retry_after or 60) / 60))
        flash(f"Too many failed attempts: try again in about {minutes} minute(s).", "error")
        page = render_template("login.html", next=next_url, username=username)
        return page, 429, {"Retry-After": str(outcome.retry_after)}
    if user is None:
        flash("Wrong username or password.", "error")
        return render_template("login.html", next=next_url, username=username), 401
    session.clear()  # nothing of the anonymous session carries over
    session.permanent = True
    session["sid"] = outcome.session_secret
    return redirect(next_url)


@bp.post("/logout")
def logout() -> Any:
    """End the session server-side (a POST with the CSRF token: a link elsewhere cannot log anyone
    out); a saved copy of the cookie no longer works."""
    secret = session_secret()
    if secret is not None:
        with request_work.work(write=True) as (work, _services):
            end_session(work, secret)
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


def csrf_token() -> str:
    """The session's CSRF token (for API clients that log in with the session cookie)."""
    return generate_csrf()
