"""The task page over HTTP: instructions, the form from its schema, errors next to the fields, decisions."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from tests.api_support import start
from tests.test_diagrams import logged_in, start_and_play
from webui.forms import read_form
from workflows.demo.samples import STORIES
from workflows.engagements.lifecycle import get_engagement
from workflows.engagements.tasks import find_open_task
from workflows.services import Services

SIGNOFF = 3  # happy path: pitch_prepare, pitch_outcome, scope_estimate, then the scope sign-off
PRODUCTION = next(i for i, s in enumerate(STORIES["happy_path"].steps) if s.task == "production")


def open_task_id(services: Services, engagement: int, bpmn_id: str) -> str:
    with services.db.unit_of_work(write=False) as session:
        return find_open_task(session, get_engagement(session, engagement), bpmn_id).task_id


def field_errors(html: str) -> dict[str, list[str]]:
    """The error messages shown in each field block of a page."""
    found: dict[str, list[str]] = {}
    for block in re.findall(r'data-field="([^"]+)"(.*?)(?=data-field=|</form>)', html, re.S):
        messages = re.findall(r'class="field-error" role="alert">([^<]+)<', block[1])
        if messages:
            found[block[0]] = messages
    return found


def post_form(client: FlaskClient, url: str, fields: dict[str, str]) -> tuple[int, str]:
    response = client.post(url, data=fields)
    return response.status_code, response.get_data(as_text=True)


def test_ana_sees_the_pitch_instructions_and_the_form_built_from_its_schema(
    app: Flask, deployed: Services
) -> None:
    engagement = start(deployed)
    ana = logged_in(app, deployed, "ana")
    html = ana.get(f"/engagements/{engagement}/tasks/pitch_prepare").get_data(as_text=True)
    assert "<h1>Prepare pitch</h1>" in html
    assert 'class="instructions"' in html
    assert re.search(r'<textarea name="pitch_summary"[^>]*minlength="1"[^>]*required', html)
    assert re.search(r'<input type="date" name="pitch_date"[^>]*required', html)
    assert re.search(r'<input type="number" name="estimated_value"[^>]*min="0"', html)
    assert 'name="pitch_team/0"' in html and "+ Add" in html
    assert "Acme" in html and ">pete<" in html  # the engagement and its team beside the form


def test_pete_fixes_a_wrong_cost_in_the_production_form_and_the_task_completes(
    app: Flask, deployed: Services
) -> None:
    engagement = start_and_play(deployed, PRODUCTION)
    task = open_task_id(deployed, engagement, "production")
    pete = logged_in(app, deployed, "pete")
    url = f"/engagements/{engagement}/tasks/{task}/complete"

    status, html = post_form(pete, url, {"cost_to_date": "-5", "progress_note": "First cut is in."})
    assert status == 422
    assert field_errors(html) == {"cost_to_date": ["-5.0 is less than the minimum of 0"]}
    assert 'value="-5.0"' in html and "First cut is in." in html  # what he typed is kept

    status, html = post_form(pete, url, {"cost_to_date": "12000", "progress_note": ""})
    assert status == 422 and field_errors(html) == {"progress_note": ["is required"]}

    done = pete.post(
        url, data={"cost_to_date": "12000", "progress_note": "First cut is in.", "title": "Produce"}
    )
    assert done.status_code == 302 and done.headers["Location"] == "/inbox"
    inbox = pete.get("/inbox").get_data(as_text=True)
    assert "Produce: done." in inbox
    with deployed.db.unit_of_work(write=False) as session:
        assert find_open_task(session, get_engagement(session, engagement), "qc_check").bpmn_id == "qc_check"


def test_ana_rejects_the_scope_without_a_comment_and_is_refused_on_the_comment_field(
    app: Flask, deployed: Services
) -> None:
    engagement = start_and_play(deployed, SIGNOFF)
    task = open_task_id(deployed, engagement, "scope_signoff")
    ana = logged_in(app, deployed, "ana")
    page = ana.get(f"/engagements/{engagement}/tasks/{task}").get_data(as_text=True)
    for value, label in (
        ("approved", "Approve"),
        ("changes_requested", "Request changes"),
        ("rejected", "Reject"),
    ):
        assert re.search(rf'name="signoff_decision" value="{value}"[^>]*>{label}<', page)
    url = f"/engagements/{engagement}/tasks/{task}/complete"

    status, html = post_form(ana, url, {"signoff_decision": "rejected", "client_contact": "Jo"})
    assert status == 422
    [message] = field_errors(html)["signoff_comment"]
    assert "comment" in message or "required" in message
    assert 'value="Jo"' in html  # the rest of her input is kept

    done = ana.post(url, data={"signoff_decision": "rejected", "signoff_comment": "Budget was cut."})
    assert done.status_code == 302
    history = ana.get(f"/engagements/{engagement}").get_data(as_text=True)
    assert "Budget was cut." in history


def test_claim_release_and_effort_from_the_task_page(app: Flask, deployed: Services) -> None:
    engagement = start(deployed)
    ana = logged_in(app, deployed, "ana")
    base = f"/engagements/{engagement}/tasks/pitch_prepare"
    claimed = ana.post(base + "/claim", follow_redirects=True).get_data(as_text=True)
    assert "You claimed this task" in claimed and "claimed by <strong>ana</strong>" in claimed
    released = ana.post(base + "/unclaim", follow_redirects=True).get_data(as_text=True)
    assert "You released this task" in released and "assigned to <strong>ana</strong>" in released

    logged = ana.post(base + "/effort", data={"hours": "1.5", "note": "drafting"}, follow_redirects=True)
    assert "Logged 1.5 h." in logged.get_data(as_text=True)
    too_many = ana.post(base + "/effort", data={"hours": "30"})
    assert too_many.status_code == 422
    assert "hours must be more than 0 and at most 24" in too_many.get_data(as_text=True)

    pete = logged_in(app, deployed, "pete")
    refused = pete.post(base + "/claim")
    assert refused.status_code == 403 and "pete" in refused.get_data(as_text=True)
    assert ana.get(f"/engagements/{engagement}/tasks/no_such_step").status_code == 404


def test_rows_of_an_array_and_a_map_are_read_back_into_the_schemas_shape() -> None:
    schema = {
        "properties": {
            "deliverables": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "hours": {"type": "integer"}},
                },
            },
            "hours_by_role": {"type": "object", "additionalProperties": {"type": "number"}},
            "rush": {"type": "boolean"},
            "budget": {"type": "number"},
        }
    }
    form = MultiDict(
        [
            ("deliverables/0/name", "Logo"),
            ("deliverables/0/hours", "12"),
            ("deliverables/1/name", ""),
            ("deliverables/2/name", "Site"),
            ("hours_by_role/0/key", "designer"),
            ("hours_by_role/0/value", "30.5"),
            ("rush/present", "1"),
            ("budget", "lots"),
        ]
    )
    assert read_form(schema, form) == {
        "deliverables": [{"name": "Logo", "hours": 12}, {"name": "Site"}],
        "hours_by_role": {"designer": 30.5},
        "rush": False,
        "budget": "lots",  # left for the schema's validation to refuse
    }


def test_olga_signs_off_the_scope_for_ana_who_is_at_the_client_saying_why(
    app: Flask, deployed: Services
) -> None:
    engagement = start_and_play(deployed, SIGNOFF)
    task = open_task_id(deployed, engagement, "scope_signoff")
    olga = logged_in(app, deployed, "olga")
    page = olga.get(f"/engagements/{engagement}/tasks/{task}").get_data(as_text=True)
    # an ops lead holds no AM role: she may only act for someone, ana (who holds it) first
    assert "Acting for someone else" in page and "I do it myself" not in page
    assert re.search(r'<select name="on_behalf_of"[^>]*>\s*<option value="ana">ana \(assigned\)', page)
    assert re.search(r'<option value="alex">alex</option>', page)  # the other account manager
    url = f"/engagements/{engagement}/tasks/{task}/complete"
    approve = {"signoff_decision": "approved", "on_behalf_of": "ana", "title": "Get scope sign-off"}

    status, html = post_form(olga, url, approve)
    assert status == 422 and field_errors(html) == {"on_behalf_reason": ["say why you complete this for ana"]}

    done = olga.post(url, data={**approve, "on_behalf_reason": "Ana is with the client; approved by phone."})
    assert done.status_code == 302
    assert "Get scope sign-off: done for ana." in olga.get("/inbox").get_data(as_text=True)
    history = olga.get(f"/engagements/{engagement}").get_data(as_text=True)
    assert re.search(
        r"<td>Get scope sign-off <span class=\"tag\">approval</span></td>.*?olga for ana", history, re.S
    )


def test_pete_sees_no_stand_in_choice_and_cannot_act_for_ana(app: Flask, deployed: Services) -> None:
    engagement = start_and_play(deployed, SIGNOFF)
    task = open_task_id(deployed, engagement, "scope_signoff")
    pete = logged_in(app, deployed, "pete")
    page = pete.get(f"/engagements/{engagement}/tasks/{task}").get_data(as_text=True)
    assert "Acting for someone else" not in page
    assert "You can read this step; ana completes it." in page and "Approve</button>" not in page
    refused = pete.post(
        f"/engagements/{engagement}/tasks/{task}/complete",
        data={"signoff_decision": "approved", "on_behalf_of": "ana", "on_behalf_reason": "she said so"},
    )
    assert refused.status_code == 403
    assert "only an ops lead or an admin may" in refused.get_data(as_text=True)
    assert open_task_id(deployed, engagement, "scope_signoff") == task  # still open
