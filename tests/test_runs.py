"""Each human task knows which run of its step it is: the rework reports count and price reruns."""

from __future__ import annotations

import copy

from sqlalchemy import select

from engine.models import HumanTask
from workflows.demo.samples import STORIES
from workflows.engagements.lifecycle import get_engagement, start_engagement
from workflows.engagements.tasks import complete_task, find_open_task
from workflows.services import Services


def play(services: Services, story: str) -> int:
    """Start an engagement and play a whole story; returns its instance id."""
    with services.db.unit_of_work() as session:
        engagement = start_engagement(
            session,
            services,
            client="Acme",
            name=story,
            process_id=STORIES[story].definition,
            options=copy.deepcopy(STORIES[story].options),
            account_manager="ana",
            project_manager="pete", actor="olga",
        )
        for step in STORIES[story].steps:
            task = find_open_task(session, get_engagement(session, engagement.id), step.task)
            assert task.assignee is not None
            complete_task(
                session, services, engagement.id, step.task, copy.deepcopy(step.data), actor=task.assignee
            )
        return engagement.instance_id


def runs(services: Services, instance_id: int) -> list[tuple[str, int | None]]:
    with services.db.unit_of_work(write=False) as session:
        rows = session.execute(
            select(HumanTask.bpmn_id, HumanTask.run)
            .where(HumanTask.instance_id == instance_id)
            .order_by(HumanTask.id)
        )
        return [(step, run) for step, run in rows]


def test_a_brief_sent_back_is_written_and_approved_a_second_time(deployed: Services) -> None:
    instance = play(deployed, "brief_sent_back_once")
    brief = [(step, run) for step, run in runs(deployed, instance) if step.startswith("brief_")]
    assert brief == [("brief_write", 1), ("brief_approve", 1), ("brief_write", 2), ("brief_approve", 2)]
    assert all(run == 1 for step, run in runs(deployed, instance) if not step.startswith("brief_"))


def test_qc_failing_twice_makes_production_and_qc_run_three_times(deployed: Services) -> None:
    instance = play(deployed, "qc_fails_then_passes")
    qc = [run for step, run in runs(deployed, instance) if step == "qc_check"]
    production = [run for step, run in runs(deployed, instance) if step == "production"]
    assert qc == production == list(range(1, len(qc) + 1)) and len(qc) >= 2


def test_the_migration_numbers_the_runs_of_an_existing_history(deployed: Services) -> None:
    instance = play(deployed, "qc_fails_then_passes")
    before = runs(deployed, instance)
    deployed.db.migrations.downgrade(deployed.db.engine, "0011")  # as a database from before the column
    deployed.db.migrations.upgrade(deployed.db.engine)
    assert runs(deployed, instance) == before
