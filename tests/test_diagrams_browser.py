"""Diagrams in a real Chromium: the engagement viewer's highlights, and the editor's validate/deploy.

Screenshots of each page go to docs/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from engine.models import DefinitionVersion
from workflows.engagements.lifecycle import get_engagement
from workflows.engagements.tasks import find_open_task
from workflows.services import Services
from workflows.views.diagrams import diagram_state, list_versions
from workflows.views.lists import list_engagements

from .browser_support import ROOT, demo_app, logged_in, marked, shoot
from .conftest import FakeClock

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    return demo_app(deployed, database_url)


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    """olga, the ops lead, logged in to the live server."""
    with logged_in(browser, live_server, "olga") as page:
        yield page


def engagement_id_of(services: Services, client: str) -> int:
    with services.db.unit_of_work(write=False) as session:
        return next(e.id for e, _ in list_engagements(session, actor="olga") if e.client == client)


def test_the_engagement_page_highlights_done_and_open_steps(
    deployed: Services, live_server: str, page: Any
) -> None:
    engagement_id = engagement_id_of(deployed, "Adventure Works")
    with deployed.db.unit_of_work(write=False) as session:
        state = diagram_state(session, deployed, engagement_id)
    page.goto(f"{live_server}/engagements/{engagement_id}")
    page.wait_for_selector("#engagement-diagram.diagram-ready")
    assert marked(page, "bt-active") == {"brief_approve"} == set(state.active)
    assert marked(page, "bt-done") == set(state.completed) >= {"pitch_prepare", "brief_write"}
    assert marked(page, "bt-overdue") == set()
    badge = page.locator(".bt-badge")
    assert badge.inner_text() == "ana"  # who holds the open step
    assert "/tasks/" in (badge.get_attribute("href") or "")  # and links to the task's page
    # lanes are drawn, with their names
    assert page.locator('.djs-element[data-element-id="lane_am"]').count() == 1
    assert "Project Management" in page.locator("#engagement-diagram").inner_text()
    shoot(page, "engagement-diagram.png", full_page=True)
    page.click("text=Current step")
    shoot(page, "engagement-diagram-current-step.png", clip=page.locator(".diagram-section").bounding_box())


def test_an_overdue_step_is_marked_red(deployed: Services, live_server: str, page: Any) -> None:
    clock = deployed.runtime.clock
    assert isinstance(clock, FakeClock)
    engagement_id = engagement_id_of(deployed, "Litware Labs")
    with deployed.db.unit_of_work(write=False) as session:
        engagement = get_engagement(session, engagement_id)
        [open_step] = diagram_state(session, deployed, engagement_id).active
        task = find_open_task(session, engagement, open_step)
    assert task.due_at is not None
    clock.now = task.due_at + timedelta(hours=1)
    deployed.deadline_sweeper().run_once()
    page.goto(f"{live_server}/engagements/{engagement_id}")
    page.wait_for_selector("#engagement-diagram.diagram-ready")
    assert marked(page, "bt-overdue") == {open_step} == marked(page, "bt-active")
    assert page.locator(".bt-badge-overdue").inner_text().endswith("· overdue")
    page.click("text=Current step")
    shoot(page, "engagement-overdue.png", clip=page.locator(".diagram-section").bounding_box())


def versions_of(services: Services, process_id: str = "engagement") -> list[DefinitionVersion]:
    with services.db.unit_of_work(write=False) as session:
        return list(
            session.scalars(
                select(DefinitionVersion)
                .where(DefinitionVersion.process_id == process_id)
                .order_by(DefinitionVersion.version)
            )
        )


def open_editor(page: Any, live_server: str, process_id: str = "engagement") -> None:
    page.goto(f"{live_server}/definitions/{process_id}/edit")
    page.wait_for_selector("#editor.editor-ready")


def test_an_ops_lead_renames_a_step_validates_and_deploys_a_new_version(
    deployed: Services, live_server: str, page: Any
) -> None:
    page.goto(f"{live_server}/definitions")
    shoot(page, "definitions.png", full_page=True)
    page.click("#process-engagement >> text=Edit")
    page.wait_for_selector("#editor.editor-ready")
    page.evaluate(
        """() => {
            const modeler = window.batonModeler;
            const task = modeler.get('elementRegistry').get('brief_approve');
            modeler.get('modeling').updateProperties(task, { name: 'Approve the brief' });
        }"""
    )
    page.click("#validate")
    page.wait_for_selector("#editor-status.ok")
    assert page.inner_text("#editor-status") == "Valid: ready to deploy."
    page.click("#deploy")  # no note yet: refused in the page
    assert "Say what changed" in page.inner_text("#editor-status")
    page.fill("#deploy-note", "Clearer name for the brief approval")
    page.click("#deploy")
    page.wait_for_selector("#editor-status.ok >> text=Deployed")
    assert page.inner_text("#editor-status").startswith("Deployed engagement v2.")
    shoot(page, "editor.png")
    v1, v2 = versions_of(deployed)
    assert 'name="Approve the brief"' in v2.bpmn_xml and 'name="Approve the brief"' not in v1.bpmn_xml
    assert v2.note == "Clearer name for the brief approval"
    # what bpmn-js does not model itself (Baton's properties, instructions) survives the round trip
    for tag in (
        "spiffworkflow:property ",
        "spiffworkflow:instructionsForEndUser>",
        "bpmn:conditionExpression",
    ):
        assert v2.bpmn_xml.count(tag) == v1.bpmn_xml.count(tag) > 0
    page.click("#editor-status a")  # to the new version's page
    page.wait_for_selector("#definition-diagram.diagram-ready")
    assert "Approve the brief" in page.inner_text("#definition-diagram")
    assert page.locator("h1 .pill.latest").count() == 1
    shoot(page, "definition-version.png", full_page=True)
    page.goto(f"{live_server}/definitions")
    first_row = page.locator("#process-engagement tbody tr").first
    assert first_row.inner_text().startswith("v2")
    assert "Clearer name for the brief approval" in first_row.inner_text()


def test_a_broken_diagram_is_refused_with_its_elements_outlined(
    deployed: Services, live_server: str, page: Any
) -> None:
    open_editor(page, live_server)
    page.evaluate(
        """() => {
            const modeler = window.batonModeler;
            const registry = modeler.get('elementRegistry');
            // a condition that is not Python on the pitch gateway's "won" branch
            const flow = registry.get('flow_pitch_won');
            const expression = modeler.get('bpmnFactory').create('bpmn:FormalExpression',
                { body: "pitch_decision = = 'won'" });
            modeler.get('modeling').updateProperties(flow, { conditionExpression: expression });
            // and a step taken out of its lane
            const lane = registry.get('lane_am').businessObject;
            lane.flowNodeRef = lane.flowNodeRef.filter(node => node.id !== 'brief_approve');
        }"""
    )
    page.fill("#deploy-note", "should not go out")
    page.click("#deploy")
    page.wait_for_selector("#editor-status.bad >> text=Not deployed")
    issues = page.eval_on_selector_all("#issues li", "els => els.map(e => e.dataset.elementId)")
    assert set(issues) == {"gw_pitch", "brief_approve"}
    assert marked(page, "bt-issue") == {"gw_pitch", "brief_approve"}
    assert page.locator(".bt-issue-badge").count() == 2
    assert len(versions_of(deployed)) == 1  # nothing deployed
    page.click('#issues li[data-element-id="gw_pitch"]')  # brings the element into view, selected
    assert page.locator('.djs-element.selected[data-element-id="gw_pitch"]').count() == 1
    shoot(page, "editor-issues.png")


def test_a_new_process_starts_blank_and_deploys_as_version_one(
    deployed: Services, live_server: str, page: Any
) -> None:
    page.goto(f"{live_server}/definitions")
    page.fill("#new-process-id", "retainer")
    page.click("text=Open editor")
    page.wait_for_selector("#editor.editor-ready")
    assert page.inner_text("#editor-status").startswith("A new process")
    assert marked(page, "bt-issue") == set()
    assert page.locator('.djs-element[data-element-id="lane_pm"]').count() == 1
    page.fill("#deploy-note", "first cut")
    page.click("#deploy")
    page.wait_for_selector("#editor-status.ok >> text=Deployed retainer v1.")
    with deployed.db.unit_of_work(write=False) as session:
        [retainer] = list_versions(session, "retainer")
    assert (retainer.version, retainer.note, retainer.engagements) == (1, "first cut", 0)


def select_in_editor(page: Any, element_id: str) -> None:
    page.evaluate(
        """(id) => {
            const modeler = window.batonModeler;
            const element = modeler.get('elementRegistry').get(id);
            modeler.get('selection').select(element);
            modeler.get('canvas').scrollToElement(element);
        }""",
        element_id,
    )


def test_an_ops_lead_changes_an_sla_in_the_side_panel_and_deploys_it(
    deployed: Services, live_server: str, page: Any, tmp_path: Path
) -> None:
    open_editor(page, live_server)
    select_in_editor(page, "lane_pm")
    assert page.input_value("#properties select[name=role]") == "project_manager"
    select_in_editor(page, "scope_estimate")
    assert page.input_value("#properties select[name=stage]") == "scope"
    assert page.input_value("#properties select[name=form]") == "scope_estimate.schema.json"
    old_sla = page.input_value("#properties input[name=sla]")
    # a value the agency calendar cannot read is refused by Validate, on that step
    page.fill("#properties input[name=sla]", "soon")
    page.press("#properties input[name=sla]", "Enter")
    page.click("#validate")
    page.wait_for_selector("#editor-status.bad")
    assert marked(page, "bt-issue") == {"scope_estimate"}
    assert "soon" in page.inner_text('#issues li[data-element-id="scope_estimate"]')
    page.fill("#properties input[name=sla]", "5bd")
    page.press("#properties input[name=sla]", "Enter")
    page.click("#validate")
    page.wait_for_selector("#editor-status.ok")
    shoot(page, "editor-side-panel.png")
    with page.expect_download() as download:
        page.click("#download-xml")
    saved = tmp_path / "engagement.bpmn"
    download.value.save_as(saved)
    assert '<spiffworkflow:property name="sla" value="5bd" />' in saved.read_text(encoding="utf-8")
    page.fill("#deploy-note", f"Scope estimates get 5 business days (was {old_sla})")
    page.click("#deploy")
    page.wait_for_selector("#editor-status.ok >> text=Deployed engagement v2.")
    _, v2 = versions_of(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        spec, _subs = deployed.definitions.spec_for(deployed.definitions.info(session, v2.id))
    assert spec.task_specs["scope_estimate"].extensions["properties"]["sla"] == "5bd"
    page.goto(f"{live_server}/definitions")
    assert (
        "Scope estimates get 5 business days"
        in page.locator("#process-engagement tbody tr").first.inner_text()
    )


def test_a_file_from_camunda_modeler_imports_gets_baton_properties_and_deploys(
    deployed: Services, live_server: str, page: Any
) -> None:
    page.goto(f"{live_server}/definitions/new?process_id=client_handoff")
    page.wait_for_selector("#editor.editor-ready")
    page.set_input_files("#open-file", str(ROOT / "tests" / "data" / "camunda_handoff.bpmn"))
    page.wait_for_selector("#editor-status >> text=Opened camunda_handoff.bpmn")
    page.click("#validate")
    page.wait_for_selector("#editor-status.bad")
    assert marked(page, "bt-issue") == {"Activity_handoff"}
    assert "missing property 'stage'" in page.inner_text("#issues")
    select_in_editor(page, "Activity_handoff")
    page.select_option("#properties select[name=stage]", "scope")
    page.fill("#properties input[name=sla]", "1bd")
    page.press("#properties input[name=sla]", "Enter")
    page.click("#validate")
    page.wait_for_selector("#editor-status.ok")
    page.fill("#deploy-note", "imported from Camunda Modeler")
    page.click("#deploy")
    page.wait_for_selector("#editor-status.ok >> text=Deployed client_handoff v1.")
    [version] = versions_of(deployed, "client_handoff")
    assert 'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"' in version.bpmn_xml
    assert 'camunda:assignee="${accountManager}"' in version.bpmn_xml  # foreign attributes are kept
