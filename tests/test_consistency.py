"""The store stays consistent: concurrent completions, stale writers, crashes mid-step."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from SpiffWorkflow.task import TaskState
from sqlalchemy import func, select

from engine.errors import ConflictError, FormValidationError, TaskNotReadyError
from engine.models import Event, HumanTask, TaskData, TaskRow, WorkflowInstance
from workflows.bootstrap import build_services
from workflows.demo.samples import STORIES
from workflows.engagements.lifecycle import start_engagement
from workflows.engagements.tasks import complete_task
from workflows.engagements.versions import engagement_version
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
FIRST = STORIES["happy_path"].steps[0]


def snapshot(services: Services, instance_id: int) -> dict[str, Any]:
    """Everything the database holds about an instance."""
    with services.db.unit_of_work(write=False) as session:
        inst = session.get(WorkflowInstance, instance_id)
        assert inst is not None
        rows = session.execute(
            select(TaskRow.id, TaskRow.body, TaskRow.data_hash)
            .where(TaskRow.instance_id == instance_id)
            .order_by(TaskRow.id)
        ).all()
        human = session.execute(
            select(HumanTask.task_id, HumanTask.state, HumanTask.completed_by)
            .where(HumanTask.instance_id == instance_id)
            .order_by(HumanTask.id)
        ).all()
        events = session.execute(
            select(Event.kind, Event.bpmn_id).where(Event.instance_id == instance_id).order_by(Event.id)
        ).all()
        return {
            "revision": inst.revision,
            "status": inst.status,
            "meta": inst.meta_json,
            "stages": inst.active_stages,
            "rows": [tuple(r) for r in rows],
            "human": [tuple(h) for h in human],
            "events": [tuple(e) for e in events],
        }


def start(services: Services) -> tuple[int, int]:
    with services.db.unit_of_work() as session:
        e = start_engagement(session, services, client="Acme", name="Rebrand", options={}, actor="olga")
        return e.id, e.instance_id


def test_two_people_complete_the_same_task_at_once_one_wins(deployed: Services) -> None:
    engagement_id, instance_id = start(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        (task,) = deployed.runtime.ready_tasks(session, instance_id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(who: str) -> None:
        barrier.wait()
        try:
            with deployed.db.unit_of_work() as session:
                complete_task(session, deployed, engagement_id, task.task_id, FIRST.data, actor=who)
            outcomes.append("won")
        except ConflictError as exc:
            outcomes.append(f"conflict: {exc}")

    threads = [threading.Thread(target=attempt, args=(n,)) for n in ("ana", "alex")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "won"], outcomes
    state = snapshot(deployed, instance_id)
    assert [e for e in state["events"] if e[0] == "task_completed"] == [("task_completed", FIRST.task)]
    assert state["revision"] == 2


def test_completing_an_already_completed_task_is_a_clear_conflict(deployed: Services) -> None:
    _, instance_id = start(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        (task,) = deployed.runtime.ready_tasks(session, instance_id)
    with deployed.db.unit_of_work() as session:
        deployed.runtime.complete(session, instance_id, task.task_id, FIRST.data, actor="ana")
    with (
        pytest.raises(TaskNotReadyError, match="not waiting for input"),
        deployed.db.unit_of_work() as session,
    ):
        deployed.runtime.complete(session, instance_id, task.task_id, FIRST.data, actor="ben")


def test_a_writer_holding_a_stale_revision_is_refused_and_loses_nothing(deployed: Services) -> None:
    engagement_id, instance_id = start(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        version = engagement_version(session, engagement_id)  # the engagement as read
    with deployed.db.unit_of_work() as session:
        complete_task(session, deployed, engagement_id, FIRST.task, FIRST.data, actor="ana")
    before = snapshot(deployed, instance_id)
    step2 = STORIES["happy_path"].steps[1]
    with pytest.raises(ConflictError, match="version"), deployed.db.unit_of_work() as session:
        complete_task(
            session, deployed, engagement_id, step2.task, step2.data, actor="ana", expected_version=version
        )
    assert snapshot(deployed, instance_id) == before


def test_the_optimistic_lock_catches_a_writer_that_loaded_before_another_commit(deployed: Services) -> None:
    """Two processes, no row lock: the later save fails on the revision check."""
    engagement_id, instance_id = start(deployed)
    other = build_services(deployed.db.url, definitions_dir=deployed.definitions_dir)
    try:
        session = deployed.db.sessions()
        head, live = deployed.store.checkout(session, instance_id, lock=False)
        session.commit()  # release SQLite's lock; the objects stay loaded
        with other.db.unit_of_work() as s2:
            complete_task(s2, other, engagement_id, FIRST.task, FIRST.data, actor="ana")
        task = live.workflow.get_tasks(state=TaskState.READY, manual=True)[0]
        task.set_data(**FIRST.data)
        task.run()
        live.workflow.do_engine_steps()
        diff = deployed.store.diff(live, since=0.0)
        with pytest.raises(ConflictError, match="changed by someone else"):
            deployed.store.save(session, head, live, diff, {}, deployed.runtime.clock())
        session.rollback()
        session.close()
    finally:
        other.db.dispose()
    state = snapshot(deployed, instance_id)
    assert state["revision"] == 2
    assert [e for e in state["events"] if e[0] == "task_completed"] == [("task_completed", FIRST.task)]


def test_a_form_that_fails_validation_changes_nothing(deployed: Services) -> None:
    engagement_id, instance_id = start(deployed)
    before = snapshot(deployed, instance_id)
    with pytest.raises(FormValidationError) as info, deployed.db.unit_of_work() as session:
        complete_task(session, deployed, engagement_id, FIRST.task, {"unexpected": 1}, actor="ana")
    assert info.value.errors
    assert snapshot(deployed, instance_id) == before
    with deployed.db.unit_of_work() as session:  # and the task can still be completed
        complete_task(session, deployed, engagement_id, FIRST.task, FIRST.data, actor="ana")


KILLER = textwrap.dedent(
    """
    import json, os, signal, sys
    sys.path.insert(0, {root!r})
    from workflows.bootstrap import build_services
    from workflows.engagements.tasks import complete_task
    import engine.db, engine.projection

    where = sys.argv[1]
    svc = build_services({url!r}, definitions_dir={defs!r})
    if where == "mid-step":
        original = engine.projection.ProjectionWriter.write
        def die(self, *a, **k):
            original(self, *a, **k)  # every row of the step is written, the transaction is open
            os.kill(os.getpid(), signal.SIGKILL)
        engine.projection.ProjectionWriter.write = die
    else:
        # kill right after COMMIT returns
        original_commit = svc.db.sessions.class_.commit
        def commit_then_die(self):
            original_commit(self)
            os.kill(os.getpid(), signal.SIGKILL)
        svc.db.sessions.class_.commit = commit_then_die
    with svc.db.unit_of_work() as session:
        complete_task(session, svc, {engagement}, {task!r}, json.loads({data!r}), actor="ana")
    print("survived")
    """
)


@pytest.mark.parametrize("where", ["mid-step", "after-commit"])
def test_a_process_killed_during_a_completion_leaves_before_or_after(deployed: Services, where: str) -> None:
    engagement_id, instance_id = start(deployed)
    before = snapshot(deployed, instance_id)
    script = KILLER.format(
        root=str(ROOT),
        url=deployed.db.url,
        defs=str(deployed.definitions_dir),
        engagement=engagement_id,
        task=FIRST.task,
        data=json.dumps(FIRST.data),
    )
    proc = subprocess.run([sys.executable, "-c", script, where], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    deployed.store.cache.clear()
    after = snapshot(deployed, instance_id)
    if where == "mid-step":
        assert after == before
    else:
        assert after["revision"] == before["revision"] + 1
        assert ("task_completed", FIRST.task) in after["events"]
    # either way the instance restores and goes on
    step = STORIES["happy_path"].steps[0 if where == "mid-step" else 1]
    with deployed.db.unit_of_work() as session:
        complete_task(session, deployed, engagement_id, step.task, step.data, actor="ana")
    with deployed.db.unit_of_work(write=False) as session:
        hashes = set(session.scalars(select(TaskRow.data_hash).where(TaskRow.instance_id == instance_id)))
        stored = set(session.scalars(select(TaskData.hash).where(TaskData.hash.in_(hashes))))
        assert hashes == stored
        assert (
            session.scalar(
                select(func.count())
                .select_from(HumanTask)
                .where(HumanTask.instance_id == instance_id, HumanTask.state == "ready")
            )
            == 1
        )


def test_an_ops_lead_cancels_an_engagement_and_its_open_tasks_are_withdrawn(deployed: Services) -> None:
    from workflows.engagements.lifecycle import cancel_engagement

    engagement_id, instance_id = start(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        (task,) = deployed.runtime.ready_tasks(session, instance_id)
    with pytest.raises(ValueError, match="say why"), deployed.db.unit_of_work() as session:
        cancel_engagement(session, deployed, engagement_id, actor="olga", reason=" ")
    with deployed.db.unit_of_work() as session:
        cancel_engagement(session, deployed, engagement_id, actor="olga", reason="client paused the budget")
    state = snapshot(deployed, instance_id)
    assert state["status"] == "cancelled" and state["stages"] == []
    assert state["human"] == [(task.task_id, "cancelled", None)]
    assert state["events"][-1] == ("cancelled", None)
    with pytest.raises(TaskNotReadyError), deployed.db.unit_of_work() as session:
        complete_task(session, deployed, engagement_id, task.task_id, FIRST.data, actor="ana")
    with pytest.raises(ConflictError, match="not running"), deployed.db.unit_of_work() as session:
        cancel_engagement(session, deployed, engagement_id, actor="olga", reason="again")
