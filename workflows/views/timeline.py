"""An engagement's timeline: when each stage started and finished, and how often its steps ran.

A SQL aggregate over the engagement's `human_task` rows (no workflow is loaded), for the
engagement page and its process review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.models import HumanTask
from workflows.agency import STAGES
from workflows.engagements.lifecycle import get_engagement
from workflows.services import Services


@dataclass(frozen=True)
class StageSpan:
    """One stage on the timeline: from its first step's start to its last step's end."""

    stage: str
    start: datetime
    end: datetime  # the last completion, or now while a step is open
    steps: int  # steps run in the stage (repeats included)
    open: int  # steps open now
    late: int  # steps that missed their deadline (done late, or open past it)


@dataclass(frozen=True)
class Timeline:
    """The stages an engagement went through, in the process's stage order."""

    start: datetime
    end: datetime
    spans: list[StageSpan]

    def position(self, span: StageSpan) -> tuple[float, float]:
        """Where `span` sits on the whole timeline: (offset, width), shares of its length."""
        total = (self.end - self.start).total_seconds() or 1.0
        offset = (span.start - self.start).total_seconds() / total
        width = (span.end - span.start).total_seconds() / total
        return max(0.0, min(offset, 1.0)), max(0.005, min(width, 1.0 - offset))


def engagement_timeline(session: Session, services: Services, engagement_id: int) -> Timeline | None:
    """The stage timeline of an engagement (None before any step with a stage has opened).

    Raises:
        NotFoundError: no such engagement.
    """
    engagement = get_engagement(session, engagement_id)
    now = services.runtime.clock()
    is_open = HumanTask.state == "ready"
    late = (HumanTask.due_at.is_not(None)) & (
        (is_open & (HumanTask.due_at < now)) | (HumanTask.completed_at > HumanTask.due_at)
    )
    rows = session.execute(
        select(
            HumanTask.stage,
            func.min(HumanTask.created_at),
            func.max(HumanTask.completed_at),
            func.count(),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((late, 1), else_=0)),
        )
        .where(
            HumanTask.instance_id == engagement.instance_id,
            HumanTask.state != "cancelled",
            HumanTask.stage.is_not(None),
        )
        .group_by(HumanTask.stage)
    ).all()
    if not rows:
        return None
    order = {name: i for i, name in enumerate(STAGES)}
    spans = sorted(
        (
            StageSpan(
                stage=stage,
                start=started,
                end=now if open_ or finished is None else finished,
                steps=int(steps),
                open=int(open_ or 0),
                late=int(missed or 0),
            )
            for stage, started, finished, steps, open_, missed in rows
        ),
        key=lambda s: (order.get(s.stage, len(order)), s.start),
    )
    return Timeline(min(s.start for s in spans), max(s.end for s in spans), spans)
