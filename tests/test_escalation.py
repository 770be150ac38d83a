"""A late client sign-off escalates: the deadline breaches, and the definition's chase path runs.

The scope sign-off waits on the client for 5 business days. A non-interrupting timer on it
(a calendar week) opens a "Chase the client" task for the engagement's AM, while the
sign-off itself stays open. The clock starts on Tuesday 1 December 2026, 10:00 in London.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.models import Event, HumanTask
from engine.timers import TimerWorker
from tests.conftest import FakeClock, open_engagement
from workflows.demo import samples as stories
from workflows.engagements.lifecycle import view_engagement
from workflows.engagements.tasks import complete_task
from workflows.notify.notifications import list_notifications
from workflows.services import Services


def awaiting_signoff(services: Services) -> int:
    engagement_id = open_engagement(services)
    for task, data in [
        ("pitch_prepare", stories.pitch_prepare()),
        ("pitch_outcome", stories.pitch_outcome("won")),
        ("scope_estimate", stories.scope_estimate(20000)),
    ]:
        with services.db.unit_of_work() as session:
            complete_task(session, services, engagement_id, task, data, actor="ana")
    return engagement_id


def test_a_late_signoff_breaches_and_the_am_is_told_to_chase_the_client(
    deployed: Services, spiff_clock: FakeClock
) -> None:
    engagement_id = awaiting_signoff(deployed)
    worker = TimerWorker(
        deployed.db,
        deployed.runtime.fire_timers,
        clock=spiff_clock,
        sweeps=[deployed.deadline_sweeper().run_once],
    )
    spiff_clock.now += timedelta(days=6)  # Monday: 4 business days, at risk but not late
    worker.run_once()
    with deployed.db.unit_of_work(write=False) as session:
        view = view_engagement(session, deployed, engagement_id)
    assert [t.bpmn_id for t in view.open_tasks] == ["scope_signoff"]
    assert view.open_tasks[0].sla_state == "at_risk"

    spiff_clock.now += timedelta(days=1, minutes=1)  # a week after it opened
    stats = worker.run_once()
    assert stats.fired == 1
    with deployed.db.unit_of_work(write=False) as session:
        view = view_engagement(session, deployed, engagement_id)
        chase = session.scalar(select(HumanTask).where(HumanTask.bpmn_id == "chase_client"))
        kinds = [e.kind for e in view.history]
    assert sorted(t.bpmn_id for t in view.open_tasks) == ["chase_client", "scope_signoff"]
    assert chase is not None and chase.assignee == "ana" and chase.sla_clock == "always"
    signoff = next(t for t in view.open_tasks if t.bpmn_id == "scope_signoff")
    assert signoff.sla_state == "breached"
    assert "sla_breached" in kinds and "timer_fired" in kinds
    # escalated: the AM who holds the sign-off and the AMs' lead (alex) are told, and it is on record
    escalation = next(e for e in view.history if e.kind == "sla_escalated")
    assert escalation.bpmn_id == "scope_signoff" and set(escalation.detail["notified"]) == {"ana", "alex"}
    with deployed.db.unit_of_work(write=False) as session:
        for person in ("ana", "alex"):
            kinds_told = [n.kind for n in list_notifications(session, user=person)]
            assert "breached" in kinds_told, (person, kinds_told)

    # the AM chases; the client then signs off and the engagement moves on to the brief
    with deployed.db.unit_of_work() as session:
        complete_task(
            session, deployed, engagement_id, "chase_client", {"chase_channel": "phone"}, actor="ana"
        )
        complete_task(
            session, deployed, engagement_id, "scope_signoff", stories.scope_signoff("approved"), actor="ana"
        )
    with deployed.db.unit_of_work(write=False) as session:
        view = view_engagement(session, deployed, engagement_id)
        breached = session.scalars(
            select(Event.bpmn_id).where(Event.kind == "sla_breached", Event.instance_id == view.instance.id)
        ).all()
    assert [t.bpmn_id for t in view.open_tasks] == ["brief_write"]
    assert breached == ["scope_signoff"]
