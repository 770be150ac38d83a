"""Diagrams over HTTP: an engagement's element states, definition versions, validate and deploy."""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.models import DefinitionVersion
from workflows.demo.samples import STORIES
from workflows.engagements.lifecycle import get_engagement, start_engagement
from workflows.engagements.tasks import complete_task, find_open_task
from workflows.services import Services
from workflows.views.diagrams import blank_definition

from .api_support import csrf_from, give_password
from .conftest import FakeClock

PASSWORD = "diagram tests"

ROOT = Path(__file__).resolve().parent.parent
ENGAGEMENT_BPMN = (ROOT / "definitions" / "engagement.bpmn").read_text(encoding="utf-8")


def logged_in(app: Flask, services: Services, username: str) -> FlaskClient:
    """A browser session of `username`, sending the session's CSRF token as the editor's JS does."""
    give_password(services, username, PASSWORD)
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    landed = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert landed.status_code == 302
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_from(client.get("/definitions").get_data(as_text=True))
    return client


@pytest.fixture
def client(app: Flask, deployed: Services) -> FlaskClient:
    """olga, the ops lead, logged in."""
    return logged_in(app, deployed, "olga")


def test_only_ops_leads_open_the_editor_validate_or_deploy(app: Flask, deployed: Services) -> None:
    ana = logged_in(app, deployed, "ana")
    assert ana.get("/definitions").status_code == 200  # everyone may look
    assert ana.get("/definitions/engagement/edit").status_code == 403
    refused = ana.post("/definitions/deploy", json={"xml": ENGAGEMENT_BPMN, "note": "mine"})
    assert refused.status_code == 403 and "only ops leads" in refused.get_json()["error"]
    assert ana.post("/definitions/validate", json={"xml": ENGAGEMENT_BPMN}).status_code == 403
    anonymous = app.test_client()
    assert anonymous.get("/definitions").status_code == 302  # to the login page


def test_a_deploy_without_the_csrf_token_is_refused(app: Flask, deployed: Services) -> None:
    olga = logged_in(app, deployed, "olga")
    del olga.environ_base["HTTP_X_CSRFTOKEN"]
    assert olga.post("/definitions/deploy", json={"xml": ENGAGEMENT_BPMN, "note": "x"}).status_code == 400


def start_and_play(services: Services, steps: int, story: str = "happy_path") -> int:
    """Start an engagement for ana (AM) and pete (PM) and complete the story's first steps."""
    with services.db.unit_of_work() as session:
        engagement = start_engagement(
            session,
            services,
            client="Acme",
            name="Rebrand",
            options=copy.deepcopy(STORIES[story].options),
            account_manager="ana",
            project_manager="pete", actor="olga",
        )
        for step in STORIES[story].steps[:steps]:
            task = find_open_task(session, get_engagement(session, engagement.id), step.task)
            assert task.assignee is not None
            complete_task(
                session, services, engagement.id, step.task, copy.deepcopy(step.data), actor=task.assignee
            )
        return engagement.id


def versions(services: Services, process_id: str = "engagement") -> int:
    with services.db.unit_of_work(write=False) as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(DefinitionVersion)
                .where(DefinitionVersion.process_id == process_id)
            )
            or 0
        )


def renamed(xml: str, element_id: str, name: str) -> str:
    """The document with one element's name changed (as the editor would save it)."""
    changed, n = re.subn(rf'(id="{element_id}" name=")[^"]*"', rf'\g<1>{name}"', xml)
    assert n == 1
    return changed


# -- the engagement's diagram -------------------------------------------------------------------


def test_the_engagement_diagram_names_done_and_open_steps(deployed: Services, client: FlaskClient) -> None:
    story = STORIES["happy_path"]
    engagement_id = start_and_play(deployed, 5)
    state = client.get(f"/engagements/{engagement_id}/diagram").get_json()
    assert state["process_id"] == "engagement" and state["version"] == 1 and state["status"] == "running"
    assert '<bpmn:process id="engagement"' in state["xml"]
    done = [s.task for s in story.steps[:5]]
    assert state["completed"] == done
    assert state["active"] == [story.steps[5].task]
    assert state["overdue"] == [] and state["at_risk"] == []
    [step] = state["open_steps"]
    assert step["bpmn_id"] == story.steps[5].task and step["holder"] in {"ana", "pete"}
    assert step["sla_state"] == "on_track" and step["due_at"]


