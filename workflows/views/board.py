"""The engagements board: each engagement with its team, SLA health and budget burn.

Answered from the projections (`engagement`, `engagement_team`, `human_task`,
`workflow_instance.facts`) in three queries whatever the number of engagements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from engine.models import HumanTask, WorkflowInstance
from workflows.models import Engagement, TeamMember
from workflows.views.lists import list_engagements


@dataclass(frozen=True)
class BoardRow:
    """One engagement on the board."""

    engagement: Engagement
    instance: WorkflowInstance
    team: dict[str, str] = field(default_factory=dict)  # role -> username
    at_risk: int = 0  # open tasks past their warning point
    breached: int = 0  # open tasks past their due time
    open_tasks: int = 0

    def _fact(self, name: str) -> float | None:
        value: Any = (self.instance.facts or {}).get(name)
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    @property
    def budget(self) -> float | None:
        """The engagement's budget (None until scoping sets it)."""
        return self._fact("budget")

    @property
    def cost_to_date(self) -> float | None:
        """The cost booked so far."""
        return self._fact("cost_to_date")

    @property
    def burn(self) -> float | None:
        """Cost to date as a share of the budget (None without a budget)."""
        budget = self.budget
        return (self.cost_to_date or 0.0) / budget if budget else None


def engagement_board(session: Session, *, actor: str, limit: int = 200) -> list[BoardRow]:
    """The newest engagements with team, SLA health and budget burn.

    Raises:
        PermissionDenied: unknown or inactive actor.
    """
    pairs = list_engagements(session, actor=actor, limit=limit)
    ids = [e.id for e, _i in pairs]
    instances = [i.id for _e, i in pairs]
    team: dict[int, dict[str, str]] = {}
    for member in session.scalars(select(TeamMember).where(TeamMember.engagement_id.in_(ids))):
        team.setdefault(member.engagement_id, {})[member.role] = member.user.username
    health = {
        instance: (int(open_), int(risk or 0), int(breach or 0))
        for instance, open_, risk, breach in session.execute(
            select(
                HumanTask.instance_id,
                func.count(),
                func.sum(case((HumanTask.sla_state == "at_risk", 1), else_=0)),
                func.sum(case((HumanTask.sla_state == "breached", 1), else_=0)),
            )
            .where(HumanTask.state == "ready", HumanTask.instance_id.in_(instances))
            .group_by(HumanTask.instance_id)
        )
    }
    rows = []
    for engagement, instance in pairs:
        open_, risk, breach = health.get(instance.id, (0, 0, 0))
        rows.append(BoardRow(engagement, instance, team.get(engagement.id, {}), risk, breach, open_))
    return rows
