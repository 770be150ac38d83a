"""The form editor and the comparison of two versions in a real Chromium.

olga, the ops lead, adds a required budget field to "Write brief", watches it appear in the live
preview, breaks the schema and mends it, deploys, and compares the new version with the old one;
pete then meets the field on the task page of an engagement started on the new version.
Screenshots: docs/screenshots/editor-form.png, editor-form-error.png, definition-compare.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from workflows.services import Services

from .browser_support import demo_app, logged_in, marked, shoot
from .test_definition_forms import version_row
from .test_diagrams import start_and_play

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    return demo_app(deployed, database_url)


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """olga, the ops lead, logged in to the live server."""
    with logged_in(browser, live_server, "olga") as page:
        yield page


def select_step(page: Any, element_id: str) -> None:
    """Select a diagram element as a click would (the side panel follows the selection)."""
    page.evaluate(
        """id => {
            const modeler = window.batonModeler;
            const element = modeler.get('elementRegistry').get(id);
            modeler.get('selection').select(element);
            modeler.get('canvas').scrollToElement(element, { top: 120, bottom: 120, left: 200, right: 200 });
        }""",
        element_id,
    )


def show_in_drawer(page: Any, key: str) -> None:
    """Scroll the drawer's two columns (not the page) to one field."""
    page.evaluate(
        """key => {
            const card = document.querySelector(`#form-fields .fe-card[data-key="${key}"]`);
            const field = document.querySelector(`#form-preview [data-field="${key}"]`);
            document.querySelector('.drawer-edit').scrollTop = card.offsetTop - 120;
            document.querySelector('.drawer-preview').scrollTop = field.offsetTop - 460;
            window.scrollTo(0, 0);
        }""",
        key,
    )


def preview_has(page: Any, selector: str) -> None:
    page.wait_for_selector(f"#form-preview {selector}")