def test_a_step_done_before_and_open_again_is_only_active(deployed: Services, client: FlaskClient) -> None:
    story = STORIES["brief_sent_back_once"]
    tasks = [s.task for s in story.steps]
    # play until the brief has been sent back and waits to be written a second time
    upto = next(i for i in range(1, len(tasks)) if tasks[i] == "brief_write" and "brief_write" in tasks[:i])
    engagement_id = start_and_play(deployed, upto, story="brief_sent_back_once")
    state = client.get(f"/engagements/{engagement_id}/diagram").get_json()
    assert state["active"] == ["brief_write"]
    assert "brief_write" not in state["completed"] and "brief_approve" in state["completed"]


def test_a_late_step_is_at_risk_then_overdue(deployed: Services, client: FlaskClient) -> None:
    clock = deployed.runtime.clock
    assert isinstance(clock, FakeClock)
    engagement_id = start_and_play(deployed, 1)
    [step] = client.get(f"/engagements/{engagement_id}/diagram").get_json()["open_steps"]
    with deployed.db.unit_of_work(write=False) as session:
        task = find_open_task(session, get_engagement(session, engagement_id), step["bpmn_id"])
    assert task.warn_at is not None and task.due_at is not None
    sweeper = deployed.deadline_sweeper()
    clock.now = task.warn_at + timedelta(minutes=1)
    sweeper.run_once()
    state = client.get(f"/engagements/{engagement_id}/diagram").get_json()
    assert state["at_risk"] == [step["bpmn_id"]] and state["overdue"] == []
    clock.now = task.due_at + timedelta(minutes=1)
    sweeper.run_once()
    state = client.get(f"/engagements/{engagement_id}/diagram").get_json()
    assert state["overdue"] == [step["bpmn_id"]] and state["at_risk"] == []
    assert state["open_steps"][0]["sla_state"] == "breached"


def test_a_finished_engagement_marks_its_end_event(deployed: Services, client: FlaskClient) -> None:
    story = STORIES["pitch_lost"]
    engagement_id = start_and_play(deployed, len(story.steps), story="pitch_lost")
    state = client.get(f"/engagements/{engagement_id}/diagram").get_json()
    assert state["status"] == "completed" and state["active"] == []
    assert story.end_event in state["completed"]


def test_an_unknown_engagement_has_no_diagram(client: FlaskClient) -> None:
    response = client.get("/engagements/999/diagram")
    assert response.status_code == 404 and "999" in response.get_json()["error"]


def test_the_engagement_page_holds_the_viewer_and_its_legend(deployed: Services, client: FlaskClient) -> None:
    engagement_id = start_and_play(deployed, 2)
    html = client.get(f"/engagements/{engagement_id}").get_data(as_text=True)
    assert f'data-state-url="/engagements/{engagement_id}/diagram"' in html
    assert "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in html
    assert "Overdue" in html and "Open now" in html


# -- definitions and versions --------------------------------------------------------------------


def test_the_definitions_list_counts_engagements_per_version(deployed: Services, client: FlaskClient) -> None:
    start_and_play(deployed, 1)
    start_and_play(deployed, len(STORIES["pitch_lost"].steps), story="pitch_lost")
    html = client.get("/definitions").get_data(as_text=True)
    assert "Fast-track job" in html and "<code>fast_track</code>" in html
    row = re.search(r'process-engagement".*?<tbody>(.*?)</tbody>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">(\d+)</td>', row.group(1))
    assert cells == ["1", "2"]  # one running, two in all
    assert "test setup" in row.group(1)


def test_a_version_page_shows_its_diagram_and_engagements(deployed: Services, client: FlaskClient) -> None:
    start_and_play(deployed, 1)
    html = client.get("/definitions/engagement/versions/1").get_data(as_text=True)
    assert 'data-xml-url="/definitions/engagement/versions/1.bpmn"' in html
    assert "Rebrand" in html and "Acme" in html
    download = client.get("/definitions/engagement/versions/1.bpmn")
    assert download.headers["Content-Disposition"] == 'attachment; filename="engagement-v1.bpmn"'
    assert download.get_data(as_text=True) == ENGAGEMENT_BPMN
    assert client.get("/definitions/engagement/versions/7").status_code == 404
    assert client.get("/definitions/nothing/versions/1.bpmn").status_code == 404


def test_the_editor_opens_the_latest_version_or_a_blank_process(client: FlaskClient) -> None:
    latest = client.get("/definitions/engagement/source").get_json()
    assert latest["version"] == 1 and latest["xml"] == ENGAGEMENT_BPMN
    blank = client.get("/definitions/retainer/source").get_json()
    assert blank["version"] is None and '<bpmn:process id="retainer"' in blank["xml"]
    editor = client.get("/definitions/retainer/edit").get_data(as_text=True)
    # the side panel offers the agency's stages and roles and the folder's forms
    assert '"scope_estimate.schema.json"' in editor and '"ops_lead"' in editor and '"production"' in editor
    assert (
        client.get("/definitions/new?process_id=retainer").headers["Location"] == "/definitions/retainer/edit"
    )
    refused = client.get("/definitions/new?process_id=9 lives")
    assert refused.status_code == 400 and "not a valid process id" in refused.get_data(as_text=True)
    assert client.get("/definitions/bad%20id/source").status_code == 400


