"""The heatmap of the full engagement process in Chromium, on the history of tests/test_reports.py:
Acme's scope sign-off waited 4.5 business hours on the client (the slowest step, but the client's
time: outlined apart, off the scale), QC took 1 and 5 hours (mean 3.0, the agency's slowest),
production 2.5 and 2 (mean 2.25), the pitch preparation 2. The scale ends at 3.0, so each bucket
is 0.6 hours wide.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.api_support import give_password, make_app
from tests.browser_support import logged_in, marked, shoot
from tests.test_reports_api import history
from workflows.services import Services

__all__ = ["history"]  # the fixture, shared with the API tests
playwright_api = pytest.importorskip("playwright.sync_api")

PASSWORD = "the engagement heatmap"


@pytest.fixture
def app(deployed: Services, database_url: str, history: dict[str, int]) -> Flask:
    return make_app(deployed, database_url, SESSION_COOKIE_SECURE=False)


@pytest.fixture
def page(browser: Any, live_server: str, deployed: Services) -> Iterator[Any]:
    """lee, from leadership, logged in to the live server; no script may fail on any page."""
    give_password(deployed, "lee", PASSWORD)
    with logged_in(browser, live_server, "lee", PASSWORD) as page:
        yield page


def test_the_client_wait_at_scope_sign_off_is_kept_apart_and_qc_is_the_hottest_step(
    live_server: str, page: Any
) -> None:
    page.goto(f"{live_server}/reports")
    page.click("a:has-text('Bottleneck heatmap')")
    page.wait_for_selector("#heatmap-diagram.diagram-ready")
    assert marked(page, "bt-heat-client") == {"scope_signoff"}
    assert page.locator(".heat-label.client").inner_text() == "client 4.5 h"
    assert marked(page, "bt-heat-4") == {"qc_check"}
    assert marked(page, "bt-heat-3") == {"pitch_prepare", "production"}
    assert {"pitch_outcome", "scope_estimate", "brief_approve"} <= marked(page, "bt-heat-1")
    assert page.locator(".heat-label.hot").inner_text() == "3.0 h"
    assert "qc_check" in page.locator("tr.highlight").inner_text()
    assert "client's time" in page.locator("tr[data-key='scope_signoff']").inner_text()
    page.click(".diagram-tools button:has-text('Hottest')")  # zoom to it: readable, in view
    view = page.evaluate(
        "() => { const v = document.querySelector('#heatmap-diagram').bpmnViewer;"
        " const box = v.get('canvas').viewbox(), s = v.get('elementRegistry').get('qc_check');"
        " return {scale: box.scale, inside: s.x >= box.x && s.x + s.width <= box.x + box.width"
        " && s.y >= box.y && s.y + s.height <= box.y + box.height}; }"
    )
    assert view["inside"] and view["scale"] >= 0.5
    shoot(page, "report-heatmap-hottest.png")  # the viewport: a full-page shot resizes, and refits
    page.click(".diagram-tools button:has-text('Fit')")
    shoot(page, "report-heatmap.png", full_page=True)