def test_an_ops_lead_edits_a_form_with_a_live_preview_deploys_and_compares(
    deployed: Services, live_server: str, page: Any, browser: Any
) -> None:
    page.set_viewport_size({"width": 1360, "height": 1000})
    page.goto(f"{live_server}/definitions/engagement/edit")
    page.wait_for_selector("#editor.editor-ready")
    select_step(page, "brief_write")
    page.click("#edit-form")
    drawer = page.locator("#form-drawer")
    assert drawer.is_visible()
    assert "brief_write.schema.json" in page.inner_text("#form-drawer-meta")
    preview_has(page, '[data-field="objectives"]')  # the form as staff see it today

    # a new required number field, shown in the preview as soon as it is typed
    page.click("#form-fields >> text=+ Add field")
    card = page.locator("#form-fields .fe-list > .fe-card").last
    card.locator("input[name=title]").fill("Budget ceiling")
    key = card.locator("input[name=key]")
    key.fill("budget_ceiling")
    key.dispatch_event("change")
    card = page.locator('#form-fields .fe-card[data-key="budget_ceiling"]')
    card.locator("select[name=type]").select_option("number")
    card.locator("input[name=required]").check()
    card.locator("input[name=minimum]").fill("0")
    card.locator("input[name=description]").fill("The most the client will spend, in their currency.")
    preview_has(page, '[data-field="budget_ceiling"] input[type=number][required][min="0"]')
    assert "Budget ceiling *" in page.inner_text('#form-preview [data-field="budget_ceiling"] label')
    # reorder: the budget goes up above the constraints
    card.locator("button[title='Move up']").click()
    preview_has(page, '[data-field="budget_ceiling"] + [data-field="constraints"]')
    show_in_drawer(page, "budget_ceiling")
    shoot(page, "editor-form.png")

    # broken JSON is kept as typed and named; a schema the meta-schema refuses says where
    page.click("#tab-json")
    text = page.locator("#form-json-text")
    good = text.input_value()
    text.fill(good[:-2])
    page.wait_for_selector("#form-problems:not([hidden]) >> text=Not valid JSON")
    assert text.input_value() == good[:-2]  # nothing lost
    text.fill(good.replace('"type": "number"', '"type": "money"'))
    page.wait_for_selector("#form-problems code >> text='/properties/budget_ceiling/type'")
    assert "not a valid JSON Schema" in page.inner_text("#form-problems")
    assert "stale" in (page.get_attribute("#form-preview", "class") or "")
    page.evaluate("() => { document.querySelector('.drawer-preview').scrollTop = 0; window.scrollTo(0, 0); }")
    shoot(page, "editor-form-error.png")
    text.fill(good)
    page.wait_for_selector("#form-problems", state="hidden")
    page.click("#tab-fields")
    assert page.locator('#form-fields .fe-card[data-key="budget_ceiling"]').count() == 1

    # an approval step keeps its decision vocabulary in sight
    page.click("#form-drawer-close")
    select_step(page, "brief_approve")
    page.click("#edit-form")
    assert "approval step" in page.inner_text("#form-drawer-meta")
    preview_has(page, 'button[data-decision="approved"]')
    options = page.locator('#form-fields .fe-card[data-key="brief_decision"] textarea[name=enum]')
    assert options.input_value() == "approved\nchanges_requested"
    options.fill("fine\nnot fine")
    page.wait_for_selector("#form-problems >> text=must offer 'approved'")
    options.fill("approved\nchanges_requested")
    page.wait_for_selector("#form-problems", state="hidden")
    page.click("#form-drawer-close")
    page.fill("#properties input[name=sla]", "8bh")
    page.dispatch_event("#properties input[name=sla]", "change")

    # a new step between writing and approving the brief, with a new form of its own
    page.evaluate(
        """() => {
            const modeler = window.batonModeler;
            const registry = modeler.get('elementRegistry'), modeling = modeler.get('modeling');
            const write = registry.get('brief_write'), approve = registry.get('brief_approve');
            modeling.removeElements([registry.get('flow_brief_written')]);
            const check = modeling.createShape(
                { type: 'bpmn:UserTask' },
                { x: write.x + write.width + 130, y: write.y + write.height / 2 },
                write.parent
            );
            modeling.updateProperties(check, { id: 'brief_check', name: 'Check the brief' });
            modeling.connect(write, check);
            modeling.connect(check, approve);
        }"""
    )
    select_step(page, "brief_check")
    page.select_option("#properties select[name=stage]", "brief")
    page.fill("#properties input[name=sla]", "4bh")
    page.dispatch_event("#properties input[name=sla]", "change")
    page.click("#new-form")
    assert "brief_check.schema.json" in page.inner_text("#form-drawer-meta")
    page.click("#form-fields >> text=+ Add field")
    card = page.locator("#form-fields .fe-list > .fe-card").last
    card.locator("input[name=title]").fill("Brief is complete")
    card.locator("select[name=type]").select_option("boolean")
    preview_has(page, "input[type=checkbox]")
    # a table with a column of choices, shown as the task page shows rows
    page.click("#form-fields >> text=+ Add field")
    card = page.locator("#form-fields .fe-list > .fe-card").last
    card.locator("input[name=title]").fill("Gaps found")
    card.locator("select[name=type]").select_option("table")
    column = card.locator(".fe-columns > .fe-card").first
    column.locator("input[name=title]").fill("Section")
    column.locator("textarea[name=enum]").fill("objectives\naudience\nmessages\nconstraints\nbudget")
    card.locator("text=+ Add column").click()
    page.locator("#form-fields .fe-columns > .fe-card").last.locator("input[name=title]").fill(
        "What is missing"
    )
    preview_has(page, 'table.rows[data-rows="field_2"] th:text("What is missing")')
    page.wait_for_selector(
        '#form-preview table.rows[data-rows="field_2"] option[value="audience"]', state="attached"
    )
    page.click("#form-drawer-close")

    # deploy: the forms travel with the new version
    page.fill("#deploy-note", "Budget ceiling in the brief; faster approval")
    page.click("#deploy")
    page.wait_for_selector("#editor-status.ok")
    assert page.inner_text("#editor-status").startswith("Deployed engagement v2.")
    v2 = version_row(deployed, 2)
    assert v2.forms["brief_write.schema.json"]["properties"]["budget_ceiling"]["type"] == "number"
    assert "budget_ceiling" in v2.forms["brief_write.schema.json"]["required"]
    assert v2.forms["brief_check.schema.json"]["properties"]["field_1"]["type"] == "boolean"

    # the comparison marks the two changed steps and says what changed
    page.click("#editor-status >> text=Compare with the previous version")
    page.wait_for_selector("#compare.compare-ready")
    assert marked(page, "diff-changed") >= {"brief_write", "brief_approve"}
    assert "brief_check" in marked(page, "diff-added")
    assert "flow_brief_written" in marked(page, "diff-removed")
    changes = page.inner_text("#changes")
    assert "Added task Check the brief in lane Project Management (Stage brief, SLA 4bh" in changes
    assert "Removed flow Write brief → Approve brief" in changes
    assert "SLA of Approve brief: 1bd → 8bh" in changes
    assert "Form of Write brief: added required field “Budget ceiling”" in changes
    shoot(page, "definition-compare.png", full_page=True)
    page.click('#changes li[data-element-id="brief_approve"]')
    assert (
        page.get_attribute('#changes li[data-element-id="brief_approve"]', "class")
        == "change changed current"
    )

    # an engagement started on v2 asks for the budget on its brief step
    engagement_id = start_and_play(deployed, 4)
    with logged_in(browser, live_server, "pete") as pete:
        pete.goto(f"{live_server}/engagements/{engagement_id}/tasks/brief_write")
        assert (
            pete.locator('#task-form [data-field="budget_ceiling"] input[type=number][required]').count() == 1
        )


def test_staff_read_the_comparison_but_may_not_preview_forms(
    deployed: Services, live_server: str, browser: Any
) -> None:
    with deployed.db.unit_of_work() as session:
        from workflows.definitions.catalog import deploy_definition

        xml = version_row(deployed, 1).bpmn_xml.replace('name="Write brief"', 'name="Write the brief"')
        deploy_definition(session, deployed, xml, actor="olga", note="clearer name")
    with logged_in(browser, live_server, "ana") as ana:
        ana.goto(f"{live_server}/definitions/engagement/compare")
        ana.wait_for_selector("#compare.compare-ready")
        assert marked(ana, "diff-changed") == {"brief_write"}
        assert "Renamed task “Write brief” to “Write the brief”" in ana.inner_text("#changes")
        refused = ana.request.post(
            f"{live_server}/definitions/forms/preview",
            data={"schema": {"type": "object"}},
            headers={"X-CSRFToken": ana.get_attribute('meta[name="csrf-token"]', "content") or ""},
        )
        assert refused.status == 403
