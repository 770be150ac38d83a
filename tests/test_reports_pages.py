"""The report pages and the engagement review over HTTP, on the seeded history of
tests/test_reports.py (QC is the bottleneck with 6 of 26 business hours; the PM lane's effort
cost 297.50 GBP, the AM lane's 3 hours of pitch work the rest).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api_support import csrf_from, give_password, make_app
from tests.test_reports_api import history
from workflows.agency import AM_LANE, PM_LANE
from workflows.services import Services

__all__ = ["history"]  # the fixture, shared with the API tests
PASSWORD = "reports pages"


@pytest.fixture
def app(deployed: Services, database_url: str, history: dict[str, int]) -> Flask:
    return make_app(deployed, database_url)


def logged_in(app: Flask, deployed: Services, username: str) -> FlaskClient:
    give_password(deployed, username, PASSWORD)
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    form = {"username": username, "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=form).status_code == 302
    return client


def charts_of(html: str) -> dict[str, dict[str, Any]]:
    """The charts a page embeds for charts.js, by id."""
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html, re.S)
    assert found is not None, "the page embeds no chart data"
    return {c["id"]: c for c in json.loads(found.group(1))}


def test_the_overview_charts_time_sla_cost_and_budget(app: Flask, deployed: Services) -> None:
    lee = logged_in(app, deployed, "lee")
    response = lee.get("/reports?client=Acme")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    charts = charts_of(html)
    assert set(charts) == {"time", "sla", "cost", "budget"}
    time = charts["time"]
    assert "qc (bottleneck)" in time["labels"]
    agency, client = time["datasets"]
    scope = time["labels"].index("scope")
    assert (agency["data"][scope], client["data"][scope]) == (1.0, 4.5)
    # the bottleneck's bar stands out
    assert agency["color"][time["labels"].index("qc (bottleneck)")] != agency["color"][scope]
    for chart in charts.values():
        assert f'data-chart="{chart["id"]}"' in html
    # client servicing against delivery: 3 h at the AM rate, 297.50 for the PM lane
    assert "Client servicing (AM)" in html and "297.50 GBP" in html
    assert 'href="/reports/rework?client=Acme"' in html


def test_a_report_page_has_its_chart_table_and_csv_link(app: Flask, deployed: Services) -> None:
    olga = logged_in(app, deployed, "olga")
    html = olga.get("/reports/cost?by=lane").get_data(as_text=True)
    cost = charts_of(html)["cost"]
    assert cost["labels"] == sorted([AM_LANE, PM_LANE])
    assert cost["datasets"][0]["data"][cost["labels"].index(PM_LANE)] == pytest.approx(297.5)
    assert "<table" in html and "297.5" in html
    link = re.search(r'class="button csv-link" href="([^"]+)"', html)
    assert link is not None
    csv_url = link.group(1).replace("&amp;", "&")
    assert csv_url == "/api/v1/reports/cost?by=lane&format=csv"
    download = olga.get(csv_url)  # the browser's session cookie is enough for the API
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert PM_LANE in download.get_data(as_text=True)


def test_the_rework_and_sla_pages_chart_their_figures(app: Flask, deployed: Services) -> None:
    adam = logged_in(app, deployed, "adam")
    charts = charts_of(adam.get("/reports/rework").get_data(as_text=True))
    rework = charts["rework"]
    by_label = {d["label"]: d["data"] for d in rework["datasets"]}
    step = rework["labels"].index("qc_check")
    assert (by_label["fail"][step], by_label["pass"][step]) == (1, 1)
    assert "reruns" not in by_label  # rounds of rework are not decisions: a chart of their own
    rounds = dict(zip(charts["reruns"]["labels"], charts["reruns"]["datasets"][0]["data"], strict=True))
    assert rounds["qc_check"] == rounds["brief_write"] == 1 and rounds["scope_signoff"] == 0
    sla = charts_of(adam.get("/reports/sla?client=Acme").get_data(as_text=True))["sla"]
    assert sla["datasets"][0]["data"][sla["labels"].index("qc")] == 50.0


def test_bad_filters_are_explained_and_unknown_reports_are_missing(app: Flask, deployed: Services) -> None:
    lee = logged_in(app, deployed, "lee")
    bad = lee.get("/reports/time?from=2026-12-05&to=2026-12-01")
    assert bad.status_code == 400
    assert "&#39;from&#39; must be before &#39;to&#39;" in bad.get_data(as_text=True)
    assert lee.get("/reports/speed").status_code == 404


def test_the_engagement_review_shows_time_decisions_deadlines_and_cost(
    app: Flask, deployed: Services, history: dict[str, int]
) -> None:
    olga = logged_in(app, deployed, "olga")
    response = olga.get(f"/engagements/{history['acme']}/review")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Process review: Acme — Summer launch" in html
    time = charts_of(html)["review-time"]
    qc = time["labels"].index("QC")
    assert time["datasets"][0]["data"][qc] == pytest.approx(6.0)
    assert time["datasets"][1]["data"][time["labels"].index("Scope")] == pytest.approx(4.5)
    assert "changes requested" in html and "Sharper hook." in html
    assert "Approve brief (+1)" in html and "Check quality (+1)" in html  # steps by their names
    # the second QC check took 5 business hours of a 4bh SLA: one missed deadline
    assert re.search(r"Missed deadlines</span><strong>1</strong>", html)
    assert "@media print" in olga.get("/static/baton.css").get_data(as_text=True)
    assert olga.get("/engagements/999999/review").status_code == 404


def test_only_leadership_ops_and_admins_see_the_pages(
    app: Flask, deployed: Services, history: dict[str, int]
) -> None:
    ana = logged_in(app, deployed, "ana")
    assert ana.get("/reports").status_code == 403
    assert ana.get(f"/engagements/{history['acme']}/review").status_code == 403
    assert app.test_client().get("/reports").status_code == 302


def test_the_filters_are_pickers_and_an_unknown_client_is_said_so(
    deployed: Services, database_url: str, history: dict[str, int]
) -> None:
    app = make_app(deployed, database_url)
    lee = logged_in(app, deployed, "lee")
    page = lee.get("/reports/time").get_data(as_text=True)
    assert '<select name="definition">' in page and '<option value="engagement"' in page
    assert '<select name="version_id">' in page and "engagement v1</option>" in page
    assert '<datalist id="report-clients"><option value="Acme"><option value="Globex">' in page
    refused = lee.get("/reports/time?client=Nobody")
    assert refused.status_code == 422
    assert "no engagement has the client &#39;Nobody&#39;" in refused.get_data(as_text=True)
    assert lee.get("/reports/time?client=acme").status_code == 200
    assert lee.get("/reports/heatmap?client=Nobody").status_code == 422
