"""Effort nobody can have worked is refused with a clear 422: too long an entry, more than a day
holds for one person (over every engagement), a day before the engagement started or to come.

Through the API with personal tokens, and through the use case, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.api_support import caller, problem_of
from tests.conftest import FakeClock, open_engagement
from workflows.demo.samples import STORIES
from workflows.engagements.effort import EffortRefused, log_effort
from workflows.engagements.tasks import complete_task
from workflows.models import Effort
from workflows.people.covers import today
from workflows.services import Services


@pytest.fixture
def engagement_id(deployed: Services) -> int:
    engagement = open_engagement(deployed)
    step = STORIES["happy_path"].steps[0]
    with deployed.db.unit_of_work() as session:
        complete_task(session, deployed, engagement, step.task, step.data, actor="ana")
    return engagement


def logged_hours(services: Services) -> float:
    with services.db.unit_of_work(write=False) as session:
        return float(session.scalar(select(func.coalesce(func.sum(Effort.hours), 0.0))) or 0.0)


def test_a_day_holds_at_most_24_hours_per_person_over_every_engagement(
    app: Flask, deployed: Services, engagement_id: int
) -> None:
    ana = caller(app, deployed, "ana")
    url = f"/api/v1/engagements/{engagement_id}/tasks/pitch_prepare/effort"
    for _ in range(2):
        assert ana.post(url, json={"hours": 10, "note": "deck"}).status_code == 201
    elsewhere = f"/api/v1/engagements/{open_engagement(deployed)}/tasks/pitch_prepare/effort"
    refused = problem_of(ana.post(elsewhere, json={"hours": 4.5, "note": "more"}), 422)
    assert refused["errors"] == [
        {
            "pointer": "/hours",
            "location": "json",
            "detail": f"ana already has 20 h logged on {today(deployed).isoformat()}: a day holds at "
            "most 24 h, so at most 4 h more",
        }
    ]
    assert ana.post(elsewhere, json={"hours": 4, "note": "last"}).status_code == 201
    assert logged_hours(deployed) == 24


def test_no_day_before_the_engagement_started_nor_to_come(
    app: Flask, deployed: Services, engagement_id: int, clock: FakeClock
) -> None:
    ana = caller(app, deployed, "ana")
    url = f"/api/v1/engagements/{engagement_id}/tasks/pitch_prepare/effort"
    day = today(deployed)
    for worked_on, says in (
        ("1900-01-01", f"engagement {engagement_id} started on {day.isoformat()}"),
        ((day - timedelta(days=1)).isoformat(), "started on"),
        ((day + timedelta(days=1)).isoformat(), "has not come yet"),
    ):
        refused = problem_of(ana.post(url, json={"hours": 1, "note": "x", "worked_on": worked_on}), 422)
        assert refused["errors"][0]["pointer"] == "/worked_on" and says in refused["errors"][0]["detail"]
    clock.now += timedelta(days=3)
    yesterday = (today(deployed) - timedelta(days=1)).isoformat()
    assert ana.post(url, json={"hours": 1, "note": "x", "worked_on": yesterday}).status_code == 201
    assert logged_hours(deployed) == 1


def test_parallel_entries_cannot_both_pass_the_days_bound(deployed: Services, engagement_id: int) -> None:
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def log() -> None:
        start.wait()
        try:
            with deployed.db.unit_of_work() as session:
                log_effort(session, deployed, engagement_id, "pitch_prepare", 5, actor="ana")
            outcomes.append("logged")
        except EffortRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=log) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["logged"] * 4 + ["refused"] * 2
    assert logged_hours(deployed) == 20
