"""Staff pages: the inbox with its SLA badges and filters, the engagements board, notifications."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from engine.timers import TimerWorker
from tests.api_support import csrf_from, start
from tests.conftest import FakeClock
from tests.test_diagrams import logged_in
from webui.inbox_pages import InboxRow
from workflows.services import Services
from workflows.views.lists import my_tasks


def section(html: str, key: str) -> str:
    """The HTML of one inbox section."""
    start_at = html.index(f'id="{key}"')
    end = html.find("<section", start_at)
    return html[start_at : end if end != -1 else len(html)]


def test_ana_sees_her_pitch_tasks_on_track_with_business_hours_left(app: Flask, deployed: Services) -> None:
    start(deployed, client="Acme")
    start(deployed, client="Globex")
    ana = logged_in(app, deployed, "ana")

    page = ana.get("/inbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    mine = section(html, "mine")
    assert mine.count("Prepare pitch") == 2 and "Acme" in mine and "Globex" in mine
    assert mine.count("sla-on_track") == 2
    # the pitch is due in 3 business days of 8.5 hours: all of it is left at the start
    with deployed.db.unit_of_work(write=False) as session:
        task, _e = my_tasks(session, deployed, "ana")[0]
        assert task.due_at is not None
        left = deployed.calendar.business_hours_between(deployed.runtime.clock(), task.due_at)
    assert f"{left:.1f}".rstrip("0").rstrip(".") + " bh left" in mine
    assert "Nothing overdue." in section(html, "overdue")

    filtered = ana.get("/inbox?client=glob").get_data(as_text=True)
    assert "Globex" in section(filtered, "mine") and "Acme" not in section(filtered, "mine")
    assert "Nothing is waiting for you." in section(
        ana.get("/inbox?stage=delivery").get_data(as_text=True), "mine"
    )


def test_an_overdue_pitch_shows_breached_in_anas_inbox_and_on_the_board(
    app: Flask, deployed: Services
) -> None:
    engagement = start(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        task, _e = my_tasks(session, deployed, "ana")[0]
    assert task.due_at is not None
    clock = deployed.runtime.clock
    assert isinstance(clock, FakeClock)
    clock.now = task.due_at + timedelta(hours=2)
    sweeper = TimerWorker(
        deployed.db, deployed.runtime.fire_timers, clock=clock, sweeps=[deployed.deadline_sweeper().run_once]
    )
    assert sweeper.run_once().swept == 1
    ana = logged_in(app, deployed, "ana")

    html = ana.get("/inbox").get_data(as_text=True)
    # one section per task: ana's late pitch is in her tasks, marked late, and nowhere else
    mine = section(html, "mine")
    assert "Prepare pitch" in mine and "sla-breached" in mine and "bh over" in mine
    assert html.count(f'href="/engagements/{engagement}/tasks/') == 1
    assert "Nothing overdue." in section(html, "overdue")

    board = ana.get("/engagements").get_data(as_text=True)
    assert f'data-engagement="{engagement}"' in board
    assert "1 breached" in board and "no budget yet" in board
    assert ">ana<" in board and ">pete<" in board


def test_the_time_left_reads_in_business_hours() -> None:
    row = InboxRow.__new__(InboxRow)
    object.__setattr__(row, "hours_left", 25.5)
    assert row.time_left == "25.5 bh left"
    object.__setattr__(row, "hours_left", -2.0)
    assert row.time_left == "2 bh over"


def notifications_badge(client: FlaskClient) -> str:
    html = client.get("/inbox").get_data(as_text=True)
    found = html.split('class="badge"')
    return found[1].split(">")[1].split("<")[0] if len(found) > 1 else "0"


def test_ana_reads_her_notifications_one_then_all_from_the_page(app: Flask, deployed: Services) -> None:
    first = start(deployed, client="Acme")
    start(deployed, client="Globex")
    start(deployed, client="Initech")
    ana = logged_in(app, deployed, "ana")
    assert notifications_badge(ana) == "3"

    page = ana.get("/notifications").get_data(as_text=True)
    assert page.count('class="note unread"') == 3
    assert all(f"· {client} —" in page for client in ("Acme", "Globex", "Initech"))  # whose engagement
    token = csrf_from(page)
    oldest = page.rsplit('data-id="', 1)[1].split('"')[0]
    followed = ana.post(f"/notifications/{oldest}/read", data={"csrf_token": token, "follow": "1"})
    assert followed.status_code == 302 and followed.headers["Location"] == f"/engagements/{first}"
    assert notifications_badge(ana) == "2"

    pete = logged_in(app, deployed, "pete")
    pete_token = csrf_from(pete.get("/notifications").get_data(as_text=True))
    assert pete.post(f"/notifications/{oldest}/read", data={"csrf_token": pete_token}).status_code == 404
    del ana.environ_base["HTTP_X_CSRFTOKEN"]  # a plain form post, as the page sends it
    assert ana.post("/notifications/read-all").status_code == 400  # no CSRF token: refused

    done = ana.post("/notifications/read-all", data={"csrf_token": token}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "Marked 2 notifications read." in html and 'class="note unread"' not in html
    assert notifications_badge(ana) == "0"


def test_ana_starts_an_engagement_from_the_board_and_pete_may_not(app: Flask, deployed: Services) -> None:
    ana = logged_in(app, deployed, "ana")
    board = ana.get("/engagements").get_data(as_text=True)
    assert "Start engagement" in board
    form = ana.get("/engagements/new").get_data(as_text=True)
    assert '<option value="pete">' in form and '<option value="engagement" selected>' in form
    started = ana.post(
        "/engagements/new",
        data={
            "client": "Globex",
            "name": "Launch",
            "process_id": "engagement",
            "account_manager": "ana",
            "project_manager": "pete",
            "pm_joins_scoping": "on",
            "budget_alert_ratio": "0.8",
        },
    )
    assert started.status_code == 302
    page = ana.get(started.headers["Location"]).get_data(as_text=True)
    assert "Started Globex — Launch." in page
    assert "Prepare pitch" in section(ana.get("/inbox").get_data(as_text=True), "mine")

    kept = ana.post("/engagements/new", data={"client": "Initech", "name": "", "budget_alert_ratio": "lots"})
    assert kept.status_code == 422 and 'value="Initech"' in kept.get_data(as_text=True)

    pete = logged_in(app, deployed, "pete")
    assert "Start engagement" not in pete.get("/engagements").get_data(as_text=True)
    assert pete.get("/engagements/new").status_code == 403
