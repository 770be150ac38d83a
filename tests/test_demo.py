"""The demo agency a newcomer meets: engagements over the stages, with a past, some of them late."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from engine.models import HumanTask
from workflows.demo.seed import DEMO, seed_demo
from workflows.models import Effort, Engagement, Notification
from workflows.reports.process import time_report
from workflows.services import Services


def test_the_demo_agency_has_a_history_and_some_steps_at_risk_or_late(deployed: Services) -> None:
    now = deployed.runtime.clock()
    with deployed.db.unit_of_work() as session:
        created = seed_demo(session, deployed)
    assert len(created) == len(DEMO)
    assert deployed.runtime.clock() == now  # the replay hands the real clock back

    deployed.deadline_sweeper().run_once()  # what the worker does as soon as `baton demo` starts
    with deployed.db.unit_of_work(write=False) as session:
        open_tasks = list(session.scalars(select(HumanTask).where(HumanTask.state == "ready")))
        states = Counter(t.sla_state for t in open_tasks)
        started = sorted(e.created_at for e in session.scalars(select(Engagement)))
        hours = session.scalar(select(func.sum(Effort.hours)))
        escalations = session.scalar(select(func.count()).select_from(Notification))
        by_stage = time_report(session, by="stage")

    assert states["at_risk"] >= 1 and states["breached"] >= 1 and states["on_track"] >= 1
    late = [t for t in open_tasks if t.sla_state == "breached"]
    assert all(t.due_at is not None and t.due_at < now for t in late)
    assert started[0] < now - (started[-1] - started[0]) / 2 and started[-1] < now  # spread in the past
    assert hours and hours > 50  # effort was logged on the finished steps: the cost reports have figures
    assert escalations  # the breaches notified their holders and lane leads
    assert sum(row.total_hours for row in by_stage.rows) > 100  # the time report has a past to show


def test_seeding_twice_adds_nothing(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        seed_demo(session, deployed)
    with deployed.db.unit_of_work() as session:
        assert seed_demo(session, deployed) == []
