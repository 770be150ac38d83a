"""Projections of a step: which human tasks opened or closed, timers, events -- and writing them.

Computed from the tasks the step touched (never from a full walk of the workflow) and written
with prepared statements in the step's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.task import Task, TaskState
from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from .compaction import run_key
from .definitions import FORM_PROPERTY, element_id, properties_of
from .errors import WorkflowLimitError
from .events import EventLog
from .fastsql import FastStatement
from .models import HumanTask
from .store import LiveInstance
from .timers import waiting_timers, write_timers

STAGE_PROPERTY = "stage"
# SpiffWorkflow's task iterators stop descending at depth 1000 and then miss tasks;
# refuse a step that would take an instance close to that.
MAX_TREE_DEPTH = 900


@dataclass(frozen=True)
class ReadyTask:
    """A user/manual task that just became ready, as policies see it."""

    instance_id: int
    task_id: str
    bpmn_id: str
    title: str
    lane: str | None
    stage: str | None
    form: str | None
    properties: Mapping[str, str]
    ready_at: datetime
    data: Mapping[str, Any]
    multi_instance_of: str | None = None  # the multi-instance activity's task id, for its instances
    run: int | None = None  # 1 the first time the element is ready, 2 when it runs again...


class TaskPolicy(Protocol):
    """Decides the extra projection columns of a ready task: its deadline and who holds it.

    The deadline columns are `due_at`, `warn_at` and, named `sla_*` in the store,
    `sla_state` (on_track, at_risk, breached), `sla_next_at` (when the `DeadlineSweeper`
    looks next) and `sla_clock` (which clock it runs on).
    """

    def on_ready(self, session: Session, task: ReadyTask) -> Mapping[str, Any]:
        """Return values for `human_task` columns such as `due_at` and `assignee`."""
        ...


class NoPolicy:
    """The default policy: no due dates, no assignee."""

    def on_ready(self, session: Session, task: ReadyTask) -> Mapping[str, Any]:
        """Return nothing extra."""
        return {}


@dataclass
class Projection:
    """How a step changes the human-task projection and the instance head."""

    ready_new: list[Task]
    gone: set[str]
    open_ids: set[str]
    stages: list[str]
    finished: bool
    end_event: str | None
    timers: dict[str, tuple[str, datetime]]


_HUMAN = cast(Table, HumanTask.__table__)
_INSERT_HUMAN = FastStatement(insert(_HUMAN))
CLOSE_HUMAN = FastStatement(
    update(_HUMAN)
    .where(_HUMAN.c.instance_id == bindparam("b_instance"), _HUMAN.c.task_id == bindparam("b_task"))
    .values(state=bindparam("b_state"), completed_at=bindparam("b_at"), completed_by=bindparam("b_actor"))
)
_CANCEL_HUMAN = FastStatement(
    update(_HUMAN)
    .where(
        _HUMAN.c.instance_id == bindparam("b_instance"),
        _HUMAN.c.task_id == bindparam("b_task"),
        _HUMAN.c.state == "ready",
    )
    .values(state="cancelled", completed_at=bindparam("b_at"))
)
_EVENT_KEYS = ("task_id", "bpmn_id", "lane", "stage", "actor", "decision")
_HUMAN_EXTRA_KEYS = (
    "due_at",
    "warn_at",
    "sla_state",
    "sla_next_at",
    "sla_clock",
    "assignee",
    "candidate_group",
    "claimed_by",
    "claimed_at",
)
# what listeners learn about a new task from its `task_ready` event (when the policy set it)
_READY_DETAIL_KEYS = ("assignee", "candidate_group", "sla_clock")


class ProjectionWriter:
    """Writes what a step changed in the projections: `human_task`, `timer_due`, events.

    Args:
        policy: decides due dates and assignees of tasks that become ready.
        log: where the step's events go (and its listeners).
    """

    def __init__(self, policy: TaskPolicy, log: EventLog | None = None) -> None:
        self.policy = policy
        self.log = log or EventLog()

    def write(
        self,
        session: Session,
        instance_id: int,
        live: LiveInstance,
        proj: Projection,
        now: datetime,
        events: list[dict[str, Any]],
        *,
        actor: str | None,
    ) -> int:
        """Write the projection of a step; returns how many timers fired in it."""
        conn = session.connection()
        if proj.gone:
            # anything that left the tree unfinished without being completed was withdrawn
            _CANCEL_HUMAN.executemany(
                conn, [{"b_instance": instance_id, "b_task": tid, "b_at": now} for tid in sorted(proj.gone)]
            )
        new_rows = []
        runs = live.counters.get("runs")
        for task in proj.ready_new:
            info = ready_info(instance_id, task, now, runs)
            extra = self.policy.on_ready(session, info)
            row = {
                "instance_id": instance_id,
                "task_id": info.task_id,
                "bpmn_id": info.bpmn_id,
                "title": info.title,
                "lane": info.lane,
                "stage": info.stage,
                "form": info.form,
                "properties": dict(info.properties),
                "multi_instance_of": info.multi_instance_of,
                "run": info.run,
                "definition_id": live.definition_id,
                "state": "ready",
                "created_at": now,
                "completed_at": None,
                "completed_by": None,
            }
            row.update({k: extra.get(k) for k in _HUMAN_EXTRA_KEYS})
            new_rows.append(row)
            ready = {k: row[k] for k in _READY_DETAIL_KEYS if row[k] is not None}
            events.append(event_row(instance_id, now, "task_ready", task=task, detail=ready))
        if new_rows:
            _INSERT_HUMAN.executemany(conn, new_rows)
        if proj.finished:
            events.append(
                event_row(instance_id, now, "completed", actor=actor, detail={"end_event": proj.end_event})
            )
        fired = self._write_timers(session, instance_id, live, proj, now, events)
        self.log.append(session, events)
        live.open_human_tasks = proj.open_ids
        return fired

    @staticmethod
    def _write_timers(
        session: Session,
        instance_id: int,
        live: LiveInstance,
        proj: Projection,
        now: datetime,
        events: list[dict[str, Any]],
    ) -> int:
        removed, moved = write_timers(session, instance_id, live.timers, proj.timers)
        fired = 0
        for task_id in removed:
            # a timer leaves the queue when it fired (or ran its last cycle) or when its task
            # was withdrawn (the activity it was attached to finished first)
            task = live.workflow.get_task_from_id(UUID(task_id))
            if task is not None and task._state != TaskState.CANCELLED and live.timers[task_id] <= now:
                events.append(event_row(instance_id, now, "timer_fired", task=task))
                fired += 1
        for task_id in moved:  # a cycle timer fired and now waits for its next occurrence
            task = live.workflow.get_task_from_id(UUID(task_id))
            events.append(event_row(instance_id, now, "timer_fired", task=task, detail={"cycle": True}))
            fired += 1
        live.timers = {tid: due for tid, (_bpmn, due) in proj.timers.items()}
        return fired


def project(
    live: LiveInstance, unfinished: list[tuple[str, Task]], changed: list[tuple[str, Task]], since: float
) -> Projection:
    """Derive projection changes from the unfinished tasks and those the step changed.

    Raises:
        WorkflowLimitError: a new task sits too deep in the tree for SpiffWorkflow to run safely.
    """
    ready = {
        str(task.id): task
        for _key, task in unfinished
        if task._state == TaskState.READY and task.task_spec.manual
    }
    end_event = None
    for key, task in changed:
        if (
            key == ""
            and task._state == TaskState.COMPLETED
            and task.last_state_change >= since
            and isinstance(task.task_spec, EndEvent)
        ):
            end_event = element_id(task.task_spec)
    ready_new = [t for tid, t in ready.items() if tid not in live.open_human_tasks]
    for task in ready_new:
        # depth never exceeds the number of tasks: only walk up the tree when it could be deep
        if len(task.workflow.tasks) > MAX_TREE_DEPTH and depth(task) > MAX_TREE_DEPTH:
            raise WorkflowLimitError(
                "the instance has looped too many times to run safely; cancel it and start a new one",
                element_id(task.task_spec),
            )
    stages = sorted({p for t in ready.values() if (p := properties_of(t.task_spec).get(STAGE_PROPERTY))})
    return Projection(
        ready_new,
        live.open_human_tasks.difference(ready),
        set(ready),
        stages,
        not unfinished,
        end_event,
        waiting_timers(unfinished),
    )


def run_of(task: Task, runs: Mapping[str, int] | None = None) -> int:
    """Which run of its element `task` is: 1 + the runs of the same element completed before it.
    (An instance of a multi-instance activity has none: its activity is the run.)

    Args:
        task: a task that just became ready.
        runs: completed runs that compaction took out of the tree, by `run_key` (the
            instance's counters); those still in the tree are counted there.
    """
    spec = task.task_spec
    in_tree = sum(
        1 for t in task.workflow.tasks.values() if t.task_spec is spec and t._state == TaskState.COMPLETED
    )
    if not runs:
        return 1 + in_tree
    workflow = task.workflow
    key = "" if workflow is workflow.top_workflow else str(workflow.parent_task_id)
    return 1 + in_tree + runs.get(run_key(key, spec), 0)


def ready_info(
    instance_id: int, task: Task, now: datetime, runs: Mapping[str, int] | None = None
) -> ReadyTask:
    props = properties_of(task.task_spec)
    multi_instance_of = (
        str(task.parent.id)
        if task.parent is not None and isinstance(task.parent.task_spec, MultiInstanceTask)
        else None
    )
    return ReadyTask(
        instance_id=instance_id,
        task_id=str(task.id),
        bpmn_id=element_id(task.task_spec),
        title=task.task_spec.bpmn_name or element_id(task.task_spec),
        lane=task.task_spec.lane,
        stage=props.get(STAGE_PROPERTY),
        form=props.get(FORM_PROPERTY),
        properties=props,
        ready_at=now,
        data=task.data,
        multi_instance_of=multi_instance_of,
        run=None if multi_instance_of is not None else run_of(task, runs),
    )


def event_row(
    instance_id: int,
    at: datetime,
    kind: str,
    *,
    task: Task | None = None,
    actor: str | None = None,
    decision: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_EVENT_KEYS)
    row.update(
        instance_id=instance_id, at=at, kind=kind, actor=actor, decision=decision, detail=dict(detail or {})
    )
    if task is not None:
        row.update(
            task_id=str(task.id),
            bpmn_id=element_id(task.task_spec),
            lane=task.task_spec.lane,
            stage=properties_of(task.task_spec).get(STAGE_PROPERTY),
        )
    return row


def depth(task: Task) -> int:
    depth = 0
    current = task.parent
    while current is not None:
        depth += 1
        current = current.parent
    return depth
