"""An account manager starts engagements over the API; the ops lead staffs and cancels them.

Real HTTP through the Flask app, with personal tokens, on SQLite or PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.api_support import Caller, caller, problem_of, start
from workflows.demo.seed import seed_demo
from workflows.services import Services

NEW = {"client": "Acme", "name": "Rebrand", "account_manager": "ana", "project_manager": "pete"}


@pytest.fixture
def ana(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "ana")


@pytest.fixture
def olga(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "olga")


def test_an_am_starts_an_engagement_and_reads_it_back(ana: Caller) -> None:
    started = ana.post("/api/v1/engagements", json={**NEW, "options": {"pm_joins_scoping": True}})
    assert started.status_code == 201
    body = started.get_json()
    assert started.headers["Location"] == f"/api/v1/engagements/{body['id']}"
    assert started.headers["ETag"] == f'"{body["version"]}"'
    assert body["client"] == "Acme" and body["status"] == "running" and body["stages"] == ["pitch"]
    assert body["created_by"] == "ana" and body["options"] == {"pm_joins_scoping": True}
    assert body["team"] == {"account_manager": "ana", "project_manager": "pete"}
    assert [t["bpmn_id"] for t in body["open_tasks"]] == ["pitch_prepare"]
    assert body["open_tasks"][0]["assignee"] == "ana"

    again = ana.get(started.headers["Location"])
    assert again.status_code == 200 and again.get_json() == body
    assert again.headers["ETag"] == started.headers["ETag"]
    assert [e["kind"] for e in body["history"]][:2] == ["started", "task_ready"]


def test_starting_needs_a_client_a_name_and_a_fit_team(ana: Caller) -> None:
    blank = problem_of(ana.post("/api/v1/engagements", json={"client": " ", "name": "X"}), 422)
    assert {"pointer": "/client", "location": "json", "detail": "cannot be blank"} in blank["errors"]
    unfit = problem_of(ana.post("/api/v1/engagements", json={**NEW, "account_manager": "pete"}), 400)
    assert unfit["detail"] == "pete does not hold the role account_manager"
    nobody = problem_of(ana.post("/api/v1/engagements", json={**NEW, "project_manager": "zoe"}), 404)
    assert nobody["detail"] == "no user 'zoe'"
    unknown = problem_of(ana.post("/api/v1/engagements", json={**NEW, "process_id": "nope"}), 404)
    assert unknown["detail"] == "no deployed definition 'nope'"
    assert ana.get("/api/v1/engagements").get_json()["items"] == []  # nothing was left behind


def test_the_list_filters_and_pages(app: Flask, deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        seed_demo(session, deployed)
    lee = caller(app, deployed, "lee")

    def clients(**query: Any) -> list[str]:
        found = lee.get("/api/v1/engagements", query_string=query)
        assert found.status_code == 200, found.get_json()
        return [e["client"] for e in found.get_json()["items"]]

    assert clients(stage="brief") == ["Wingtip Toys", "Adventure Works"]
    assert clients(status="completed") == ["Fabrikam Bikes", "Northwind Coffee"]
    assert clients(client="WIND") == ["Northwind Coffee"]
    assert clients(member="rita") == ["Blue Yonder Airlines", "Litware Labs"]
    assert clients(process_id="fast_track") == ["Alpine Ski House"]
    assert clients(stage="qc", member="alex") == ["Proseware"]
    assert clients(client="%") == []  # a wildcard character is just a character

    first = lee.get("/api/v1/engagements?per_page=4").get_json()
    third = lee.get("/api/v1/engagements?per_page=4&page=3").get_json()
    assert [e["id"] for e in first["items"]] == [10, 9, 8, 7] and first["has_more"] is True
    assert [e["id"] for e in third["items"]] == [2, 1] and third["has_more"] is False

    bad = problem_of(lee.get("/api/v1/engagements?stage=lunch&per_page=500"), 422)
    assert {e["pointer"] for e in bad["errors"]} == {"/stage", "/per_page"}
    assert {e["location"] for e in bad["errors"]} == {"query"}


def test_the_ops_lead_changes_the_team_only_from_the_version_they_read(
    app: Flask, deployed: Services, olga: Caller
) -> None:
    engagement = start(deployed)
    url = f"/api/v1/engagements/{engagement}"
    read = olga.get(url)
    version = read.headers["ETag"]

    # meanwhile ana claims her task: the engagement moves on
    caller(app, deployed, "ana").post(f"{url}/tasks/pitch_prepare/claim")
    stale = olga.patch(f"{url}/team", json={"account_manager": "alex"}, headers={"If-Match": version})
    assert problem_of(stale, 412)["type"].endswith("problem-stale-version")
    assert olga.get(url).get_json()["team"]["account_manager"] == "ana"  # nothing changed

    fresh = olga.get(url).headers["ETag"]
    changed = olga.patch(
        f"{url}/team", json={"account_manager": "alex", "reason": "ana is away"}, headers={"If-Match": fresh}
    )
    assert changed.status_code == 200
    body = changed.get_json()
    assert body["team"]["account_manager"] == "alex" and changed.headers["ETag"] != fresh
    assert body["open_tasks"][0]["assignee"] == "alex"
    team_event = [e for e in body["history"] if e["kind"] == "team_changed"][-1]
    assert team_event["detail"]["changes"] == {"account_manager": {"from": "ana", "to": "alex"}}

    weak = olga.patch(f"{url}/team", json={"project_manager": "priya"}, headers={"If-Match": f"W/{fresh}"})
    problem_of(weak, 412)
    several = olga.patch(f"{url}/team", json={"project_manager": "priya"}, headers={"If-Match": '"a", "b"'})
    problem_of(several, 400)
    anything = olga.patch(f"{url}/team", json={"project_manager": "priya"}, headers={"If-Match": "*"})
    assert anything.status_code == 200


def test_team_changes_and_cancelling_are_for_ops_leads_and_admins(app: Flask, deployed: Services) -> None:
    engagement = start(deployed)
    url = f"/api/v1/engagements/{engagement}"
    ana = caller(app, deployed, "ana")
    refused = problem_of(ana.patch(f"{url}/team", json={"project_manager": "priya"}), 403)
    assert refused["detail"] == "ana may not change an engagement's team: only ops leads or admins may"
    refused = problem_of(ana.post(f"{url}/cancel", json={"reason": "client paused"}), 403)
    assert refused["detail"] == "ana may not cancel engagements: only ops leads or admins may"

    adam = caller(app, deployed, "adam")
    problem_of(adam.post(f"{url}/cancel", json={"reason": ""}), 422)
    cancelled = adam.post(f"{url}/cancel", json={"reason": "client paused"}, headers={"If-Match": "*"})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled" and cancelled.get_json()["open_tasks"] == []
    again = problem_of(adam.post(f"{url}/cancel", json={"reason": "twice"}), 409)
    assert "not running" in again["detail"]
    problem_of(adam.post("/api/v1/engagements/999/cancel", json={"reason": "x"}), 404)


def test_a_pm_or_leadership_cannot_start_engagements(app: Flask, deployed: Services) -> None:
    for username in ("pete", "lee", "rita"):
        refused = problem_of(caller(app, deployed, username).post("/api/v1/engagements", json=NEW), 403)
        assert "only account managers, ops leads or admins may" in refused["detail"]
