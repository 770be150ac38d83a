"""Engagements run through every branch of the standard definitions, persisted in the store.

Each story is played twice: with hot workflows kept in memory between steps, and with
every step loading its workflow cold from the database. After every step the stored
instance must restore to exactly the workflow in memory.

The engagements are run by ana (their account manager) and pete (their project manager):
each step lands with the person its lane calls for, and that person completes it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from engine.models import Event, HumanTask, TaskRow, TimerDue, WorkflowInstance
from workflows.agency import AM_LANE, PM_LANE
from workflows.demo.samples import STORIES, Story
from workflows.engagements.lifecycle import start_engagement, view_engagement
from workflows.engagements.tasks import complete_task, find_open_task
from workflows.services import Services

TEAM = {AM_LANE: "ana", PM_LANE: "pete"}


def play(services: Services, story: Story, *, check_round_trip: bool = True) -> int:
    """Start the story's engagement and have its AM or PM complete each step; return its id."""
    with services.db.unit_of_work() as session:
        engagement = start_engagement(
            session,
            services,
            client=story.start_data.get("client", "Acme"),
            name=story.start_data.get("engagement_name", story.name),
            process_id=story.definition,
            options=story.options,
            actor="olga",
            account_manager="ana",
            project_manager="pete",
        )
        engagement_id, instance_id = engagement.id, engagement.instance_id
    for step in story.steps:
        with services.db.unit_of_work() as session:
            open_tasks = {t.bpmn_id: t for t in services.runtime.ready_tasks(session, instance_id)}
            assert step.task in open_tasks, f"{story.name}: expected {step.task} among {list(open_tasks)}"
            task = open_tasks[step.task]
            assert task.lane is not None and task.assignee == TEAM[task.lane], (step.task, task.assignee)
            complete_task(session, services, engagement_id, step.task, step.data, actor=task.assignee)
        if check_round_trip:
            assert_round_trip(services, instance_id)
    return engagement_id


def assert_round_trip(services: Services, instance_id: int) -> None:
    """The instance restored from the database equals the live one, to the last field; an
    instance that has ended keeps no runtime (task rows, timers), only its history."""
    with services.db.unit_of_work(write=False) as session:
        instance = session.get(WorkflowInstance, instance_id)
        assert instance is not None
        if instance.status != "running":
            for table in (TaskRow, TimerDue):
                rows = select(func.count()).select_from(table).where(table.instance_id == instance_id)
                assert session.scalar(rows) == 0, table
            assert services.store.cache.peek(instance_id) is None
            return
    live = services.store.cache.peek(instance_id)
    with services.db.unit_of_work(write=False) as session:
        stored = services.store.load(session, instance_id)
    if live is None:  # caching switched off: compare with a second cold load
        with services.db.unit_of_work(write=False) as session:
            other = services.store.load(session, instance_id)
        assert services.codec.full_dict(stored) == services.codec.full_dict(other)
        return
    assert services.codec.full_dict(stored) == services.codec.full_dict(live.workflow)


@pytest.fixture(params=["warm", "cold"])
def runner(request: pytest.FixtureRequest, deployed: Services) -> Services:
    if request.param == "cold":
        deployed.store.cache.capacity = 0
    return deployed


@pytest.mark.parametrize("name", sorted(STORIES))
def test_every_story_reaches_its_end(runner: Services, name: str) -> None:
    story = STORIES[name]
    engagement_id = play(runner, story)
    with runner.db.unit_of_work(write=False) as session:
        view = view_engagement(session, runner, engagement_id)
        assert view.instance.status == "completed"
        assert view.instance.end_event == story.end_event
        assert view.open_tasks == []
        kinds = [e.kind for e in view.history]
        assert kinds[0] == "started" and kinds[-1] == "completed"
        assert kinds.count("task_completed") == len(story.steps)
        completed = [(e.bpmn_id, e.actor) for e in view.history if e.kind == "task_completed"]
        assert [bpmn_id for bpmn_id, _ in completed] == [s.task for s in story.steps]
        assert {actor for _, actor in completed} <= {"ana", "pete"}


def test_a_lost_pitch_records_the_reason_and_ends(deployed: Services) -> None:
    engagement_id = play(deployed, STORIES["pitch_lost"])
    with deployed.db.unit_of_work(write=False) as session:
        view = view_engagement(session, deployed, engagement_id)
        decisions = [(e.bpmn_id, e.decision) for e in view.history if e.kind == "task_completed"]
    assert ("pitch_outcome", "lost") in decisions
    assert view.instance.end_event == "end_lost"