# -- validate and deploy ---------------------------------------------------------------------------


def test_validate_accepts_the_shipped_definition_and_stores_nothing(
    deployed: Services, client: FlaskClient
) -> None:
    response = client.post(
        "/definitions/validate", json={"xml": renamed(ENGAGEMENT_BPMN, "brief_approve", "Check")}
    )
    assert response.status_code == 200 and response.get_json() == {"valid": True, "issues": []}
    assert versions(deployed) == 1


def test_validate_names_the_elements_of_each_problem(client: FlaskClient) -> None:
    # a task taken out of its lane, and a gateway condition that is not Python
    outside = ENGAGEMENT_BPMN.replace("<bpmn:flowNodeRef>brief_approve</bpmn:flowNodeRef>", "")
    broken = outside.replace("pitch_decision == 'won'", "pitch_decision = = 'won'")
    body = client.post("/definitions/validate", json={"xml": broken}).get_json()
    assert body["valid"] is False
    by_element = {i["element_id"]: i for i in body["issues"]}
    assert by_element["brief_approve"]["code"] == "lane"
    assert (
        by_element["gw_pitch"]["code"] == "condition"
        and "pitch_decision = = 'won'" in by_element["gw_pitch"]["message"]
    )


def test_validate_refuses_unsafe_or_malformed_xml(client: FlaskClient) -> None:
    doctype = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    [issue] = client.post("/definitions/validate", json={"xml": doctype}).get_json()["issues"]
    assert issue["code"] == "xml" and "DOCTYPE" in issue["message"] and issue["element_id"] is None
    [issue] = client.post("/definitions/validate", json={"xml": "<bpmn:definitions"}).get_json()["issues"]
    assert issue["code"] == "xml"


def test_bad_requests_get_a_clear_json_error(client: FlaskClient) -> None:
    no_json = client.post("/definitions/validate", data="<x/>", content_type="application/xml")
    assert no_json.status_code == 400 and "JSON" in no_json.get_json()["error"]
    empty = client.post("/definitions/validate", json={"xml": ""})
    assert empty.status_code == 400 and "xml" in empty.get_json()["fields"]
    no_note = client.post("/definitions/deploy", json={"xml": ENGAGEMENT_BPMN, "note": "  "})
    assert no_note.status_code == 400 and "note" in no_note.get_json()["fields"]


def test_deploy_makes_a_new_version_once(deployed: Services, client: FlaskClient) -> None:
    xml = renamed(ENGAGEMENT_BPMN, "brief_approve", "Approve the brief")
    response = client.post("/definitions/deploy", json={"xml": xml, "note": "clearer step name"})
    assert response.status_code == 201
    assert response.get_json() == {
        "process_id": "engagement",
        "version": 2,
        "created": True,
        "url": "/definitions/engagement/versions/2",
        "compare_url": "/definitions/engagement/compare?b=2",
    }
    again = client.post("/definitions/deploy", json={"xml": xml, "note": "same again"})
    assert (
        again.status_code == 200 and again.get_json()["created"] is False and again.get_json()["version"] == 2
    )
    assert versions(deployed) == 2
    html = client.get("/definitions").get_data(as_text=True)
    assert "clearer step name" in html and "same again" not in html
    # new engagements start on the new version and see its names
    engagement_id = start_and_play(deployed, 0)
    assert client.get(f"/engagements/{engagement_id}/diagram").get_json()["version"] == 2


def test_a_refused_deploy_names_the_problems_and_stores_nothing(
    deployed: Services, client: FlaskClient
) -> None:
    broken = ENGAGEMENT_BPMN.replace("pitch_decision == 'won'", "__import__('os').system('true')")
    response = client.post("/definitions/deploy", json={"xml": broken, "note": "sneaky"})
    assert response.status_code == 422
    body = response.get_json()
    assert "nothing was deployed" in body["error"]
    assert [i["element_id"] for i in body["issues"]] == ["gw_pitch"]
    assert versions(deployed) == 1


def test_a_blank_process_deploys_as_version_one(deployed: Services, client: FlaskClient) -> None:
    response = client.post(
        "/definitions/deploy", json={"xml": blank_definition("retainer"), "note": "first cut"}
    )
    assert response.status_code == 201 and response.get_json()["version"] == 1
    assert versions(deployed, "retainer") == 1
    assert client.get("/definitions/retainer/source").get_json()["version"] == 1
