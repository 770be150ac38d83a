"""The editor's side panel in Chromium: a plain task becomes a user task in one click, takes a
readable id from its name, and its approval, waits-on-client, role-from and shows properties;
zoom, fit and undo are buttons over the canvas. Screenshot: docs/screenshots/editor-panel.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from workflows.services import Services

from .browser_support import demo_app, logged_in, shoot
from .test_diagrams_browser import open_editor, select_in_editor

pytest.importorskip("playwright.sync_api")
PROPERTIES_OF_LEGAL_REVIEW = """() => window.Baton.propertiesOf(
    window.batonModeler.get('elementRegistry').get('legal_review').businessObject)"""


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    return demo_app(deployed, database_url)


@pytest.fixture
def page(browser: Any, live_server: str) -> Iterator[Any]:
    with logged_in(browser, live_server, "olga") as page:
        yield page


def test_a_plain_task_becomes_an_approval_step_in_the_side_panel(live_server: str, page: Any) -> None:
    open_editor(page, live_server, "fast_track")
    # a task dropped from the palette, as bpmn-js names it
    new_id = page.evaluate(
        """() => {
            const m = window.batonModeler, registry = m.get('elementRegistry');
            const qc = registry.get('qc_check');
            const shape = m.get('modeling').createShape({ type: 'bpmn:Task' },
                { x: qc.x + 60, y: qc.y + 200 }, qc.parent);
            m.get('selection').select(shape);
            return shape.id;
        }"""
    )
    assert new_id.startswith("Activity_")
    page.click("#make-user-task")
    page.wait_for_selector("#properties select[name=stage]")
    assert page.evaluate("() => window.batonModeler.get('selection').get()[0].type") == "bpmn:UserTask"
    # named: a readable id follows from the name
    page.evaluate(
        """() => {
            const m = window.batonModeler, el = m.get('selection').get()[0];
            m.get('modeling').updateLabel(el, 'Legal review');
        }"""
    )
    select_in_editor(page, "legal_review")
    assert page.input_value("#properties input[name=element_id]") == "legal_review"
    page.check("#properties input[name=approval]")
    page.check("#properties input[name=waits_on_client]")
    page.fill("#properties input[name=shows]", "brief_write, production")
    page.press("#properties input[name=shows]", "Enter")
    props = page.evaluate(PROPERTIES_OF_LEGAL_REVIEW)
    assert props == {"approval": "true", "waits_on_client": "true", "shows": "brief_write, production"}
    assert page.locator("#step-ids option[value=brief_write]").count() == 1  # the picker offers step ids
    page.click("[data-canvas-action=zoom-fit]")
    page.click("[data-canvas-action=shortcuts]")
    assert page.is_visible("#shortcut-help")
    shoot(page, "editor-panel.png")
    page.click("[data-canvas-action=shortcuts]")
    page.click("[data-canvas-action=undo]")  # the last property set is undone
    props = page.evaluate(PROPERTIES_OF_LEGAL_REVIEW)
    assert "shows" not in props and props["approval"] == "true"