def test_each_ready_task_is_projected_with_lane_stage_form_and_due_date(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        engagement = start_engagement(session, deployed, client="Acme", name="Rebrand", actor="olga")
    with deployed.db.unit_of_work(write=False) as session:
        (task,) = deployed.runtime.ready_tasks(session, engagement.instance_id)
        assert task.bpmn_id == "pitch_prepare"
        assert task.lane == "Account Management"
        assert task.stage == "pitch"
        assert task.form and task.form.endswith(".schema.json")
        assert task.due_at is not None and task.due_at > task.created_at
        instance = session.get(WorkflowInstance, engagement.instance_id)
        assert instance is not None and instance.active_stages == ["pitch"]
        assert instance.serializer_version


def test_inbox_queries_never_touch_workflows(deployed: Services) -> None:
    story = STORIES["happy_path"]
    with deployed.db.unit_of_work() as session:
        for i in range(3):
            start_engagement(
                session, deployed, actor="olga", client=f"Client {i}", name="Job", options=story.options
            )
    deployed.store.cache.clear()
    loads: list[Any] = []
    original = deployed.store._load
    deployed.store._load = lambda *a, **k: loads.append(a) or original(*a, **k)  # type: ignore[method-assign]
    with deployed.db.unit_of_work(write=False) as session:
        from workflows.views.lists import list_open_tasks

        rows = list_open_tasks(session, actor="olga", lane="Account Management")
    assert len(rows) == 3 and loads == []


def test_a_step_writes_only_what_changed_and_the_live_tree_stays_the_size_of_its_open_steps(
    deployed: Services,
) -> None:
    """Rows written per step, and rows stored, stay flat while history grows (QC rework
    rounds); when the engagement ends its runtime goes and its history stays."""
    from workflows.demo.samples import qc_rounds_story

    story = qc_rounds_story(30)
    with deployed.db.unit_of_work() as session:
        engagement = start_engagement(
            session,
            deployed,
            client="Acme",
            name="Loop",
            options=story.options,
            account_manager="ana",
            project_manager="pete", actor="olga",
        )
    written, stored = [], []
    for step in story.steps:
        with deployed.db.unit_of_work() as session:
            task = find_open_task(session, engagement, step.task)
            assert task.assignee is not None
            result = complete_task(
                session, deployed, engagement.id, step.task, step.data, actor=task.assignee
            )
            written.append(result.rows_written)
        with deployed.db.unit_of_work(write=False) as session:
            stored.append(session.scalar(select(func.count()).select_from(TaskRow)))
    assert max(written) < 40, written
    assert stored[-1] == 0  # ended: the runtime went in the last step's transaction
    rounds = stored[10:-6]  # production and QC, 30 times over
    # flat: production (with its check-in timer) and QC alternate, whatever the rounds behind
    assert max(stored) < 20 and max(rounds) <= min(rounds) + 3, stored
    with deployed.db.unit_of_work(write=False) as session:
        completed = session.scalar(
            select(func.count()).select_from(Event).where(
                Event.instance_id == engagement.instance_id, Event.kind == "task_completed"
            )
        )
    assert completed == len(story.steps)


def test_history_and_projection_agree_after_a_run(deployed: Services) -> None:
    play(deployed, STORIES["qc_fails_then_passes"], check_round_trip=False)
    with deployed.db.unit_of_work(write=False) as session:
        completed = session.scalar(
            select(func.count()).select_from(HumanTask).where(HumanTask.state == "completed")
        )
        events = session.scalar(select(func.count()).select_from(Event).where(Event.kind == "task_completed"))
        assert completed == events == len(STORIES["qc_fails_then_passes"].steps)


def test_an_am_sends_the_brief_back_and_the_decision_history_keeps_the_comment(deployed: Services) -> None:
    engagement_id = play(deployed, STORIES["brief_sent_back_once"], check_round_trip=False)
    with deployed.db.unit_of_work(write=False) as session:
        decisions = view_engagement(session, deployed, engagement_id).decisions
    brief = [d for d in decisions if d.step == "brief_approve"]
    assert [d.decision for d in brief] == ["changes_requested", "approved"]
    assert brief[0].comment and brief[0].actor
    assert brief[1].comment is None
    assert [d.step for d in decisions][:2] == ["pitch_outcome", "scope_signoff"]
