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
from typing import Any, Protocol
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task, TaskState
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .definitions import FORM_PROPERTY, DefinitionRegistry, element_id, properties_of
from .errors import (
    ConflictError,
    FieldError,
    FormValidationError,
    NotFoundError,
    TaskNotReadyError,
    WorkflowExecutionError,
    WorkflowLimitError,
)
from .models import DefinitionVersion, Event, HumanTask, WorkflowInstance
from .serialization import TaskDiff
from .store import InstanceStore, LiveInstance, new_instance_row

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
        definition = (
            self.definitions.get(session, definition_id)
            if definition_id is not None
            else self.definitions.latest(session, process_id)
        )
        now = self.clock()
        workflow = self.store.new_workflow(definition)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(copy.deepcopy(dict(data or {})))
        self._run(lambda: workflow.do_engine_steps())
        live = LiveInstance(0, definition.id, 0, workflow, {})
        row = new_instance_row(definition, now)
        diff = self.store.insert(session, row, live)
        self._event(
            session,
            row.id,
            now,
            "started",
            actor=actor,
            detail={"definition": definition.process_id, "version": definition.version},
        )
        return self._after_step(session, row, live, diff, definition, now, since=0.0, actor=actor)

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
        row, live = self.store.checkout(session, instance_id)
        if expected_revision is not None and row.revision != expected_revision:
            raise ConflictError(
                f"instance {instance_id} is at revision {row.revision}, not {expected_revision}; reload it"
            )
        task = _find_task(live, task_id)
        if row.status != "running" or task.state != TaskState.READY or not task.task_spec.manual:
            self.store.cache.put(live)  # untouched: keep it warm
            raise TaskNotReadyError(
                f"task {task_id} ({element_id(task.task_spec)}) is {TaskState.get_name(task.state).lower()}, "
                "not waiting for input"
            )
        definition = self.definitions.get(session, row.definition_id)
        submitted = copy.deepcopy(dict(data or {}))
        try:
            self._validate(definition, task, submitted)
        except FormValidationError:
            self.store.cache.put(live)
            raise
        now = self.clock()
        since = time.time()
        completed_id = str(task.id)

        def step() -> None:
            task.set_data(**submitted)
            task.run()
            live.workflow.do_engine_steps()

        self._run(step)
        row.updated_at = now
        diff = self.store.save(session, row, live, since)
        session.execute(
            update(HumanTask)
            .where(HumanTask.instance_id == instance_id, HumanTask.task_id == completed_id)
            .values(state="completed", completed_at=now, completed_by=actor)
        )
        self._event(
            session,
            instance_id,
            now,
            "task_completed",
            task=task,
            actor=actor,
            decision=decision,
            detail=dict(detail or {}),
            props=properties_of(task.task_spec),
        )
        return self._after_step(session, row, live, diff, definition, now, since, actor=actor)

    def cancel(
        self, session: Session, instance_id: int, *, actor: str | None = None, reason: str = ""
    ) -> StepResult:
        """Cancel a running instance; its open tasks are withdrawn.

        Raises:
            NotFoundError, ConflictError (not running).
        """
        row, live = self.store.checkout(session, instance_id)
        if row.status != "running":
            self.store.cache.put(live)
            raise ConflictError(f"instance {instance_id} is {row.status}, not running")
        definition = self.definitions.get(session, row.definition_id)
        now = self.clock()
        since = time.time()
        self._run(lambda: live.workflow.cancel())
        row.status = "cancelled"
        row.updated_at = now
        diff = self.store.save(session, row, live, since)
        self._event(session, instance_id, now, "cancelled", actor=actor, detail={"reason": reason})
        return self._after_step(session, row, live, diff, definition, now, since, actor=actor)

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

    def _validate(self, definition: DefinitionVersion, task: Task, data: dict[str, Any]) -> None:
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

    def _after_step(
        self,
        session: Session,
        row: WorkflowInstance,
        live: LiveInstance,
        diff: TaskDiff,
        definition: DefinitionVersion,
        now: datetime,
        since: float,
        *,
        actor: str | None,
    ) -> StepResult:
        ready: dict[str, Task] = {}
        unfinished = False
        end_event = None
        for key, task in diff.candidates:
            state = task._state
            if state & TaskState.NOT_FINISHED_MASK:
                unfinished = True
                if state == TaskState.READY and task.task_spec.manual:
                    ready[str(task.id)] = task
            elif (
                key == ""
                and state == TaskState.COMPLETED
                and task.last_state_change >= since
                and isinstance(task.task_spec, EndEvent)
            ):
                end_event = element_id(task.task_spec)
        new_ids = [tid for tid in ready if tid not in live.open_human_tasks]
        gone = live.open_human_tasks.difference(ready)
        result = StepResult(
            row.id, row.revision, row.status, rows_written=len(diff.upserts) + len(diff.deletes)
        )
        if gone:
            # completed ones are marked by `complete`; anything else left the tree unfinished
            session.execute(
                update(HumanTask)
                .where(
                    HumanTask.instance_id == row.id, HumanTask.task_id.in_(gone), HumanTask.state == "ready"
                )
                .values(state="cancelled", completed_at=now)
            )
        for tid in new_ids:
            task = ready[tid]
            if _depth(task) > MAX_TREE_DEPTH:
                raise WorkflowLimitError(
                    "the instance has looped too many times to run safely; cancel it and start a new one",
                    element_id(task.task_spec),
                )
            self._project_ready(session, row.id, task, now)
            result.ready.append(element_id(task.task_spec))
        live.open_human_tasks = set(ready)
        stages = sorted({p for t in ready.values() if (p := properties_of(t.task_spec).get(STAGE_PROPERTY))})
        values: dict[str, Any] = {}
        if stages != row.active_stages:
            values["active_stages"] = stages
        if not unfinished and row.status == "running":
            values.update(status="completed", ended_at=now, end_event=end_event)
            self._event(session, row.id, now, "completed", actor=actor, detail={"end_event": end_event})
        elif row.status == "cancelled" and row.ended_at is None:
            values["ended_at"] = now
        if values:
            # a plain UPDATE: the revision was already bumped and checked by the store
            session.execute(update(WorkflowInstance).where(WorkflowInstance.id == row.id).values(**values))
            for k, v in values.items():
                set_committed_value(row, k, v)  # keep the loaded object in step without another flush
        result.status = values.get("status", row.status)
        result.end_event = end_event
        return result

    def _project_ready(self, session: Session, instance_id: int, task: Task, now: datetime) -> None:
        props = properties_of(task.task_spec)
        info = ReadyTask(
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
        extra = dict(self.policy.on_ready(session, info))
        session.execute(
            insert(HumanTask).values(
                instance_id=instance_id,
                task_id=info.task_id,
                bpmn_id=info.bpmn_id,
                title=info.title,
                lane=info.lane,
                stage=info.stage,
                form=info.form,
                properties=props,
                state="ready",
                created_at=now,
                **extra,
            )
        )
        self._event(session, instance_id, now, "task_ready", task=task, props=props)

    @staticmethod
    def _event(
        session: Session,
        instance_id: int,
        at: datetime,
        kind: str,
        *,
        task: Task | None = None,
        actor: str | None = None,
        decision: str | None = None,
        detail: Mapping[str, Any] | None = None,
        props: Mapping[str, str] | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "instance_id": instance_id,
            "at": at,
            "kind": kind,
            "actor": actor,
            "decision": decision,
            "detail": dict(detail or {}),
        }
        if task is not None:
            values.update(
                task_id=str(task.id),
                bpmn_id=element_id(task.task_spec),
                lane=task.task_spec.lane,
                stage=(props or {}).get(STAGE_PROPERTY),
            )
        session.execute(insert(Event).values(**values))


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
