"""The editor's forms over HTTP: the live preview, forms travelling with a deploy, comparing versions."""

from __future__ import annotations

import copy
import json

from flask.testing import FlaskClient
from sqlalchemy import select

from engine.models import DefinitionVersion
from workflows.services import Services

from .test_diagrams import ENGAGEMENT_BPMN, ROOT, client, logged_in, renamed, start_and_play

__all__ = ["client"]  # olga logged in, the fixture of test_diagrams

BRIEF_WRITE = json.loads(
    (ROOT / "definitions" / "forms" / "brief_write.schema.json").read_text(encoding="utf-8")
)
BRIEF_APPROVE = json.loads(
    (ROOT / "definitions" / "forms" / "brief_approve.schema.json").read_text(encoding="utf-8")
)
BUDGET = {
    "type": "number",
    "title": "Budget ceiling",
    "minimum": 0,
    "description": "In the client's currency.",
}


def with_budget() -> dict[str, object]:
    """brief_write's form with a required budget field, as the form editor would send it."""
    form = copy.deepcopy(BRIEF_WRITE)
    form["properties"]["budget_ceiling"] = BUDGET
    form["required"].append("budget_ceiling")
    return form


def version_row(services: Services, number: int) -> DefinitionVersion:
    with services.db.unit_of_work(write=False) as session:
        row = session.scalar(
            select(DefinitionVersion).where(
                DefinitionVersion.process_id == "engagement", DefinitionVersion.version == number
            )
        )
        assert row is not None
        session.expunge(row)
        return row


# -- the live preview ---------------------------------------------------------------------------


def test_the_preview_renders_a_form_as_the_task_page_does(deployed: Services, client: FlaskClient) -> None:
    response = client.post("/definitions/forms/preview", json={"schema": with_budget()})
    assert response.status_code == 200
    body = response.get_json()
    assert body["valid"] is True and body["problems"] == []
    html = body["html"]
    assert "<h2>Write brief</h2>" in html
    assert 'data-field="budget_ceiling"' in html and 'type="number"' in html and 'min="0"' in html
    assert 'Budget ceiling <span class="req" title="required">*</span>' in html
    assert "In the client&#39;s currency." in html  # escaped like every text of a schema
    assert "Complete task" in html
    # the very fields the task page shows for the open step
    engagement_id = start_and_play(deployed, 4)
    pete = logged_in(client.application, deployed, "pete")
    page = pete.get(f"/engagements/{engagement_id}/tasks/brief_write").get_data(as_text=True)
    shipped = client.post("/definitions/forms/preview", json={"schema": BRIEF_WRITE}).get_json()["html"]
    for name in ("objectives", "audience", "key_messages", "constraints"):
        field = shipped[shipped.index(f'<div class="field" data-field="{name}">') :]
        field = field[: field.index("</div>") + 6]
        assert field in page


def test_an_approval_preview_shows_the_decision_buttons(client: FlaskClient) -> None:
    body = client.post(
        "/definitions/forms/preview", json={"schema": BRIEF_APPROVE, "approval": True}
    ).get_json()
    assert body["valid"] and "required unless approving" in body["html"]
    assert 'data-decision="approved"' in body["html"] and "Complete task" not in body["html"]


def test_an_invalid_schema_lists_its_problems_and_shows_nothing(client: FlaskClient) -> None:
    broken = copy.deepcopy(BRIEF_WRITE)
    broken["properties"]["audience"]["type"] = "text"
    body = client.post("/definitions/forms/preview", json={"schema": broken}).get_json()
    assert body["valid"] is False and body["html"] is None
    assert body["problems"][0]["path"] == "/properties/audience/type"
    # an approval form without its vocabulary is still shown, with what the deploy will refuse
    vague = copy.deepcopy(BRIEF_APPROVE)
    vague["properties"]["brief_decision"]["enum"] = ["fine", "not fine"]
    body = client.post("/definitions/forms/preview", json={"schema": vague, "approval": True}).get_json()
    assert body["valid"] is False and body["html"] is not None
    assert [p["kind"] for p in body["problems"]] == ["approval"]


def test_only_ops_leads_preview_forms_and_with_the_csrf_token(
    client: FlaskClient, deployed: Services
) -> None:
    ana = logged_in(client.application, deployed, "ana")
    refused = ana.post("/definitions/forms/preview", json={"schema": BRIEF_WRITE})
    assert refused.status_code == 403 and "only ops leads" in refused.get_json()["error"]
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    assert client.post("/definitions/forms/preview", json={"schema": BRIEF_WRITE}).status_code == 400


def test_a_preview_needs_a_schema_object(client: FlaskClient) -> None:
    response = client.post("/definitions/forms/preview", json={"schema": "not an object"})
    assert response.status_code == 400 and "schema" in response.get_json()["fields"]


# -- forms travel with a deploy -------------------------------------------------------------------


def test_the_editor_starts_from_the_folder_and_the_latest_versions_forms(
    deployed: Services, client: FlaskClient
) -> None:
    forms = client.get("/definitions/engagement/source").get_json()["forms"]
    assert forms["brief_write.schema.json"] == BRIEF_WRITE
    client.post(
        "/definitions/deploy",
        json={
            "xml": ENGAGEMENT_BPMN,
            "note": "budget in the brief",
            "forms": {**forms, "brief_write.schema.json": with_budget()},
        },
    )
    forms = client.get("/definitions/engagement/source").get_json()["forms"]
    assert forms["brief_write.schema.json"] == with_budget()  # the version's edit, not the folder's file
    assert "change_order.schema.json" in forms  # a form no step of this process uses yet


