"""Incremental serialization of SpiffWorkflow workflows.

SpiffWorkflow's serializer turns a whole workflow (spec included) into one dict. Baton
stores the same information in pieces so that a step costs what it changed, not what
the instance has accumulated:

* the spec (and subprocess specs) once per definition version;
* a small *meta* document per instance (workflow-level data, subprocess headers);
* one row per task: the task dict minus its data, plus a content hash of the data
  (SpiffWorkflow 1.5 stores task data as a delta from the parent task).

Reassembling the pieces gives back exactly the dict `BpmnWorkflowSerializer.to_dict`
would have produced, so restoring goes through SpiffWorkflow's own converters.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter
from SpiffWorkflow.bpmn.serializer.helpers.encoder import create_encoder
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task, TaskState

from .compaction import Compaction

SERIALIZER_VERSION = SPIFF_SERIALIZER_VERSION
# Baton's own counters in an instance's meta document (e.g. the completed runs of each
# element that compaction took out of the tree)
COUNTERS_KEY = "baton"


@dataclass(frozen=True)
class StoredTask:
    """A task as stored: which workflow owns it, its body and the hash of its data."""

    workflow_key: str
    body: str
    data_hash: str


@dataclass
class TaskDiff:
    """What a step changed in the task table of one instance."""

    upserts: dict[str, StoredTask] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    # data payloads by hash, for every upserted row (inserted if not already stored)
    payloads: dict[str, str] = field(default_factory=dict)
    # tasks the step may have touched (re-encoded), and every unfinished task after it
    candidates: list[tuple[str, Task]] = field(default_factory=list)
    frontier: Frontier | None = None


# Each id is parsed three times per load (as id, as a parent, as a child); UUIDs are immutable.
_uuid = lru_cache(maxsize=65536)(UUID)


class FastTaskConverter(TaskConverter):
    """SpiffWorkflow's task converter with a cheaper restore of delta-encoded data.

    Upstream rebuilds each task's data with ``DeepMerge.merge({}, parent.data)``; merging
    into an empty dict is exactly a shallow copy, which ``dict()`` makes in C; task ids are
    parsed once per load instead of three times. Registered for `Task`, it replaces the
    default; the result is the same task.
    """

    def from_dict(self, dct: dict[str, Any], workflow: Any) -> Task:
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        task = self.target_class(workflow, task_spec, state=dct["state"], id=_uuid(dct["id"]))
        task._parent = _uuid(dct["parent"]) if dct["parent"] is not None else None
        task._children = [_uuid(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = self.registry.restore(dct["internal_data"])
        if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            task.workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        parent = task.parent
        if delta and parent is not None:
            data = dict(parent.data)
            updates = delta.get("updates")
            if updates:
                data.update(self.registry.restore(updates))
            for key in delta.get("deletions", ()):
                data.pop(key, None)
        else:
            data = self.registry.restore(dct["data"])
        task.data = data
        return task


class WorkflowCodec:
    """Converts workflows to and from Baton's stored pieces.

    Args:
        registry: a SpiffWorkflow registry; the default knows SpiffWorkflow's spiff specs.
    """

    def __init__(self, registry: Any = None) -> None:
        self.registry = registry or BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
        FastTaskConverter(Task, self.registry)
        self.serializer = BpmnWorkflowSerializer(self.registry)
        self._encoder = create_encoder(self.registry)
        # one encoder instance: json.dumps(cls=...) would build a new one per call
        self._encode = self._encoder(separators=(",", ":")).encode

    def _dumps(self, obj: Any) -> str:
        return self._encode(obj)

    # -- specs ---------------------------------------------------------------------

    def spec_to_json(self, spec: Any, subprocess_specs: Mapping[str, Any]) -> str:
        """Serialize a process spec and its subprocess specs.

        Args:
            spec: the top-level `BpmnProcessSpec`.
            subprocess_specs: name -> spec of every called/embedded process.

        Returns:
            A JSON document.
        """
        dct = {
            "spec": self.registry.convert(spec),
            "subprocess_specs": {k: self.registry.convert(v) for k, v in subprocess_specs.items()},
        }
        return self._dumps(dct)

    def spec_dicts(self, spec_json: str) -> dict[str, Any]:
        """Parse a stored spec document into its dict form."""
        return json.loads(spec_json)

    def spec_from_json(self, spec_json: str) -> tuple[Any, dict[str, Any]]:
        """Restore the spec objects from `spec_to_json` output."""
        dct = self.spec_dicts(spec_json)
        spec = self.registry.restore(dct["spec"])
        subs = {k: self.registry.restore(v) for k, v in dct["subprocess_specs"].items()}
        return spec, subs

    # -- tasks and meta ------------------------------------------------------------

    def encode_task(self, task: Task, workflow_key: str) -> tuple[StoredTask, str]:
        """Encode one task.

        Returns:
            The stored row and the JSON text of its data (keyed by `row.data_hash`).
        """
        registry = self.registry
        registry._encoder_mode = True  # same mode as BpmnWorkflowSerializer.serialize_json
        try:
            dct = registry.convert(task)
        finally:
            registry._encoder_mode = False
        payload = self._dumps({"data": dct.pop("data"), "delta": dct.pop("delta")})
        body = self._dumps(dct)
        return StoredTask(workflow_key, body, data_hash(payload)), payload

    def encode_meta(self, workflow: BpmnWorkflow, counters: Mapping[str, Any] | None = None) -> str:
        """Encode the workflow-level attributes of a workflow and its subprocesses (no tasks).

        Args:
            workflow: the workflow.
            counters: Baton's own counters of the instance (kept beside SpiffWorkflow's
                attributes under `COUNTERS_KEY`, never handed to SpiffWorkflow).
        """
        meta = self._workflow_header(workflow)
        if counters:
            meta[COUNTERS_KEY] = counters
        meta["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        meta["subprocesses"] = {}
        for task_id, sub in workflow.subprocesses.items():
            header = self._workflow_header(sub)
            header["parent_task_id"] = str(sub.parent_task_id)
            header["spec"] = sub.spec.name
            header["typename"] = "BpmnSubWorkflow"
            meta["subprocesses"][str(task_id)] = header
        return self._dumps(meta)

    def _workflow_header(self, wf: Any) -> dict[str, Any]:
        # Mirrors WorkflowConverter.to_dict without its task mapping.
        return {
            "data": self.registry.convert(self.registry.clean(wf.data)),
            "correlations": wf.correlations,
            "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
            "success": wf.success,
            "completed": wf.completed,
            "root": str(wf.task_tree.id),
        }

    # -- whole workflows -----------------------------------------------------------

    def encode_all(self, workflow: BpmnWorkflow) -> tuple[str, dict[str, StoredTask], dict[str, str]]:
        """Encode every piece of a workflow (first save, migrations)."""
        rows: dict[str, StoredTask] = {}
        payloads: dict[str, str] = {}
        for key, task in iter_all_tasks(workflow):
            row, payload = self.encode_task(task, key)
            rows[str(task.id)] = row
            payloads[row.data_hash] = payload
        return self.encode_meta(workflow), rows, payloads

    def assemble(
        self,
        meta_json: str,
        rows: Mapping[str, StoredTask],
        payloads: Mapping[str, str],
        spec: Any,
        subprocess_specs: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Rebuild the dict `BpmnWorkflowSerializer.to_dict` produces from stored pieces.

        Args:
            meta_json: the instance's meta document.
            rows: task id -> stored task.
            payloads: data hash -> data JSON for every row.
            spec: spec object or spec dict.
            subprocess_specs: name -> spec object or dict.

        Returns:
            The serializer dict, with tasks ordered parents first as the converters need.
        """
        meta = json.loads(meta_json)
        counters = meta.pop(COUNTERS_KEY, None)
        by_key: dict[str, dict[str, dict[str, Any]]] = {}
        parsed: dict[str, dict[str, Any]] = {}
        for task_id, row in rows.items():
            dct = json.loads(row.body)
            data = parsed.get(row.data_hash)
            if data is None:
                data = parsed[row.data_hash] = json.loads(payloads[row.data_hash])
            dct.update(data)  # shared between equal payloads: restore only reads them
            by_key.setdefault(row.workflow_key, {})[task_id] = dct
        subprocesses = meta.pop("subprocesses")
        for key, header in subprocesses.items():
            header["tasks"] = _parents_first(by_key.get(key, {}), header["root"])
        dct = dict(meta)
        dct["tasks"] = _parents_first(by_key.get("", {}), meta["root"])
        dct["subprocesses"] = subprocesses
        dct["spec"] = spec
        dct["subprocess_specs"] = dict(subprocess_specs)
        dct["typename"] = "BpmnWorkflow"
        if counters is not None:
            dct[COUNTERS_KEY] = counters  # `restore` takes it out again
        return dct

    def restore(self, dct: dict[str, Any], serializer_version: str = SERIALIZER_VERSION) -> BpmnWorkflow:
        """Restore a workflow from an assembled dict, migrating older formats first.

        Args:
            dct: output of `assemble` (spec may be objects when no migration is needed).
            serializer_version: the format the pieces were written in.

        Returns:
            The live workflow.
        """
        dct.pop(COUNTERS_KEY, None)
        if serializer_version != SERIALIZER_VERSION:
            dct[self.serializer.VERSION_KEY] = serializer_version
            self.serializer.migrate(dct)
        return self.registry.restore(dct)

    @staticmethod
    def needs_migration(serializer_version: str) -> bool:
        """True when pieces written in `serializer_version` must be migrated on load."""
        return serializer_version != SERIALIZER_VERSION and serializer_version in MIGRATIONS

    def full_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        """SpiffWorkflow's own whole-workflow dict, JSON-normalised (tests compare with it)."""
        return json.loads(self.serializer.serialize_json(workflow))


