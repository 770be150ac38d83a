"""The event log: append-only facts about instances, and the listeners that react to them.

Every part of the engine that logs something (a step, a claim, a deadline change) appends
through one `EventLog`, in the caller's transaction. Listeners registered on the log see the
rows right after they are written, in the same transaction, so what they derive from them
(notifications, paused clocks, escalations) commits or rolls back with the fact itself.
A listener may append further events; those reach the listeners too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from .fastsql import FastStatement
from .models import Event

_EVENT = cast(Table, Event.__table__)
_INSERT_EVENT = FastStatement(insert(_EVENT))
EVENT_KEYS = (
    "instance_id",
    "at",
    "kind",
    "task_id",
    "bpmn_id",
    "lane",
    "stage",
    "actor",
    "decision",
    "detail",
)
MAX_CASCADE = 8  # listeners reacting to listeners: a loop is a bug, stop it early


class EventListener(Protocol):
    """Reacts to events in the transaction that logged them."""

    def on_events(self, session: Session, log: EventLog, events: Sequence[Mapping[str, Any]]) -> None:
        """Handle freshly written events (may append more through `log`)."""
        ...


class EventLog:
    """Writes events and tells the registered listeners.

    Args:
        listeners: called in order for every batch of appended events.
    """

    def __init__(self, listeners: Sequence[EventListener] = ()) -> None:
        self.listeners: list[EventListener] = list(listeners)
        self._depth = 0

    def subscribe(self, listener: EventListener) -> None:
        """Register a listener (at start-up, before events flow)."""
        self.listeners.append(listener)

    def append(self, session: Session, events: Sequence[dict[str, Any]]) -> None:
        """Write `events` (dicts with the `event` table's columns) and tell the listeners.

        Raises:
            RuntimeError: listeners kept appending events to each other's events.
        """
        if not events:
            return
        rows = [{key: row.get(key) for key in EVENT_KEYS} for row in events]
        for row in rows:
            row["detail"] = dict(row["detail"] or {})
        _INSERT_EVENT.executemany(session.connection(), rows)
        if not self.listeners:
            return
        if self._depth >= MAX_CASCADE:
            raise RuntimeError("event listeners keep reacting to each other's events")
        self._depth += 1
        try:
            for listener in self.listeners:
                listener.on_events(session, self, rows)
        finally:
            self._depth -= 1
