"""The migration over HTTP: the dry run as JSON, the batch through the API and the page, the history
line on the engagement page; and the same in a real Chromium (screenshots in docs/screenshots/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.api_support import caller, csrf_from, give_password, make_app
from tests.browser_support import logged_in, shoot
from tests.conftest import open_engagement
from tests.migration_support import deploy_v2, version_of, walk_to
from workflows.services import Services

PASSWORD = "moving engagements"
MIGRATION = "/api/v1/definitions/engagement/versions/2/migration"


@pytest.fixture
def engagements(deployed: Services) -> dict[str, int]:
    """One engagement waiting at Approve brief, one at Plan timeline, one at Prepare pitch; then v2."""
    ids = {}
    for task in ("brief_approve", "timeline_plan", "qc_check"):
        ids[task] = open_engagement(deployed)
        walk_to(deployed, ids[task], task)
    ids["pitch_prepare"] = open_engagement(deployed)
    deploy_v2(deployed)
    return ids


@pytest.fixture
def app(deployed: Services, database_url: str, engagements: dict[str, int]) -> Flask:
    return make_app(deployed, database_url, SESSION_COOKIE_SECURE=False)


def test_the_api_gives_the_dry_run_and_moves_a_batch(
    app: Flask, deployed: Services, engagements: dict[str, int]
) -> None:
    olga = caller(app, deployed, "olga")
    answer = olga.get(MIGRATION + "?map=timeline_plan=plan_timeline")
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["counts"] == {"as_is": 0, "with_effects": 3, "refused": 1}
    plans = {e["engagement_id"]: e for e in body["engagements"]}
    brief = plans[engagements["brief_approve"]]
    assert any(s.startswith("Approve brief: SLA 1bd → 4bh, due moves to") for s in brief["effects"])
    assert plans[engagements["pitch_prepare"]]["verdict"] == "refused"
    assert olga.get(MIGRATION + "?map=timeline_plan").status_code == 400
    assert olga.get(MIGRATION + "?map=timeline_plan=nowhere").json["detail"].startswith("v2 has no step")
    assert caller(app, deployed, "ana").get(MIGRATION).status_code == 403

    chosen = [engagements["brief_approve"], engagements["pitch_prepare"]]
    expected = {str(e): plans[e]["version"] for e in chosen}
    refused = olga.post(MIGRATION, json={"engagements": chosen, "note": " ", "expected": expected})
    assert refused.status_code == 400 and "note is required" in refused.json["detail"]
    done = olga.post(MIGRATION, json={"engagements": chosen, "note": "review", "expected": expected})
    assert done.status_code == 200, done.json
    assert done.json["moved"] == 1
    assert [o["status"] for o in done.json["outcomes"]] == ["migrated", "refused"]
    assert version_of(deployed, engagements["brief_approve"]) == 2
    assert version_of(deployed, engagements["pitch_prepare"]) == 1
    again = olga.post(MIGRATION, json={"engagements": chosen[:1], "note": "twice", "expected": expected})
    assert again.json["outcomes"][0]["status"] == "conflict"


def test_the_page_moves_the_ticked_engagements_and_the_engagement_says_so(
    app: Flask, deployed: Services, engagements: dict[str, int]
) -> None:
    give_password(deployed, "olga", PASSWORD)
    client = app.test_client()
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "olga", "password": PASSWORD, "csrf_token": token})
    page = client.get("/definitions/engagement/versions/2/migrate?map=timeline_plan=plan_timeline")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Moves with effects" in html and "Cannot move" in html
    assert "Legal review will come after Check quality" in html
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    target = engagements["qc_check"]
    version = html.split(f'name="expected_{target}" value="')[1].split('"')[0]
    moved = client.post(
        "/definitions/engagement/versions/2/migrate",
        data={
            "csrf_token": token,
            "engagement": [str(target)],
            f"expected_{target}": version,
            "note": "legal review before the client",
            "mapping": "timeline_plan = plan_timeline",
        },
    )
    assert moved.status_code == 200
    assert "1 of 1</strong> moved to v2" in moved.get_data(as_text=True)
    assert version_of(deployed, target) == 2
    detail = client.get(f"/engagements/{target}").get_data(as_text=True)
    assert "Moved from v1 to v2 on " in detail and "by olga" in detail
    assert "legal review before the client" in detail


# -- in a real browser ---------------------------------------------------------------------------


def fits(page: Any) -> bool:
    """Nothing of the migration page reaches past the window's right edge (no sideways scroll)."""
    return bool(
        page.evaluate(
            "[...document.querySelectorAll('section.migrate *, #migrate-form *')]"
            ".every(e => e.getBoundingClientRect().right <= window.innerWidth)"
        )
    )


playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def olga_page(browser: Any, live_server: str, deployed: Services) -> Iterator[Any]:
    give_password(deployed, "olga", PASSWORD)
    with logged_in(browser, live_server, "olga", PASSWORD) as page:
        yield page


def test_in_a_browser_the_dry_run_a_batch_with_progress_and_the_history_line(
    olga_page: Any, live_server: str, deployed: Services, engagements: dict[str, int]
) -> None:
    page = olga_page
    page.goto(f"{live_server}/definitions/engagement/versions/2")
    page.click("text=Move running engagements here")
    page.fill("#map", "timeline_plan = plan_timeline")
    page.click("text=Run the dry run again")
    page.wait_for_selector(".verdict-with_effects .plan")
    assert page.locator(".verdict-with_effects .plan").count() == 3
    assert page.locator(".verdict-refused .plan").count() == 1
    assert page.locator(".verdict-refused input[type=checkbox]").count() == 0
    assert "Approve brief: SLA 1bd → 4bh" in page.inner_text(".verdict-with_effects")
    assert fits(page)
    shoot(page, "migrate-dry-run.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "migrate-dry-run-phone.png", full_page=True)
    assert fits(page)
    page.set_viewport_size({"width": 1280, "height": 900})

    page.uncheck(f'input[name=engagement][value="{engagements["timeline_plan"]}"]')
    page.fill("#note", "process review: legal before the client")
    page.click("text=Move the ticked engagements to v2")
    page.wait_for_selector("#migrate-results .outcome.migrated >> nth=1")
    assert page.inner_text("#migrate-progress-text").startswith("2 of 2")
    shoot(page, "migrate-batch-progress.png", full_page=True)
    # then the page reloads its dry run: the outcomes list starts empty again
    page.wait_for_selector("#migrate-results .outcome", state="detached", timeout=15000)
    page.wait_for_load_state()
    assert version_of(deployed, engagements["brief_approve"]) == 2
    assert version_of(deployed, engagements["timeline_plan"]) == 1

    page.goto(f"{live_server}/engagements/{engagements['brief_approve']}")
    line = page.inner_text(".migration-history")
    assert line.startswith("Moved from v1 to v2 on ") and "by olga" in line
    shoot(page, "migrate-history-line.png")