def data_hash(payload: str) -> str:
    """Content address of a data payload."""
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def iter_all_tasks(workflow: BpmnWorkflow) -> Iterable[tuple[str, Task]]:
    """Every task of a workflow and of its subprocesses, with its workflow key."""
    for task in workflow.tasks.values():
        yield "", task
    for task_id, sub in workflow.subprocesses.items():
        key = str(task_id)
        for task in sub.tasks.values():
            yield key, task


def _parents_first(tasks: dict[str, dict[str, Any]], root: str) -> dict[str, dict[str, Any]]:
    ordered: dict[str, dict[str, Any]] = {}
    queue = deque([root])
    while queue:
        task_id = queue.popleft()
        dct = tasks.get(task_id)
        if dct is None:
            continue
        ordered[task_id] = dct
        queue.extend(dct["children"])
    if len(ordered) != len(tasks):
        raise ValueError(f"{len(tasks) - len(ordered)} stored task(s) are not reachable from the root")
    return ordered


@dataclass
class Frontier:
    """The unfinished tasks of a workflow after a save, and its subprocesses then."""

    tasks: list[tuple[str, Task]]
    subprocesses: frozenset[UUID]


def frontier_of(workflow: BpmnWorkflow) -> Frontier:
    """The frontier of a workflow found by walking all of it (new or just-loaded workflows)."""
    unfinished = [(k, t) for k, t in iter_all_tasks(workflow) if t._state & TaskState.NOT_FINISHED_MASK]
    return Frontier(unfinished, frozenset(workflow.subprocesses))


