"""Engagements played to the decisions the record tests look at (shared by HTTP and browser tests)."""

from __future__ import annotations

import copy

from workflows.demo import samples
from workflows.demo.samples import STORIES, Step
from workflows.engagements.lifecycle import get_engagement, start_engagement
from workflows.engagements.tasks import complete_task, find_open_task
from workflows.services import Services

BRIEF_SENT_BACK = "Objectives need a measurable target per channel."


def play(services: Services, steps: list[Step], options: dict[str, object] | None = None) -> int:
    """Start an engagement for ana (AM) and pete (PM) and complete `steps` as their holders."""
    with services.db.unit_of_work() as session:
        engagement = start_engagement(
            session,
            services,
            client="Acme",
            name="Rebrand",
            options=dict(options or {}),
            account_manager="ana",
            project_manager="pete",
            actor="olga",
        )
        for step in steps:
            task = find_open_task(session, get_engagement(session, engagement.id), step.task)
            assert task.assignee is not None, step.task
            complete_task(
                session, services, engagement.id, step.task, copy.deepcopy(step.data), actor=task.assignee
            )
        return engagement.id


def to_brief_approval(services: Services) -> int:
    """Pete has written the brief; ana's "Approve brief" is open."""
    steps = STORIES["brief_sent_back_once"].steps
    upto = next(i for i, s in enumerate(steps) if s.task == "brief_approve")
    return play(services, steps[:upto])


def to_brief_rework(services: Services) -> int:
    """Ana sent pete's brief back with a comment; his "Write brief" is open again."""
    steps = STORIES["brief_sent_back_once"].steps
    upto = next(i for i, s in enumerate(steps) if s.task == "brief_approve")
    return play(services, [*steps[:upto], Step("brief_approve", samples.brief_approve("changes_requested"))])


def to_change_order_approval(services: Services, amount: float = 6000) -> int:
    """The client agreed a 6,000 change order (above the 5,000 threshold): leadership and ana approve."""
    steps = [
        *samples.up_to_production(20000),
        Step("production", samples.production(19000, "Extra retail cut-downs requested.")),
        Step("change_order", samples.change_order("approved", amount)),
    ]
    return play(services, steps)
