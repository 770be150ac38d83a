"""The heatmap and the version comparison over HTTP: the API's JSON and CSV, and the pages, on
the history of tests/test_report_heatmap.py (v1: production is the slow task at 12.5 business
hours, QC breached its 4-hour deadline; v2 shortened production's SLA and its job ran faster).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from flask import Flask

from tests.api_support import caller, make_app, problem_of
from tests.test_report_heatmap import versions_history
from tests.test_reports_pages import logged_in
from workflows.services import Services

__all__ = ["versions_history"]  # the fixture, shared with the service tests


@pytest.fixture
def app(deployed: Services, database_url: str, versions_history: dict[str, int]) -> Flask:
    return make_app(deployed, database_url)


def _by_key(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["key"]): r for r in rows}


def heat_of(html: str, element_id: str) -> dict[str, Any]:
    """The data a page hands heatmap.js for one diagram."""
    found = re.search(rf'<script type="application/json" id="{element_id}-data">(.*?)</script>', html, re.S)
    assert found is not None, f"no heatmap data for {element_id}"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_an_ops_lead_reads_the_heatmap_as_json(app: Flask, deployed: Services) -> None:
    olga = caller(app, deployed, "olga")
    response = olga.get("/api/v1/reports/heatmap?process=fast_track&version=1")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["process_id"], body["version"], body["measure"], body["hottest"]) == (
        "fast_track",
        1,
        "duration",
        "production",
    )
    assert body["diagram_url"] == "/definitions/fast_track/versions/1.bpmn"
    rows = _by_key(body["rows"])
    assert (rows["production"]["mean_hours"], rows["production"]["bucket"]) == (12.5, 4)
    assert body["scale"][0]["label"] == "0.0 to 2.5 h"
    breach = olga.get("/api/v1/reports/heatmap?process=fast_track&version=1&measure=breach").get_json()
    assert breach["hottest"] == "qc_check" and _by_key(breach["rows"])["qc_check"]["breach_rate"] == 1.0
    every = olga.get("/api/v1/reports/heatmap?process=fast_track&version=all").get_json()
    assert every["version"] is None and _by_key(every["rows"])["production"]["completed"] == 2


def test_the_heatmap_csv_round_trips(app: Flask, deployed: Services) -> None:
    lee = caller(app, deployed, "lee")
    response = lee.get("/api/v1/reports/heatmap?process=fast_track&version=1&format=csv")
    assert response.mimetype == "text/csv"
    assert 'filename="heatmap-fast_track-v1-duration.csv"' in response.headers["Content-Disposition"]
    rows = _by_key(list(csv.DictReader(io.StringIO(response.get_data(as_text=True)))))
    as_json = _by_key(lee.get("/api/v1/reports/heatmap?process=fast_track&version=1").get_json()["rows"])
    assert list(rows) == list(as_json)
    for key, row in as_json.items():
        assert rows[key]["completed"] == str(row["completed"])
        assert rows[key]["bucket"] == ("" if row["bucket"] is None else str(row["bucket"]))


def test_the_comparison_as_json_and_csv(app: Flask, deployed: Services) -> None:
    adam = caller(app, deployed, "adam")
    body = adam.get("/api/v1/reports/compare?process=fast_track").get_json()
    assert (body["a"], body["b"], body["notes"][1]) == (1, 2, "Production due in one day")
    figures = {(r["section"], r["key"], r["measure"]): r for r in body["rows"]}
    assert figures["summary", "SLA compliance", "share on time"]["delta"] == 0.25
    production = figures["time per task", "Produce the work", "mean hours"]
    # one engagement on v2 against two on v1: shown with its n, not called better
    assert (production["n_a"], production["n_b"], production["change"]) == (
        1,
        1,
        "not enough engagements yet",
    )
    text = adam.get("/api/v1/reports/compare?process=fast_track&a=1&b=2", headers={"Accept": "text/csv"})
    back = list(csv.DictReader(io.StringIO(text.get_data(as_text=True))))
    assert [(r["section"], r["key"], r["measure"], r["change"]) for r in back] == [
        (r["section"], r["key"], r["measure"], r["change"]) for r in body["rows"]
    ]


def test_bad_heatmap_and_comparison_requests(app: Flask, deployed: Services) -> None:
    olga = caller(app, deployed, "olga")
    assert olga.get("/api/v1/reports/heatmap?process=fast_track&version=abc").status_code == 422
    assert olga.get("/api/v1/reports/heatmap?measure=speed").status_code == 422
    assert (
        "no version 9"
        in problem_of(olga.get("/api/v1/reports/heatmap?process=fast_track&version=9"), 404)["detail"]
    )
    assert problem_of(olga.get("/api/v1/reports/compare?process=nothing"), 404)
    for username in ("ana", "pete", "rita"):
        assert (
            caller(app, deployed, username).get("/api/v1/reports/heatmap?process=fast_track").status_code
            == 403
        )
        assert (
            caller(app, deployed, username).get("/api/v1/reports/compare?process=fast_track").status_code
            == 403
        )


def test_the_heatmap_page_colours_the_slow_task(app: Flask, deployed: Services) -> None:
    lee = logged_in(app, deployed, "lee")
    response = lee.get("/reports/heatmap?process=fast_track&version=1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    data = heat_of(html, "heatmap-diagram")
    elements = {e["id"]: e for e in data["elements"]}
    assert (elements["production"]["bucket"], elements["production"]["label"]) == (4, "12.5 h")
    assert elements["client_feedback"]["bucket"] is None
    assert "Hottest: <strong>Produce the work</strong>" in html
    assert 'href="/api/v1/reports/heatmap?process=fast_track&amp;version=1&amp;format=csv"' in html
    breach = heat_of(
        lee.get("/reports/heatmap?process=fast_track&version=1&measure=breach").get_data(as_text=True),
        "heatmap-diagram",
    )
    assert {e["id"]: e["label"] for e in breach["elements"]}["qc_check"] == "100%"
    every = lee.get("/reports/heatmap?process=fast_track&version=all").get_data(as_text=True)
    assert "fast_track · every version" in every and "/definitions/fast_track/versions/2.bpmn" in every
    assert lee.get("/reports/heatmap?process=fast_track&version=abc").status_code == 400
    assert lee.get("/reports/heatmap?process=nothing").status_code == 404
    assert logged_in(app, deployed, "ana").get("/reports/heatmap").status_code == 403


def test_the_compare_page_shows_the_change(app: Flask, deployed: Services) -> None:
    lee = logged_in(app, deployed, "lee")
    html = lee.get("/reports/compare?process=fast_track").get_data(as_text=True)
    assert "v1 → v2" in html
    assert re.search(
        r'class="figure change-unclear" data-key="SLA compliance".*?75% → 100%.*?'
        r"\+25 pts · not enough engagements yet.*?n = 4 → 3",
        html,
        re.S,
    )
    assert "Not enough engagements yet: v1 has 2 and v2 has 1" in html
    assert "change-better" not in html and "change-worse" not in html
    assert heat_of(html, "heat-a")["elements"][1]["bucket"] == 4  # v1's production, on the shared scale
    assert heat_of(html, "heat-b")["elements"][1]["bucket"] == 1
    assert logged_in(app, deployed, "pete").get("/reports/compare").status_code == 403
    alone = lee.get("/reports/compare?process=engagement").get_data(as_text=True)  # one version only
    assert "v1 → v1" in alone and "change-better" not in alone and "change-worse" not in alone


def test_definition_pages_and_the_overview_link_to_the_heatmap(app: Flask, deployed: Services) -> None:
    olga = logged_in(app, deployed, "olga")
    version = olga.get("/definitions/fast_track/versions/1").get_data(as_text=True)
    assert "/reports/heatmap?process=fast_track&amp;version=1" in version
    assert "/reports/compare?process=fast_track" in version
    assert "/reports/compare?process=fast_track" in olga.get("/definitions").get_data(as_text=True)
    overview = olga.get("/reports?definition=fast_track&client=Acme").get_data(as_text=True)
    assert "/reports/heatmap?client=Acme&amp;process=fast_track" in overview
    assert "/reports/compare?client=Acme&amp;process=fast_track" in overview