class DirtyTracker:
    """Finds the tasks a step may have changed without walking or serializing the whole tree.

    A task's stored form is its own fields plus its data as a delta from its parent's.
    SpiffWorkflow never changes a finished task again except for its list of children,
    and it only removes unfinished (predicted) tasks. So every change of a step happens
    within the *frontier* -- the tasks unfinished before the step -- plus the tasks the
    step created (appended last to their workflow's task dict). Re-encoded are: new tasks,
    frontier tasks whose state changed or that wait (joins, timers, events merge data in
    place), parents of new or removed tasks, and children of changed tasks (their delta is
    relative to the parent). `InstanceStore(verify=True)` checks the rule after every save.
    """

    REENCODE_STATES = TaskState.WAITING | TaskState.STARTED

    @classmethod
    def scan(
        cls,
        workflow: BpmnWorkflow,
        known: Mapping[str, StoredTask],
        since: float,
        frontier: Frontier | None,
    ) -> tuple[list[tuple[str, Task]], Frontier, list[str]]:
        """Return (tasks to re-encode, the new frontier, ids of removed tasks).

        Args:
            workflow: the workflow after the step.
            known: stored rows by task id.
            since: `time.time()` taken before the step.
            frontier: the frontier after the previous save, or None to scan everything.
        """
        subprocesses = frozenset(workflow.subprocesses)
        if frontier is None or not subprocesses.issuperset(frontier.subprocesses):
            # first step after a load, or a subprocess was deleted (with its finished tasks)
            return cls._full_scan(workflow, known, since)
        new = _new_tasks(workflow, known)
        removed_tasks = [(k, t) for k, t in frontier.tasks if t.workflow.tasks.get(t.id) is not t]
        changed: dict[UUID, tuple[str, Task]] = {t.id: (k, t) for k, t in new}
        reencode_mask = cls.REENCODE_STATES
        for key, task in frontier.tasks:
            if task.id not in changed and (task.last_state_change >= since or task._state & reencode_mask):
                changed[task.id] = (key, task)
        parents = {t._parent for _k, t in new + removed_tasks if t._parent is not None}
        removed = [str(t.id) for _k, t in removed_tasks]
        gone = {t.id for _k, t in removed_tasks}
        unfinished_mask = TaskState.NOT_FINISHED_MASK
        unfinished = [
            (k, t) for k, t in frontier.tasks + new if t.id not in gone and t._state & unfinished_mask
        ]
        cls._add_neighbours(workflow, changed, parents)
        for task_id in gone:
            changed.pop(task_id, None)
        return list(changed.values()), Frontier(unfinished, subprocesses), removed

    @classmethod
    def _full_scan(
        cls, workflow: BpmnWorkflow, known: Mapping[str, StoredTask], since: float
    ) -> tuple[list[tuple[str, Task]], Frontier, list[str]]:
        unfinished_mask = TaskState.NOT_FINISHED_MASK
        reencode_mask = cls.REENCODE_STATES | unfinished_mask
        seen: set[str] = set()
        changed: dict[UUID, tuple[str, Task]] = {}
        unfinished: list[tuple[str, Task]] = []
        parents: set[UUID] = set()
        for key, task in iter_all_tasks(workflow):
            tid = str(task.id)
            seen.add(tid)
            state = task._state
            if state & unfinished_mask:
                unfinished.append((key, task))
            if tid not in known:
                changed[task.id] = (key, task)
                if task._parent is not None:
                    parents.add(task._parent)
            elif task.last_state_change >= since or state & reencode_mask:
                changed[task.id] = (key, task)
        removed = [tid for tid in known if tid not in seen]
        for tid in removed:
            parent = json.loads(known[tid].body).get("parent")
            if parent is not None:
                parents.add(UUID(parent))
        cls._add_neighbours(workflow, changed, parents)
        return list(changed.values()), Frontier(unfinished, frozenset(workflow.subprocesses)), removed

    @staticmethod
    def _add_neighbours(
        workflow: BpmnWorkflow, changed: dict[UUID, tuple[str, Task]], parents: set[UUID]
    ) -> None:
        extra: set[UUID] = parents.difference(changed)
        for _key, task in list(changed.values()):
            extra.update(c for c in task._children if c not in changed)
        for task_id in extra:
            found = _find_task(workflow, task_id)
            if found is not None:
                changed[task_id] = found


