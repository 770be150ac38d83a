"""BPMN timers: the due-time projection and the worker that fires them, with a moved clock."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from sqlalchemy import func, select

import engine.store as store_module
from engine.errors import InstanceEndedError, WorkflowExecutionError
from engine.models import Event, TimerDue, WorkflowInstance
from engine.store import expect_checkouts
from engine.timers import TimerWorker
from workflows.bootstrap import build_services
from workflows.services import Services

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


def test_a_broken_instance_in_the_middle_of_a_batch_is_set_aside_and_the_others_fire_once(
    timed: Services,
) -> None:
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    ids = [start(timed, "tick") for _ in range(5)]
    broken = ids[2]
    clock.now += timedelta(minutes=2)

    def fire(session: Any, instance_id: int) -> int:
        if instance_id == broken:
            raise WorkflowExecutionError("script failed", "wait")
        return timed.runtime.fire_timers(session, instance_id)

    stats = TimerWorker(timed.db, fire, clock=clock).run_once()
    assert (stats.fired, stats.failures) == (4, 1)
    assert stats.errors == [f"instance {broken}: [wait] script failed"]
    for healthy in ids[:2] + ids[3:]:
        assert fired(timed, healthy) == ["wait"]
        assert open_steps(timed, healthy) == ["after"]
    assert fired(timed, broken) == [] and open_steps(timed, broken) == []
    (row,) = timer_rows(timed, broken)
    assert row[1] == clock.now + timedelta(minutes=1)  # looked at again in a minute
    clock.now += timedelta(minutes=1)
    assert worker(timed, clock).run_once().fired == 1  # the script was fixed meanwhile
    assert fired(timed, broken) == ["wait"]


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

    from cli.main import cli

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


def test_a_batch_mixes_instances_cached_here_changed_elsewhere_and_never_seen(
    timed: Services, database_url: str
) -> None:
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    current, stale, cold = (start(timed, "timed") for _ in range(3))  # all three cached here
    elsewhere = build_services(database_url, definitions_dir=ROOT / "definitions", clock=clock)
    try:
        complete(elsewhere, stale, "draft")  # our cached copy of `stale` is now out of date
    finally:
        elsewhere.db.dispose()
    with timed.db.unit_of_work(write=False) as session:
        row = session.get(WorkflowInstance, cold)
        assert row is not None
        assert timed.store.cache.take(cold, row.revision) is not None  # forgotten, as after a restart
    clock.now += timedelta(days=1, minutes=1)
    stats = worker(timed, clock).run_once()  # the store verifies every save against a full encode
    assert (stats.fired, stats.instances, stats.failures) == (3, 3, 0)
    assert fired(timed, current) == ["chase"] and fired(timed, cold) == ["chase"]
    assert fired(timed, stale) == ["wait_day"]
    assert open_steps(timed, stale) == ["produce"]


def test_a_worker_reads_its_batch_together_not_instance_by_instance(
    timed: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    ids = [start(timed, "tick") for _ in range(10)]
    timed.store.cache.clear()
    single_reads: list[int] = []
    for name in ("_read_head", "_read_tree"):
        original = getattr(store_module, name)
        monkeypatch.setattr(
            store_module,
            name,
            lambda conn, instance_id, *a, _o=original, **k: (
                single_reads.append(instance_id) or _o(conn, instance_id, *a, **k)
            ),
        )
    clock.now += timedelta(minutes=2)
    assert worker(timed, clock).run_once().fired == 10
    assert single_reads == []
    assert all(fired(timed, i) == ["wait"] for i in ids)


def test_instances_read_for_a_batch_are_read_again_once_its_transaction_ended(timed: Services) -> None:
    first, second = start(timed, "tick"), start(timed, "tick")
    with timed.db.unit_of_work() as session:
        expect_checkouts(session, [first, second])
        timed.runtime.cancel(session, first)  # reads both instances, locked until the commit
        session.commit()
        with timed.db.unit_of_work() as other:
            timed.runtime.cancel(other, second)
        # read again, not from the batch: it has ended since, and only its history is left
        with pytest.raises(InstanceEndedError) as ended:
            timed.store.checkout(session, second)
        assert ended.value.status == "cancelled"


def test_a_worker_leaves_an_instance_a_user_is_stepping_for_later_without_waiting(
    timed: Services, database_url: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has one writer at a time: a worker queues behind the user's step")
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    busy, free = start(timed, "tick"), start(timed, "tick")
    clock.now += timedelta(minutes=2)
    results: list[Any] = []
    with timed.db.unit_of_work() as session:
        timed.store.checkout(session, busy)  # the user's step holds the instance's row lock
        thread = threading.Thread(target=lambda: results.append(worker(timed, clock).run_once()))
        thread.start()
        thread.join(timeout=30)
        waited = thread.is_alive()
    thread.join()
    assert not waited
    assert (results[0].fired, results[0].instances) == (1, 1)
    assert fired(timed, free) == ["wait"] and fired(timed, busy) == []
    assert worker(timed, clock).run_once().fired == 1
    assert fired(timed, busy) == ["wait"]


KILLED_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import UTC, datetime
    sys.path.insert(0, {root!r})
    import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
    from engine.runtime import Runtime
    from engine.timers import TimerWorker
    from workflows.bootstrap import build_services

    now = datetime.fromisoformat({now!r})

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return now.astimezone(tz or UTC)

    spiff_timer.datetime = Frozen
    svc = build_services({url!r}, definitions_dir={defs!r}, clock=lambda: now)
    original, calls = Runtime.fire_timers, []

    def fire_then_die(self, session, instance_id):
        fired = original(self, session, instance_id)  # written, not committed
        calls.append(instance_id)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return fired

    Runtime.fire_timers = fire_then_die
    TimerWorker(svc.db, svc.runtime.fire_timers, clock=lambda: now).run_once()
    print("survived")
    """
)


def test_a_worker_killed_in_the_middle_of_a_batch_loses_nothing_and_fires_nothing_twice(
    timed: Services, database_url: str
) -> None:
    clock = timed.runtime.clock
    assert isinstance(clock, FakeClock)
    ids = [start(timed, "tick") for _ in range(6)]
    clock.now += timedelta(minutes=2)
    script = KILLED_WORKER.format(
        root=str(ROOT), url=database_url, defs=str(ROOT / "definitions"), now=clock.now.isoformat()
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # its transaction is gone with it: wait until the database has let go of its locks
    with timed.db.unit_of_work() as session:
        locked = session.scalars(select(TimerDue.instance_id).with_for_update()).all()
        assert sorted(locked) == ids
    assert all(fired(timed, i) == [] for i in ids)
    timed.store.cache.clear()
    stats = worker(timed, clock).run_once()
    assert (stats.fired, stats.failures) == (6, 0)
    assert all(fired(timed, i) == ["wait"] and open_steps(timed, i) == ["after"] for i in ids)
