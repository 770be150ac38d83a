"""Staff log effort against the tasks they work; totals come per lane and stage."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from engine.errors import NotFoundError
from engine.models import Event
from workflows.demo.samples import STORIES
from workflows.engagements.effort import effort_totals, log_effort
from workflows.engagements.lifecycle import start_engagement
from workflows.engagements.tasks import complete_task
from workflows.people.permissions import PermissionDenied
from workflows.services import Services


@pytest.fixture
def engagement_id(deployed: Services) -> int:
    with deployed.db.unit_of_work() as session:
        engagement = start_engagement(
            session, deployed, actor="olga", client="Acme", name="Rebrand",
            account_manager="ana", project_manager="pete"
        )
    step = STORIES["happy_path"].steps[0]
    with deployed.db.unit_of_work() as session:
        complete_task(session, deployed, engagement.id, step.task, step.data, actor="ana")
    return engagement.id


def test_an_am_logs_hours_on_the_pitch_and_they_add_up_per_lane_and_stage(
    deployed: Services, engagement_id: int
) -> None:
    with deployed.db.unit_of_work() as session:
        log_effort(session, deployed, engagement_id, "pitch_prepare", 2.5, actor="ana", note="deck")
        log_effort(
            session, deployed, engagement_id, "pitch_outcome", 0.5, actor="alex", note="covering the call"
        )
    with deployed.db.unit_of_work(write=False) as session:
        totals = effort_totals(session, engagement_id)
        kinds = list(session.scalars(select(Event.kind).where(Event.kind == "effort_logged")))
    assert [(t.lane, t.stage, t.hours) for t in totals] == [("Account Management", "pitch", 3.0)]
    assert len(kinds) == 2


def test_a_pm_cannot_log_effort_on_an_am_task(deployed: Services, engagement_id: int) -> None:
    with pytest.raises(PermissionDenied), deployed.db.unit_of_work() as session:
        log_effort(session, deployed, engagement_id, "pitch_prepare", 1, actor="pete")


@pytest.mark.parametrize("hours", [0, -1, 25])
def test_impossible_hours_are_refused(deployed: Services, engagement_id: int, hours: float) -> None:
    with pytest.raises(ValueError, match="hours"), deployed.db.unit_of_work() as session:
        log_effort(session, deployed, engagement_id, "pitch_prepare", hours, actor="ana")


def test_effort_for_tomorrow_or_an_unknown_task_is_refused(deployed: Services, engagement_id: int) -> None:
    with pytest.raises(ValueError, match="not come yet"), deployed.db.unit_of_work() as session:
        log_effort(
            session, deployed, engagement_id, "pitch_prepare", 1, actor="ana", worked_on=date(2030, 1, 1)
        )
    with pytest.raises(NotFoundError), deployed.db.unit_of_work() as session:
        log_effort(session, deployed, engagement_id, "nope", 1, actor="ana")
    with deployed.db.unit_of_work(write=False) as session:
        assert effort_totals(session, engagement_id) == []
