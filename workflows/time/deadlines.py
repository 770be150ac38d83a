"""The agency's deadline policy: each ready task's SLA on the business calendar."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from engine.projection import ReadyTask
from workflows.time.calendar import BusinessCalendar, parse_sla
from workflows.time.clocks import clock_of

WARNING_SHARE = 0.75  # a task is at risk once this share of its SLA has passed


class SlaPolicy:
    """Gives each ready task its deadline: the task's `sla` on the agency calendar, a warning
    point at 75 % of it, and the `on_track` state the deadline sweeper moves on from."""

    def __init__(self, calendar: BusinessCalendar, warning_share: float = WARNING_SHARE) -> None:
        self.calendar = calendar
        self.warning_share = warning_share

    def on_ready(self, session: Session, task: ReadyTask) -> Mapping[str, Any]:
        """Compute `due_at`, `warn_at` and the SLA state from the task's `sla` property."""
        sla = task.properties.get("sla")
        if not sla:
            return {}
        hours = parse_sla(sla).business_hours(self.calendar.hours_per_day)
        warn_at = self.calendar.add_hours(task.ready_at, hours * self.warning_share)
        return {
            "due_at": self.calendar.add_hours(task.ready_at, hours),
            "warn_at": warn_at,
            "sla_state": "on_track",
            "sla_next_at": warn_at,
            # a step waiting on the client runs on the client's clock, which pauses the agency's
            "sla_clock": clock_of(task.properties),
        }
