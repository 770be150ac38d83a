"""A stolen token or cookie does not take the account; guessing is throttled per username and per address.

Real argon2 hashes, real signed cookies and CSRF tokens through the Flask app, on the test
database (SQLite or PostgreSQL); time moves on the test's fake clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from werkzeug.test import TestResponse

from engine.db import BUSY, store_fault
from tests.api_support import csrf_from, give_password, logged_in, make_app, problem_of, token_for
from tests.conftest import FakeClock
from workflows.models import ApiToken, LoginFailure, LoginSession, User
from workflows.people.auth import attempt_login, purge_login_records, start_session
from workflows.people.directory import update_user
from workflows.people.throttle import MAX_PER_USER
from workflows.services import Services

PASSWORD = "correct horse battery"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def log_in(client: FlaskClient, username: str, password: str, **environ: str) -> TestResponse:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "10.0.0.1", **environ},
    )


def failures(services: Services) -> list[tuple[str, str]]:
    with services.db.unit_of_work(write=False) as session:
        return [
            (f.username, f.remote_addr)
            for f in session.scalars(select(LoginFailure).order_by(LoginFailure.id))
        ]


def live_tokens(services: Services, username: str) -> int:
    with services.db.unit_of_work(write=False) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ApiToken)
                .where(ApiToken.user.has(username=username), ApiToken.revoked_at.is_(None))
            )
            or 0
        )


# -- a token is not the account ------------------------------------------------------------


def test_a_token_can_neither_mint_tokens_nor_change_the_password(app: Flask, deployed: Services) -> None:
    give_password(deployed, "pete", PASSWORD)
    stolen = bearer(token_for(deployed, "pete"))
    client = app.test_client()
    minted = problem_of(client.post("/api/v1/me/tokens", json={"name": "mine now"}, headers=stolen), 403)
    assert (
        minted["detail"]
        == "a request made with an API token may not issue API tokens: log in with your password"
    )
    body = {"password": "the thief's pw", "current_password": PASSWORD}
    changed = problem_of(client.put("/api/v1/users/pete/password", json=body, headers=stolen), 403)
    assert "may not change a password" in changed["detail"]
    assert live_tokens(deployed, "pete") == 1  # nothing was minted
    assert logged_in(app, "pete", PASSWORD)  # the password is unchanged


def test_changing_your_password_revokes_your_tokens_and_ends_your_other_sessions(
    app: Flask, deployed: Services
) -> None:
    give_password(deployed, "pete", PASSWORD)
    secret = token_for(deployed, "pete")
    laptop, phone = logged_in(app, "pete", PASSWORD), logged_in(app, "pete", PASSWORD)
    body = {"password": "a fresh passphrase", "current_password": PASSWORD}
    assert laptop.put("/api/v1/users/pete/password", json=body).status_code == 204

    assert laptop.get("/api/v1/me").status_code == 200  # the session that changed it goes on
    problem_of(phone.get("/api/v1/me"), 401)  # every other one has ended
    problem_of(app.test_client().get("/api/v1/me", headers=bearer(secret)), 401)
    assert live_tokens(deployed, "pete") == 0


def test_an_admin_reset_ends_every_session_and_token_of_that_person(app: Flask, deployed: Services) -> None:
    give_password(deployed, "pete", PASSWORD)
    give_password(deployed, "adam", "adam's own pw")
    secret = token_for(deployed, "pete")
    pete = logged_in(app, "pete", PASSWORD)
    adam = logged_in(app, "adam", "adam's own pw")
    assert adam.put("/api/v1/users/pete/password", json={"password": "reset by adam"}).status_code == 204
    problem_of(pete.get("/api/v1/me"), 401)
    problem_of(app.test_client().get("/api/v1/me", headers=bearer(secret)), 401)
    assert adam.get("/api/v1/me").status_code == 200


def test_deactivation_revokes_tokens_and_reactivation_revives_none(app: Flask, deployed: Services) -> None:
    give_password(deployed, "pete", PASSWORD)
    secret = token_for(deployed, "pete")
    pete = logged_in(app, "pete", PASSWORD)
    with deployed.db.unit_of_work() as session:
        update_user(session, "pete", actor="adam", active=False, at=deployed.runtime.clock())
    with deployed.db.unit_of_work() as session:
        update_user(session, "pete", actor="adam", active=True)
    problem_of(app.test_client().get("/api/v1/me", headers=bearer(secret)), 401)
    problem_of(pete.get("/api/v1/me"), 401)
    assert live_tokens(deployed, "pete") == 0
    assert logged_in(app, "pete", PASSWORD)  # a fresh login works again


def test_logging_out_ends_the_session_so_a_saved_cookie_no_longer_works(
    app: Flask, deployed: Services
) -> None:
    give_password(deployed, "ana", PASSWORD)
    client = app.test_client()
    assert log_in(client, "ana", PASSWORD).status_code == 302
    saved = client.get_cookie("baton_session")
    assert saved is not None
    token = csrf_from(client.get("/").get_data(as_text=True))
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302

    thief = app.test_client()
    thief.set_cookie("baton_session", saved.value)
    assert thief.get("/").status_code == 302  # to the login page
    problem_of(thief.get("/api/v1/me"), 401)
    with deployed.db.unit_of_work(write=False) as session:
        assert session.scalar(select(func.count()).select_from(LoginSession)) == 0


# -- throttling ----------------------------------------------------------------------------


def test_head_login_is_answered_like_get_without_checking_a_password(app: Flask, deployed: Services) -> None:
    give_password(deployed, "ana", PASSWORD)
    client = app.test_client()
    for _ in range(10):
        head = client.head("/login", query_string={"username": "ana", "password": "guess"})
        assert head.status_code == 200
    assert failures(deployed) == []
    assert log_in(client, "ana", PASSWORD).status_code == 302


def test_forwarded_addresses_count_only_behind_a_configured_proxy(
    deployed: Services, database_url: str
) -> None:
    give_password(deployed, "ana", PASSWORD)
    direct = make_app(deployed, database_url).test_client()
    log_in(direct, "ana", "guess", HTTP_X_FORWARDED_FOR="203.0.113.7")
    proxied = make_app(deployed, database_url, TRUSTED_PROXIES=1).test_client()
    log_in(proxied, "ana", "guess", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert failures(deployed) == [("ana", "10.0.0.1"), ("ana", "203.0.113.7")]


def test_thirty_parallel_wrong_logins_check_at_most_the_limit_of_passwords(deployed: Services) -> None:
    give_password(deployed, "ana", PASSWORD)
    outcomes: list[str] = []
    start = threading.Barrier(30)

    def guess(n: int) -> None:
        start.wait()
        try:
            with deployed.db.unit_of_work() as session:
                outcome = attempt_login(session, deployed, "ana", f"guess {n}", remote_addr=f"10.1.0.{n}")
            outcomes.append("throttled" if outcome.throttled else "checked")
        except OperationalError as exc:  # SQLite: the writer queue outlasted the busy timeout (a 503)
            assert store_fault(exc) == BUSY
            outcomes.append("busy")

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 30
    checked = outcomes.count("checked")
    assert checked <= MAX_PER_USER and len(failures(deployed)) == checked
    if not deployed.db.is_sqlite:  # nothing times out on PostgreSQL: every attempt was counted
        assert checked == MAX_PER_USER and outcomes.count("throttled") == 30 - MAX_PER_USER


def test_the_worker_purges_old_failures_and_expired_sessions(
    app: Flask, deployed: Services, clock: FakeClock
) -> None:
    give_password(deployed, "ana", PASSWORD)
    client = app.test_client()
    log_in(client, "ana", "guess")
    assert log_in(client, "ana", PASSWORD).status_code == 302
    log_in(app.test_client(), "alex", "guess")
    with deployed.db.unit_of_work() as session:
        assert purge_login_records(session, deployed) == 0  # all still count
        ana = session.scalars(select(User.id).where(User.username == "ana")).one()
        # a session opened yesterday (sessions live on the wall clock, as the cookie does)
        start_session(session, ana, at=datetime.now(UTC) - timedelta(hours=13), lifetime=timedelta(hours=12))
    clock.now += timedelta(minutes=16)  # past the failure window
    with deployed.db.unit_of_work() as session:
        assert purge_login_records(session, deployed) == 2  # alex's failure and the expired session
    assert failures(deployed) == []
    assert client.get("/").status_code == 200  # ana's open session stays
