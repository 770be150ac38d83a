"""The report pages in a real Chromium: Chart.js draws every chart, no script fails, the review
prints. Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.api_support import give_password, make_app
from tests.test_diagrams_browser import CHROMIUM_ARGS
from tests.test_reports_api import history
from workflows.services import Services

__all__ = ["history"]  # the fixture, shared with the API tests
playwright_api = pytest.importorskip("playwright.sync_api")

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "reports in a browser"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(deployed: Services, database_url: str, history: dict[str, int]) -> Iterator[str]:
    app: Flask = make_app(deployed, database_url, SESSION_COOKIE_SECURE=False)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def page(browser: Any, live_server: str, deployed: Services) -> Iterator[Any]:
    """lee, from leadership, logged in to the live server; no script may fail on any page."""
    give_password(deployed, "lee", PASSWORD)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/login")
    page.fill("#username", "lee")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    yield page
    page.close()
    assert errors == []


def drawn_charts(page: Any) -> list[str]:
    """Ids of the canvases Chart.js drew a chart on (waits until the script ran)."""
    page.wait_for_function("() => typeof window.Chart !== 'undefined'")
    return list(
        page.eval_on_selector_all(
            "canvas[data-chart]",
            "els => els.filter(c => window.Chart.getChart(c) && c.width > 0).map(c => c.dataset.chart)",
        )
    )


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_the_overview_draws_its_four_charts(live_server: str, page: Any) -> None:
    page.goto(f"{live_server}/reports?client=Acme")
    assert sorted(drawn_charts(page)) == ["budget", "cost", "sla", "time"]
    chart = page.evaluate(
        "() => { const c = window.Chart.getChart(document.querySelector('canvas[data-chart=time]'));"
        " return {labels: c.data.labels, stacked: c.options.scales.y.stacked}; }"
    )
    assert "qc (bottleneck)" in chart["labels"] and chart["stacked"] is True
    shoot(page, "reports.png")


PAGES = [
    ("/reports/time?client=Acme", ["time"], "report-time.png"),
    ("/reports/sla?client=Acme", ["sla"], "report-sla.png"),
    ("/reports/rework", ["rework"], "report-rework.png"),
    ("/reports/cost?by=lane", ["cost"], "report-cost.png"),
    ("/reports/budget", ["budget"], "report-budget.png"),
    ("/reports/handoff", ["handoff"], "report-handoff.png"),
    ("/reports/throughput", ["throughput"], "report-throughput.png"),
    ("/reports/workload", ["workload"], "report-workload.png"),
]


def test_each_report_page_draws_its_chart(live_server: str, page: Any) -> None:
    for path, charts, shot in PAGES:
        page.goto(live_server + path)
        assert drawn_charts(page) == charts, path
        assert page.locator("a.csv-link").get_attribute("href").endswith("format=csv")
        shoot(page, shot)


def test_the_engagement_review_draws_and_prints(live_server: str, page: Any, history: dict[str, int]) -> None:
    page.goto(f"{live_server}/engagements/{history['acme']}/review")
    assert drawn_charts(page) == ["review-time", "review-cost"]
    shoot(page, "engagement-review.png")
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()  # the print CSS drops the navigation
    assert page.locator("button[data-print]").is_hidden()
    shoot(page, "engagement-review-print.png")
