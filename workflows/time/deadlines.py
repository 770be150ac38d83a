"""The agency's deadline policy: each ready task's SLA on the business calendar."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from engine.deadlines import next_state
from engine.models import HumanTask
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


_SEVERITY = {None: 0, "on_track": 0, "at_risk": 1, "breached": 2}


class MovedDeadline:
    """An open step's deadline on the version its engagement moves to (`engine.migration`).

    The step's SLA on the new version counts from when the step became ready (the stored ready
    time, never the task tree), plus the business hours its clock was already paused. A deadline
    paused now stays paused (the resume moves it on). A state that gets worse is left to the
    deadline sweeper (looking at it right away), which logs and escalates it as always; one that
    gets better is set at once.
    """

    def __init__(self, calendar: BusinessCalendar, warning_share: float = WARNING_SHARE) -> None:
        self.calendar = calendar
        self.warning_share = warning_share

    def __call__(
        self, session: Session, task: ReadyTask, stored: HumanTask, now: datetime
    ) -> Mapping[str, Any]:
        """The deadline columns of the moved step (see `engine.migration.DeadlineRecompute`)."""
        sla = task.properties.get("sla")
        if not sla:
            return dict.fromkeys(("due_at", "warn_at", "sla_state", "sla_next_at", "sla_clock"))
        hours = parse_sla(sla).business_hours(self.calendar.hours_per_day)
        paused = stored.sla_paused_hours or 0.0
        due = self.calendar.add_hours(task.ready_at, hours + paused)
        warn = self.calendar.add_hours(task.ready_at, hours * self.warning_share + paused)
        clock = clock_of(task.properties)
        if stored.sla_paused_at is not None:
            return {
                "due_at": due,
                "warn_at": warn,
                "sla_state": stored.sla_state,
                "sla_next_at": None,
                "sla_clock": clock,
            }
        state, next_at = next_state(None, warn, due, now)
        if _SEVERITY.get(state, 0) > _SEVERITY.get(stored.sla_state, 0):
            state, next_at = stored.sla_state or "on_track", now
        return {
            "due_at": due,
            "warn_at": warn,
            "sla_state": state,
            "sla_next_at": next_at,
            "sla_clock": clock,
        }
