"""The heatmap and the version comparison in a real Chromium: bpmn-js draws the version's
diagram and the slow task is filled with the hottest colour; the comparison draws both versions.
Screenshots go to docs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.api_support import give_password, make_app
from tests.browser_support import logged_in, marked, shoot
from tests.test_report_heatmap import versions_history
from workflows.reports.heatmap import PALETTE
from workflows.services import Services

__all__ = ["versions_history"]  # the fixture, shared with the service tests
playwright_api = pytest.importorskip("playwright.sync_api")

PASSWORD = "heatmaps in a browser"


@pytest.fixture
def app(deployed: Services, database_url: str, versions_history: dict[str, int]) -> Flask:
    return make_app(deployed, database_url, SESSION_COOKIE_SECURE=False)


@pytest.fixture
def page(browser: Any, live_server: str, deployed: Services) -> Iterator[Any]:
    """olga, an ops lead, logged in to the live server; no script may fail on any page."""
    give_password(deployed, "olga", PASSWORD)
    with logged_in(browser, live_server, "olga", PASSWORD) as page:
        yield page


def fill_of(page: Any, element_id: str, within: str = "") -> str:
    """The computed fill of a diagram element's shape, as rgb(...)."""
    selector = f"{within} .djs-element[data-element-id={element_id}] .djs-visual > :first-child"
    return str(page.eval_on_selector(selector.strip(), "el => getComputedStyle(el).fill"))


def rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


def test_the_heatmap_fills_the_slow_task_with_the_hottest_colour(live_server: str, page: Any) -> None:
    page.goto(f"{live_server}/reports/heatmap?process=fast_track&version=1")
    page.wait_for_selector("#heatmap-diagram.diagram-ready")
    assert marked(page, "bt-heat-4") == {"production"}
    assert marked(page, "bt-heat-2") == {"qc_check"}
    assert marked(page, "bt-heat-0") == {"brief_write"}
    assert marked(page, "bt-heat-none") == {"client_feedback"}
    assert fill_of(page, "production") == rgb(PALETTE[4])
    assert fill_of(page, "brief_write") == rgb(PALETTE[0])
    legend = page.eval_on_selector_all(
        ".heat-swatch i[class^=heat-bg]", "els => els.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert legend == [rgb(c) for c in PALETTE]  # the legend shows the diagram's colours
    labels = page.eval_on_selector_all(".heat-label", "els => els.map(e => e.textContent)")
    assert sorted(labels) == sorted(["2.0 h", "12.5 h", "5.5 h"])  # no label where there is no figure
    assert page.locator(".heat-label.hot").inner_text() == "12.5 h"
    shoot(page, "report-heatmap-versions.png", full_page=True)
    page.click(".measure-switch a:has-text('Breach rate')")
    page.wait_for_url("**measure=breach")
    page.wait_for_selector("#heatmap-diagram.diagram-ready")
    assert marked(page, "bt-heat-4") == {"qc_check"}
    assert fill_of(page, "qc_check") == rgb(PALETTE[4])
    assert page.locator("a.csv-link").get_attribute("href").endswith("measure=breach&format=csv")
    shoot(page, "report-heatmap-breach.png", full_page=True)


def test_the_comparison_draws_both_versions_on_one_scale(live_server: str, page: Any) -> None:
    page.goto(f"{live_server}/definitions/fast_track/versions/2")
    page.click("a:has-text('Figures against v1')")
    page.wait_for_selector("#heat-a.diagram-ready")
    page.wait_for_selector("#heat-b.diagram-ready")
    assert fill_of(page, "production", "#heat-a") == rgb(PALETTE[4])
    assert fill_of(page, "production", "#heat-b") == rgb(PALETTE[1])
    sla = page.locator(".figure.change-unclear[data-key='SLA compliance']")
    assert "75% → 100%" in sla.inner_text() and "not enough engagements yet" in sla.inner_text()
    assert "n = 4 → 3" in sla.inner_text()
    assert page.locator(".notice.too-few").is_visible()
    assert page.locator(".compare-table tr.change-better, .figure.change-better").count() == 0
    shoot(page, "report-compare.png", full_page=True)
