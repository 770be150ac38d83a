"""What the HTTP tests share: the app on the test's services, people calling it with their tokens."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from webui import create_app
from workflows.engagements.lifecycle import start_engagement
from workflows.people.auth import issue_token, set_password
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
SECRET = "a test secret, never used for real"


def make_app(services: Services, database_url: str, **config: Any) -> Flask:
    """The Flask app on the test's services (their fake clock included)."""
    settings = {
        "DATABASE_URL": database_url,
        "DEFINITIONS_DIR": str(ROOT / "definitions"),
        "TESTING": True,
        "SECRET_KEY": SECRET,
        **config,
    }
    return create_app(settings, with_services=services)


class Caller:
    """One person calling the API with their personal token, through Flask's test client."""

    def __init__(self, client: FlaskClient, username: str, secret: str) -> None:
        self.client = client
        self.username = username
        self.secret = secret

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> TestResponse:
        """Send a request with the person's bearer token."""
        auth = {"Authorization": f"Bearer {self.secret}", **(headers or {})}
        return self.client.open(path, method=method, headers=auth, **kw)

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> TestResponse:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> TestResponse:
        return self.request("PATCH", path, **kw)

    def put(self, path: str, **kw: Any) -> TestResponse:
        return self.request("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> TestResponse:
        return self.request("DELETE", path, **kw)


def token_for(services: Services, username: str, name: str = "tests") -> str:
    """Issue a personal API token for `username` (as `baton tokens issue` does); returns its secret."""
    with services.db.unit_of_work() as session:
        return issue_token(session, services, username, name=name, actor=username).secret


def caller(app: Flask, services: Services, username: str) -> Caller:
    """`username` calling the API with a fresh token."""
    return Caller(app.test_client(), username, token_for(services, username))


class SessionCaller(Caller):
    """One person calling the API from a logged-in browser session (cookie + X-CSRFToken)."""

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> TestResponse:
        """Send a request with the session cookie and its CSRF token."""
        sent = {"X-CSRFToken": self.secret, **(headers or {})}
        return self.client.open(path, method=method, headers=sent, **kw)


def logged_in(app: Flask, username: str, password: str) -> SessionCaller:
    """`username` logged in to the pages with `password`, calling the API with that session."""
    client = app.test_client()
    form = {
        "username": username,
        "password": password,
        "csrf_token": csrf_from(client.get("/login").get_data(as_text=True)),
    }
    assert client.post("/login", data=form).status_code == 302, f"{username} could not log in"
    me = client.get("/api/v1/me").get_json()
    return SessionCaller(client, username, me["csrf_token"])


def give_password(services: Services, username: str, password: str) -> None:
    """Set a user's password (as `baton users password` does)."""
    with services.db.unit_of_work() as session:
        set_password(session, username, password)


def start(services: Services, *, am: str = "ana", pm: str = "pete", client: str = "Acme") -> int:
    """A fresh engagement of the standard definition with its team; returns its id."""
    with services.db.unit_of_work() as session:
        return start_engagement(
            session,
            services,
            client=client,
            name="Rebrand",
            actor="olga",
            account_manager=am,
            project_manager=pm,
        ).id


def csrf_from(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


def problem_of(response: TestResponse, status: int) -> dict[str, Any]:
    """The RFC 9457 problem a response carries, checked for its status and media type."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["type"]
    return body
