"""Every fault is a clear answer with the right status, and nothing is half written.

A busy SQLite store (another writer holding it), a full one (a page cap the test sets), a body
over the size limit, JSON nested 900 levels, ids past 2^63 and effort nobody can have worked:
real HTTP through the Flask app, on SQLite or PostgreSQL where the fault exists there.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from tests.api_support import Caller, caller, csrf_from, give_password, make_app, problem_of
from workflows.models import Engagement
from workflows.services import Services

NEW = {"client": "Acme", "name": "Rebrand", "account_manager": "ana", "project_manager": "pete"}
BIG = 2**63


@pytest.fixture
def olga(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "olga")


def engagements(services: Services) -> int:
    with services.db.unit_of_work(write=False) as session:
        return len(session.scalars(select(Engagement.id)).all())


def sqlite_path(services: Services) -> str:
    if not services.db.is_sqlite:
        pytest.skip("a SQLite store's fault")
    path = services.db.engine.url.database
    assert path
    return path


def test_a_busy_store_answers_503_with_retry_after_and_reads_go_on(
    app: Flask, deployed: Services, olga: Caller
) -> None:
    holder = sqlite3.connect(sqlite_path(deployed), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the store
    answered: list[float] = []
    try:
        reader = threading.Thread(target=lambda: answered.append(_timed(app, "/healthz")))
        started = time.perf_counter()
        reader.start()
        busy = olga.post("/api/v1/engagements", json=NEW)
        took = time.perf_counter() - started
        reader.join()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    body = problem_of(busy, 503)
    assert body["type"].endswith("problem-store-busy") and busy.headers["Retry-After"] == "2"
    assert took < 10, f"the refusal took {took:.1f} s"  # the busy timeout (5 s), not 30
    assert answered and answered[0] < 1.0, "a read waited for the writer"
    assert engagements(deployed) == 0
    assert olga.post("/api/v1/engagements", json=NEW).status_code == 201  # free again


def _timed(app: Flask, path: str) -> float:
    time.sleep(0.2)  # while the write waits
    started = time.perf_counter()
    assert app.test_client().get(path).status_code == 200
    return time.perf_counter() - started


def test_a_full_store_answers_507_on_the_api_and_a_page_in_the_layout(app: Flask, deployed: Services) -> None:
    sqlite_path(deployed)
    browser = logged_in_as(app, deployed, "olga")  # a new password revokes tokens: the token after
    olga = caller(app, deployed, "olga")
    engine = deployed.db.engine
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

    def cap(dbapi_connection: Any, _record: Any) -> None:  # the disk is full: not one page more
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()
    event.listen(engine, "connect", cap)
    kept = 0
    try:
        kept = 0  # the disk fills up: engagements start until one finds no room
        while (answer := olga.post("/api/v1/engagements", json=NEW)).status_code == 201 and kept < 500:
            kept += 1
        full = problem_of(answer, 507)
        assert full["type"].endswith("problem-store-full") and "nothing was saved" in full["detail"]
        token = csrf_from(browser.get("/engagements/new").get_data(as_text=True))
        page = browser.post(
            "/engagements/new", data={"client": "Acme", "name": "Rebrand", "csrf_token": token}
        )
        assert page.status_code == 507
        html = page.get_data(as_text=True)
        assert '<header class="top">' in html and "no space left" in html
    finally:
        event.remove(engine, "connect", cap)
        engine.dispose()
    assert engagements(deployed) == kept  # the refused ones left nothing behind
    assert olga.post("/api/v1/engagements", json=NEW).status_code == 201  # room again


def logged_in_as(app: Flask, services: Services, username: str) -> Any:
    give_password(services, username, f"{username}'s long pw")
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    form = {"username": username, "password": f"{username}'s long pw", "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    return client


def test_json_nested_900_levels_is_a_400_not_a_crash(olga: Caller, deployed: Services) -> None:
    deep: Any = "bottom"
    for _ in range(900):
        deep = [deep]
    refused = problem_of(
        olga.post("/api/v1/engagements", json={**NEW, "options": {"pm_joins_scoping": deep}}), 400
    )
    assert "nested" in refused["detail"]
    assert engagements(deployed) == 0


def test_ids_past_what_the_database_holds_are_404(app: Flask, deployed: Services) -> None:
    client = logged_in_as(app, deployed, "olga")
    olga = caller(app, deployed, "olga")
    for path in (
        f"/engagements/{BIG}",
        f"/engagements/{BIG * 10}/tasks/pitch_prepare",
        f"/engagements/{BIG}/review",
    ):
        assert client.get(path).status_code == 404, path
    for path in (f"/api/v1/engagements/{BIG}", f"/api/v1/engagements/{BIG}/tasks"):
        problem_of(olga.get(path), 404)


def test_a_body_over_the_limit_is_413_as_a_problem_and_as_a_page(
    deployed: Services, database_url: str
) -> None:
    app = make_app(deployed, database_url, MAX_CONTENT_LENGTH=64 * 1024)
    olga = caller(app, deployed, "olga")
    refused = problem_of(olga.post("/api/v1/engagements", json={**NEW, "name": "x" * 100_000}), 413)
    assert refused["type"].endswith("problem-too-large") and "64 KiB" in refused["detail"]
    client = logged_in_as(app, deployed, "ana")
    token = csrf_from(client.get("/engagements/new").get_data(as_text=True))
    page = client.post(
        "/engagements/new", data={"client": "Acme", "name": "x" * 100_000, "csrf_token": token}
    )
    assert page.status_code == 413
    html = page.get_data(as_text=True)
    assert '<header class="top">' in html and "over 64 KiB" in html
    assert engagements(deployed) == 0
