"""What the browser tests share: Debian's Chromium, the app served on a real port, a logged-in page.

The `browser` and `live_server` fixtures live in conftest.py; a test module provides the `app`
fixture the live server serves (see `demo_app`). Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from tests.api_support import make_app
from workflows.demo.seed import DEMO_PASSWORD, seed_demo
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
# Launch flags for Chromium in a container without a GPU, a sandbox or network updates.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def demo_app(services: Services, database_url: str) -> Flask:
    """The demo agency (users, engagements across the stages) served on the test's services."""
    with services.db.unit_of_work() as session:
        seed_demo(session, services)
    services.deadline_sweeper().run_once()  # as `baton demo` does: some steps at risk, some late
    # the live server speaks plain http, so the session cookie may not be Secure
    return make_app(services, database_url, SESSION_COOKIE_SECURE=False)


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """Serve `app` on a free local port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def logged_in(browser: Any, live_server: str, username: str, password: str = DEMO_PASSWORD) -> Iterator[Any]:
    """A new page logged in as `username`; on leaving, no script may have failed on any page."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.user .who")
    try:
        yield page
    finally:
        page.close()
    assert errors == []


def shoot(page: Any, name: str, **kw: Any) -> None:
    """Save a screenshot of the page under docs/screenshots/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), **kw)


def marked(page: Any, marker: str) -> set[str]:
    """BPMN ids of the diagram elements carrying a marker class."""
    return set(
        page.eval_on_selector_all(
            f".djs-element.{marker}", "els => els.map(e => e.getAttribute('data-element-id'))"
        )
    )
