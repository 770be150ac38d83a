"""The read-only pages, through Flask's client and in a real Chromium, after logging in."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tests.api_support import csrf_from
from webui import create_app
from workflows.demo import DEMO_PASSWORD, seed_demo
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def app(deployed: Services, database_url: str):  # type: ignore[no-untyped-def]
    with deployed.db.unit_of_work() as session:
        seed_demo(session, deployed)
    return create_app(
        {
            "DATABASE_URL": database_url,
            "DEFINITIONS_DIR": str(ROOT / "definitions"),
            "TESTING": True,
            "SECRET_KEY": "pages test",
            "SESSION_COOKIE_SECURE": False,  # the live server below speaks plain http
        }
    )


@pytest.fixture
def client(app) -> FlaskClient:  # type: ignore[no-untyped-def]
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
    assert re.search(r"<td>Approve brief</td><td>Account Management</td>.*?<td>ana</td>", html, re.S)
    assert "task completed" in html and "started" in html
    assert client.get("/engagements/999").status_code == 404


def test_health_endpoint(app) -> None:  # type: ignore[no-untyped-def]
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


@pytest.fixture
def live_server(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_the_pages_render_in_chromium(live_server: str) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    docs = ROOT / "docs" / "screenshots"
    docs.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(live_server + "/")
        assert page.locator("h1").first.inner_text() == "Log in"
        page.fill("#username", "ana")
        page.fill("#password", DEMO_PASSWORD)
        page.click("button[type=submit]")
        assert page.locator("h1").first.inner_text() == "Engagements"
        assert page.locator(".lane").count() == 2
        page.screenshot(path=str(docs / "engagements.png"), full_page=True)
        page.click("text=Trade show stand")
        assert page.locator(".stagebar li.active").inner_text().lower() == "brief"
        page.screenshot(path=str(docs / "engagement.png"), full_page=True)
        browser.close()
