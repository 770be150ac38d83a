"""Engagements that live for years: weekly client check-ins through two years of production,
a thousand QC rounds, and every story compacted and not, side by side.

The clock is injected (Baton's and SpiffWorkflow's timers read the same one); the timer worker
fires the check-ins as it does in production. Runs on SQLite, and on PostgreSQL with
``BATON_TEST_DATABASE_URL``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.models import Event, HumanTask, TaskRow, TimerDue, WorkflowInstance
from engine.timers import TimerWorker
from tests.conftest import ROOT, FakeClock
from workflows.agency import AM_LANE, PM_LANE
from workflows.bootstrap import build_services
from workflows.definitions.catalog import install_definitions
from workflows.demo.samples import STORIES, Step, Story, client_feedback, happy_path_steps, qc_rounds_story
from workflows.demo.seed import seed_users
from workflows.engagements.lifecycle import start_engagement
from workflows.engagements.tasks import complete_task, find_open_task
from workflows.services import Services

TEAM = {AM_LANE: "ana", PM_LANE: "pete"}
WEEK = timedelta(days=7)


def begin(services: Services, story: Story | None = None) -> tuple[Any, int]:
    with services.db.unit_of_work() as session:
        engagement = start_engagement(
            session,
            services,
            client="Acme",
            name=story.name if story else "Retainer",
            process_id=story.definition if story else "engagement",
            options=story.options if story else {},
            actor="olga",
            account_manager="ana",
            project_manager="pete",
        )
        return engagement, engagement.instance_id


def step(services: Services, engagement: Any, task: str, data: dict[str, Any]) -> None:
    with services.db.unit_of_work() as session:
        open_task = find_open_task(session, engagement, task)
        assert open_task.lane is not None and open_task.assignee == TEAM[open_task.lane], open_task
        fresh = json.loads(json.dumps(data))
        complete_task(session, services, engagement.id, task, fresh, actor=open_task.assignee)


def count(services: Services, table: Any, *where: Any) -> int:
    with services.db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def test_two_years_of_production_with_a_client_check_in_every_week(
    deployed: Services, spiff_clock: FakeClock
) -> None:
    steps = happy_path_steps()
    production = next(i for i, s in enumerate(steps) if s.task == "production")
    engagement, instance_id = begin(deployed)
    for s in steps[:production]:
        step(deployed, engagement, s.task, s.data)
    worker = TimerWorker(deployed.db, deployed.runtime.fire_timers, clock=spiff_clock)
    rows_seen = []
    spiff_clock.now += timedelta(minutes=1)  # a timer fires once its time has passed
    for week in range(1, 105):
        spiff_clock.now += WEEK
        assert worker.run_once().fired == 1, week
        with deployed.db.unit_of_work(write=False) as session:
            checkin = find_open_task(session, engagement, "client_checkin")
            assert checkin.assignee == "ana" and checkin.due_at is not None and checkin.run == week
            assert checkin.form == "client_checkin.schema.json"
        data: dict[str, Any] = {"checkin_notes": f"week {week}: on track", "client_mood": "happy"}
        if week == 104:
            data.update(upsell_idea="Social retainer", upsell_value=12000, risks="budget review in Q3")
        step(deployed, engagement, "client_checkin", data)
        rows_seen.append(count(deployed, TaskRow, TaskRow.instance_id == instance_id))
    # the idea of the last check-in is the engagement's upsell opportunity (the growth report's)
    with deployed.db.unit_of_work(write=False) as session:
        instance = session.get(WorkflowInstance, instance_id)
        assert instance is not None and instance.facts is not None
        assert instance.facts["upsell_opportunities"] == [
            {"title": "Social retainer", "estimated_value": 12000, "status": "open"}
        ]
    for s in steps[production:]:
        step(deployed, engagement, s.task, s.data)
    with deployed.db.unit_of_work(write=False) as session:
        instance = session.get(WorkflowInstance, instance_id)
        assert instance is not None
        assert (instance.status, instance.end_event) == ("completed", "end_delivered")
        fired = session.scalar(
            select(func.count()).where(Event.instance_id == instance_id, Event.kind == "timer_fired")
        )
        done = session.scalar(
            select(func.count()).where(
                HumanTask.instance_id == instance_id,
                HumanTask.bpmn_id == "client_checkin",
                HumanTask.state == "completed",
            )
        )
    assert fired == done == 104
    # the live tree stayed the size of the open steps plus a small record per check-in: the end
    # join that merges the check-ins' data when the engagement ends (two tasks) and the join
    # SpiffWorkflow leaves waiting under the cycle timer for each firing; nothing is left now
    assert max(rows_seen) <= 20 + 3 * 104 and rows_seen[-1] - rows_seen[50] <= 3 * 53, rows_seen
    assert count(deployed, TaskRow, TaskRow.instance_id == instance_id) == 0
    assert count(deployed, TimerDue, TimerDue.instance_id == instance_id) == 0


@pytest.mark.parametrize("loop", ["qc_rounds", "change_requests"])
def test_a_thousand_rounds_run_to_the_end(deployed: Services, loop: str) -> None:
    story = qc_rounds_story(1000) if loop == "qc_rounds" else change_requests_story(1000)
    deployed.store.verify = False  # a full encode per step would only slow a long story down
    engagement, instance_id = begin(deployed, story)
    largest = 0
    for i, s in enumerate(story.steps):
        step(deployed, engagement, s.task, s.data)
        if i % 250 == 0:
            largest = max(largest, count(deployed, TaskRow, TaskRow.instance_id == instance_id))
    with deployed.db.unit_of_work(write=False) as session:
        instance = session.get(WorkflowInstance, instance_id)
        assert instance is not None
        assert (instance.status, instance.end_event) == ("completed", "end_delivered")
        runs = session.scalar(
            select(func.max(HumanTask.run)).where(
                HumanTask.instance_id == instance_id, HumanTask.bpmn_id == "qc_check"
            )
        )
    assert runs == 1001 and largest < 30, largest


def change_requests_story(n: int) -> Story:
    """The happy path where the client asks for changes `n` times before accepting."""
    steps = happy_path_steps()
    production = next(i for i, s in enumerate(steps) if s.task == "production")
    produce, qc = steps[production], steps[production + 1]
    change = Step("client_feedback", client_feedback("changes_requested", "Bigger logo, please."))
    story = qc_rounds_story(0)
    return Story(
        f"change_requests_{n}",
        story.definition,
        story.options,
        story.start_data,
        [*steps[:production], *[produce, qc, change] * n, *steps[production:]],
        story.end_event,
    )


# -- the differential oracle ---------------------------------------------------------------


@pytest.fixture
def twins(database_url: str, clock: FakeClock) -> Any:
    """Two stores side by side on the same clock: one compacts, the other keeps every task."""
    made = []
    for compact in (True, False):
        url = database_url if compact else database_url.replace("baton.sqlite3", "plain.sqlite3")
        if not compact and not url.startswith("sqlite"):
            pytest.skip("the uncompacted twin needs a second database (SQLite only)")
        svc = build_services(
            url, definitions_dir=ROOT / "definitions", clock=clock, verify_persistence=True, compact=compact
        )
        svc.db.create_all()
        with svc.db.unit_of_work() as session:
            install_definitions(session, svc, note="test setup")
            seed_users(session, svc)
        made.append(svc)
    yield made
    for svc in made:
        svc.db.dispose()


def outcome(services: Services, instance_id: int) -> dict[str, Any]:
    """What an engagement ended with: its end, workflow data, events and projected steps."""
    with services.db.unit_of_work(write=False) as session:
        instance = session.get(WorkflowInstance, instance_id)
        assert instance is not None
        events = [
            (e.kind, e.bpmn_id, e.lane, e.stage, e.actor, e.decision, json.dumps(e.detail, sort_keys=True))
            for e in session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id))
        ]
        steps = [
            (h.bpmn_id, h.state, h.run, h.assignee, h.completed_by)
            for h in session.scalars(
                select(HumanTask).where(HumanTask.instance_id == instance_id).order_by(HumanTask.id)
            )
        ]
        return {
            "status": instance.status,
            "end_event": instance.end_event,
            "data": json.loads(instance.meta_json)["data"],
            "facts": instance.facts,
            "events": events,
            "steps": steps,
        }


STORIES_BOTH_WAYS = [*sorted(STORIES), "qc_rounds_40", "change_requests_25"]


@pytest.mark.parametrize("name", STORIES_BOTH_WAYS)
def test_every_story_ends_the_same_compacted_and_uncompacted(twins: list[Services], name: str) -> None:
    story = (
        STORIES[name]
        if name in STORIES
        else qc_rounds_story(40)
        if name == "qc_rounds_40"
        else change_requests_story(25)
    )
    results = []
    for services in twins:
        engagement, instance_id = begin(services, story)
        for s in story.steps:
            step(services, engagement, s.task, s.data)
        results.append(outcome(services, instance_id))
    compacted, plain = results
    assert compacted["end_event"] == plain["end_event"] == story.end_event
    assert compacted == plain


def test_baton_compact_shrinks_an_existing_store_and_its_engagements_run_on(
    database_url: str, clock: FakeClock
) -> None:
    from tests.test_cli import Baton, ok

    story = qc_rounds_story(30)
    # a store written before compaction: every task of its history is still in the tree
    old = build_services(database_url, definitions_dir=ROOT / "definitions", clock=clock, compact=False)
    old.db.create_all()
    with old.db.unit_of_work() as session:
        install_definitions(session, old, note="test setup")
        seed_users(session, old)
    engagement, instance_id = begin(old, story)
    for s in story.steps[:-4]:
        step(old, engagement, s.task, s.data)
    before = count(old, TaskRow, TaskRow.instance_id == instance_id)
    old.db.dispose()
    assert before > 150

    printed = ok(Baton(database_url)("compact"))
    assert "1 instance(s) compacted" in printed
    new = build_services(
        database_url, definitions_dir=ROOT / "definitions", clock=clock, verify_persistence=True
    )
    try:
        after = count(new, TaskRow, TaskRow.instance_id == instance_id)
        assert after < 30, after
        for s in story.steps[-4:]:
            step(new, engagement, s.task, s.data)
        with new.db.unit_of_work(write=False) as session:
            instance = session.get(WorkflowInstance, instance_id)
            assert instance is not None and instance.end_event == "end_delivered"
            runs = session.scalar(
                select(func.max(HumanTask.run)).where(
                    HumanTask.instance_id == instance_id, HumanTask.bpmn_id == "qc_check"
                )
            )
        assert runs == 31  # counted across the compaction
        assert count(new, TaskRow, TaskRow.instance_id == instance_id) == 0
    finally:
        new.db.dispose()
