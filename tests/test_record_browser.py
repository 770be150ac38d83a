"""Staff decide in a real Chromium: the brief beside its approval, a rework from the last round, a
change order's amount before leadership, due times in the reader's zone, a phone-sized task page,
and axe-core over the pages people work in. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from tests.api_support import give_password, make_app
from tests.browser_support import ROOT, logged_in, shoot
from tests.record_support import BRIEF_SENT_BACK, to_brief_approval, to_brief_rework, to_change_order_approval
from workflows.demo import samples
from workflows.demo.seed import DEMO_PASSWORD
from workflows.models import User
from workflows.services import Services

playwright_api = pytest.importorskip("playwright.sync_api")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PEOPLE = ("ana", "pete", "lee", "alex")
# the elements reaching past a 390 px screen (for the failure message)
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > 392)
  .slice(0, 10).map(e => e.tagName + '.' + e.className)"""


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    for who in PEOPLE:
        give_password(deployed, who, DEMO_PASSWORD)
    return make_app(deployed, database_url, SESSION_COOKIE_SECURE=False)


def set_zone(services: Services, username: str, zone: str | None) -> None:
    with services.db.unit_of_work() as session:
        session.execute(update(User).where(User.username == username).values(time_zone=zone))


def test_ana_approves_a_brief_she_reads_on_the_page(
    deployed: Services, browser: Any, live_server: str
) -> None:
    engagement = to_brief_approval(deployed)
    with logged_in(browser, live_server, "ana") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/brief_approve")
        record = page.locator("section.record")
        record.wait_for()
        assert samples.brief_write()["objectives"] in record.inner_text()
        assert page.locator("button:has-text('Reject')").count() == 0  # the form allows no rejection
        shoot(page, "task-brief-approval.png", full_page=True)
        page.click("button:has-text('Approve')")
        page.wait_for_selector(".flash.ok")
        assert "Approve brief: done" in page.locator(".flash.ok").inner_text()


def test_pete_reworks_the_brief_starting_from_his_first_version_and_anas_comment(
    deployed: Services, browser: Any, live_server: str
) -> None:
    engagement = to_brief_rework(deployed)
    first = samples.brief_write()
    with logged_in(browser, live_server, "pete") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/brief_write")
        sent_back = page.locator("section.sent-back")
        sent_back.wait_for()
        assert BRIEF_SENT_BACK in sent_back.inner_text()
        assert page.input_value("#f-objectives") == first["objectives"]
        assert page.input_value("#f-audience") == first["audience"]
        # the comment is above the form
        above = page.evaluate(
            "() => document.querySelector('section.sent-back').compareDocumentPosition("
            "document.querySelector('#task-form')) & Node.DOCUMENT_POSITION_FOLLOWING"
        )
        assert above
        shoot(page, "task-brief-rework.png", full_page=True)
        page.fill("#f-objectives", "5,000 sign-ups: 3,000 social, 2,000 in store.")
        page.click("text=Complete task")
        page.wait_for_selector(".flash.ok")

    with logged_in(browser, live_server, "ana") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/brief_approve")
        diff = page.locator("section.record .round-diff")
        diff.wait_for()
        assert "3,000 social" in diff.inner_text() and first["objectives"] in diff.inner_text()
        shoot(page, "task-brief-approval-round-2.png", full_page=True)
        page.goto(f"{live_server}/engagements/{engagement}")
        page.locator("section.engagement-record").wait_for()
        shoot(page, "engagement-record.png", full_page=True)


def test_leadership_approves_a_change_order_seeing_its_amount(
    deployed: Services, browser: Any, live_server: str
) -> None:
    engagement = to_change_order_approval(deployed, 6000)
    with logged_in(browser, live_server, "lee") as page:
        page.goto(f"{live_server}/inbox")
        task_link = f'a[href^="/engagements/{engagement}/tasks/"]:has-text("Approve change order")'
        page.locator(task_link).first.click()
        record = page.locator("section.record")
        record.wait_for()
        text = record.inner_text()
        assert "6,000" in text and "Extra cut-downs for retail screens." in text
        assert "20,000 → 26,000" in text
        # leadership's step is named as leadership's, not as Account Management's
        assert "in the Leadership pool" in page.locator(".task-head .meta").first.inner_text()
        shoot(page, "task-change-order-leadership.png", full_page=True)
        page.click("button:has-text('Approve')")
        page.wait_for_selector(".flash.ok")


