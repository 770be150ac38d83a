"""What every use case is handed: `Services`, the parts of one running Baton.

A plain container, importable without side effects: the domain modules name it in their
signatures, and only `workflows.bootstrap` (used by the adapters, tests and benches) builds one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, select

from engine.deadlines import DeadlineSweeper
from engine.models import DefinitionVersion

if TYPE_CHECKING:  # the domain types stay unimported: this module sits below all of them
    from engine.db import Database
    from engine.definitions import DefinitionRegistry
    from engine.events import EventLog
    from engine.runtime import Runtime
    from engine.serialization import WorkflowCodec
    from engine.store import InstanceStore
    from workflows.notify.mail import MailSettings
    from workflows.people.assignment import LaneRoleCache
    from workflows.time.calendar import BusinessCalendar


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
        """Load the specs (and lane roles) of every deployed version into memory (once, at start-up),
        and start a script evaluator process in the background.

        Returns:
            How many versions were loaded. A missing schema (before `init-db`) loads none.
        """
        self.store.script_engine.warm_up()
        if not inspect(self.db.engine).has_table(DefinitionVersion.__tablename__):
            return 0
        with self.db.unit_of_work(write=False) as session:
            ids = list(session.scalars(select(DefinitionVersion.id)))
            for definition_id in ids:
                self.definitions.spec_for(self.definitions.info(session, definition_id))
                self.lanes.roles(session, definition_id)
        return len(ids)
