"""The reports over HTTP: the seeded history of tests/test_reports.py as JSON and CSV.

Figures are the ones worked out by hand in that module's docstring: QC took 6 of the 26
business hours (the bottleneck), Acme's scope sign-off waited 4.5 hours on the client, the PM
lane logged 3.5 hours at 85 GBP (297.50), the AM lane 3 hours.
"""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask

from tests.api_support import caller, make_app, problem_of
from tests.conftest import FakeClock
from tests.test_reports import TEAM, WALK, _open, _start
from workflows.agency import AM_LANE, PM_LANE
from workflows.engagements.effort import log_effort
from workflows.engagements.tasks import complete_task
from workflows.services import Services


@pytest.fixture
def history(deployed: Services, clock: FakeClock) -> dict[str, int]:
    """Acme's engagement walked as tests/test_reports.py tells, Globex's pitch left open."""
    acme = _start(deployed, "Acme", "Summer launch")
    globex = _start(deployed, "Globex", "Winter pitch")
    hours = {"pitch_prepare": (3.0, "ana"), "production": (1.0, "pete"), "qc_check": (0.75, "pete")}
    for step, data, when in WALK:
        clock.now = when
        task = _open(deployed, acme, step)
        assert task.lane is not None
        with deployed.db.unit_of_work() as session:
            complete_task(session, deployed, acme, task.task_id, data, actor=TEAM[task.lane])
            if step in hours:
                logged, who = hours[step]
                log_effort(session, deployed, acme, task.task_id, logged, actor=who)
    return {"acme": acme, "globex": globex}


@pytest.fixture
def app(deployed: Services, database_url: str, history: dict[str, int]) -> Flask:
    return make_app(deployed, database_url)


def _by_key(rows: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["key"]): r for r in rows}


def test_leadership_reads_time_per_stage_with_the_bottleneck(app: Flask, deployed: Services) -> None:
    lee = caller(app, deployed, "lee")
    response = lee.get("/api/v1/reports/time?client=Acme")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["report"], body["by"], body["title"]) == ("time", "stage", "time by stage")
    assert body["highlights"] == ["qc"]
    assert body["columns"][0] == "key"
    rows = _by_key(body["rows"])
    assert rows["qc"]["total_hours"] == pytest.approx(6.0)
    assert rows["scope"]["client_hours"] == pytest.approx(4.5)
    assert rows["scope"]["agency_hours"] == pytest.approx(1.0)
    assert rows["qc"]["share"] == pytest.approx(round(6 / 26, 4))
    assert "bottleneck: qc" in body["note"]