def test_the_reader_in_new_york_sees_due_times_in_their_zone(
    deployed: Services, browser: Any, live_server: str
) -> None:
    engagement = to_brief_approval(deployed)
    set_zone(deployed, "ana", "America/New_York")
    with logged_in(browser, live_server, "ana") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/brief_approve")
        meta = page.locator(".task-head .meta").first.inner_text()
        assert re.search(r"due \w{3} \d\d \w{3} \d\d:\d\d EST", meta), meta
        ny = re.search(r"(\d\d):\d\d EST", meta)
        assert ny is not None
    set_zone(deployed, "ana", None)  # back to the calendar's zone (Europe/London)
    with logged_in(browser, live_server, "ana") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/brief_approve")
        meta = page.locator(".task-head .meta").first.inner_text()
        london = re.search(r"(\d\d):\d\d GMT", meta)
        assert london is not None, meta
        assert (int(london.group(1)) - int(ny.group(1))) % 24 == 5  # the same instant, five hours apart


def test_the_task_page_works_on_a_390_px_phone(deployed: Services, browser: Any, live_server: str) -> None:
    engagement = to_brief_rework(deployed)
    with logged_in(browser, live_server, "pete") as page:
        page.set_viewport_size({"width": 390, "height": 844})
        for path in (f"/engagements/{engagement}/tasks/brief_write", "/inbox", f"/engagements/{engagement}"):
            page.goto(f"{live_server}{path}")
            wide = page.evaluate("() => document.documentElement.scrollWidth")
            assert wide <= 390, f"{path} scrolls sideways ({wide} px): {page.evaluate(WIDEST)}"
        page.goto(f"{live_server}/engagements/{engagement}/tasks/brief_write")
        form = page.locator("#task-form").bounding_box()
        side = page.locator("aside.task-side").bounding_box()
        assert form is not None and side is not None
        assert form["width"] >= 300 and form["y"] < side["y"]  # the form first, full width
        field = page.locator("#f-objectives").bounding_box()
        assert field is not None and field["width"] >= 280
        shoot(page, "task-phone-390.png", full_page=True)
        page.goto(f"{live_server}/inbox")
        shoot(page, "inbox-phone-390.png", full_page=True)
        page.goto(f"{live_server}/engagements/{engagement}")
        shoot(page, "engagement-phone-390.png", full_page=True)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    # through the driver: the app's CSP allows no inline script tag
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    return [v for v in found if v.get("impact") in ("serious", "critical")]


def described(violations: list[dict[str, Any]]) -> str:
    return json.dumps([(v["id"], v["help"], [n["target"] for n in v["nodes"]]) for v in violations])


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install)")
def test_axe_finds_no_serious_problem_on_the_inbox_task_engagement_and_report_pages(
    deployed: Services, browser: Any, live_server: str
) -> None:
    engagement = to_brief_rework(deployed)
    pages = [
        "/inbox",
        f"/engagements/{engagement}/tasks/brief_write",
        f"/engagements/{engagement}",
    ]
    with logged_in(browser, live_server, "pete") as page:
        for path in pages:
            page.goto(f"{live_server}{path}")
            bad = axe_violations(page)
            assert bad == [], f"{path}: {described(bad)}"
    with logged_in(browser, live_server, "lee") as page:
        page.goto(f"{live_server}/reports")
        link = page.locator("main a[href^='/reports/']").first
        page.goto(live_server + str(link.get_attribute("href")))
        bad = axe_violations(page)
        assert bad == [], f"{page.url}: {described(bad)}"




def test_a_conflict_keeps_what_pete_typed(deployed: Services, browser: Any, live_server: str) -> None:
    engagement = to_brief_rework(deployed)
    give_password(deployed, "priya", DEMO_PASSWORD)
    with logged_in(browser, live_server, "pete") as page:
        page.goto(f"{live_server}/engagements/{engagement}/tasks/brief_write")
        page.fill("#f-objectives", "Pete's second version: 3,000 social, 2,000 in store.")
        # meanwhile priya, another PM, completes the same step
        with logged_in(browser, live_server, "priya") as other:
            other.goto(f"{live_server}/engagements/{engagement}/tasks/brief_write")
            other.click("text=Complete task")
            other.wait_for_selector(".flash.ok")
        page.click("text=Complete task")
        page.wait_for_selector(".flash.error")
        assert "priya" in page.locator(".flash.error").inner_text()
        typed = page.locator("section.typed")
        typed.wait_for()
        assert "Pete's second version: 3,000 social, 2,000 in store." in typed.inner_text()
        shoot(page, "task-conflict-kept.png", full_page=True)
