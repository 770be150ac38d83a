"""People log in to the pages with a password, scripts use personal tokens; guessing is slowed down.

Real argon2 hashes, real signed cookies, real CSRF tokens, through the Flask app on the test
database (SQLite or PostgreSQL); time moves on the test's fake clock.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from tests.api_support import csrf_from, give_password, logged_in, make_app, problem_of, token_for
from tests.conftest import FakeClock
from workflows.models import ApiToken, LoginFailure, User
from workflows.people.auth import attempt_login, revoke_token
from workflows.people.directory import update_user
from workflows.services import Services

PASSWORD = "correct horse battery"


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    give_password(deployed, "ana", PASSWORD)
    return make_app(deployed, database_url)


def log_in(
    client: FlaskClient, username: str, password: str, *, next_url: str = "/", addr: str = "10.0.0.1"
) -> TestResponse:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next_url},
        environ_base={"REMOTE_ADDR": addr},
    )


def test_pages_need_a_login_and_a_right_password_opens_them(client: FlaskClient) -> None:
    page = client.get("/engagements/1")
    assert page.status_code == 302 and page.location.startswith("/login?next=/engagements/1")

    assert log_in(client, "ana", "wrong password").status_code == 401
    assert client.get("/").status_code == 302

    landed = log_in(client, "ana", PASSWORD, next_url="/engagements/1")
    assert landed.status_code == 302 and landed.location == "/engagements/1"
    home = client.get("/")
    assert home.status_code == 200
    assert '<span class="who">ana</span>' in home.get_data(as_text=True)


def test_the_session_cookie_is_secure_httponly_and_samesite_lax(client: FlaskClient) -> None:
    landed = log_in(client, "ana", PASSWORD)
    cookie = landed.headers["Set-Cookie"]
    assert cookie.startswith("baton_session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_development_can_turn_the_secure_flag_off(deployed: Services, database_url: str) -> None:
    give_password(deployed, "ana", PASSWORD)
    client = make_app(deployed, database_url, SESSION_COOKIE_SECURE=False).test_client()
    cookie = log_in(client, "ana", PASSWORD).headers["Set-Cookie"]
    assert "Secure" not in cookie and "HttpOnly" in cookie


def test_a_login_only_goes_on_to_pages_of_this_site(app: Flask) -> None:
    for elsewhere in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        landed = log_in(app.test_client(), "ana", PASSWORD, next_url=elsewhere)
        assert landed.status_code == 302 and landed.location == "/", elsewhere


def test_every_form_needs_its_csrf_token(client: FlaskClient) -> None:
    refused = client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert refused.status_code == 400 and "CSRF" in refused.get_data(as_text=True)
    log_in(client, "ana", PASSWORD)
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # still logged in

    token = csrf_from(client.get("/").get_data(as_text=True))  # the logout form in the header
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_passwords_are_stored_as_argon2id_hashes(deployed: Services) -> None:
    with deployed.db.unit_of_work(write=False) as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ana"))
    assert stored is None  # the test agency starts without passwords
    give_password(deployed, "ana", PASSWORD)
    with deployed.db.unit_of_work(write=False) as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "ana"))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored


def test_five_failures_lock_that_username_from_every_address_for_a_while(
    app: Flask, client: FlaskClient, deployed: Services, clock: FakeClock
) -> None:
    for n in range(5):  # spread over addresses: the username's count holds them all
        assert log_in(client, "ana", "guess", addr=f"10.0.0.{n + 1}").status_code == 401
    locked = log_in(client, "ana", PASSWORD, addr="10.0.9.9")  # even the right password waits
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.get_data(as_text=True)
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60

    # another username, from the same address, is not held up
    give_password(deployed, "alex", PASSWORD)
    assert log_in(app.test_client(), "alex", PASSWORD, addr="10.0.0.1").status_code == 302

    clock.now += timedelta(minutes=15, seconds=1)
    assert log_in(app.test_client(), "ana", PASSWORD).status_code == 302
    with deployed.db.unit_of_work(write=False) as session:  # a success clears the username's failures
        left = session.scalars(select(LoginFailure).where(LoginFailure.username == "ana")).all()
    assert left == []


def test_twenty_failures_from_one_address_lock_that_address_for_every_username(
    app: Flask, deployed: Services
) -> None:
    give_password(deployed, "alex", PASSWORD)
    for n in range(20):  # a sprayer tries many usernames, a few times each
        assert log_in(app.test_client(), f"user{n % 10}", "guess", addr="10.6.6.6").status_code == 401
    assert log_in(app.test_client(), "alex", PASSWORD, addr="10.6.6.6").status_code == 429
    assert log_in(app.test_client(), "alex", PASSWORD, addr="10.0.0.7").status_code == 302


def test_the_limit_holds_across_workers_because_failures_are_in_the_database(
    deployed: Services, database_url: str
) -> None:
    give_password(deployed, "ana", PASSWORD)
    first, second = make_app(deployed, database_url), make_app(deployed, database_url)
    for app in (first, second, first, second, first):
        assert log_in(app.test_client(), "ana", "guess").status_code == 401
    assert log_in(second.test_client(), "ana", PASSWORD).status_code == 429


def test_an_unknown_user_fails_like_a_wrong_password(client: FlaskClient, deployed: Services) -> None:
    assert log_in(client, "nobody", "whatever").status_code == 401
    assert log_in(client, "olga", "whatever").status_code == 401  # a user without a password
    with deployed.db.unit_of_work() as session:  # usernames ignore blanks and case
        outcome = attempt_login(session, deployed, " ANA ", PASSWORD, remote_addr="10.0.0.9")
        assert outcome.user is not None and outcome.user.username == "ana"


def test_a_new_password_or_deactivation_ends_open_sessions(client: FlaskClient, deployed: Services) -> None:
    log_in(client, "ana", PASSWORD)
    assert client.get("/").status_code == 200
    give_password(deployed, "ana", "another long password")
    assert client.get("/").status_code == 302

    log_in(client, "ana", "another long password")
    assert client.get("/").status_code == 200
    with deployed.db.unit_of_work() as session:
        update_user(session, "ana", actor="adam", active=False)
    assert client.get("/").status_code == 302
    assert log_in(client, "ana", "another long password").status_code == 401


def test_every_answer_carries_the_security_headers(client: FlaskClient) -> None:
    for response in (client.get("/login"), client.get("/api/v1/engagements"), client.get("/healthz")):
        headers = response.headers
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["X-Frame-Options"] == "DENY"
    log_in(client, "ana", PASSWORD)
    assert client.get("/").headers["Cache-Control"] == "no-store"


def test_health_and_the_api_description_need_no_login(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/docs").status_code == 200


# -- personal API tokens -------------------------------------------------------------------


def test_a_token_acts_as_its_user_and_only_its_hash_is_stored(app: Flask, deployed: Services) -> None:
    secret = token_for(deployed, "pete", "ci")
    client = app.test_client()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    assert me.get_json() | {"csrf_token": None} == {
        "username": "pete",
        "name": "Pete Novak",
        "email": "pete@agency.example",
        "roles": ["project_manager"],
        "via": "token",
        "csrf_token": None,
    }
    with deployed.db.unit_of_work(write=False) as session:
        token = session.scalars(select(ApiToken)).one()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (token.token_hash, token.hint) and secret.startswith(token.hint)


def test_a_missing_malformed_unknown_or_revoked_token_gets_401(app: Flask, deployed: Services) -> None:
    client = app.test_client()
    problem_of(client.get("/api/v1/me"), 401)
    for header in ("Basic YW5hOnB3", "Bearer", "Bearer baton_not-a-real-token", "Bearer something-else"):
        body = problem_of(client.get("/api/v1/me", headers={"Authorization": header}), 401)
        assert body["type"].endswith("problem-unauthenticated")
    secret = token_for(deployed, "pete")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    with deployed.db.unit_of_work() as session:
        token_id = session.scalars(select(ApiToken.id)).one()
        revoke_token(session, deployed, token_id, actor="pete")
    problem_of(client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}), 401)


def test_a_token_stops_working_when_its_user_is_deactivated(app: Flask, deployed: Services) -> None:
    secret = token_for(deployed, "pete")
    with deployed.db.unit_of_work() as session:
        update_user(session, "pete", actor="adam", active=False)
    problem_of(app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}), 401)


def test_a_tokens_last_use_is_kept_to_the_minute(app: Flask, deployed: Services, clock: FakeClock) -> None:
    secret = token_for(deployed, "pete")
    headers = {"Authorization": f"Bearer {secret}"}

    def last_used() -> object:
        with deployed.db.unit_of_work(write=False) as session:
            return session.scalars(select(ApiToken.last_used_at)).one()

    assert last_used() is None
    start = clock.now
    app.test_client().get("/api/v1/me", headers=headers)
    assert last_used() == start
    clock.now += timedelta(seconds=30)  # within the minute: no write
    app.test_client().get("/api/v1/me", headers=headers)
    assert last_used() == start
    clock.now += timedelta(seconds=31)
    app.test_client().get("/api/v1/me", headers=headers)
    assert last_used() == clock.now


def test_people_manage_their_own_tokens_over_the_api(app: Flask, deployed: Services) -> None:
    give_password(deployed, "pete", PASSWORD)
    pete = {"Authorization": f"Bearer {token_for(deployed, 'pete', 'laptop')}"}
    browser = logged_in(app, "pete", PASSWORD)  # new tokens come from a password login only
    client = app.test_client()
    issued = browser.post("/api/v1/me/tokens", json={"name": "crm-sync"})
    assert issued.status_code == 201
    new = issued.get_json()
    assert new["name"] == "crm-sync" and new["secret"].startswith(new["hint"])
    listed = client.get("/api/v1/me/tokens", headers=pete).get_json()
    assert [t["name"] for t in listed] == ["laptop", "crm-sync"]
    assert all("secret" not in t for t in listed)

    new_headers = {"Authorization": f"Bearer {new['secret']}"}
    assert client.get("/api/v1/me", headers=new_headers).get_json()["username"] == "pete"
    assert client.delete(f"/api/v1/me/tokens/{new['id']}", headers=pete).status_code == 204
    problem_of(client.get("/api/v1/me", headers=new_headers), 401)

    # someone else's token is not theirs to see or revoke
    ana = {"Authorization": f"Bearer {token_for(deployed, 'ana')}"}
    problem_of(client.delete(f"/api/v1/me/tokens/{listed[0]['id']}", headers=ana), 404)
    assert client.get("/api/v1/me", headers=pete).status_code == 200


# -- the API from a logged-in browser --------------------------------------------------------


def test_a_session_may_call_the_api_but_its_writes_need_the_csrf_header(client: FlaskClient) -> None:
    log_in(client, "ana", PASSWORD)
    me = client.get("/api/v1/me").get_json()
    assert me["via"] == "session" and me["csrf_token"]

    body = {"client": "Acme", "name": "Rebrand", "account_manager": "ana", "project_manager": "pete"}
    refused = problem_of(client.post("/api/v1/engagements", json=body), 400)
    assert "CSRF" in refused["detail"]
    started = client.post("/api/v1/engagements", json=body, headers={"X-CSRFToken": me["csrf_token"]})
    assert started.status_code == 201 and started.get_json()["created_by"] == "ana"
