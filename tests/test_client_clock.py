"""While the client has the ball, the agency's deadlines stand still.

A proposal is drafted by the AM while the PM schedules the team (2 business days). Once the
draft goes to the client, the PM's clock stops; it starts again, with the time it had left,
when the client answers. The clock starts on Tuesday 1 December 2026, 10:00 in London
(office hours 09:00-17:30, 8.5 business hours a day).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.models import Event, HumanTask
from tests.conftest import FakeClock
from workflows.services import Services
from workflows.time.clocks import clock_split

DATA = Path(__file__).resolve().parent / "data"
TUESDAY_10 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def reviewing(services: Services) -> Services:
    with services.db.unit_of_work() as session:
        services.definitions.deploy(
            session, (DATA / "client_wait.bpmn").read_bytes(), {}, filename="client_wait.bpmn"
        )
    return services


def clock(services: Services) -> FakeClock:
    c = services.runtime.clock
    assert isinstance(c, FakeClock)
    return c


def task(services: Services, instance_id: int, bpmn_id: str) -> HumanTask:
    with services.db.unit_of_work(write=False) as session:
        row = session.scalar(
            select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id)
        )
        assert row is not None
        session.expunge(row)
        return row


def complete(services: Services, instance_id: int, bpmn_id: str) -> None:
    with services.db.unit_of_work() as session:
        row = next(t for t in services.runtime.ready_tasks(session, instance_id) if t.bpmn_id == bpmn_id)
        services.runtime.complete(session, instance_id, row.task_id, {})


def kinds(services: Services, instance_id: int) -> list[str]:
    with services.db.unit_of_work(write=False) as session:
        return list(
            session.scalars(select(Event.kind).where(Event.instance_id == instance_id).order_by(Event.id))
        )


def test_the_pm_clock_stops_while_the_client_reviews_and_resumes_with_the_time_left(
    reviewing: Services,
) -> None:
    services, cal = reviewing, reviewing.calendar
    with services.db.unit_of_work() as session:
        instance_id = services.runtime.start(session, "client_wait", {}).instance_id
    schedule = task(services, instance_id, "schedule")
    assert schedule.sla_clock == "agency" and schedule.due_at == cal.add_hours(TUESDAY_10, 17)

    clock(services).now = TUESDAY_10 + timedelta(hours=2)  # the AM sends the draft at noon
    complete(services, instance_id, "draft")
    paused = task(services, instance_id, "schedule")
    assert paused.sla_paused_at == clock(services).now and paused.sla_next_at is None
    assert task(services, instance_id, "client_review").sla_clock == "client"

    # the client takes until Friday noon; the PM's original due time (Thursday) passes meanwhile
    clock(services).now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    services.deadline_sweeper().run_once()
    assert task(services, instance_id, "schedule").sla_state == "on_track"  # a paused clock is left alone
    assert task(services, instance_id, "client_review").sla_state == "breached"  # the client ran late
    complete(services, instance_id, "client_review")

    resumed = task(services, instance_id, "schedule")
    left = 17 - 2  # two business hours had passed before the pause
    assert resumed.sla_paused_at is None
    assert resumed.due_at == cal.add_hours(clock(services).now, left)
    assert resumed.sla_paused_hours == pytest.approx(3 * 8.5)  # Tue noon -> Fri noon
    assert resumed.warn_at == cal.add_hours(clock(services).now, 12.75 - 2)  # at 75 % of the SLA
    assert resumed.sla_state == "on_track" and resumed.sla_next_at == resumed.warn_at
    assert kinds(services, instance_id).count("agency_clock_paused") == 1
    assert kinds(services, instance_id).count("agency_clock_resumed") == 1


def test_a_task_that_opens_while_the_client_has_the_ball_starts_paused(reviewing: Services) -> None:
    services = reviewing
    with services.db.unit_of_work() as session:
        instance_id = services.runtime.start(session, "client_wait", {}).instance_id
    complete(services, instance_id, "schedule")
    complete(services, instance_id, "draft")
    # nothing of the agency's is open now; the client's wait is measured on its own clock
    review = task(services, instance_id, "client_review")
    assert review.sla_clock == "client" and review.sla_paused_at is None
    assert review.due_at == services.calendar.add_hours(TUESDAY_10, 3 * 8.5)


def test_the_engagement_time_splits_into_agency_and_client_time(reviewing: Services) -> None:
    services = reviewing
    with services.db.unit_of_work() as session:
        instance_id = services.runtime.start(session, "client_wait", {}).instance_id
    clock(services).now = TUESDAY_10 + timedelta(hours=2)
    complete(services, instance_id, "draft")
    clock(services).now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    complete(services, instance_id, "client_review")
    clock(services).now = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
    complete(services, instance_id, "schedule")
    with services.db.unit_of_work(write=False) as session:
        split = clock_split(session, services.calendar, instance_id, TUESDAY_10, clock(services).now)
    assert split.client_hours == pytest.approx(3 * 8.5)
    assert split.agency_hours == pytest.approx(2 + 3)  # Tue 10-12, Fri 12-15
