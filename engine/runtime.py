"""The runtime: start instances, complete ready tasks, cancel; keep projections in step.

Every public method takes the caller's session (its unit of work): instance state,
the `human_task` projection and the event log change in that one transaction.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task, TaskState
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from .definitions import FORM_PROPERTY, DefinitionInfo, DefinitionRegistry, element_id, properties_of
from .errors import (
    ConflictError,
    FieldError,
    FormValidationError,
    NotFoundError,
    TaskNotReadyError,
    WorkflowExecutionError,
    WorkflowLimitError,
)
from .fastsql import FastStatement
from .models import Event, HumanTask
from .serialization import frontier_of, iter_all_tasks
from .store import InstanceHead, InstanceStore, LiveInstance, new_instance_row
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


class TaskPolicy(Protocol):
    """Decides the extra projection columns of a ready task (due date, assignee)."""

    def on_ready(self, session: Session, task: ReadyTask) -> Mapping[str, Any]:
        """Return values for `human_task` columns such as `due_at` and `assignee`."""
        ...


class NoPolicy:
    """The default policy: no due dates, no assignee."""

    def on_ready(self, session: Session, task: ReadyTask) -> Mapping[str, Any]:
        """Return nothing extra."""
        return {}


@dataclass
class StepResult:
    """What a step did."""

    instance_id: int
    revision: int
    status: str
    ready: list[str] = field(default_factory=list)  # bpmn ids of tasks that became ready
    end_event: str | None = None
    rows_written: int = 0


@dataclass
class _Projection:
    """How a step changes the human-task projection and the instance head."""

    ready_new: list[Task]
    gone: set[str]
    open_ids: set[str]
    stages: list[str]
    finished: bool
    end_event: str | None
    timers: dict[str, tuple[str, datetime]]


_HUMAN = cast(Table, HumanTask.__table__)
_EVENT = cast(Table, Event.__table__)
_INSERT_HUMAN = FastStatement(insert(_HUMAN))
_INSERT_EVENT = FastStatement(insert(_EVENT))
_CLOSE_HUMAN = FastStatement(
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
_HUMAN_EXTRA_KEYS = ("due_at", "assignee", "claimed_by", "claimed_at")


class Runtime:
    """Runs workflow instances stored by an `InstanceStore`.

    Args:
        definitions: the definition registry.
        store: the instance store.
        policy: decides due dates and assignees of ready tasks.
        clock: returns the current time (tests inject their own).
    """

    def __init__(
        self,
        definitions: DefinitionRegistry,
        store: InstanceStore,
        policy: TaskPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.definitions = definitions
        self.store = store
        self.policy: TaskPolicy = policy or NoPolicy()
        self.clock = clock or (lambda: datetime.now(UTC))

    # -- commands --------------------------------------------------------------------

    def start(
        self,
        session: Session,
        process_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
        definition_id: int | None = None,
    ) -> StepResult:
        """Start an instance of the latest version of `process_id` (or of `definition_id`).

        Raises:
            NotFoundError: nothing deployed under that id.
            WorkflowExecutionError: the first engine steps failed; nothing is stored.
        """
        if definition_id is None:
            definition_id = self.definitions.latest(session, process_id).id
        definition = self.definitions.info(session, definition_id)
        now = self.clock()
        workflow = self.store.new_workflow(definition)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(copy.deepcopy(dict(data or {})))
        self._run(lambda: workflow.do_engine_steps())
        live = LiveInstance(0, definition.id, 0, workflow, {})
        proj = _project(live, frontier_of(workflow).tasks, list(iter_all_tasks(workflow)), since=0.0)
        row = new_instance_row(definition, now)
        row.active_stages = proj.stages
        if proj.finished:
            row.status, row.ended_at, row.end_event = "completed", now, proj.end_event
        self.store.insert(session, row, live)
        events = [
            _event_row(
                row.id,
                now,
                "started",
                actor=actor,
                detail={"definition": definition.process_id, "version": definition.version},
            )
        ]
        self._write_projection(session, row.id, live, proj, now, events, actor=actor)
        return StepResult(
            row.id,
            row.revision,
            row.status,
            [element_id(t.task_spec) for t in proj.ready_new],
            proj.end_event,
            len(live.rows),
        )

    def complete(
        self,
        session: Session,
        instance_id: int,
        task_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
        expected_revision: int | None = None,
        decision: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> StepResult:
        """Complete a ready user/manual task with form data and run the engine until it waits.

        Args:
            session: the unit of work.
            instance_id: the instance.
            task_id: the task's id (a UUID string, as in `human_task.task_id`).
            data: the submitted form; validated against the task's JSON Schema first.
            actor: who completes it (recorded in the projection and the event).
            expected_revision: fail with ConflictError unless the instance is at this revision.
            decision: the outcome to record in the event log (approvals, QC...).
            detail: extra facts for the event log.

        Raises:
            NotFoundError, TaskNotReadyError, ConflictError, FormValidationError,
            WorkflowExecutionError.
        """
        head, live = self.store.checkout(session, instance_id)
        if expected_revision is not None and head.revision != expected_revision:
            self.store.cache.put(live)
            raise ConflictError(
                f"instance {instance_id} is at revision {head.revision}, not {expected_revision}; reload it"
            )
        task = _find_task(live, task_id)
        if head.status != "running" or task.state != TaskState.READY or not task.task_spec.manual:
            self.store.cache.put(live)  # untouched: keep it warm
            raise TaskNotReadyError(
                f"task {task_id} ({element_id(task.task_spec)}) is {TaskState.get_name(task.state).lower()}, "
                "not waiting for input"
            )
        definition = self.definitions.info(session, head.definition_id)
        submitted = copy.deepcopy(dict(data or {}))
        try:
            self._validate(definition, task, submitted)
        except FormValidationError:
            self.store.cache.put(live)
            raise
        now = self.clock()
        since = time.time()

        def step() -> None:
            task.set_data(**submitted)
            task.run()
            live.workflow.do_engine_steps()

        self._run(step)
        diff = self.store.diff(live, since)
        proj = _project(live, diff.frontier.tasks if diff.frontier else [], diff.candidates, since)

        def project() -> None:
            _CLOSE_HUMAN.execute(
                session.connection(),
                {
                    "b_instance": instance_id,
                    "b_task": task_id,
                    "b_state": "completed",
                    "b_at": now,
                    "b_actor": actor,
                },
            )
            event = _event_row(
                instance_id, now, "task_completed", task=task, actor=actor, decision=decision, detail=detail
            )
            proj.gone.discard(task_id)
            self._write_projection(session, instance_id, live, proj, now, [event], actor=actor)

        values = self._head_values(head, proj, now)
        revision = self.store.save(session, head, live, diff, values, now, also=project)
        return StepResult(
            instance_id,
            revision,
            "completed" if proj.finished else head.status,
            [element_id(t.task_spec) for t in proj.ready_new],
            proj.end_event,
            len(diff.upserts) + len(diff.deletes),
        )

    def cancel(
        self, session: Session, instance_id: int, *, actor: str | None = None, reason: str = ""
    ) -> StepResult:
        """Cancel a running instance; its open tasks are withdrawn.

        Raises:
            NotFoundError, ConflictError (not running).
        """
        head, live = self.store.checkout(session, instance_id)
        if head.status != "running":
            self.store.cache.put(live)
            raise ConflictError(f"instance {instance_id} is {head.status}, not running")
        now = self.clock()
        since = time.time()
        self._run(lambda: live.workflow.cancel())
        diff = self.store.diff(live, since)
        proj = _project(live, diff.frontier.tasks if diff.frontier else [], diff.candidates, since)
        values = {"status": "cancelled", "ended_at": now, "active_stages": []}
        events = [_event_row(instance_id, now, "cancelled", actor=actor, detail={"reason": reason})]
        proj.finished = False  # cancelled, not completed
        revision = self.store.save(
            session,
            head,
            live,
            diff,
            values,
            now,
            also=lambda: self._write_projection(session, instance_id, live, proj, now, events, actor=actor),
        )
        return StepResult(instance_id, revision, "cancelled", [], None, len(diff.upserts) + len(diff.deletes))

    def fire_timers(self, session: Session, instance_id: int) -> int:
        """Run an instance's due timers (the timer worker calls this).

        Returns:
            How many timers fired (0 if none was due for the engine, or the instance ended).
        """
        head, live = self.store.checkout(session, instance_id)
        if head.status != "running":
            self.store.cache.put(live)
            write_timers(session, instance_id, live.timers, {})
            return 0
        now = self.clock()
        since = time.time()

        def step() -> None:
            live.workflow.refresh_timers()
            live.workflow.do_engine_steps()

        self._run(step)
        diff = self.store.diff(live, since)
        proj = _project(live, diff.frontier.tasks if diff.frontier else [], diff.candidates, since)
        fired: list[int] = []
        self.store.save(
            session,
            head,
            live,
            diff,
            self._head_values(head, proj, now),
            now,
            also=lambda: fired.append(
                self._write_projection(session, instance_id, live, proj, now, [], actor=None)
            ),
        )
        return fired[0]

    # -- queries ---------------------------------------------------------------------

    def ready_tasks(self, session: Session, instance_id: int) -> list[HumanTask]:
        """Open human tasks of an instance, from the projection."""
        return list(
            session.scalars(
                select(HumanTask)
                .where(HumanTask.instance_id == instance_id, HumanTask.state == "ready")
                .order_by(HumanTask.id)
            )
        )

    def history(self, session: Session, instance_id: int) -> list[Event]:
        """The event log of an instance, oldest first."""
        return list(session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.id)))

    # -- internals -------------------------------------------------------------------

    def _validate(self, definition: DefinitionInfo, task: Task, data: dict[str, Any]) -> None:
        form = properties_of(task.task_spec).get(FORM_PROPERTY)
        if form is None:
            return
        validator = self.definitions.form_validator(definition, form)
        if validator is None:
            raise FormValidationError(form, [FieldError("", "the definition does not carry this form")])
        errors = [_field_error(e) for e in validator.iter_errors(data)]
        if errors:
            raise FormValidationError(form, sorted(errors, key=lambda e: e.path))

    @staticmethod
    def _run(step: Callable[[], Any]) -> None:
        try:
            step()
        except SpiffWorkflowException as exc:
            spec = getattr(exc, "task_spec", None)
            eid = element_id(spec) if spec is not None else None
            raise WorkflowExecutionError(str(exc).split("\n")[0], eid) from exc
        except RecursionError as exc:
            raise WorkflowLimitError("the instance is too deep to run (endless loop?)") from exc

    @staticmethod
    def _head_values(head: InstanceHead, proj: _Projection, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if proj.stages != head.active_stages:
            values["active_stages"] = proj.stages
        if proj.finished and head.status == "running":
            values.update(status="completed", ended_at=now, end_event=proj.end_event)
        return values

    def _write_projection(
        self,
        session: Session,
        instance_id: int,
        live: LiveInstance,
        proj: _Projection,
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
        for task in proj.ready_new:
            info = _ready_info(instance_id, task, now)
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
                "state": "ready",
                "created_at": now,
                "completed_at": None,
                "completed_by": None,
            }
            row.update({k: extra.get(k) for k in _HUMAN_EXTRA_KEYS})
            new_rows.append(row)
            events.append(_event_row(instance_id, now, "task_ready", task=task))
        if new_rows:
            _INSERT_HUMAN.executemany(conn, new_rows)
        if proj.finished:
            events.append(
                _event_row(instance_id, now, "completed", actor=actor, detail={"end_event": proj.end_event})
            )
        fired = self._write_timers(session, instance_id, live, proj, now, events)
        _INSERT_EVENT.executemany(conn, events)
        live.open_human_tasks = proj.open_ids
        return fired

    @staticmethod
    def _write_timers(
        session: Session,
        instance_id: int,
        live: LiveInstance,
        proj: _Projection,
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
                events.append(_event_row(instance_id, now, "timer_fired", task=task))
                fired += 1
        for task_id in moved:  # a cycle timer fired and now waits for its next occurrence
            task = live.workflow.get_task_from_id(UUID(task_id))
            events.append(_event_row(instance_id, now, "timer_fired", task=task, detail={"cycle": True}))
            fired += 1
        live.timers = {tid: due for tid, (_bpmn, due) in proj.timers.items()}
        return fired


def _project(
    live: LiveInstance, unfinished: list[tuple[str, Task]], changed: list[tuple[str, Task]], since: float
) -> _Projection:
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
        if len(task.workflow.tasks) > MAX_TREE_DEPTH and _depth(task) > MAX_TREE_DEPTH:
            raise WorkflowLimitError(
                "the instance has looped too many times to run safely; cancel it and start a new one",
                element_id(task.task_spec),
            )
    stages = sorted({p for t in ready.values() if (p := properties_of(t.task_spec).get(STAGE_PROPERTY))})
    return _Projection(
        ready_new,
        live.open_human_tasks.difference(ready),
        set(ready),
        stages,
        not unfinished,
        end_event,
        waiting_timers(unfinished),
    )


def _ready_info(instance_id: int, task: Task, now: datetime) -> ReadyTask:
    props = properties_of(task.task_spec)
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
    )


def _event_row(
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


def _find_task(live: LiveInstance, task_id: str) -> Task:
    try:
        uid = UUID(task_id)
    except (ValueError, TypeError) as exc:
        raise NotFoundError(f"'{task_id}' is not a task id") from exc
    task = live.workflow.get_task_from_id(uid)
    if task is None:
        raise NotFoundError(f"instance {live.instance_id} has no task {task_id}")
    return task


def _depth(task: Task) -> int:
    depth = 0
    current = task.parent
    while current is not None:
        depth += 1
        current = current.parent
    return depth


def _field_error(error: Any) -> FieldError:
    path = "/".join(str(p) for p in error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            path = f"{path}/{missing[0]}" if path else missing[0]
            return FieldError(path, "is required")
    return FieldError(path, error.message)
