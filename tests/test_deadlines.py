"""SLA states of open tasks: on track, at risk at 75 % of the SLA, breached at the due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from engine.deadlines import next_state
from engine.models import Event, HumanTask
from engine.timers import TimerWorker
from workflows.demo.samples import STORIES
from workflows.engagements.lifecycle import start_engagement
from workflows.engagements.tasks import complete_task
from workflows.services import Services

from .conftest import FakeClock

LONDON = ZoneInfo("Europe/London")


def pitch_task(services: Services, instance_id: int) -> HumanTask:
    with services.db.unit_of_work(write=False) as session:
        return session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()


def sla_events(services: Services, instance_id: int) -> list[str]:
    with services.db.unit_of_work(write=False) as session:
        return list(
            session.scalars(
                select(Event.kind)
                .where(Event.instance_id == instance_id, Event.kind.like("sla_%"))
                .order_by(Event.id)
            )
        )


def test_a_ready_task_gets_its_due_time_and_warning_point_on_business_time(deployed: Services) -> None:
    # ready Tue 1 Dec 2026 10:00 UTC (10:00 London); pitch_prepare has a 3bd SLA = 25.5 business
    # hours on a 09:00-17:30 day: 7.5 h on Tue, 8.5 h Wed, 8.5 h Thu, the last hour on Fri
    with deployed.db.unit_of_work() as session:
        instance_id = start_engagement(
            session, deployed, actor="olga", client="Acme", name="Rebrand",
            account_manager="ana", project_manager="pete"
        ).instance_id
    task = pitch_task(deployed, instance_id)
    assert task.properties["sla"] == "3bd"
    assert task.due_at == datetime(2026, 12, 4, 10, 0, tzinfo=LONDON).astimezone(UTC)
    # 75 % = 19.125 h: 7.5 h on Tue, 8.5 h on Wed, then 3 h 7.5 min on Thu -> 12:07:30
    assert task.warn_at == datetime(2026, 12, 3, 12, 7, 30, tzinfo=LONDON).astimezone(UTC)
    assert (task.sla_state, task.sla_next_at) == ("on_track", task.warn_at)


def test_an_untouched_task_goes_at_risk_then_breached_and_each_change_is_logged(deployed: Services) -> None:
    clock = deployed.runtime.clock
    assert isinstance(clock, FakeClock)
    with deployed.db.unit_of_work() as session:
        instance_id = start_engagement(
            session, deployed, actor="olga", client="Acme", name="Rebrand",
            account_manager="ana", project_manager="pete"
        ).instance_id
    task = pitch_task(deployed, instance_id)
    sweeper = deployed.deadline_sweeper()
    assert sweeper.run_once() == 0
    assert task.warn_at is not None and task.due_at is not None
    clock.now = task.warn_at + timedelta(minutes=1)
    assert sweeper.run_once() == 1
    assert pitch_task(deployed, instance_id).sla_state == "at_risk"
    assert sweeper.run_once() == 0  # nothing new until the due time
    clock.now = task.due_at + timedelta(minutes=1)
    worker = TimerWorker(deployed.db, deployed.runtime.fire_timers, clock=clock, sweeps=[sweeper.run_once])
    assert worker.run_once().swept == 1
    after = pitch_task(deployed, instance_id)
    assert (after.sla_state, after.sla_next_at) == ("breached", None)
    # the breach escalates (workflows.notify.notifications), and that is logged too
    assert sla_events(deployed, instance_id) == ["sla_at_risk", "sla_breached", "sla_escalated"]


def test_a_task_completed_in_time_is_left_alone(deployed: Services) -> None:
    clock = deployed.runtime.clock
    assert isinstance(clock, FakeClock)
    with deployed.db.unit_of_work() as session:
        engagement = start_engagement(
            session, deployed, actor="olga", client="Acme", name="Rebrand",
            account_manager="ana", project_manager="pete"
        )
    step = STORIES["happy_path"].steps[0]
    with deployed.db.unit_of_work() as session:
        complete_task(session, deployed, engagement.id, step.task, step.data, actor="ana")
    clock.now += timedelta(days=30)
    deployed.deadline_sweeper().run_once()
    with deployed.db.unit_of_work(write=False) as session:
        first = session.scalars(
            select(HumanTask).where(HumanTask.instance_id == engagement.instance_id).order_by(HumanTask.id)
        ).first()
    assert first is not None and first.state == "completed" and first.sla_state == "on_track"
    assert "sla_breached" in sla_events(deployed, engagement.instance_id)  # the next task, left open 30 days
    assert sla_events(deployed, engagement.instance_id).count("sla_breached") == 1


def test_a_task_found_late_jumps_straight_to_breached() -> None:
    warn, due = datetime(2026, 12, 2, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)
    assert next_state("on_track", warn, due, datetime(2026, 12, 1, tzinfo=UTC)) == ("on_track", warn)
    assert next_state("on_track", warn, due, datetime(2026, 12, 2, 12, tzinfo=UTC)) == ("at_risk", due)
    assert next_state("on_track", warn, due, datetime(2026, 12, 4, tzinfo=UTC)) == ("breached", None)
