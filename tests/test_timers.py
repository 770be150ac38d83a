"""BPMN timers: the due-time projection and the worker that fires them, with a moved clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from sqlalchemy import func, select

from engine.errors import WorkflowExecutionError
from engine.models import Event, TimerDue
from engine.timers import TimerWorker
from workflows.services import Services, build_services

from .conftest import FakeClock

DATA = Path(__file__).resolve().parent / "data"
ROOT = DATA.parent.parent


@pytest.fixture
def spiff_clock(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """SpiffWorkflow's timers read the same fake clock as Baton (no test sleeps)."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock.now.astimezone(tz or UTC)

    monkeypatch.setattr(spiff_timer, "datetime", FrozenDatetime)
    return clock


@pytest.fixture
def timed(services: Services, spiff_clock: FakeClock) -> Services:
    with services.db.unit_of_work() as session:
        for name in ("timed.bpmn", "tick.bpmn"):
            services.definitions.deploy(session, (DATA / name).read_bytes(), {}, filename=name)
    return services


def worker(services: Services, clock: FakeClock) -> TimerWorker:
    return TimerWorker(services.db, services.runtime.fire_timers, clock=clock)


def start(services: Services, process_id: str) -> int:
    with services.db.unit_of_work() as session:
        return services.runtime.start(session, process_id, {}).instance_id


def open_steps(services: Services, instance_id: int) -> list[str]:
    with services.db.unit_of_work(write=False) as session:
        return sorted(t.bpmn_id for t in services.runtime.ready_tasks(session, instance_id))


def complete(services: Services, instance_id: int, bpmn_id: str) -> None:
    with services.db.unit_of_work() as session:
        task = next(t for t in services.runtime.ready_tasks(session, instance_id) if t.bpmn_id == bpmn_id)
        services.runtime.complete(session, instance_id, task.task_id, {})


def timer_rows(services: Services, instance_id: int) -> list[tuple[str, datetime]]:
    with services.db.unit_of_work(write=False) as session:
        rows = session.execute(
            select(TimerDue.bpmn_id, TimerDue.due_at).where(TimerDue.instance_id == instance_id)
        ).all()
        return sorted((b, d) for b, d in rows)


def fired(services: Services, instance_id: int) -> list[str]:
    with services.db.unit_of_work(write=False) as session:
        return list(
            session.scalars(
                select(Event.bpmn_id)
                .where(Event.instance_id == instance_id, Event.kind == "timer_fired")
                .order_by(Event.id)
            )
        )


def test_a_late_draft_makes_the_am_chase_the_client_and_a_day_later_production_starts(
    timed: Services,
) -> None:
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    t0 = clock.now
    instance_id = start(timed, "timed")
    assert open_steps(timed, instance_id) == ["draft"]
    assert timer_rows(timed, instance_id) == [("chase", t0 + timedelta(hours=2))]

    clock.now = t0 + timedelta(hours=1)
    assert worker(timed, clock).run_once().fired == 0
    assert open_steps(timed, instance_id) == ["draft"]

    clock.now = t0 + timedelta(hours=3)
    stats = worker(timed, clock).run_once()
    assert (stats.fired, stats.failures) == (1, 0)
    assert open_steps(timed, instance_id) == ["chase_client", "draft"]  # non-interrupting
    assert fired(timed, instance_id) == ["chase"]
    assert timer_rows(timed, instance_id) == []
    assert worker(timed, clock).run_once().fired == 0  # fired once, not again

    complete(timed, instance_id, "draft")
    assert timer_rows(timed, instance_id) == [("wait_day", clock.now + timedelta(days=1))]
    clock.now += timedelta(days=1, minutes=1)
    assert worker(timed, clock).run_once().fired == 1
    assert "produce" in open_steps(timed, instance_id)


