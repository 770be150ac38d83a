"""The report pages in a real Chromium: Chart.js draws every chart, no script fails, the review
prints. Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.api_support import give_password, make_app
from tests.browser_support import logged_in, shoot
from tests.test_reports_api import history
from workflows.services import Services

__all__ = ["history"]  # the fixture, shared with the API tests
playwright_api = pytest.importorskip("playwright.sync_api")

PASSWORD = "reports in a browser"


@pytest.fixture
def app(deployed: Services, database_url: str, history: dict[str, int]) -> Flask:
    return make_app(deployed, database_url, SESSION_COOKIE_SECURE=False)


@pytest.fixture
def page(browser: Any, live_server: str, deployed: Services) -> Iterator[Any]:
    """lee, from leadership, logged in to the live server; no script may fail on any page."""
    give_password(deployed, "lee", PASSWORD)
    with logged_in(browser, live_server, "lee", PASSWORD) as page:
        yield page


def drawn_charts(page: Any) -> list[str]:
    """Ids of the canvases Chart.js drew a chart on (waits until the script ran)."""
    page.wait_for_function("() => typeof window.Chart !== 'undefined'")
    return list(
        page.eval_on_selector_all(
            "canvas[data-chart]",
            "els => els.filter(c => window.Chart.getChart(c) && c.width > 0).map(c => c.dataset.chart)",
        )
    )


def test_the_overview_draws_its_four_charts(live_server: str, page: Any) -> None:
    page.goto(f"{live_server}/reports?client=Acme")
    assert sorted(drawn_charts(page)) == ["budget", "cost", "sla", "time"]
    chart = page.evaluate(
        "() => { const c = window.Chart.getChart(document.querySelector('canvas[data-chart=time]'));"
        " return {labels: c.data.labels, stacked: c.options.scales.y.stacked}; }"
    )
    assert "qc (bottleneck)" in chart["labels"] and chart["stacked"] is True
    shoot(page, "reports.png", full_page=True)


PAGES = [
    ("/reports/time?client=Acme", ["time"], "report-time.png"),
    ("/reports/sla?client=Acme", ["sla"], "report-sla.png"),
    ("/reports/rework", ["rework", "reruns"], "report-rework.png"),
    ("/reports/cost?by=lane", ["cost"], "report-cost.png"),
    ("/reports/budget", ["budget"], "report-budget.png"),
    ("/reports/handoff", ["handoff"], "report-handoff.png"),
    ("/reports/throughput", ["throughput"], "report-throughput.png"),
    ("/reports/workload", ["workload"], "report-workload.png"),
    ("/reports/servicing", ["servicing"], "report-servicing.png"),
    ("/reports/time?by=task", ["time"], "report-time-by-task.png"),
]


def test_each_report_page_draws_its_chart(live_server: str, page: Any) -> None:
    for path, charts, shot in PAGES:
        page.goto(live_server + path)
        assert drawn_charts(page) == charts, path
        assert page.locator("a.csv-link").get_attribute("href").endswith("format=csv")
        shoot(page, shot, full_page=True)


def test_the_engagement_review_draws_and_prints(live_server: str, page: Any, history: dict[str, int]) -> None:
    page.goto(f"{live_server}/engagements/{history['acme']}/review")
    assert drawn_charts(page) == ["review-time", "review-cost"]
    page.wait_for_selector("#engagement-diagram.diagram-ready")  # the diagram, where it stands
    assert page.locator("figure.timeline g.span").count() == 8  # pitch to feedback, on the timeline
    assert page.locator(".djs-element.bt-done").count() > 5
    shoot(page, "engagement-review.png", full_page=True)
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()  # the print CSS drops the navigation
    assert page.locator("button[data-print]").is_hidden()
    shoot(page, "engagement-review-print.png", full_page=True)


def test_the_servicing_statement_for_the_client_and_inside_the_agency(
    live_server: str, page: Any, history: dict[str, int]
) -> None:
    acme = history["acme"]
    page.goto(f"{live_server}/reports/servicing/statement?engagement={acme}&audience=client")
    sheet = page.locator(".statement-sheet")
    assert "prepared for Acme" in sheet.inner_text() and "Margin" not in sheet.inner_text()
    assert "What that time bought" in sheet.inner_text()
    shoot(page, "report-servicing-statement.png", full_page=True)
    page.select_option("select[name=audience]", "internal")
    page.click("button:has-text('Show')")
    page.wait_for_url("**audience=internal**")
    assert "Margin left of the allotment" in page.locator(".statement-sheet").inner_text()
    shoot(page, "report-servicing-statement-internal.png", full_page=True)
    page.emulate_media(media="print")
    assert page.locator("form[aria-label='Choose a statement']").is_hidden()
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 390, "height": 844})
    # the statement fits the phone (its tables scroll inside it; the site's top bar is not ours)
    assert page.evaluate(
        "() => { const s = document.querySelector('.statement-sheet');"
        " return s.getBoundingClientRect().right <= window.innerWidth + 1"
        " && s.scrollWidth <= s.clientWidth + 1; }"
    )
    shoot(page, "report-servicing-statement-phone.png", full_page=True)


def test_report_tables_sort_numbers_as_numbers_and_name_the_steps(live_server: str, page: Any) -> None:
    page.goto(f"{live_server}/reports/time?by=task")
    first = page.locator(".report-table tbody tr td:first-child")
    assert "Check quality" in first.all_inner_texts()  # the step's name, not qc_check
    button = page.locator(".report-table button.sort", has_text="total hours")
    column = int(button.get_attribute("data-column")) + 1
    button.click()
    cells = page.locator(f".report-table tbody tr td:nth-child({column})").all_inner_texts()
    totals = [float(c.replace(",", "")) for c in cells]
    assert totals == sorted(totals) and len(totals) > 3
