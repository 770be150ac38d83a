"""The runtime: start instances, complete ready tasks, cancel; keep projections in step.

Every public method takes the caller's session (its unit of work): instance state,
the `human_task` projection and the event log change in that one transaction.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from referencing.exceptions import Unresolvable
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task, TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from .compaction import Compaction, Compactor
from .definitions import FORM_PROPERTY, DefinitionInfo, DefinitionRegistry, element_id, properties_of
from .errors import (
    ConflictError,
    FieldError,
    FormValidationError,
    InstanceEndedError,
    NotFoundError,
    ScriptLimitExceededError,
    ScriptsUnavailableError,
    TaskNotReadyError,
    WorkflowExecutionError,
    WorkflowLimitError,
)
from .events import EventLog
from .facts import step_facts
from .formschema import MAX_FORM_BYTES, check_size, field_error
from .models import Event, HumanTask, WorkflowInstance
from .projection import (
    CLOSE_HUMAN,
    NoPolicy,
    Projection,
    ProjectionWriter,
    TaskPolicy,
    event_row,
    project,
)
from .sandbox import EvaluatorUnavailableError, ScriptLimitError, sandbox_failure
from .serialization import frontier_of, iter_all_tasks
from .store import InstanceHead, InstanceStore, LiveInstance, new_instance_row
from .timers import drop_timers, write_timers


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
        events: the event log every step writes to (its listeners react in the step).
        compact: after each step, drop the part of the task tree no open task can need
            (`engine.compaction`); off, instances keep their whole history in the tree
            (the differential tests run both).
    """

    def __init__(
        self,
        definitions: DefinitionRegistry,
        store: InstanceStore,
        policy: TaskPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        events: EventLog | None = None,
        *,
        compact: bool = True,
    ) -> None:
        self.compactor = Compactor() if compact else None
        self.definitions = definitions
        self.store = store
        self.policy: TaskPolicy = policy or NoPolicy()
        self.events = events or EventLog()
        self.projection = ProjectionWriter(self.policy, self.events)
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
        frontier = frontier_of(workflow)
        proj = project(live, frontier.tasks, list(iter_all_tasks(workflow)), since=0.0)
        row = new_instance_row(definition, now)
        row.active_stages = proj.stages
        row.facts = step_facts(definition.facts, None, iter_all_tasks(workflow), 0.0)
        if proj.finished:
            row.status, row.ended_at, row.end_event = "completed", now, proj.end_event
        self.store.insert(session, row, live, frontier)
        events = [
            event_row(
                row.id,
                now,
                "started",
                actor=actor,
                detail={"definition": definition.process_id, "version": definition.version},
            )
        ]
        self.projection.write(session, row.id, live, proj, now, events, actor=actor)
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
        try:
            head, live = self.store.checkout(session, instance_id)
        except InstanceEndedError as exc:
            raise TaskNotReadyError(f"task {task_id} is not waiting for input: {exc}") from exc
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
        diff = self.store.diff(live, since, self._compact(live, since))
        proj = project(live, diff.frontier.tasks if diff.frontier else [], diff.candidates, since)

        def write_projection() -> None:
            CLOSE_HUMAN.execute(
                session.connection(),
                {
                    "b_instance": instance_id,
                    "b_task": task_id,
                    "b_state": "completed",
                    "b_at": now,
                    "b_actor": actor,
                },
            )
            event = event_row(
                instance_id, now, "task_completed", task=task, actor=actor, decision=decision, detail=detail
            )
            proj.gone.discard(task_id)
            self.projection.write(session, instance_id, live, proj, now, [event], actor=actor)

        facts = step_facts(definition.facts, head.facts, diff.candidates, since)
        values = self._head_values(head, proj, now, facts)
        revision = self.store.save(
            session, head, live, diff, values, now, also=write_projection, ending=proj.finished
        )
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
        try:
            head, live = self.store.checkout(session, instance_id)
        except InstanceEndedError as exc:
            raise ConflictError(f"instance {instance_id} is {exc.status}, not running") from exc
        if head.status != "running":
            self.store.cache.put(live)
            raise ConflictError(f"instance {instance_id} is {head.status}, not running")
        now = self.clock()
        since = time.time()
        self._run(lambda: live.workflow.cancel())
        diff = self.store.diff(live, since)
        proj = project(live, diff.frontier.tasks if diff.frontier else [], diff.candidates, since)
        values = {"status": "cancelled", "ended_at": now, "active_stages": []}
        events = [event_row(instance_id, now, "cancelled", actor=actor, detail={"reason": reason})]
        proj.finished = False  # cancelled, not completed
        revision = self.store.save(
            session,
            head,
            live,
            diff,
            values,
            now,
            also=lambda: self.projection.write(session, instance_id, live, proj, now, events, actor=actor),
            ending=True,
        )
        return StepResult(instance_id, revision, "cancelled", [], None, len(diff.upserts) + len(diff.deletes))

    def fire_timers(self, session: Session, instance_id: int) -> int:
        """Run an instance's due timers (the timer worker calls this).

        Returns:
            How many timers fired (0 if none was due for the engine, or the instance ended).
        """
        try:
            head, live = self.store.checkout(session, instance_id)
        except InstanceEndedError:
            drop_timers(session, instance_id)
            return 0
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
        diff = self.store.diff(live, since, self._compact(live, since))
        proj = project(live, diff.frontier.tasks if diff.frontier else [], diff.candidates, since)
        definition = self.definitions.info(session, head.definition_id)
        facts = step_facts(definition.facts, head.facts, diff.candidates, since)
        fired: list[int] = []
        self.store.save(
            session,
            head,
            live,
            diff,
            self._head_values(head, proj, now, facts),
            now,
            also=lambda: fired.append(
                self.projection.write(session, instance_id, live, proj, now, [], actor=None)
            ),
            ending=proj.finished,
        )
        return fired[0]

    def compact_stored(self, session: Session, instance_id: int) -> int:
        """Bring one stored instance to what steps now leave behind (existing stores).

        An ended instance loses its runtime rows (task rows, unreferenced task data, timers); a
        running one is compacted as after a step (`engine.compaction`), with its counters.
        Nothing else changes: no event, no projection.

        Returns:
            How many task rows went.

        Raises:
            NotFoundError: no such instance.
        """
        status = session.scalar(select(WorkflowInstance.status).where(WorkflowInstance.id == instance_id))
        if status is None:
            raise NotFoundError(f"no instance {instance_id}")
        if status != "running":
            gone = self.store.purge(session, instance_id)
            drop_timers(session, instance_id)
            return gone
        head, live = self.store.checkout(session, instance_id)
        before = len(live.rows)
        # no step ran: every finished task is old (math.inf), only the last task stays pinned
        compaction = self._compact(live, math.inf)
        if not compaction:
            self.store.cache.put(live)
            return 0
        diff = self.store.diff(live, math.inf, compaction)
        self.store.save(session, head, live, diff, {}, self.clock())
        return before - len(live.rows)

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

    def _compact(self, live: LiveInstance, since: float) -> Compaction | None:
        """Compact the workflow after a step; the completed runs it drops are counted."""
        if self.compactor is None:
            return None
        compaction = self.compactor.compact(live.workflow, since)
        if compaction.runs:
            runs = live.counters.setdefault("runs", {})
            for key, count in compaction.runs.items():
                runs[key] = runs.get(key, 0) + count
        return compaction

    def _validate(self, definition: DefinitionInfo, task: Task, data: dict[str, Any]) -> None:
        form = properties_of(task.task_spec).get(FORM_PROPERTY)
        check_size(data, MAX_FORM_BYTES, f"the data for step {element_id(task.task_spec)}")
        if form is None:
            return
        validator = self.definitions.form_validator(definition, form)
        if validator is None:
            raise FormValidationError(form, [FieldError("", "the definition does not carry this form")])
        try:
            errors = [field_error(e) for e in validator.iter_errors(data)]
        except Unresolvable as exc:  # deployed before such references were refused: never fetched
            ref = str(getattr(exc, "ref", ""))[:200]
            raise FormValidationError(
                form,
                [FieldError("", f"the form refers to '{ref}' outside itself, which Baton never fetches")],
            ) from None
        if errors:
            raise FormValidationError(form, sorted(errors, key=lambda e: e.path))

    @staticmethod
    def _run(step: Callable[[], Any]) -> None:
        try:
            step()
        except SpiffWorkflowException as exc:
            spec = getattr(exc, "task_spec", None)
            eid = element_id(spec) if spec is not None else None
            failure = sandbox_failure(exc)
            if isinstance(failure, EvaluatorUnavailableError):
                raise ScriptsUnavailableError(str(failure), eid) from exc
            if isinstance(failure, ScriptLimitError):
                raise ScriptLimitExceededError(_limit_message(spec, failure), eid) from exc
            raise WorkflowExecutionError(str(exc).split("\n")[0], eid) from exc
        except RecursionError as exc:
            raise WorkflowLimitError("the instance is too deep to run (endless loop?)") from exc

    @staticmethod
    def _head_values(
        head: InstanceHead, proj: Projection, now: datetime, facts: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The instance columns a step changes; `facts` (from `step_facts`) only when they differ
        from the stored ones, so most steps write no JSON at all."""
        values: dict[str, Any] = {}
        if proj.stages != head.active_stages:
            values["active_stages"] = proj.stages
        if facts is not None and facts != head.facts:
            values["facts"] = facts
        if proj.finished and head.status == "running":
            values.update(status="completed", ended_at=now, end_event=proj.end_event)
        return values


def _limit_message(spec: Any, failure: Exception) -> str:
    """Which element's code was stopped and why, e.g. ``script task 'Compute': Script exceeded...``."""
    if spec is None:
        return str(failure)
    kind = re.sub(r"(?<!^)(?=[A-Z])", " ", type(spec).__name__).lower()
    name = getattr(spec, "bpmn_name", None) or element_id(spec)
    expression = getattr(failure, "sandbox_expression", None)
    where = f" (in the expression {expression!r})" if expression else ""
    return f"{kind} {name!r}: {failure}{where}"


def _find_task(live: LiveInstance, task_id: str) -> Task:
    try:
        uid = UUID(task_id)
    except (ValueError, TypeError) as exc:
        raise NotFoundError(f"'{task_id}' is not a task id") from exc
    task = live.workflow.get_task_from_id(uid)
    if task is None:
        raise NotFoundError(f"instance {live.instance_id} has no task {task_id}")
    return task
