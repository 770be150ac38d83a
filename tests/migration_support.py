"""Shared by the migration tests: the revised process deployed as v2, and engagements walked to a step."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import select

from engine.models import HumanTask, WorkflowInstance
from workflows.definitions.catalog import deploy_definition
from workflows.demo.revision import RENAMED, revised_engagement
from workflows.demo.samples import happy_path_steps
from workflows.engagements.tasks import complete_task
from workflows.models import Engagement
from workflows.services import Services

STEPS = happy_path_steps()
TASKS = [s.task for s in STEPS]
# where an engagement waits in each of the nine stages (the step about to be done)
WAITING_AT = {
    "pitch": "pitch_outcome",
    "scope": "scope_estimate",
    "brief": "brief_approve",
    "timeline": "timeline_plan",
    "resourcing": "resourcing_plan",
    "production": "production",
    "qc": "qc_check",
    "feedback": "client_feedback",
    "review": "process_review",
}
LEGAL_REVIEW = {"legal_cleared": True, "legal_notes": "Usage rights checked."}


def deploy_v2(services: Services) -> int:
    """Deploy the revised engagement process (see `workflows.demo.revision`); returns its version."""
    xml, forms = revised_engagement(services.definitions_dir)
    with services.db.unit_of_work() as session:
        row, _created = deploy_definition(session, services, xml, forms, actor="olga", note="process review")
        return row.version


def walk_to(services: Services, engagement_id: int, task: str) -> None:
    """Complete the happy path's steps, as the team, until `task` is open."""
    for step in STEPS:
        if step.task == task:
            return
        complete(services, engagement_id, step.task, step.data)
    raise AssertionError(f"{task} is not on the happy path")


def complete(services: Services, engagement_id: int, task: str, data: dict[str, Any]) -> None:
    """Complete an open step as whoever it is assigned to."""
    with services.db.unit_of_work() as session:
        row = open_row(session, engagement_id, task)
        actor = row.claimed_by or row.assignee
        assert actor, task
        complete_task(session, services, engagement_id, task, copy.deepcopy(data), actor=actor)


def open_row(session: Any, engagement_id: int, task: str) -> HumanTask:
    rows = open_rows(session, engagement_id)
    assert task in rows, f"{task} is not open; open: {sorted(rows)}"
    return rows[task]


def open_rows(session: Any, engagement_id: int) -> dict[str, HumanTask]:
    instance_id = session.scalar(select(Engagement.instance_id).where(Engagement.id == engagement_id))
    return {
        r.bpmn_id: r
        for r in session.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "ready")
        )
    }


def version_of(services: Services, engagement_id: int) -> int:
    """The version number an engagement runs on."""
    with services.db.unit_of_work(write=False) as session:
        instance = session.scalar(
            select(WorkflowInstance)
            .join(Engagement, Engagement.instance_id == WorkflowInstance.id)
            .where(Engagement.id == engagement_id)
        )
        assert instance is not None
        return services.definitions.info(session, instance.definition_id).version


def status_of(services: Services, engagement_id: int) -> str:
    with services.db.unit_of_work(write=False) as session:
        return str(
            session.scalar(
                select(WorkflowInstance.status)
                .join(Engagement, Engagement.instance_id == WorkflowInstance.id)
                .where(Engagement.id == engagement_id)
            )
        )


def finish(services: Services, engagement_id: int, *, on_v2: bool) -> None:
    """Run an engagement from wherever it waits to its end, on v1 or on v2 (renamed steps, legal review)."""
    while status_of(services, engagement_id) == "running":
        with services.db.unit_of_work(write=False) as session:
            open_now = sorted(open_rows(session, engagement_id))
        assert open_now, "running but nothing open"
        bpmn_id = open_now[0]
        if bpmn_id == "legal_review":
            assert on_v2
            complete(services, engagement_id, bpmn_id, LEGAL_REVIEW)
            continue
        old_id = {new: old for old, new in RENAMED.items()}.get(bpmn_id, bpmn_id)
        assert on_v2 or old_id == bpmn_id
        step = next(s for s in STEPS if s.task == old_id)
        complete(services, engagement_id, bpmn_id, step.data)
