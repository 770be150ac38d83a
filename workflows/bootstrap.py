"""The composition root: builds `Services` from a database URL and the definitions folder.

Used only by entry points -- the web app, the CLI, tests and benches -- never by the domain:
it wires the engine's parts with the agency's rules (lint rules, the SLA and team policies),
its calendar, its event listeners and the mail settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from engine.db import Database
from engine.definitions import DefinitionRegistry
from engine.events import EventLog
from engine.runtime import Runtime
from engine.sandbox import SandboxedScriptEngine
from engine.serialization import WorkflowCodec
from engine.store import InstanceStore, WorkflowCache
from workflows import models as _models  # noqa: F401  (registers the domain tables)
from workflows.agency import AGENCY_HINTS, AGENCY_RULES
from workflows.notify.mail import MailSettings
from workflows.notify.notifications import Notifier
from workflows.people.assignment import LaneRoleCache, PolicyChain, TeamPolicy
from workflows.services import Services
from workflows.time.calendar import BusinessCalendar, load_calendar
from workflows.time.clocks import ClientClock
from workflows.time.deadlines import SlaPolicy
from workflows.time.durations import TaskDurations

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEFINITIONS_DIR = Path(os.environ.get("BATON_DEFINITIONS_DIR", ROOT / "definitions"))
MIGRATIONS = ROOT / "migrations"  # the Alembic revisions of the store's schema


def build_services(
    url: str,
    *,
    definitions_dir: str | Path | None = None,
    calendar: BusinessCalendar | None = None,
    clock: Callable[[], datetime] | None = None,
    cache_size: int = 512,
    verify_persistence: bool = False,
    compact: bool = True,
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
        compact: keep live workflows the size of their open steps (`engine.compaction`);
            off, they keep their whole history (the differential tests compare both).
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
    registry = DefinitionRegistry(codec, rules=AGENCY_RULES, hints=AGENCY_HINTS)
    store = InstanceStore(
        codec, registry, SandboxedScriptEngine, WorkflowCache(cache_size), verify=verify_persistence
    )
    lanes = LaneRoleCache()
    # each ready task gets its due date (SLA) and its assignee (the team member for its lane)
    policy = PolicyChain(SlaPolicy(calendar), TeamPolicy(lanes))
    # listeners react to every event in its own transaction: paused clocks while waiting on the
    # client, tasks' business-hour durations for the reports, notifications (and escalations)
    # for the people concerned
    smtp = MailSettings.from_env(os.environ) if isinstance(mail, str) else mail
    log = EventLog(
        [ClientClock(calendar), TaskDurations(calendar), Notifier(lanes, calendar, email=smtp is not None)]
    )
    runtime = Runtime(registry, store, policy, clock, log, compact=compact)
    return Services(db, codec, registry, store, runtime, calendar, folder, lanes, smtp)
