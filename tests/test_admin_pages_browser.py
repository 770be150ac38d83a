"""Running the agency from the pages in a real Chromium: an admin adds a PM who then logs in;
an ops lead arranges cover and the cover sees the covered person's tasks; an ops lead moves work
from the workload board; a revoked token is refused at once. Every page is checked with axe-core
(no serious or critical violation) and for sideways scrolling at 390 px; screenshots at 1280 and
390 px go to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask

from tests.browser_support import ROOT, demo_app, shoot
from workflows.demo.seed import DEMO_PASSWORD
from workflows.services import Services

playwright_api = pytest.importorskip("playwright.sync_api")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WIDE, NARROW = 1280, 390


@pytest.fixture
def app(deployed: Services, database_url: str) -> Flask:
    return demo_app(deployed, database_url)


@contextmanager
def as_user(browser: Any, live_server: str, username: str, password: str = DEMO_PASSWORD) -> Iterator[Any]:
    """A page logged in as `username`; axe is injected past the app's CSP (only in the test's context)."""
    context = browser.new_context(viewport={"width": WIDE, "height": 900}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.user .who")
    try:
        yield page
    finally:
        context.close()
    assert errors == []


def check_page(page: Any, name: str, within: str = "document") -> None:
    """axe-core finds nothing serious (in `within`, a selector, when the page is not all ours); no
    sideways scroll at 390 px; screenshots at both widths."""
    page.set_viewport_size({"width": WIDE, "height": 900})
    shoot(page, f"{name}-1280.png", full_page=True)
    page.add_script_tag(path=str(AXE))
    scope = "document" if within == "document" else f"document.querySelector({within!r})"
    result = page.evaluate(f"async () => await axe.run({scope}, {{resultTypes: ['violations']}})")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"
    page.set_viewport_size({"width": NARROW, "height": 844})
    root = "document.documentElement" if within == "document" else f"document.querySelector({within!r})"
    wide = page.evaluate(
        f"() => [{root}, ...{root}.querySelectorAll('*')]"
        ".filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)"
        ".map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))"
    )
    assert wide == [], f"{name} is wider than {NARROW}px: {wide[:5]}"
    shoot(page, f"{name}-390.png", full_page=True)
    page.set_viewport_size({"width": WIDE, "height": 900})


def test_an_admin_adds_a_pm_who_logs_in_and_sees_an_inbox(browser: Any, live_server: str) -> None:
    with as_user(browser, live_server, "adam") as page:
        page.click("nav.user >> text=People")
        page.wait_for_selector("#people")
        check_page(page, "people")
        page.click("text=Add a person")
        page.fill("#f-username", "nora")
        page.fill("#f-name", "Nora Nilsen")
        page.fill("#f-email", "nora@agency.example")
        page.check("input[name=roles][value=project_manager]")
        page.fill("#f-time_zone", "Europe/Oslo")
        page.fill("#f-capacity", "28")
        page.fill("#f-password", "nora-first-pass")
        check_page(page, "person-new")
        page.click("button:has-text('Add person')")
        page.wait_for_selector(".flash.ok")
        assert "Added nora" in page.inner_text(".flash.ok")
        assert page.input_value("#f-time_zone") == "Europe/Oslo"
        check_page(page, "person")
    with as_user(browser, live_server, "nora", "nora-first-pass") as page:
        page.goto(f"{live_server}/inbox")
        page.wait_for_selector("h1:has-text('Inbox')")
        assert page.locator("#pool").count() == 1  # the PM lane's pool is hers to pick from
        page.click("nav.user >> text=My account")
        page.wait_for_selector("h1:has-text('My account')")
        check_page(page, "account")


def test_an_ops_lead_sets_cover_and_the_cover_sees_the_tasks(browser: Any, live_server: str) -> None:
    with as_user(browser, live_server, "olga") as page:
        page.click("nav.user >> text=Cover")
        page.wait_for_selector("h1:has-text('Lanes and cover')")
        assert "office closure" in page.inner_text("body")
        page.select_option("#c-away", "pete")
        page.select_option("#c-by", "alex")
        page.fill("#c-from", "2026-12-01")
        page.fill("#c-to", "2026-12-04")
        page.fill("#c-note", "pete is at a conference")
        page.click("button:has-text('Arrange cover')")
        page.wait_for_selector(".flash.ok")
        assert "alex covers pete" in page.inner_text(".flash.ok")
        assert "pete" in page.inner_text("#covers")
        check_page(page, "lanes")
    with as_user(browser, live_server, "alex") as page:
        page.goto(f"{live_server}/inbox")
        holders = page.locator("#mine tbody tr td:nth-child(4)").all_inner_texts()
        assert "pete" in holders  # pete's tasks, now alex's to work while he is away


def test_an_ops_lead_reassigns_from_the_workload_board(browser: Any, live_server: str) -> None:
    with as_user(browser, live_server, "olga") as page:
        page.click("nav.user >> text=Workload")
        page.wait_for_selector("#workload")
        check_page(page, "workload")
        item = page.locator("#p-pete li[data-task]").first
        task_id = item.get_attribute("data-task")
        title = item.locator("a").first.inner_text()
        item.locator("select[name=assignee]").select_option("priya")
        item.locator("button:has-text('Reassign')").click()
        page.wait_for_selector(".flash.ok")
        assert f"“{title}” now goes to priya" in page.inner_text(".flash.ok")
        assert page.locator(f'#p-priya li[data-task="{task_id}"]').count() == 1
        assert page.locator(f'#p-pete li[data-task="{task_id}"]').count() == 0


def test_a_revoked_token_is_refused_at_once(browser: Any, live_server: str) -> None:
    with as_user(browser, live_server, "ana") as page:
        page.goto(f"{live_server}/account")
        page.fill("#f-token-name", "crm-sync")
        page.click("button:has-text('Issue token')")
        secret = page.inner_text("#new-token").strip()
        assert secret.startswith("baton_")
        api = page.context.request
        bearer = {"Authorization": f"Bearer {secret}"}
        assert api.get(f"{live_server}/api/v1/me", headers=bearer).status == 200
        page.goto(f"{live_server}/account")
        assert secret not in page.content()  # shown once
        page.click("button[aria-label='Revoke the token crm-sync']")
        page.wait_for_selector(".flash.ok")
        assert api.get(f"{live_server}/api/v1/me", headers=bearer).status == 401
    with as_user(browser, live_server, "adam") as page:
        page.goto(f"{live_server}/audit?person=ana")
        actions = page.locator("#audit tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
        assert {"token_issued", "token_revoked", "login"} <= set(actions)
        check_page(page, "audit")


def test_the_engagement_operations_at_both_widths(browser: Any, live_server: str) -> None:
    with as_user(browser, live_server, "olga") as page:
        page.goto(f"{live_server}/engagements/5")
        page.wait_for_selector("#operations")
        page.select_option("#operations select[name=project_manager]", "pete")
        page.fill(
            "#operations form:has(select[name=project_manager]) input[name=reason]", "priya is on leave"
        )
        page.click("button:has-text('Change team')")
        page.wait_for_selector(".flash.ok")
        assert "project manager priya → pete" in page.inner_text(".flash.ok")
        assert "team changed" in page.inner_text("body")
        page.locator("#operations").scroll_into_view_if_needed()
        check_page(page, "engagement-ops", within="#operations")