def _new_tasks(workflow: BpmnWorkflow, known: Mapping[str, StoredTask]) -> list[tuple[str, Task]]:
    # SpiffWorkflow inserts each task into its workflow's dict when it is created, so the
    # tasks created since the last save are the ones after the last known id.
    new: list[tuple[str, Task]] = []
    sources = [("", workflow), *((str(k), sp) for k, sp in workflow.subprocesses.items())]
    for key, wf in sources:
        tasks = wf.tasks
        for task_id in reversed(tasks):
            if str(task_id) in known:
                break
            new.append((key, tasks[task_id]))
    return new


def _find_task(workflow: BpmnWorkflow, task_id: UUID) -> tuple[str, Task] | None:
    task = workflow.tasks.get(task_id)
    if task is not None:
        return "", task
    for sub_id, sub in workflow.subprocesses.items():
        task = sub.tasks.get(task_id)
        if task is not None:
            return str(sub_id), task
    return None


def diff_tasks(
    codec: WorkflowCodec,
    workflow: BpmnWorkflow,
    known: Mapping[str, StoredTask],
    since: float,
    frontier: Frontier | None = None,
    compaction: Compaction | None = None,
) -> TaskDiff:
    """Compute the task rows to write after a step.

    Args:
        codec: the codec.
        workflow: the workflow after the step.
        known: task id -> stored row as of the last save.
        since: `time.time()` taken just before the step began.
        frontier: the unfinished tasks after the last save (None: scan every task).
        compaction: what compacting the workflow after the step took out or re-linked.

    Returns:
        Rows to upsert (with their payloads), ids to delete, and the new frontier.
    """
    result = TaskDiff()
    changed, new_frontier, removed = DirtyTracker.scan(workflow, known, since, frontier)
    if compaction:
        gone = set(compaction.removed)
        seen = {t.id for _k, t in changed}
        changed = [(k, t) for k, t in changed if str(t.id) not in gone]
        changed += [(k, t) for k, t in compaction.changed if t.id not in seen]
        removed = list(dict.fromkeys(removed + [tid for tid in compaction.removed if tid in known]))
    for key, task in changed:
        row, payload = codec.encode_task(task, key)
        tid = str(task.id)
        if known.get(tid) != row:
            result.upserts[tid] = row
            result.payloads[row.data_hash] = payload
    result.deletes = removed
    result.candidates = changed
    result.frontier = new_frontier
    return result
