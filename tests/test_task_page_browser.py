"""Staff pages in a real Chromium: the inbox, a task form with its errors, an approval, the board.

Screenshots of each page go to docs/screenshots/.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.browser_support import demo_app, logged_in, shoot
from tests.test_diagrams import start_and_play
from tests.test_task_page import PRODUCTION, SIGNOFF
from workflows.services import Services

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    return demo_app(deployed, database_url)


def test_pete_fixes_a_wrong_cost_in_the_production_form_and_the_task_completes(
    deployed: Services,
    browser: Any,
    live_server: str,
) -> None:
    engagement = start_and_play(deployed, PRODUCTION)
    with logged_in(browser, live_server, "pete") as page:
        page.goto(f"{live_server}/inbox")
        shoot(page, "inbox.png", full_page=True)
        page.locator(f'#mine tr:has(a[href^="/engagements/{engagement}/tasks/"]) a.task-link').first.click()
        page.wait_for_selector("h1:has-text('Produce')")

        page.fill("#f-cost_to_date", "-5")
        page.fill("#f-progress_note", "First cut is in.")
        page.click("text=Complete task")
        # the browser refuses first: the field's own limits
        assert page.eval_on_selector("#f-cost_to_date", "el => el.validity.rangeUnderflow") is True
        assert page.url.endswith(page.url.split("/")[-1]) and "Complete task" in page.content()

        # the server is the authority: without the browser's check the same value is refused there
        page.eval_on_selector("#task-form", "form => { form.noValidate = true; }")
        page.click("text=Complete task")
        error = page.locator('[data-field="cost_to_date"] .field-error')
        error.wait_for()
        assert "less than the minimum of 0" in error.inner_text()
        assert page.input_value("#f-progress_note") == "First cut is in."  # kept
        shoot(page, "task-form-error.png", full_page=True)

        page.fill("#f-cost_to_date", "12000")
        page.click("text=Complete task")
        page.wait_for_selector(".flash.ok")
        assert "done" in page.locator(".flash.ok").inner_text() and page.url.endswith("/inbox")


def test_ana_rejects_the_scope_sign_off_without_a_comment_and_is_refused(
    deployed: Services,
    browser: Any,
    live_server: str,
) -> None:
    engagement = start_and_play(deployed, SIGNOFF)
    with logged_in(browser, live_server, "ana") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/scope_signoff")
        page.wait_for_selector("button:has-text('Reject')")
        shoot(page, "task-approval.png", full_page=True)

        page.click("button:has-text('Reject')")
        assert page.eval_on_selector("#f-signoff_comment", "el => el.validity.valueMissing") is True

        page.eval_on_selector("#task-form", "form => { form.noValidate = true; }")
        page.click("button:has-text('Reject')")
        error = page.locator('[data-field="signoff_comment"] .field-error')
        error.wait_for()
        assert "comment" in error.inner_text()
        shoot(page, "task-approval-refused.png", full_page=True)

        page.fill("#f-signoff_comment", "Budget was cut for this year.")
        page.click("button:has-text('Reject')")
        page.wait_for_selector(".flash.ok")
        page.goto(f"{live_server}/engagements")
        page.wait_for_selector("table.board")
        shoot(page, "engagements-board.png", full_page=True)
        page.goto(f"{live_server}/notifications")
        shoot(page, "notifications.png", full_page=True)
        assert page.locator("nav.user .badge").count() in (0, 1)


def test_rows_are_added_and_removed_in_the_scope_estimate(
    deployed: Services,
    browser: Any,
    live_server: str,
) -> None:
    engagement = start_and_play(deployed, 2)  # the pitch is won: scoping is next
    with logged_in(browser, live_server, "ana") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/scope_estimate")
        page.wait_for_selector('table[data-rows="deliverables"]')
        page.fill('[name="deliverables/0/name"]', "Logo")
        page.click('button.add-row[data-for="deliverables"]')
        page.fill('[name="deliverables/1/name"]', "Website")
        page.click('button.add-row[data-for="deliverables"]')
        page.fill('[name="deliverables/2/name"]', "Brand book")
        page.locator('table[data-rows="deliverables"] tr.row').nth(1).locator(".remove-row").click()
        names = page.eval_on_selector_all(
            'table[data-rows="deliverables"] input[name$="/name"]', "els => els.map(e => [e.name, e.value])"
        )
        assert names == [["deliverables/0/name", "Logo"], ["deliverables/1/name", "Brand book"]]
        shoot(page, "task-rows.png", full_page=True)


def test_olga_approves_the_brief_for_ana_from_the_task_page(
    deployed: Services,
    browser: Any,
    live_server: str,
) -> None:
    engagement = start_and_play(deployed, SIGNOFF)
    with logged_in(browser, live_server, "olga") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/scope_signoff")
        page.wait_for_selector("fieldset.on-behalf")
        assert page.input_value("#f-on_behalf_of") == "ana"
        page.click("button:has-text('Approve')")  # no reason yet: the browser asks for one
        assert page.eval_on_selector("#f-on_behalf_reason", "el => el.validity.valueMissing") is True
        page.fill("#f-on_behalf_reason", "Ana is at the client all day; she approved by phone.")
        shoot(page, "task-on-behalf.png", full_page=True)
        page.click("button:has-text('Approve')")
        page.wait_for_selector(".flash.ok")
        assert "done for ana" in page.locator(".flash.ok").inner_text()