def test_edited_forms_deploy_as_a_new_version_that_new_engagements_fill_in(
    deployed: Services, client: FlaskClient
) -> None:
    forms = client.get("/definitions/engagement/source").get_json()["forms"]
    forms["brief_write.schema.json"] = with_budget()
    checked = client.post("/definitions/validate", json={"xml": ENGAGEMENT_BPMN, "forms": forms})
    assert checked.get_json() == {"valid": True, "issues": []}
    response = client.post(
        "/definitions/deploy", json={"xml": ENGAGEMENT_BPMN, "note": "budget", "forms": forms}
    )
    assert response.status_code == 201
    assert response.get_json()["compare_url"] == "/definitions/engagement/compare?b=2"
    assert version_row(deployed, 2).forms["brief_write.schema.json"]["required"][-1] == "budget_ceiling"
    assert "budget_ceiling" not in version_row(deployed, 1).forms["brief_write.schema.json"]["properties"]
    engagement_id = start_and_play(deployed, 4)
    pete = logged_in(client.application, deployed, "pete")
    page = pete.get(f"/engagements/{engagement_id}/tasks/brief_write").get_data(as_text=True)
    assert 'data-field="budget_ceiling"' in page and "Budget ceiling" in page


def test_an_approval_form_without_its_vocabulary_is_refused_at_deploy(
    deployed: Services, client: FlaskClient
) -> None:
    forms = client.get("/definitions/engagement/source").get_json()["forms"]
    vague = copy.deepcopy(BRIEF_APPROVE)
    vague["properties"]["brief_decision"]["enum"] = ["fine", "not fine"]
    forms["brief_approve.schema.json"] = vague
    response = client.post(
        "/definitions/deploy", json={"xml": ENGAGEMENT_BPMN, "note": "vaguer", "forms": forms}
    )
    assert response.status_code == 422
    issues = {i["element_id"]: i["message"] for i in response.get_json()["issues"]}
    assert set(issues) == {"brief_approve", "gw_brief"}
    # the gateway after it routes 'approved' and 'changes_requested', which the form no longer offers
    assert "no flow for brief_decision = 'fine', 'not fine'" in issues["gw_brief"]


def test_a_form_that_is_not_a_json_schema_is_refused_at_deploy(
    deployed: Services, client: FlaskClient
) -> None:
    forms = client.get("/definitions/engagement/source").get_json()["forms"]
    forms["brief_write.schema.json"] = {"type": "object", "properties": {"x": {"type": "text"}}}
    response = client.post(
        "/definitions/deploy", json={"xml": ENGAGEMENT_BPMN, "note": "broken", "forms": forms}
    )
    assert response.status_code == 422
    [issue] = response.get_json()["issues"]
    assert issue["element_id"] == "brief_write" and "not a valid JSON Schema" in issue["message"]


# -- comparing two versions -------------------------------------------------------------------------


def test_the_comparison_marks_and_lists_what_changed(deployed: Services, client: FlaskClient) -> None:
    forms = client.get("/definitions/engagement/source").get_json()["forms"]
    forms["brief_write.schema.json"] = with_budget()
    xml = renamed(ENGAGEMENT_BPMN, "brief_approve", "Approve the brief")
    client.post("/definitions/deploy", json={"xml": xml, "note": "budget", "forms": forms})
    html = client.get("/definitions/engagement/compare").get_data(as_text=True)
    assert "v1 → v2" in html
    marks = json.loads(
        html.split('<script type="application/json" id="compare-marks">')[1].split("</script>")[0]
    )
    assert marks == {"added": [], "changed": ["brief_write", "brief_approve"], "removed": []}
    assert "Form of Write brief: added required field “Budget ceiling”" in html
    assert "Renamed task “Approve brief” to “Approve the brief”" in html
    # the same two versions asked for by number, and the other way round
    assert "v1 → v2" in client.get("/definitions/engagement/compare?a=1&b=2").get_data(as_text=True)
    backwards = client.get("/definitions/engagement/compare?a=2&b=1").get_data(as_text=True)
    assert "Renamed task “Approve the brief” to “Approve brief”" in backwards
    # linked from the definitions list and the newer version's page
    assert "/definitions/engagement/compare" in client.get("/definitions").get_data(as_text=True)
    assert "/definitions/engagement/compare?b=2" in client.get("/definitions/engagement/versions/2").get_data(
        as_text=True
    )


def test_everyone_may_compare_but_not_what_does_not_exist(deployed: Services, client: FlaskClient) -> None:
    assert client.get("/definitions/engagement/compare").status_code == 404  # a single version
    client.post(
        "/definitions/deploy", json={"xml": renamed(ENGAGEMENT_BPMN, "brief_write", "Brief"), "note": "x"}
    )
    ana = logged_in(client.application, deployed, "ana")
    assert ana.get("/definitions/engagement/compare").status_code == 200
    assert ana.get("/definitions/engagement/compare?a=1&b=9").status_code == 404
    assert ana.get("/definitions/nothing_here/compare").status_code == 404


def test_the_editor_gets_the_fields_in_their_order(client: FlaskClient) -> None:
    # a form's fields are shown in the order of its properties: the JSON must not sort them
    forms = client.get("/definitions/engagement/source").get_json()["forms"]
    assert list(forms["brief_write.schema.json"]["properties"]) == list(BRIEF_WRITE["properties"])
    assert list(forms["brief_write.schema.json"]) == list(BRIEF_WRITE)