def test_an_ops_lead_downloads_the_cost_per_lane_as_csv(app: Flask, deployed: Services) -> None:
    olga = caller(app, deployed, "olga")
    response = olga.get("/api/v1/reports/cost?by=lane&format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="cost-by-lane.csv"' in response.headers["Content-Disposition"]
    rows = _by_key(list(csv.DictReader(io.StringIO(response.get_data(as_text=True)))))
    # the PM lane: 1 + 1 + 0.75 + 0.75 hours of production and QC; the AM lane: 3 hours of pitch
    assert float(str(rows[PM_LANE]["hours"])) == pytest.approx(3.5)
    assert float(str(rows[PM_LANE]["cost"])) == pytest.approx(297.5)
    assert float(str(rows[AM_LANE]["hours"])) == pytest.approx(3.0)
    # the same rows through the Accept header, and back from JSON: the CSV round-trips
    accepted = olga.get("/api/v1/reports/cost?by=lane", headers={"Accept": "text/csv"})
    assert accepted.get_data(as_text=True) == response.get_data(as_text=True)
    as_json = _by_key(olga.get("/api/v1/reports/cost?by=lane").get_json()["rows"])
    assert {k: float(str(v["cost"])) for k, v in rows.items()} == {
        k: float(str(v["cost"])) for k, v in as_json.items()
    }


def test_sla_rework_and_throughput_as_json(app: Flask, deployed: Services) -> None:
    adam = caller(app, deployed, "adam")
    sla = _by_key(adam.get("/api/v1/reports/sla?client=Acme").get_json()["rows"])
    assert (sla["qc"]["completed"], sla["qc"]["on_time"], sla["qc"]["compliance"]) == (2, 1, 0.5)
    rework = adam.get("/api/v1/reports/rework").get_json()
    steps = _by_key(rework["rows"])
    assert steps["brief_approve"]["changes_requested"] == 1 and steps["brief_approve"]["approved"] == 1
    assert steps["qc_check"]["fail"] == 1 and steps["qc_check"]["pass"] == 1
    assert "QC fail rate: 50%" in rework["note"]
    flow = {r["key"]: r["value"] for r in adam.get("/api/v1/reports/throughput").get_json()["rows"]}
    assert (flow["started"], flow["in flight at feedback"]) == (2, 1)


def test_a_period_narrows_the_report(app: Flask, deployed: Services) -> None:
    lee = caller(app, deployed, "lee")
    body = lee.get("/api/v1/reports/time?client=Acme&from=2026-12-02&to=2026-12-03").get_json()
    assert sorted(_by_key(body["rows"])) == ["brief", "production", "resourcing", "timeline"]


def test_the_report_list_names_every_report_and_its_groupings(app: Flask, deployed: Services) -> None:
    items = {i["name"]: i for i in caller(app, deployed, "pete").get("/api/v1/reports").get_json()["items"]}
    assert len(items) == 12  # the nine, the servicing statement, variants and forecast accuracy
    assert items["servicing"]["dimensions"] == ["engagement", "client"]
    assert items["cost"]["dimensions"][0] == "lane"
    assert items["rework"]["dimensions"] == []
    assert items["budget"]["url"] == "/api/v1/reports/budget"


def test_people_outside_leadership_ops_and_admin_are_refused(app: Flask, deployed: Services) -> None:
    for username in ("ana", "pete", "rita"):
        problem = problem_of(caller(app, deployed, username).get("/api/v1/reports/cost"), 403)
        assert "read reports" in problem["detail"]
    assert app.test_client().get("/api/v1/reports/cost").status_code == 401


def test_bad_requests_get_clear_problems(app: Flask, deployed: Services) -> None:
    olga = caller(app, deployed, "olga")
    assert "no report 'speed'" in problem_of(olga.get("/api/v1/reports/speed"), 404)["detail"]
    backwards = problem_of(olga.get("/api/v1/reports/time?from=2026-12-05&to=2026-12-01"), 422)
    assert "before" in str(backwards)
    wrong_dimension = olga.get("/api/v1/reports/budget?by=stage")
    assert wrong_dimension.status_code in (400, 422)
    assert "budget groups by engagement or client" in wrong_dimension.get_data(as_text=True)
    assert olga.get("/api/v1/reports/time?format=xml").status_code == 422


def test_clients_match_whatever_their_case_and_unknown_filters_are_refused(
    app: Flask, deployed: Services
) -> None:
    lee = caller(app, deployed, "lee")
    exact = lee.get("/api/v1/reports/time?client=Acme").get_json()["rows"]
    lower = lee.get("/api/v1/reports/time?client=acme").get_json()["rows"]
    assert lower == exact and lower  # the inbox's search ignores case; so do the reports now
    nobody = problem_of(lee.get("/api/v1/reports/time?client=Nobody"), 422)
    assert nobody["detail"] == "no engagement has the client 'Nobody'"
    assert nobody["errors"] == [{"pointer": "/client", "location": "query", "detail": nobody["detail"]}]
    assert (
        "no process 'nothing'" in problem_of(lee.get("/api/v1/reports/sla?definition=nothing"), 422)["detail"]
    )
    assert (
        "version has the id 999" in problem_of(lee.get("/api/v1/reports/cost?version_id=999"), 422)["detail"]
    )
    assert problem_of(lee.get("/api/v1/reports/heatmap?process=engagement&client=Nobody"), 422)
    assert problem_of(lee.get("/api/v1/reports/compare?process=engagement&client=Nobody"), 422)
