"""Instance persistence: load, save only what changed, and keep hot workflows in memory.

A live workflow is checked out of the cache for one step and returned only after the
step's transaction commits. A step that fails leaves nothing behind: the database rolls
back and the mutated in-memory workflow is dropped. The cache is version-checked: an
instance changed by another process (higher `revision`) is reloaded from the database.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from .db import after_commit
from .definitions import DefinitionRegistry
from .errors import ConflictError, NotFoundError
from .models import DefinitionVersion, HumanTask, TaskData, TaskRow, WorkflowInstance
from .serialization import (
    SERIALIZER_VERSION,
    StoredTask,
    TaskDiff,
    WorkflowCodec,
    diff_tasks,
    iter_all_tasks,
)


@dataclass
class LiveInstance:
    """A workflow in memory together with what the database holds of it."""

    instance_id: int
    definition_id: int
    revision: int
    workflow: BpmnWorkflow
    rows: dict[str, StoredTask]
    open_human_tasks: set[str] = field(default_factory=set)


class WorkflowCache:
    """A bounded LRU of live workflows, handed out to one step at a time.

    Args:
        capacity: how many instances to keep warm; 0 disables caching.
    """

    def __init__(self, capacity: int = 512) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, LiveInstance] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, instance_id: int, revision: int) -> LiveInstance | None:
        """Remove and return the cached instance if it is at `revision`."""
        with self._lock:
            live = self._items.pop(instance_id, None)
        if live is not None and live.revision == revision:
            return live
        return None

    def put(self, live: LiveInstance) -> None:
        """Keep an instance warm (after its step committed)."""
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[live.instance_id] = live
            self._items.move_to_end(live.instance_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (benchmarks use it to measure cold loads)."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class InstanceStore:
    """Loads and saves workflow instances as per-task rows.

    Args:
        codec: the workflow codec.
        definitions: the definition registry (for cached specs).
        script_engine: factory for the script engine every loaded workflow runs with.
        cache: the live-workflow cache.
    """

    def __init__(
        self,
        codec: WorkflowCodec,
        definitions: DefinitionRegistry,
        script_engine: Callable[[], Any],
        cache: WorkflowCache | None = None,
    ) -> None:
        self.codec = codec
        self.definitions = definitions
        self.script_engine = script_engine()
        self.cache = cache if cache is not None else WorkflowCache()

    # -- creating and loading --------------------------------------------------------

    def new_workflow(self, definition: DefinitionVersion) -> BpmnWorkflow:
        """A fresh workflow for a definition version, bound to the sandboxed script engine."""
        spec, subs = self.definitions.spec_for(definition)
        return BpmnWorkflow(spec, subs, script_engine=self.script_engine)

    def checkout(
        self, session: Session, instance_id: int, *, lock: bool = True
    ) -> tuple[WorkflowInstance, LiveInstance]:
        """Fetch an instance row and its live workflow for a step.

        Args:
            session: the unit of work.
            instance_id: the instance.
            lock: take a row lock (PostgreSQL) so concurrent steps queue and then see the
                new revision instead of interleaving.

        Raises:
            NotFoundError: no such instance.
        """
        stmt = (
            select(WorkflowInstance)
            .where(WorkflowInstance.id == instance_id)
            .execution_options(populate_existing=True)  # the identity map may hold an older revision
        )
        if lock and session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = session.scalars(stmt).one_or_none()
        if row is None:
            raise NotFoundError(f"no instance {instance_id}")
        live = self.cache.take(instance_id, row.revision)
        if live is None:
            live = self._load(session, row)
        return row, live

    def load(self, session: Session, instance_id: int) -> BpmnWorkflow:
        """A private copy of an instance's workflow, always read from the database."""
        row = session.get(WorkflowInstance, instance_id)
        if row is None:
            raise NotFoundError(f"no instance {instance_id}")
        return self._load(session, row).workflow

    def _load(self, session: Session, row: WorkflowInstance) -> LiveInstance:
        result = session.execute(
            select(TaskRow.id, TaskRow.workflow_key, TaskRow.body, TaskRow.data_hash, TaskData.body)
            .join(TaskData, TaskData.hash == TaskRow.data_hash)
            .where(TaskRow.instance_id == row.id)
        )
        rows: dict[str, StoredTask] = {}
        payloads: dict[str, str] = {}
        for task_id, key, body, dhash, payload in result:
            rows[task_id] = StoredTask(key, body, dhash)
            payloads[dhash] = payload
        definition = self.definitions.get(session, row.definition_id)
        if self.codec.needs_migration(row.serializer_version):
            dicts = self.codec.spec_dicts(definition.spec_json)
            dct = self.codec.assemble(row.meta_json, rows, payloads, dicts["spec"], dicts["subprocess_specs"])
            rows = {}  # every row is rewritten in the current format at the next save
        else:
            spec, subs = self.definitions.spec_for(definition)
            dct = self.codec.assemble(row.meta_json, rows, payloads, spec, subs)
        workflow = self.codec.restore(dct, row.serializer_version)
        workflow.script_engine = self.script_engine
        open_tasks = session.scalars(
            select(HumanTask.task_id).where(HumanTask.instance_id == row.id, HumanTask.state == "ready")
        )
        return LiveInstance(row.id, row.definition_id, row.revision, workflow, rows, set(open_tasks))

    # -- saving ----------------------------------------------------------------------

    def insert(self, session: Session, row: WorkflowInstance, live: LiveInstance) -> TaskDiff:
        """Store a new instance: its row, every task and its meta document."""
        meta, rows, payloads = self.codec.encode_all(live.workflow)
        row.meta_json = meta
        row.serializer_version = SERIALIZER_VERSION
        session.add(row)
        session.flush()
        live.instance_id = row.id
        live.revision = row.revision
        diff = TaskDiff(upserts=rows, payloads=payloads, candidates=list(iter_all_tasks(live.workflow)))
        self._write_rows(session, row.id, diff)
        live.rows = rows
        after_commit(session, lambda: self.cache.put(live))
        return diff

    def save(self, session: Session, row: WorkflowInstance, live: LiveInstance, since: float) -> TaskDiff:
        """Write what a step changed, guarded by the instance revision.

        Args:
            session: the unit of work.
            row: the instance row from `checkout` (already carrying the step's status changes).
            live: the live instance after the step.
            since: `time.time()` taken just before the step began.

        Returns:
            The rows written.

        Raises:
            ConflictError: the instance changed since it was loaded.
        """
        diff = diff_tasks(self.codec, live.workflow, live.rows, since)
        row.meta_json = self.codec.encode_meta(live.workflow)
        row.serializer_version = SERIALIZER_VERSION
        try:
            session.flush()  # UPDATE ... WHERE revision = :loaded -- the optimistic lock
        except StaleDataError as exc:
            raise ConflictError(
                f"instance {live.instance_id} was changed by someone else; reload and try again"
            ) from exc
        self._write_rows(session, row.id, diff)
        live.rows.update(diff.upserts)
        for task_id in diff.deletes:
            live.rows.pop(task_id, None)
        live.revision = row.revision
        after_commit(session, lambda: self.cache.put(live))
        return diff

    def _write_rows(self, session: Session, instance_id: int, diff: TaskDiff) -> None:
        dialect = session.get_bind().dialect.name
        ins: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
        if diff.payloads:
            session.execute(
                ins(TaskData).on_conflict_do_nothing(index_elements=["hash"]),
                [{"hash": h, "body": b} for h, b in diff.payloads.items()],
            )
        if diff.deletes:
            session.execute(
                delete(TaskRow).where(TaskRow.instance_id == instance_id, TaskRow.id.in_(diff.deletes))
            )
        if diff.upserts:
            stmt = ins(TaskRow)
            stmt = stmt.on_conflict_do_update(
                index_elements=["instance_id", "id"],
                set_={
                    "workflow_key": stmt.excluded.workflow_key,
                    "body": stmt.excluded.body,
                    "data_hash": stmt.excluded.data_hash,
                },
            )
            session.execute(
                stmt,
                [
                    {
                        "instance_id": instance_id,
                        "id": tid,
                        "workflow_key": r.workflow_key,
                        "body": r.body,
                        "data_hash": r.data_hash,
                    }
                    for tid, r in diff.upserts.items()
                ],
            )


def new_instance_row(definition: DefinitionVersion, now: datetime) -> WorkflowInstance:
    """An instance row for a definition, not yet added to a session."""
    return WorkflowInstance(
        definition_id=definition.id,
        status="running",
        active_stages=[],
        revision=1,
        serializer_version=SERIALIZER_VERSION,
        meta_json="{}",
        started_at=now,
        updated_at=now,
    )


__all__ = ["InstanceStore", "LiveInstance", "WorkflowCache", "new_instance_row"]
