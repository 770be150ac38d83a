"""The read-only pages, through Flask's client and in a real Chromium, after logging in."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api_support import csrf_from
from tests.browser_support import demo_app, shoot
from workflows.demo.seed import DEMO_PASSWORD
from workflows.services import Services


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    return demo_app(deployed, database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """ana, logged in with the demo password."""
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    landed = client.post("/login", data={"username": "ana", "password": DEMO_PASSWORD, "csrf_token": token})
    assert landed.status_code == 302
    return client


def test_the_home_page_lists_engagements_and_both_lanes_inboxes(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "Northwind Coffee" in html and "Proseware" in html
    assert "Account Management" in html and "Project Management" in html
    assert "Quality check" in html or "QC" in html or "qc" in html


def test_an_engagement_page_shows_its_stage_open_task_and_history(client: FlaskClient) -> None:
    html = client.get("/engagements/5").get_data(as_text=True)
    assert "Adventure Works" in html
    assert 'class="active">Brief' in html
    assert "account manager <strong>ana</strong>" in html and "project manager <strong>priya</strong>" in html
    # the open brief approval waits with the engagement's AM
    # the open task links to its page
    assert re.search(
        r'<td><a href="/engagements/\d+/tasks/[^"]+">Approve brief</a></td>'
        r"<td>Account Management</td>.*?<td>ana</td>",
        html,
        re.S,
    )
    assert "task completed" in html and "started" in html
    # the effort logged so far per lane, and the budget (the demo logs effort on each finished step)
    assert re.search(
        r"Effort so far:\s*Account Management <strong>[\d.]+ h</strong> · Project Management", html
    )
    assert "Budget <strong>20,000</strong>" in html
    # steps go by their names in the diagram, in the decisions and the history alike
    assert re.search(r"<td>Record pitch outcome</td>\s*<td><span class=\"status decision-won", html)
    assert "<td>Write brief</td>" in html and "<td>brief_write</td>" not in html
    assert client.get("/engagements/999").status_code == 404


def test_health_endpoint(app) -> None:  # type: ignore[no-untyped-def]
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_the_pages_render_in_chromium(browser: Any, live_server: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(live_server + "/")
    assert page.locator("h1").first.inner_text() == "Log in"
    page.fill("#username", "ana")
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    assert page.locator("h1").first.inner_text() == "Engagements"
    assert page.locator(".lane").count() == 2
    shoot(page, "engagements.png", full_page=True)
    page.click("text=Trade show stand")
    assert page.locator(".stagebar li.active").inner_text().lower() == "brief"
    shoot(page, "engagement.png", full_page=True)
    page.close()
