"""Prepared statements on the raw cursor store exactly what the ORM would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from engine.fastsql import FastStatement
from engine.models import Event
from workflows.engagements.lifecycle import start_engagement
from workflows.services import Services

EVENT = cast(Table, Event.__table__)
INSERT_EVENT = FastStatement(insert(EVENT))
SELECT_KINDS = FastStatement(
    select(EVENT.c.kind, EVENT.c.detail, EVENT.c.at).where(EVENT.c.kind == bindparam("k"))
)


def test_values_written_on_the_cursor_read_back_through_the_orm(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        instance_id = start_engagement(session, deployed, client="Acme", name="Job", actor="olga").instance_id
    at = datetime(2026, 12, 1, 11, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    row = {
        "instance_id": instance_id,
        "at": at,
        "kind": "probe",
        "task_id": None,
        "bpmn_id": None,
        "lane": None,
        "stage": None,
        "actor": "ana",
        "decision": None,
        "detail": {"n": 1, "tags": ["a", "é"]},
    }
    with deployed.db.unit_of_work() as session:
        INSERT_EVENT.executemany(session.connection(), [row])
    with deployed.db.unit_of_work(write=False) as session:
        event = session.scalars(select(Event).where(Event.kind == "probe")).one()
        assert event.at == at and event.at.tzinfo is not None
        assert event.detail == {"n": 1, "tags": ["a", "é"]}
        # and the prepared SELECT applies the same result types
        ((kind, detail, when),) = SELECT_KINDS.fetchall(session.connection(), {"k": "probe"})
        assert (kind, detail, when) == ("probe", {"n": 1, "tags": ["a", "é"]}, at.astimezone(UTC))


def test_driver_errors_surface_as_sqlalchemy_errors(deployed: Services) -> None:
    row = {
        "instance_id": 999_999,
        "at": datetime.now(UTC),
        "kind": "orphan",
        "task_id": None,
        "bpmn_id": None,
        "lane": None,
        "stage": None,
        "actor": None,
        "decision": None,
        "detail": {},
    }
    with pytest.raises(IntegrityError), deployed.db.unit_of_work() as session:
        INSERT_EVENT.executemany(session.connection(), [row])
