"""Move one running instance to another version of its definition, in the caller's transaction.

The move itself is SpiffWorkflow's `migrate_workflow`: every task takes the spec it is aligned
with, and ready and waiting tasks are reset and re-predicted on the new version (they keep their
ids, so the projection rows of open steps, with their claims, assignees, effort and time spent,
stay those steps'). Around it, what the library leaves to its caller:

* the plan is made again under the instance's lock, and a refused instance is left untouched;
* a finished task whose element the new version removed leaves the tree (its parent adopts its
  children): SpiffWorkflow could not restore a task without a spec, and the task's data lives
  on in its children, whose data already holds it;
* a waiting timer whose element did not change keeps its due time (a reset would restart it);
* open steps' rows take the new element's name, lane, stage, form and properties, and their
  deadlines are recomputed from when they became ready (`human_task.created_at`) by the
  `DeadlineRecompute` handed in; no row's `definition_id` (the version the step became ready
  on, which reports group by) is ever rewritten, and rows of steps that ran stay as they ran;
* the instance row moves to the new version under its revision (optimistic lock), and a
  `migrated` event records from, to, who, why and what changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.util.diff import migrate_workflow
from SpiffWorkflow.task import Task, TaskState
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from ..definitions import DefinitionInfo, DefinitionRegistry, element_id
from ..errors import ConflictError, EngineError
from ..fastsql import FastStatement
from ..models import HumanTask, TaskRow
from ..projection import ReadyTask, event_row, project, ready_info
from ..runtime import Runtime
from ..serialization import TaskDiff, frontier_of, iter_all_tasks
from .plan import REFUSED, InstancePlan, SpecPairing, plan_instance

_HUMAN = cast(Table, HumanTask.__table__)
_TASK_ROW = cast(Table, TaskRow.__table__)
_OPEN_ROWS = select(HumanTask).where(HumanTask.instance_id == bindparam("i"), HumanTask.state == "ready")
_PASSED = (
    select(HumanTask.bpmn_id, HumanTask.task_id)
    .where(HumanTask.instance_id == bindparam("i"), HumanTask.state == "completed")
    .order_by(HumanTask.id)
)


def passed_steps(session: Session, instance_id: int) -> list[tuple[str, str]]:
    """(BPMN id, task id) of the user steps an instance completed, from the projection."""
    return [(b, t) for b, t in session.execute(_PASSED, {"i": instance_id})]


_MOVE_OPEN = FastStatement(
    update(_HUMAN)
    .where(_HUMAN.c.id == bindparam("b_id"))
    .values(
        bpmn_id=bindparam("b_bpmn_id"),
        title=bindparam("b_title"),
        lane=bindparam("b_lane"),
        stage=bindparam("b_stage"),
        form=bindparam("b_form"),
        properties=bindparam("b_properties"),
        due_at=bindparam("b_due_at"),
        warn_at=bindparam("b_warn_at"),
        sla_state=bindparam("b_sla_state"),
        sla_next_at=bindparam("b_sla_next_at"),
        sla_clock=bindparam("b_sla_clock"),
    )
)
DEADLINE_KEYS = ("due_at", "warn_at", "sla_state", "sla_next_at", "sla_clock")


class MigrationRefused(EngineError):
    """The instance cannot move (see the plan's refusals); nothing was changed."""

    def __init__(self, plan: InstancePlan) -> None:
        super().__init__("; ".join(r.message for r in plan.refusals))
        self.plan = plan


class DeadlineRecompute(Protocol):
    """Works out an open step's deadline on the new version from when it became ready."""

    def __call__(
        self, session: Session, task: ReadyTask, stored: HumanTask, now: datetime
    ) -> Mapping[str, Any]:
        """Return the deadline columns (`DEADLINE_KEYS`) for the moved step; `task.ready_at` is
        the stored ready time and `stored` the row as it was (its pauses, its state)."""
        ...


def keep_deadline(session: Session, task: ReadyTask, stored: HumanTask, now: datetime) -> Mapping[str, Any]:
    """The default recompute: the deadline stays as it was."""
    return {k: getattr(stored, k) for k in DEADLINE_KEYS}


class Migrator:
    """Plans and performs moves of running instances between versions.

    Args:
        runtime: the runtime whose store, definitions, policy, event log and clock are used.
        deadlines: recomputes open steps' deadlines on the new version (default: unchanged).
    """

    def __init__(self, runtime: Runtime, deadlines: DeadlineRecompute | None = None) -> None:
        self.runtime = runtime
        self.deadlines: DeadlineRecompute = deadlines or keep_deadline

    @property
    def definitions(self) -> DefinitionRegistry:
        """The definition registry."""
        return self.runtime.definitions

    def pairing(
        self, source: DefinitionInfo, target: DefinitionInfo, mapping: Mapping[str, str] | None = None
    ) -> SpecPairing:
        """SpiffWorkflow's alignment of two versions (raises `MappingError` for a bad mapping)."""
        source_spec, _subs = self.definitions.spec_for(source)
        target_spec, _target_subs = self.definitions.spec_for(target)
        return SpecPairing(
            self.runtime.store.codec.registry, source, target, source_spec, target_spec, mapping
        )

    def plan(self, session: Session, instance_id: int, pairing: SpecPairing) -> InstancePlan:
        """The verdict for one instance, from a private copy of its workflow (nothing is written)."""
        head, workflow = self.runtime.store.read(session, instance_id)
        passed = passed_steps(session, instance_id)
        return plan_instance(pairing, instance_id, head.revision, workflow, passed)

    def migrate(
        self,
        session: Session,
        instance_id: int,
        pairing: SpecPairing,
        *,
        actor: str | None,
        note: str,
        expected_revision: int | None = None,
        detail: Mapping[str, Any] | None = None,
        passed: Iterable[tuple[str, str]] | None = None,
        describe: Callable[[InstancePlan, Any], Mapping[str, Any]] | None = None,
    ) -> InstancePlan:
        """Move one instance along `pairing` in the caller's transaction.

        Args:
            session: the unit of work (commit it to keep the move; each instance its own).
            instance_id: the instance, running on `pairing.source`.
            pairing: from `pairing`.
            actor: who moves it (recorded in the event).
            note: why (recorded in the event).
            expected_revision: fail with ConflictError unless the instance is at this revision.
            detail: more facts for the event.
            passed: the steps the instance completed, (BPMN id, task id), if the caller has
                read them already (default: read from the projection).
            describe: more facts for the event from the plan and the workflow before it moves
                (the application's wording of the effects).

        Returns:
            The plan it was moved by (its effects as of now).

        Raises:
            NotFoundError; ConflictError (moved on, not running, not on the source version);
            MigrationRefused (nothing written).
        """
        store = self.runtime.store
        head, live = store.checkout(session, instance_id)
        try:
            if expected_revision is not None and head.revision != expected_revision:
                raise ConflictError(
                    f"instance {instance_id} is at revision {head.revision}, not {expected_revision}: "
                    "it changed since it was planned"
                )
            if head.status != "running":
                raise ConflictError(f"instance {instance_id} is {head.status}, not running")
            if head.definition_id != pairing.source.id:
                raise ConflictError(f"instance {instance_id} is not on v{pairing.source.version} any more")
            if passed is None:
                passed = passed_steps(session, instance_id)
            plan = plan_instance(pairing, instance_id, head.revision, live.workflow, passed)
            if plan.verdict == REFUSED:
                raise MigrationRefused(plan)
            described = describe(plan, live.workflow) if describe is not None else {}
        except EngineError:
            store.cache.put(live)  # untouched: keep it warm
            raise
        now = self.runtime.clock()
        workflow = live.workflow
        timers = _waiting_timers(workflow, pairing)
        diff = pairing.workflow_diff(workflow)
        target_spec, _subs = self.definitions.spec_for(pairing.target)
        migrate_workflow(diff, workflow, target_spec)
        _drop_finished_removed(workflow, diff.removed)
        _restore_timers(workflow, timers)
        self.runtime._run(workflow.do_engine_steps)
        task_diff = self._full_diff(session, live)
        open_rows = {r.task_id: r for r in session.scalars(_OPEN_ROWS, {"i": instance_id})}
        live.open_human_tasks = set(open_rows)
        live.definition_id = pairing.target.id
        proj = project(live, task_diff.frontier.tasks if task_diff.frontier else [], [], 0.0)
        kept = [
            (row, task)
            for tid, row in open_rows.items()
            if tid not in proj.gone and (task := _task(workflow, tid))
        ]
        moved = {
            "from": {"definition_id": pairing.source.id, "version": pairing.source.version},
            "to": {"definition_id": pairing.target.id, "version": pairing.target.version},
            "note": note,
            "mapping": dict(pairing.mapping),
            "effects": [e.as_dict() for e in plan.effects],
            **dict(detail or {}),
            **dict(described),
        }
        events = [event_row(instance_id, now, "migrated", actor=actor, detail=moved)]

        def write_projection() -> None:
            self._move_open_rows(session, instance_id, pairing.target, kept, now)
            self.runtime.projection.write(session, instance_id, live, proj, now, events, actor=actor)

        values = {"definition_id": pairing.target.id, "active_stages": proj.stages}
        store.save(session, head, live, task_diff, values, now, also=write_projection)
        return plan

    def _full_diff(self, session: Session, live: Any) -> TaskDiff:
        # every task may have a new spec name: re-encode them all, write what differs, delete
        # what the database holds and the tree no longer does
        codec = self.runtime.store.codec
        _meta, rows, payloads = codec.encode_all(live.workflow)
        stored = set(
            session.scalars(select(_TASK_ROW.c.id).where(_TASK_ROW.c.instance_id == live.instance_id))
        )
        upserts = {tid: row for tid, row in rows.items() if live.rows.get(tid) != row or tid not in stored}
        return TaskDiff(
            upserts=upserts,
            deletes=sorted(stored.difference(rows)),
            payloads={r.data_hash: payloads[r.data_hash] for r in upserts.values()},
            candidates=list(iter_all_tasks(live.workflow)),
            frontier=frontier_of(live.workflow),
        )

    def _move_open_rows(
        self,
        session: Session,
        instance_id: int,
        target: DefinitionInfo,
        kept: list[tuple[HumanTask, Task]],
        now: datetime,
    ) -> None:
        params = []
        for row, task in kept:
            info = ready_info(instance_id, task, row.created_at)
            deadline = self.deadlines(session, info, row, now)
            params.append(
                {
                    "b_id": row.id,
                    "b_bpmn_id": info.bpmn_id,
                    "b_title": info.title,
                    "b_lane": info.lane,
                    "b_stage": info.stage,
                    "b_form": info.form,
                    "b_properties": dict(info.properties),
                    **{f"b_{k}": deadline.get(k) for k in DEADLINE_KEYS},
                }
            )
        if params:
            _MOVE_OPEN.executemany(session.connection(), params)


def _task(workflow: Any, task_id: str) -> Task | None:
    return cast(Task | None, workflow.get_task_from_id(UUID(task_id)))


def _waiting_timers(workflow: Any, pairing: SpecPairing) -> dict[Any, dict[str, Any]]:
    """Internal data of waiting timers whose element is unchanged (their due time is kept)."""
    changed = pairing.diff.changed
    kept: dict[Any, dict[str, Any]] = {}
    for task in workflow.get_tasks(state=TaskState.WAITING, skip_subprocesses=True):
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, TimerEventDefinition) and task.task_spec not in changed:
            kept[task.id] = dict(task.internal_data)
    return kept


def _restore_timers(workflow: Any, kept: Mapping[Any, dict[str, Any]]) -> None:
    for task_id, internal in kept.items():
        task = workflow.tasks.get(task_id)
        if task is not None and task.has_state(TaskState.WAITING) and "event_value" in internal:
            task.internal_data.update(internal)


def _drop_finished_removed(workflow: Any, removed: list[Task]) -> None:
    """Take finished tasks whose element is gone out of the tree; their parent adopts their children.

    SpiffWorkflow restores a task through its spec, which the new version no longer has. A task's
    data is a copy of its parent's plus its own changes, so its children already hold it all.
    """
    for task in removed:
        if (
            task.id not in workflow.tasks
            or not task.has_state(TaskState.FINISHED_MASK)
            or task.parent is None
        ):
            continue
        parent = task.parent
        at = parent._children.index(task.id)
        parent._children[at : at + 1] = list(task._children)
        for child in task.children:
            child._parent = parent.id
        if workflow.last_task is task:
            workflow.last_task = parent
        del workflow.tasks[task.id]


__all__ = [
    "DEADLINE_KEYS",
    "DeadlineRecompute",
    "MigrationRefused",
    "Migrator",
    "element_id",
    "keep_deadline",
]
