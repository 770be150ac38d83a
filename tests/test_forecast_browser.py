"""The variants and forecast-accuracy reports, the board's forecast column and the engagement's
forecast line in a real Chromium on the demo agency: axe-core finds nothing serious, nothing
scrolls sideways at 390 px; screenshots at 1280 and 390 px go to docs/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.browser_support import demo_app, shoot
from tests.test_admin_pages_browser import AXE, NARROW, WIDE, as_user
from workflows.services import Services

playwright_api = pytest.importorskip("playwright.sync_api")


def check_page(page: Any, name: str, within: str = "document") -> None:
    """axe-core finds nothing serious; at 390 px the page itself does not scroll sideways (wide
    tables scroll inside their own box, charts redraw to the width); screenshots at both widths."""
    page.set_viewport_size({"width": WIDE, "height": 900})
    shoot(page, f"{name}-1280.png", full_page=True)
    page.add_script_tag(path=str(AXE))
    scope = "document" if within == "document" else f"document.querySelector({within!r})"
    result = page.evaluate(f"async () => await axe.run({scope}, {{resultTypes: ['violations']}})")
    bad = [(v["id"], v["impact"]) for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"
    page.set_viewport_size({"width": NARROW, "height": 844})
    page.wait_for_timeout(400)  # Chart.js redraws on resize
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), name
    shoot(page, f"{name}-390.png", full_page=True)
    page.set_viewport_size({"width": WIDE, "height": 900})


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    return demo_app(deployed, database_url)


def test_leadership_reads_where_engagements_go_and_their_forecasts(browser: Any, live_server: str) -> None:
    with as_user(browser, live_server, "lee") as page:
        page.goto(f"{live_server}/reports/variants")
        page.wait_for_selector("h1:has-text('Variants')")
        check_page(page, "report-variants")
        page.goto(f"{live_server}/reports/forecast_accuracy")
        page.wait_for_selector("h1:has-text('Forecast accuracy')")
        check_page(page, "report-forecast-accuracy")
        page.goto(f"{live_server}/engagements")
        page.wait_for_selector("th:has-text('Forecast delivery')")
        check_page(page, "engagements-forecast")
        page.goto(f"{live_server}/engagements/7")
        page.wait_for_selector("[data-forecast]")
        assert "Forecast delivery" in page.inner_text("[data-forecast]")
        check_page(page, "engagement-forecast", "[data-forecast]")  # the rest of the page is not ours