def test_a_weekly_check_in_fires_four_times_over_a_four_week_production(timed: Services) -> None:
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    instance_id = start(timed, "timed")
    complete(timed, instance_id, "draft")
    clock.now += timedelta(days=1, minutes=1)
    worker(timed, clock).run_once()
    assert "produce" in open_steps(timed, instance_id)
    for week in range(1, 6):
        clock.now += timedelta(weeks=1, minutes=1)
        worker(timed, clock).run_once()
        checkins = fired(timed, instance_id).count("weekly")
        assert checkins == min(week, 4)
    with timed.db.unit_of_work(write=False) as session:
        open_checkins = [t for t in timed.runtime.ready_tasks(session, instance_id) if t.bpmn_id == "checkin"]
    assert len(open_checkins) == 4
    assert [b for b, _ in timer_rows(timed, instance_id)] == []


def test_completing_the_waiting_step_withdraws_its_boundary_timer(timed: Services) -> None:
    instance_id = start(timed, "timed")
    complete(timed, instance_id, "draft")
    assert [b for b, _ in timer_rows(timed, instance_id)] == ["wait_day"]


def test_a_broken_instance_is_postponed_and_does_not_block_the_others(timed: Services) -> None:
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    broken, healthy = start(timed, "tick"), start(timed, "tick")
    clock.now += timedelta(minutes=2)

    def fire(session: Any, instance_id: int) -> int:
        if instance_id == broken:
            raise WorkflowExecutionError("script failed", "wait")
        return timed.runtime.fire_timers(session, instance_id)

    stats = TimerWorker(timed.db, fire, clock=clock).run_once()
    assert (stats.fired, stats.failures) == (1, 1)
    assert open_steps(timed, healthy) == ["after"]
    (row,) = timer_rows(timed, broken)
    assert row[1] == clock.now + timedelta(minutes=1)


def test_two_workers_fire_a_thousand_due_timers_each_exactly_once(timed: Services, database_url: str) -> None:
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    with timed.db.unit_of_work() as session:
        ids = [timed.runtime.start(session, "tick", {}).instance_id for _ in range(1000)]
    clock.now += timedelta(minutes=2)
    others = [
        build_services(database_url, definitions_dir=ROOT / "definitions", clock=clock) for _ in range(2)
    ]
    results: list[Any] = []
    try:
        threads = [
            threading.Thread(target=lambda s=s: results.append(worker(s, clock).run_once())) for s in others
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in others:
            s.db.dispose()
    assert sum(r.fired for r in results) == 1000
    assert all(r.failures == 0 for r in results)
    with timed.db.unit_of_work(write=False) as session:
        per_instance = dict(
            session.execute(
                select(Event.instance_id, func.count())
                .where(Event.kind == "timer_fired")
                .group_by(Event.instance_id)
            ).all()
        )
        assert per_instance == dict.fromkeys(ids, 1)
        assert session.scalar(select(func.count()).select_from(TimerDue)) == 0


def test_baton_worker_once_fires_due_timers_from_the_command_line(timed: Services, database_url: str) -> None:
    from click.testing import CliRunner

    from webui.cli import cli

    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    instance_id = start(timed, "tick")
    runner = CliRunner()
    args = ["--db", database_url, "--definitions", str(ROOT / "definitions"), "worker", "--once"]
    result = runner.invoke(cli, args, obj={})
    assert result.exit_code == 0 and "fired 0 timer(s)" in result.output
    # the CLI's worker reads the real clock: make the row due for it, and the timer due for
    # SpiffWorkflow (whose clock this test moves)
    with timed.db.unit_of_work() as session:
        session.execute(TimerDue.__table__.update().values(due_at=datetime(2000, 1, 1, tzinfo=UTC)))
    clock.now += timedelta(days=1)
    result = runner.invoke(cli, args, obj={})
    assert result.exit_code == 0, result.output
    assert "fired 1 timer(s) on 1 instance(s); 0 failure(s)" in result.output
    assert open_steps(timed, instance_id) == ["after"]
