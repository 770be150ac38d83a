"""The record beside the decision, over HTTP: what an approval decides on, rework from the last round,
the buttons a form allows, and an engagement's submissions per round with their changes."""

from __future__ import annotations

import html as htmllib
import re

from flask import Flask

from tests.record_support import BRIEF_SENT_BACK, to_brief_approval, to_brief_rework, to_change_order_approval
from tests.test_diagrams import logged_in
from workflows.demo import samples
from workflows.services import Services
from workflows.views.record import shows_of


def text(html: str) -> str:
    return htmllib.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_ana_reads_the_brief_she_approves_and_only_the_decisions_its_form_allows(
    app: Flask, deployed: Services
) -> None:
    engagement = to_brief_approval(deployed)
    ana = logged_in(app, deployed, "ana")
    page = ana.get(f"/engagements/{engagement}/tasks/brief_approve").get_data(as_text=True)
    shown = text(page)
    assert "What you are deciding on" in shown and "Write brief" in shown
    brief = samples.brief_write()
    assert brief["objectives"] in shown and "Taste it free this weekend" in shown
    assert "Objectives" in shown and "Key messages" in shown  # the fields' titles, not their keys
    # the brief's form allows approve and request changes: no Reject button
    assert 'value="approved"' in page and 'value="changes_requested"' in page
    assert 'value="rejected"' not in page and ">Reject<" not in page


def test_pete_reworks_the_brief_from_his_first_version_with_anas_comment_above(
    app: Flask, deployed: Services
) -> None:
    engagement = to_brief_rework(deployed)
    pete = logged_in(app, deployed, "pete")
    page = pete.get(f"/engagements/{engagement}/tasks/brief_write").get_data(as_text=True)
    first = samples.brief_write()
    assert "Sent back: Approve brief" in text(page)
    assert BRIEF_SENT_BACK in text(page)
    assert page.index("Sent back") < page.index('id="task-form"')  # above the form
    textarea = re.search(r'<textarea name="objectives"[^>]*>([^<]*)</textarea>', page)
    assert textarea is not None and htmllib.unescape(textarea.group(1)) == first["objectives"]
    second = re.search(r'name="key_messages/1"[^>]*>([^<]*)<', page)
    assert second is not None and second.group(1) == first["key_messages"][1]


def test_leadership_sees_the_change_orders_amount_reason_and_budget_effect(
    app: Flask, deployed: Services
) -> None:
    engagement = to_change_order_approval(deployed, 6000)
    lee = logged_in(app, deployed, "lee")
    inbox = lee.get("/inbox").get_data(as_text=True)
    link = re.search(rf'href="(/engagements/{engagement}/tasks/[^"]+)"[^>]*>Approve change order', inbox)
    assert link is not None, "the approval is in lee's inbox"
    shown = text(lee.get(link.group(1)).get_data(as_text=True))
    assert "Additional budget 6,000" in shown
    assert "Extra cut-downs for retail screens." in shown  # what the change covers
    assert "Budget effect: 20,000 → 26,000 (+6,000)" in shown


def test_the_scope_sign_off_shows_the_estimate_and_its_changes_since_the_last_round(
    app: Flask, deployed: Services
) -> None:
    from tests.record_support import play
    from workflows.demo.samples import Step

    steps = [
        Step("pitch_prepare", samples.pitch_prepare()),
        Step("pitch_outcome", samples.pitch_outcome("won")),
        Step("scope_estimate", samples.scope_estimate(30000)),
        Step("scope_signoff", samples.scope_signoff("changes_requested", "Too expensive.")),
        Step("scope_estimate", samples.scope_estimate(24000)),
    ]
    engagement = play(deployed, steps)
    ana = logged_in(app, deployed, "ana")
    shown = text(ana.get(f"/engagements/{engagement}/tasks/scope_signoff").get_data(as_text=True))
    assert "Estimate scope" in shown and "round 2" in shown
    assert "Changed since round 1" in shown and "Budget 30,000 → 24,000" in shown

    page = text(ana.get(f"/engagements/{engagement}").get_data(as_text=True))
    assert "Submissions" in page
    assert "Estimate scope round 1" in page and "Estimate scope round 2" in page
    assert "Too expensive." in page


def test_the_shows_property_is_read_as_step_ids_and_data_keys() -> None:
    entries = shows_of({"shows": "change_order, budget ,cost_to_date,"})
    assert entries == ["change_order", "budget", "cost_to_date"]
    assert shows_of({}) == []


def test_completing_a_task_someone_claimed_needs_an_explicit_take_over(
    app: Flask, deployed: Services
) -> None:
    from sqlalchemy import select

    from engine.models import Event
    from tests.test_task_page import open_task_id
    from workflows.engagements.tasks import claim_task

    engagement = to_brief_approval(deployed)
    with deployed.db.unit_of_work() as session:
        claim_task(session, deployed, engagement, "brief_approve", actor="ana")
    task = open_task_id(deployed, engagement, "brief_approve")
    alex = logged_in(app, deployed, "alex")
    url = f"/engagements/{engagement}/tasks/{task}"
    page = alex.get(url).get_data(as_text=True)
    assert "ana has claimed this step" in page and 'name="take_over"' in page
    form = {"brief_decision": "approved", "version": re.search(r'name="version" value="([^"]+)"', page)[1]}
    refused = alex.post(url + "/complete", data=form)
    assert refused.status_code == 403 and "claimed by ana" in text(refused.get_data(as_text=True))
    done = alex.post(url + "/complete", data={**form, "take_over": "1"})
    assert done.status_code == 302
    with deployed.db.unit_of_work(write=False) as session:
        event = session.scalars(
            select(Event).where(Event.kind == "task_completed", Event.task_id == task)
        ).one()
    assert event.actor == "alex" and event.detail["taken_over_from"] == "ana"


def test_error_pages_are_in_the_layout_with_a_way_back(app: Flask, deployed: Services) -> None:
    ana = logged_in(app, deployed, "ana")
    missing = ana.get("/engagements/999999", headers={"Referer": "http://localhost/inbox"})
    page = missing.get_data(as_text=True)
    assert missing.status_code == 404 and '<nav class="user">' in page
    assert "Go to my inbox" in page and 'href="http://localhost/inbox"' in page
    assert "no engagement 999999" in page  # what the use case said
    refused = ana.get("/definitions/engagement/edit")
    assert refused.status_code == 403 and "You may not do that" in refused.get_data(as_text=True)
