"""A batch of steps holds its row writes back and sends them together when the batch ends."""

from __future__ import annotations

from typing import cast

import pytest
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from engine.fastsql import FastStatement, deferred_writes
from engine.models import TaskData, TaskRow
from workflows.engagements.lifecycle import start_engagement
from workflows.services import Services

# defined parent first: that is the order held rows are sent in
INSERT_DATA = FastStatement(insert(cast(Table, TaskData.__table__)))
INSERT_ROW = FastStatement(insert(cast(Table, TaskRow.__table__)))
DATA = cast(Table, TaskData.__table__)
REWRITE_DATA = FastStatement(  # guarded like an instance's revision-checked UPDATE
    update(DATA).where(DATA.c.hash == bindparam("b_hash")).values(body=bindparam("b_body")),
    one_row_each=True,
)


def a_row(instance_id: int, task_id: str, data_hash: str) -> dict[str, object]:
    return {
        "instance_id": instance_id,
        "id": task_id,
        "workflow_key": "",
        "body": "{}",
        "data_hash": data_hash,
    }


def stored(services: Services, instance_id: int) -> list[str]:
    with services.db.unit_of_work(write=False) as session:
        return sorted(session.scalars(select(TaskRow.id).where(TaskRow.instance_id == instance_id)))


@pytest.fixture
def instance_id(deployed: Services) -> int:
    with deployed.db.unit_of_work() as session:
        return start_engagement(session, deployed, client="Acme", name="Job", actor="olga").instance_id


def test_held_rows_are_sent_when_the_batch_ends_parents_first(deployed: Services, instance_id: int) -> None:
    with deployed.db.unit_of_work() as session:
        conn = session.connection()
        before = session.scalar(select(func.count()).select_from(TaskRow))
        with deferred_writes(conn):
            # a step whose task rows come before the data they point to, then a second step
            INSERT_ROW.executemany(conn, [a_row(instance_id, "probe-1", "h1")])
            INSERT_DATA.executemany(conn, [{"hash": "h1", "body": "{}"}])
            INSERT_DATA.executemany(conn, [{"hash": "h2", "body": "{}"}])
            INSERT_ROW.executemany(conn, [a_row(instance_id, "probe-2", "h2")])
            assert session.scalar(select(func.count()).select_from(TaskRow)) == before  # held back
        assert session.scalar(select(func.count()).select_from(TaskRow)) == before + 2
    assert {"probe-1", "probe-2"} <= set(stored(deployed, instance_id))


def test_a_batch_that_fails_sends_nothing_it_held(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        conn = session.connection()
        with pytest.raises(ValueError), deferred_writes(conn):
            INSERT_DATA.executemany(conn, [{"hash": "h3", "body": "{}"}])
            raise ValueError("the step failed")
        INSERT_DATA.executemany(conn, [{"hash": "h4", "body": "{}"}])  # after the batch: sent now
    with deployed.db.unit_of_work(write=False) as session:
        assert session.get(TaskData, "h3") is None
        assert session.get(TaskData, "h4") is not None


def test_a_bad_held_row_fails_the_whole_batch_when_it_ends(deployed: Services, instance_id: int) -> None:
    with pytest.raises(IntegrityError), deployed.db.unit_of_work() as session:
        conn = session.connection()
        with deferred_writes(conn):
            INSERT_DATA.executemany(conn, [{"hash": "h6", "body": "{}"}])
            INSERT_ROW.executemany(conn, [a_row(instance_id, "probe-4", "no such data")])
    with deployed.db.unit_of_work(write=False) as session:
        assert session.get(TaskData, "h6") is None
    assert "probe-4" not in stored(deployed, instance_id)


def test_a_held_guarded_update_that_misses_its_row_fails_the_batch(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        INSERT_DATA.executemany(session.connection(), [{"hash": "h7", "body": "{}"}])
    with pytest.raises(StaleDataError), deployed.db.unit_of_work() as session:
        conn = session.connection()
        with deferred_writes(conn):
            REWRITE_DATA.executemany(conn, [{"b_hash": "h7", "b_body": "[1]"}])
            REWRITE_DATA.executemany(conn, [{"b_hash": "gone", "b_body": "[2]"}])
    with deployed.db.unit_of_work(write=False) as session:
        data = session.get(TaskData, "h7")
        assert data is not None and data.body == "{}"


def test_batches_do_not_nest(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        conn = session.connection()
        with deferred_writes(conn), pytest.raises(RuntimeError), deferred_writes(conn):
            pass
