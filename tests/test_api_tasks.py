"""AMs and PMs work their tasks over the API: inboxes, forms, claims, completions, effort."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest
from flask import Flask

from tests.api_support import Caller, caller, problem_of, start
from tests.conftest import FakeClock
from workflows.demo import samples as stories
from workflows.people.covers import add_cover
from workflows.services import Services


@pytest.fixture
def ana(app: Flask, deployed: Services) -> Caller:
    return caller(app, deployed, "ana")


def tasks_of(who: Caller, **query: object) -> list[tuple[int, str]]:
    found = who.get("/api/v1/tasks", query_string=query)
    assert found.status_code == 200, found.get_json()
    return [(t["engagement"]["id"], t["bpmn_id"]) for t in found.get_json()["items"]]


def test_an_am_completes_her_task_and_the_pm_sees_his_next(
    app: Flask, deployed: Services, ana: Caller
) -> None:
    engagement = start(deployed)
    url = f"/api/v1/engagements/{engagement}/tasks/pitch_prepare"
    task = ana.get(url)
    assert task.status_code == 200
    body = task.get_json()
    assert body["assignee"] == "ana" and body["lane"] == "Account Management" and body["stage"] == "pitch"
    assert body["form_schema"]["required"]  # the JSON Schema the data must satisfy
    assert "pitch_summary" in body["form_schema"]["properties"]

    done = ana.post(
        f"{url}/complete", json={"data": stories.pitch_prepare()}, headers={"If-Match": task.headers["ETag"]}
    )
    assert done.status_code == 200
    assert done.get_json() | {"version": None} == {
        "status": "running",
        "ready": ["pitch_outcome"],
        "end_event": None,
        "version": None,
    }
    assert done.headers["ETag"] != task.headers["ETag"]
    outcome = f"/api/v1/engagements/{engagement}/tasks/pitch_outcome/complete"
    assert ana.post(outcome, json={"data": {"pitch_decision": "won"}}).status_code == 200

    # the finished task is still readable by its id; completing it again is a conflict
    finished = ana.get(f"/api/v1/engagements/{engagement}/tasks/{body['task_id']}").get_json()
    assert finished["state"] == "completed" and finished["completed_by"] == "ana"
    again = problem_of(
        ana.post(f"/api/v1/engagements/{engagement}/tasks/{body['task_id']}/complete", json={}), 409
    )
    assert again["type"].endswith("problem-task-not-open")


def test_invalid_form_data_gets_422_with_every_failing_field(ana: Caller, deployed: Services) -> None:
    engagement = start(deployed)
    url = f"/api/v1/engagements/{engagement}/tasks/pitch_prepare/complete"
    bad = problem_of(ana.post(url, json={"data": {"pitch_date": "soon", "estimated_value": -5}}), 422)
    pointers = {e["pointer"] for e in bad["errors"]}
    assert {"/data/pitch_summary", "/data/pitch_date"} <= pointers
    assert bad["type"].endswith("problem-invalid-form")
    not_an_object = problem_of(ana.post(url, json={"data": [1, 2]}), 422)
    assert not_an_object["errors"][0]["pointer"] == "/data"
    assert ana.get(f"/api/v1/engagements/{engagement}/tasks/pitch_prepare").get_json()["state"] == "ready"


def test_a_stale_completion_is_refused_with_412(app: Flask, deployed: Services, ana: Caller) -> None:
    engagement = start(deployed)
    url = f"/api/v1/engagements/{engagement}/tasks/pitch_prepare"
    version = ana.get(url).headers["ETag"]
    caller(app, deployed, "alex").post(f"{url}/claim")  # another AM takes it meanwhile
    stale = ana.post(f"{url}/complete", json={"data": stories.pitch_prepare()}, headers={"If-Match": version})
    assert "is at version" in problem_of(stale, 412)["detail"]


def test_a_pm_cannot_complete_an_am_task_but_the_ops_lead_can_on_her_behalf(
    app: Flask, deployed: Services
) -> None:
    engagement = start(deployed)
    url = f"/api/v1/engagements/{engagement}/tasks/pitch_prepare/complete"
    refused = problem_of(caller(app, deployed, "pete").post(url, json={"data": stories.pitch_prepare()}), 403)
    assert refused["detail"].startswith("pete may not complete pitch_prepare (Account Management)")
    olga = caller(app, deployed, "olga")
    no_reason = problem_of(olga.post(url, json={"data": stories.pitch_prepare(), "on_behalf_of": "ana"}), 400)
    assert no_reason["detail"] == "say why you act on behalf of ana"
    done = olga.post(
        url, json={"data": stories.pitch_prepare(), "on_behalf_of": "ana", "reason": "ana is ill"}
    )
    assert done.status_code == 200


def test_claims_are_exclusive_and_released_by_the_claimer(
    app: Flask, deployed: Services, ana: Caller
) -> None:
    engagement = start(deployed)
    claim = f"/api/v1/engagements/{engagement}/tasks/pitch_prepare/claim"
    alex = caller(app, deployed, "alex")
    claimed = alex.post(claim)
    assert claimed.status_code == 200 and claimed.get_json()["claimed_by"] == "alex"
    taken = problem_of(ana.post(claim), 409)
    assert taken["detail"].endswith("is already claimed by alex")
    problem_of(ana.delete(claim), 403)
    problem_of(caller(app, deployed, "pete").post(claim), 403)  # not his lane
    released = alex.delete(claim)
    assert released.status_code == 200 and released.get_json()["claimed_by"] is None
    problem_of(alex.delete(claim), 409)  # nothing to release


def test_the_ops_lead_reassigns_within_the_lane(app: Flask, deployed: Services, ana: Caller) -> None:
    engagement = start(deployed)
    url = f"/api/v1/engagements/{engagement}/tasks/pitch_prepare/reassign"
    problem_of(ana.post(url, json={"assignee": "alex"}), 403)
    olga = caller(app, deployed, "olga")
    unfit = problem_of(olga.post(url, json={"assignee": "pete"}), 400)
    assert "the lane is worked by the role account_manager" in unfit["detail"]
    moved = olga.post(url, json={"assignee": "alex", "reason": "ana is at the pitch"})
    assert moved.status_code == 200 and moved.get_json()["assignee"] == "alex"
    to_lane = olga.post(url, json={"assignee": None})
    assert to_lane.status_code == 200 and to_lane.get_json()["assignee"] is None
    problem_of(olga.post(url, json={}), 422)  # say whom (null: the lane)


def test_inboxes_mine_my_lanes_overdue_and_by_engagement(
    app: Flask, deployed: Services, ana: Caller, clock: FakeClock
) -> None:
    first = start(deployed, client="First")
    second = start(deployed, am="alex", client="Second")
    pete = caller(app, deployed, "pete")
    assert tasks_of(ana) == [(first, "pitch_prepare")]
    assert tasks_of(ana, view="lanes") == [(first, "pitch_prepare"), (second, "pitch_prepare")]
    assert tasks_of(pete) == [] and tasks_of(pete, view="lanes") == []
    assert tasks_of(ana, view="all", engagement=second) == [(second, "pitch_prepare")]
    assert tasks_of(ana, view="overdue") == []

    clock.now += timedelta(days=14)  # the pitch's SLA has long passed
    assert tasks_of(ana, view="overdue") == [(first, "pitch_prepare"), (second, "pitch_prepare")]
    assert tasks_of(pete, view="overdue") == []  # not his lane
    assert len(tasks_of(caller(app, deployed, "lee"), view="overdue")) == 2  # leadership oversees all

    page = ana.get("/api/v1/tasks?view=lanes&per_page=1").get_json()
    assert len(page["items"]) == 1 and page["has_more"] is True
    bad = problem_of(ana.get("/api/v1/tasks?view=someone_elses"), 422)
    assert bad["errors"][0]["pointer"] == "/view"


def test_effort_is_logged_by_people_who_may_work_the_task(
    app: Flask, deployed: Services, ana: Caller
) -> None:
    engagement = start(deployed)
    url = f"/api/v1/engagements/{engagement}/tasks/pitch_prepare/effort"
    logged = ana.post(url, json={"hours": 2.5, "note": "deck"})
    assert logged.status_code == 201
    assert logged.get_json() | {"id": 0, "task_id": ""} == {
        "id": 0,
        "task_id": "",
        "bpmn_id": "pitch_prepare",
        "lane": "Account Management",
        "stage": "pitch",
        "username": "ana",
        "hours": 2.5,
        "note": "deck",
        "worked_on": "2026-12-01",
    }
    problem_of(caller(app, deployed, "pete").post(url, json={"hours": 1}), 403)
    too_much = problem_of(ana.post(url, json={"hours": 25}), 422)
    assert too_much["errors"][0]["pointer"] == "/hours"
    future = problem_of(ana.post(url, json={"hours": 1, "worked_on": "2027-01-01"}), 422)
    assert "not come yet" in future["errors"][0]["detail"]


def test_unknown_engagements_and_tasks_are_404(ana: Caller, deployed: Services) -> None:
    engagement = start(deployed)
    problem_of(ana.get("/api/v1/engagements/999/tasks/pitch_prepare"), 404)
    problem_of(ana.get(f"/api/v1/engagements/{engagement}/tasks/nothing_like_it"), 404)
    problem_of(ana.post(f"/api/v1/engagements/{engagement}/tasks/nothing_like_it/claim"), 404)
    problem_of(ana.get("/api/v1/engagements/99999999999999999999/tasks/x"), 404)  # beyond any id


def test_a_whole_story_runs_over_http(app: Flask, deployed: Services) -> None:
    story = stories.STORIES["happy_path"]
    engagement = start(deployed)
    people = {
        "Account Management": caller(app, deployed, "ana"),
        "Project Management": caller(app, deployed, "pete"),
    }
    for step in story.steps:
        task = (
            people["Account Management"].get(f"/api/v1/engagements/{engagement}/tasks/{step.task}").get_json()
        )
        who = people[task["lane"]]
        done = who.post(
            f"/api/v1/engagements/{engagement}/tasks/{step.task}/complete",
            json={"data": copy.deepcopy(step.data)},
        )
        assert done.status_code == 200, (step.task, done.get_json())
    assert done.get_json()["status"] == "completed" and done.get_json()["end_event"] == story.end_event


def test_mine_holds_what_i_am_assigned_what_i_claimed_and_whom_i_cover(
    app: Flask, deployed: Services, ana: Caller, clock: FakeClock
) -> None:
    own = [start(deployed, client=f"Own {n}") for n in range(3)]
    alexs = start(deployed, am="alex", client="Alex's")
    assert ana.post(f"/api/v1/engagements/{alexs}/tasks/pitch_prepare/claim").status_code == 200
    everything = tasks_of(ana)
    assert sorted(everything) == sorted([(e, "pitch_prepare") for e in [*own, alexs]])
    # pages of two walk the same list in the same order, nothing twice
    pages = [tasks_of(ana, per_page=2, page=n) for n in (1, 2, 3)]
    assert pages[0] + pages[1] == everything and pages[2] == []

    third = start(deployed, am="alex", client="While away")
    assert (third, "pitch_prepare") not in tasks_of(ana)
    with deployed.db.unit_of_work() as session:
        add_cover(
            session,
            deployed,
            "alex",
            by="ana",
            starts_on=date(2026, 12, 1),
            ends_on=date(2026, 12, 4),
            actor="alex",
        )
    assert (third, "pitch_prepare") in tasks_of(ana)
    clock.now += timedelta(days=7)  # the cover is over
    assert (third, "pitch_prepare") not in tasks_of(ana)
