"""Running the agency from the pages, through Flask's client: people, my account, lanes and
cover, engagement operations, the workload board and the audit log — each refused to those
the use case refuses."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.models import HumanTask
from tests.api_support import csrf_from, give_password, make_app, start
from workflows.models import AuditEntry, Cover, User
from workflows.services import Services

PASSWORD = "correct-horse-battery"


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    for name in ("adam", "olga", "ana", "pete", "alex", "rita", "priya"):
        give_password(deployed, name, PASSWORD)
    return make_app(deployed, database_url)


def login(app: Flask, username: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    landed = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert landed.status_code == 302, landed.get_data(as_text=True)
    return client


def post(client: FlaskClient, page: str, path: str, data: dict[str, object]) -> object:
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def audit_actions(services: Services) -> list[str]:
    with services.db.unit_of_work(write=False) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_an_admin_adds_edits_deactivates_and_reactivates_a_person(app: Flask, deployed: Services) -> None:
    adam = login(app, "adam")
    html = adam.get("/people?q=ana").get_data(as_text=True)
    assert 'data-user="ana"' in html and 'data-user="pete"' not in html
    html = adam.get("/people?role=project_manager").get_data(as_text=True)
    assert 'data-user="pete"' in html and 'data-user="ana"' not in html

    refused = post(adam, "/people/new", "/people/new", {"username": "Bad Name", "name": "Nina", "roles": []})
    assert refused.status_code == 422 and "is not a username" in refused.get_data(as_text=True)
    assert 'value="Nina"' in refused.get_data(as_text=True)  # kept

    added = post(
        adam,
        "/people/new",
        "/people/new",
        {
            "username": "nina",
            "name": "Nina Novak",
            "email": "nina@agency.example",
            "roles": ["project_manager"],
            "password": "nina-first-pass",
            "time_zone": "America/New_York",
            "weekly_capacity_hours": "24",
            "rate_role": "project_manager",
        },
    )
    assert added.status_code == 302 and added.headers["Location"].endswith("/people/nina")
    with deployed.db.unit_of_work(write=False) as session:
        nina = session.scalar(select(User).where(User.username == "nina"))
        assert nina is not None and nina.time_zone == "America/New_York" and nina.weekly_capacity_hours == 24
        assert nina.role_names == {"project_manager"}

    bad_zone = post(
        adam,
        "/people/nina",
        "/people/nina",
        {"name": "Nina", "roles": ["project_manager"], "time_zone": "Mars/Base"},
    )
    assert bad_zone.status_code == 422 and "is not a time zone" in bad_zone.get_data(as_text=True)
    saved = post(
        adam,
        "/people/nina",
        "/people/nina",
        {
            "name": "Nina Novak",
            "roles": ["project_manager", "account_manager"],
            "time_zone": "",
            "weekly_capacity_hours": "",
        },
    )
    assert saved.status_code == 302
    nina_client = login(app, "nina", "nina-first-pass")
    assert nina_client.get("/inbox").status_code == 200

    off = post(adam, "/people/nina", "/people/nina/activation", {"active": "0"})
    assert off.status_code == 302
    assert nina_client.get("/inbox").status_code == 302  # her session is over
    assert "inactive" in adam.get("/people?status=inactive").get_data(as_text=True)
    on = post(adam, "/people/nina", "/people/nina/activation", {"active": "1"})
    assert on.status_code == 302
    assert {"user_created", "roles_changed", "user_deactivated", "user_reactivated"} <= set(
        audit_actions(deployed)
    )


def test_a_password_reset_ends_the_persons_sessions(app: Flask) -> None:
    adam, pete = login(app, "adam"), login(app, "pete")
    assert pete.get("/inbox").status_code == 200
    differ = post(
        adam, "/people/pete", "/people/pete/password", {"password": "new-pass-123", "confirm": "other"}
    )
    assert differ.status_code == 422 and "differ" in differ.get_data(as_text=True)
    reset = post(
        adam, "/people/pete", "/people/pete/password", {"password": "new-pass-123", "confirm": "new-pass-123"}
    )
    assert reset.status_code == 302
    assert pete.get("/inbox").status_code == 302
    login(app, "pete", "new-pass-123")


def test_people_pages_are_for_admins(app: Flask) -> None:
    pete = login(app, "pete")
    assert pete.get("/people/new").status_code == 403
    assert pete.get("/people/ana").status_code == 403  # her tokens are hers and the admins'
    assert post(pete, "/inbox", "/people/ana/activation", {"active": "0"}).status_code == 403
    assert pete.get("/audit").status_code == 403
    assert login(app, "ana").get("/workload").status_code == 403
    # the nav shows what each may use
    nav = pete.get("/inbox").get_data(as_text=True)
    assert 'href="/people"' not in nav and 'href="/workload"' not in nav and 'href="/account"' in nav
    nav = login(app, "adam").get("/inbox").get_data(as_text=True)
    assert 'href="/people"' in nav and 'href="/audit"' in nav


def test_my_account_sets_the_zone_preferences_and_tokens(app: Flask, deployed: Services) -> None:
    ana = login(app, "ana")
    saved = post(
        ana,
        "/account",
        "/account/preferences",
        {"time_zone": "Asia/Tokyo", "notify_in_app": "on", "notify_digest": "on"},
    )
    assert saved.status_code == 302
    with deployed.db.unit_of_work(write=False) as session:
        user = session.scalar(select(User).where(User.username == "ana"))
        assert user is not None and user.time_zone == "Asia/Tokyo"
        assert (user.notify_in_app, user.notify_email, user.notify_digest) == (True, False, True)
    nothing = post(ana, "/account", "/account/preferences", {"time_zone": ""})
    assert nothing.status_code == 422 and "at least one way" in nothing.get_data(as_text=True)

    issued = post(ana, "/account", "/account/tokens", {"name": "crm-sync"})
    html = issued.get_data(as_text=True)
    secret = re.search(r'<code id="new-token">(baton_[^<]+)</code>', html)
    assert issued.status_code == 200 and secret is not None
    assert secret.group(1) not in ana.get("/account").get_data(as_text=True)  # shown once
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    client = app.test_client()
    assert client.get("/api/v1/me", headers=bearer).status_code == 200
    token_id = re.search(r'data-token="(\d+)"', html)
    assert token_id is not None
    revoked = post(ana, "/account", f"/account/tokens/{token_id.group(1)}/revoke", {})
    assert revoked.status_code == 302
    assert client.get("/api/v1/me", headers=bearer).status_code == 401  # refused at once
    assert {"token_issued", "token_revoked"} <= set(audit_actions(deployed))


def test_cover_for_oneself_and_by_an_ops_lead_and_the_closures(app: Flask, deployed: Services) -> None:
    ana = login(app, "ana")
    page = ana.get("/lanes").get_data(as_text=True)
    assert "office closure" in page and "Christmas Day" in page
    mine = post(ana, "/lanes", "/lanes/cover", {"by": "alex", "from": "2026-12-21", "to": "2026-12-24"})
    assert mine.status_code == 302
    others = post(
        ana,
        "/lanes",
        "/lanes/cover",
        {"away": "pete", "by": "priya", "from": "2026-12-21", "to": "2026-12-22"},
    )
    assert others.status_code == 403
    olga = login(app, "olga")
    reversed_dates = post(
        olga,
        "/lanes",
        "/lanes/cover",
        {"away": "pete", "by": "priya", "from": "2026-12-22", "to": "2026-12-21"},
    )
    assert reversed_dates.status_code == 422 and "before it starts" in reversed_dates.get_data(as_text=True)
    assert (
        post(
            olga,
            "/lanes",
            "/lanes/cover",
            {"away": "pete", "by": "priya", "from": "2026-12-21", "to": "2026-12-22"},
        ).status_code
        == 302
    )
    with deployed.db.unit_of_work(write=False) as session:
        assert len(list(session.scalars(select(Cover)))) == 2
    lead = post(olga, "/lanes", "/lanes/leads", {"username": "alex", "role": "account_manager", "lead": "1"})
    assert lead.status_code == 302
    assert (
        post(
            ana, "/lanes", "/lanes/leads", {"username": "ana", "role": "account_manager", "lead": "1"}
        ).status_code
        == 403
    )


def test_an_ops_lead_changes_the_team_reassigns_and_cancels_from_the_engagement_page(
    app: Flask, deployed: Services
) -> None:
    engagement = start(deployed)
    olga = login(app, "olga")
    page = f"/engagements/{engagement}"
    html = olga.get(page).get_data(as_text=True)
    assert 'id="operations"' in html
    assert 'id="operations"' not in login(app, "ana").get(page).get_data(as_text=True)

    no_reason = post(olga, page, f"{page}/team", {"account_manager": "alex"})
    assert no_reason.status_code == 302
    changed = post(olga, page, f"{page}/team", {"account_manager": "alex", "reason": "ana moves to Contoso"})
    assert changed.status_code == 302
    with deployed.db.unit_of_work(write=False) as session:
        task = session.scalar(select(HumanTask).where(HumanTask.state == "ready"))
        assert task is not None and task.assignee == "alex"  # the open AM task followed
        task_id = task.task_id
    html = olga.get(page).get_data(as_text=True)
    assert "team changed" in html

    moved = post(
        olga, page, f"{page}/tasks/{task_id}/reassign", {"assignee": "ana", "reason": "back from leave"}
    )
    assert moved.status_code == 302
    with deployed.db.unit_of_work(write=False) as session:
        assert session.scalar(select(HumanTask.assignee).where(HumanTask.task_id == task_id)) == "ana"
    unfit = post(olga, page, f"{page}/tasks/{task_id}/reassign", {"assignee": "pete"})
    assert "Not reassigned" in olga.get(page).get_data(as_text=True) or unfit.status_code == 302

    cancelled = post(olga, page, f"{page}/cancel", {"reason": "client paused"})
    assert cancelled.status_code == 302
    html = olga.get(page).get_data(as_text=True)
    assert "cancelled" in html
    assert {"team_changed", "task_reassigned", "engagement_cancelled"} <= set(audit_actions(deployed))
    ana_refused = post(login(app, "ana"), page, f"{page}/cancel", {"reason": "x"})
    assert ana_refused.status_code == 403


def test_the_workload_board_shows_load_and_reassigns(app: Flask, deployed: Services) -> None:
    engagement = start(deployed)
    olga = login(app, "olga")
    html = olga.get("/workload").get_data(as_text=True)
    assert 'data-user="ana"' in html and "h/week" in html
    with deployed.db.unit_of_work(write=False) as session:
        task_id = session.scalar(select(HumanTask.task_id).where(HumanTask.state == "ready"))
    moved = post(
        olga,
        "/workload",
        f"/engagements/{engagement}/tasks/{task_id}/reassign",
        {"assignee": "alex", "next": "/workload#p-alex"},
    )
    assert moved.status_code == 302 and moved.headers["Location"].endswith("/workload#p-alex")
    html = olga.get("/workload").get_data(as_text=True)
    assert re.search(r'id="p-alex".*?data-task="' + task_id, html, re.S)
    rita = login(app, "rita")
    assert rita.get("/workload").status_code == 200
    assert "Reassign</button>" not in rita.get("/workload").get_data(as_text=True)  # she sees, ops leads move


def test_the_audit_log_filters_and_exports_csv(app: Flask, deployed: Services) -> None:
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "pete", "password": "wrong-password", "csrf_token": token})
    login(app, "pete")
    adam = login(app, "adam")
    html = adam.get("/audit?action=login_failed").get_data(as_text=True)
    assert 'data-action="login_failed"' in html and 'data-action="login"' not in html
    assert adam.get("/audit?from=yesterday").status_code == 422
    exported = adam.get("/audit.csv?person=pete")
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert (
        rows
        and {r["action"] for r in rows} >= {"login_failed", "login"}
        and all("pete" in (r["actor"], r["subject"]) for r in rows)
    )
