"""Composition root: wires the engine's parts with the agency's rules, calendar and teams."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from engine.db import Database
from engine.deadlines import DeadlineSweeper
from engine.definitions import DefinitionRegistry
from engine.events import EventLog
from engine.models import DefinitionVersion
from engine.projection import ReadyTask
from engine.runtime import Runtime
from engine.sandbox import SandboxedScriptEngine
from engine.serialization import WorkflowCodec
from engine.store import InstanceStore, WorkflowCache

from . import models as _models  # noqa: F401  (registers the domain tables)
from .agency import AGENCY_RULES
from .assignment import LaneRoleCache, PolicyChain, TeamPolicy
from .clocks import ClientClock, clock_of
from .durations import TaskDurations
from .mail import MailSettings
from .sla import BusinessCalendar, load_calendar, parse_sla

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEFINITIONS_DIR = Path(os.environ.get("BATON_DEFINITIONS_DIR", ROOT / "definitions"))
MIGRATIONS = ROOT / "migrations"  # the Alembic revisions of the store's schema


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


@dataclass
class Services:
    """Everything a use case needs, built once per process."""

    db: Database
    codec: WorkflowCodec
    definitions: DefinitionRegistry
    store: InstanceStore
    runtime: Runtime
    calendar: BusinessCalendar
    definitions_dir: Path
    lanes: LaneRoleCache  # lane -> role of each deployed version
    mail: MailSettings | None = None  # SMTP for notifications (None: in-app only)

    @property
    def events(self) -> EventLog:
        """The event log every change writes to; the agency's listeners react to it."""
        return self.runtime.events

    def deadline_sweeper(self, batch: int = 200) -> DeadlineSweeper:
        """A sweeper moving open tasks' SLA states on, on this process's clock and event log."""
        return DeadlineSweeper(self.db, self.events, clock=self.runtime.clock, batch=batch)

    def warm_up(self) -> int:
        """Load the specs (and lane roles) of every deployed version into memory (once, at start-up).

        Returns:
            How many versions were loaded. A missing schema (before `init-db`) loads none.
        """
        if not inspect(self.db.engine).has_table(DefinitionVersion.__tablename__):
            return 0
        with self.db.unit_of_work(write=False) as session:
            ids = list(session.scalars(select(DefinitionVersion.id)))
            for definition_id in ids:
                self.definitions.spec_for(self.definitions.info(session, definition_id))
                self.lanes.roles(session, definition_id)
        return len(ids)


def build_services(
    url: str,
    *,
    definitions_dir: str | Path | None = None,
    calendar: BusinessCalendar | None = None,
    clock: Callable[[], datetime] | None = None,
    cache_size: int = 512,
    verify_persistence: bool = False,
    mail: MailSettings | Literal["env"] | None = "env",
    **engine_kwargs: Any,
) -> Services:
    """Build the services for a database URL.

    Args:
        url: SQLAlchemy URL of the store.
        definitions_dir: folder of BPMN, form and calendar files (default: ./definitions).
        calendar: the business calendar (default: ``calendar.toml`` in the definitions folder).
        clock: current-time function (tests inject one).
        cache_size: how many live workflows to keep warm.
        verify_persistence: check every incremental save against a full encoding (tests).
        mail: the SMTP server notifications are e-mailed through ("env": from the
            ``BATON_SMTP_*`` variables, see `MailSettings.from_env`; None: in-app only).
        **engine_kwargs: passed to the SQLAlchemy engine.
    """
    folder = Path(definitions_dir) if definitions_dir else DEFAULT_DEFINITIONS_DIR
    if calendar is None:
        cal_file = folder / "calendar.toml"
        calendar = load_calendar(cal_file) if cal_file.exists() else BusinessCalendar()
    db = Database(url, migrations=MIGRATIONS, **engine_kwargs)
    codec = WorkflowCodec()
    registry = DefinitionRegistry(codec, rules=AGENCY_RULES)
    store = InstanceStore(
        codec, registry, SandboxedScriptEngine, WorkflowCache(cache_size), verify=verify_persistence
    )
    lanes = LaneRoleCache()
    # each ready task gets its due date (SLA) and its assignee (the team member for its lane)
    policy = PolicyChain(SlaPolicy(calendar), TeamPolicy(lanes))
    # listeners react to every event in its own transaction: paused clocks while waiting on the
    # client, tasks' business-hour durations for the reports, notifications (and escalations)
    # for the people concerned
    log = EventLog([ClientClock(calendar), TaskDurations(calendar)])
    runtime = Runtime(registry, store, policy, clock, log)
    smtp = MailSettings.from_env(os.environ) if isinstance(mail, str) else mail
    services = Services(db, codec, registry, store, runtime, calendar, folder, lanes, smtp)
    from .notifications import Notifier  # it imports the use cases, which import this module

    runtime.events.subscribe(Notifier(lanes, calendar, email=smtp is not None))
    return services
