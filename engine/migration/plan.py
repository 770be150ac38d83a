"""Can a running instance move to another version of its definition, and what would change?

The alignment is SpiffWorkflow's own (`SpiffWorkflow.bpmn.util.diff`): `SpecDiff` pairs the task
specs of two versions by BPMN id, then by structure; `WorkflowDiff` applies that pairing to one
workflow's tasks. Explicit mappings (old id -> new id) for renamed steps are added to the pairing
before the workflow is compared. The library does not judge whether a move is safe; this module
does, task by task:

* an **unfinished** task (ready, waiting, started) whose element is gone from the new version, or
  became another kind of element, cannot move; nor can a multi-instance round in flight, nor a
  subprocess in flight (their own trees would need a diff of their own);
* an unfinished task whose element changed (name, lane, properties, form) moves with that change;
* a user task added where the instance has still to go is a step ahead; added where it has passed,
  a step it will skip; a finished user task whose element is gone is a removed step it passed.

Nothing here writes: `plan_instance` works on a private copy of the workflow.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task, TaskState

from ..definitions import FORM_PROPERTY, DefinitionInfo, element_id, properties_of

AS_IS, WITH_EFFECTS, REFUSED = "as_is", "with_effects", "refused"
VERDICTS = (AS_IS, WITH_EFFECTS, REFUSED)

# effects
CHANGED_OPEN = "changed_open"  # an open step whose element changed (properties, form, lane, name)
RENAMED_OPEN = "renamed_open"  # an open step that continues as another element (mapped or aligned)
ADDED_AHEAD = "added_ahead"  # a new step the instance has still to reach
ADDED_BEHIND = "added_behind"  # a new step at a point the instance has passed: it will not run
REMOVED_PASSED = "removed_passed"  # a finished step whose element is gone: its record stays
# refusals
OPEN_REMOVED = "open_removed"
UNMAPPABLE = "unmappable"
MULTI_INSTANCE = "multi_instance"
SUBPROCESS = "subprocess"

# the states of a task that has begun and not ended: what a migration must carry over
OPEN_STATES = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
# spec attributes whose change a person working the step would notice
_VISIBLE = ("bpmn_name", "lane", "extensions", "documentation")


class MappingError(ValueError):
    """An explicit mapping names an element that is not there, or pairs elements of different kinds."""


@dataclass(frozen=True)
class Effect:
    """One thing that changes for an instance when it moves.

    Attributes:
        kind: one of the effect constants (`CHANGED_OPEN`, `ADDED_AHEAD`...).
        step: the element concerned (in the old version; in the new one for added steps).
        name: its name.
        new_step: the element it continues as (renamed), else None.
        after: for an added step, the names of the user steps right before it.
        changes: property -> (old value, new value), e.g. ``{"sla": ("1bd", "4bh")}``; ``name``,
            ``lane`` and ``form_fields`` (the form file is the same but its content changed) too.
        task_id: the open task concerned, if any.
    """

    kind: str
    step: str
    name: str
    new_step: str | None = None
    after: tuple[str, ...] = ()
    changes: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    task_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (for events and the API)."""
        return {
            "kind": self.kind,
            "step": self.step,
            "name": self.name,
            "new_step": self.new_step,
            "after": list(self.after),
            "changes": {k: list(v) for k, v in self.changes.items()},
            "task_id": self.task_id,
        }


@dataclass(frozen=True)
class Refusal:
    """Why an instance cannot move."""

    code: str
    step: str | None
    name: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return {"code": self.code, "step": self.step, "name": self.name, "message": self.message}


@dataclass
class InstancePlan:
    """The verdict for one instance moving from one version to another."""

    instance_id: int
    revision: int
    source: DefinitionInfo
    target: DefinitionInfo
    effects: list[Effect] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """`AS_IS`, `WITH_EFFECTS` or `REFUSED`."""
        if self.refusals:
            return REFUSED
        return WITH_EFFECTS if self.effects else AS_IS


class SpecPairing:
    """SpiffWorkflow's alignment of two versions' top-level specs, with explicit mappings added.

    Args:
        registry: the serializer registry (it compares specs by their serialized form).
        source, target: the two versions.
        source_spec, target_spec: their top-level process specs.
        mapping: old BPMN id -> new BPMN id for renamed steps.

    Raises:
        MappingError: a mapped id is not in its version, or the two are of different kinds.
    """

    def __init__(
        self,
        registry: Any,
        source: DefinitionInfo,
        target: DefinitionInfo,
        source_spec: Any,
        target_spec: Any,
        mapping: Mapping[str, str] | None = None,
    ) -> None:
        self.registry = registry
        self.source, self.target = source, target
        self.source_spec, self.target_spec = source_spec, target_spec
        self.mapping = dict(mapping or {})
        self.diff = SpecDiff(registry, source_spec, target_spec)
        for old_id, new_id in self.mapping.items():
            self._map(old_id, new_id)
        self._reachable: dict[frozenset[Any], frozenset[Any]] = {}
        self._before: dict[Any, tuple[str, ...]] = {}
        aligned = {new for new in self.diff.alignment.values() if new is not None}
        # what the new version adds: user steps no old element was aligned with
        self.added_steps = [
            s for s in target_spec.task_specs.values() if s.manual and s not in aligned and s.name != "Root"
        ]

    def _map(self, old_id: str, new_id: str) -> None:
        old = self.source_spec.task_specs.get(old_id)
        new = self.target_spec.task_specs.get(new_id)
        if old is None:
            raise MappingError(f"v{self.source.version} has no step '{old_id}' to map")
        if new is None:
            raise MappingError(f"v{self.target.version} has no step '{new_id}' to map '{old_id}' to")
        if type(old) is not type(new):
            raise MappingError(
                f"'{old_id}' ({type(old).__name__}) cannot become '{new_id}' ({type(new).__name__})"
            )
        self.diff.alignment[old] = new
        if new in self.diff.added:
            self.diff.added.remove(new)
        before, after = self.registry.convert(old), self.registry.convert(new)
        self.diff.comparisons[old] = [k for k, v in before.items() if after.get(k) != v]

    def reachable(self, starts: Iterable[Any]) -> frozenset[Any]:
        """Every spec of the new version reachable from `starts` (remembered: a batch asks
        the same few questions for every instance)."""
        key = frozenset(s for s in starts if s is not None)
        found = self._reachable.get(key)
        if found is None:
            found = self._reachable[key] = frozenset(_reachable(key))
        return found

    def steps_before(self, spec: Any) -> tuple[str, ...]:
        """The names of the user steps right before an added step (remembered)."""
        found = self._before.get(spec)
        if found is None:
            found = self._before[spec] = _steps_before(spec)
        return found

    def workflow_diff(self, workflow: BpmnWorkflow) -> WorkflowDiff:
        """SpiffWorkflow's diff of one workflow's tasks against the pairing."""
        return WorkflowDiff(workflow, self.diff)

    def changes_of(self, old: Any, new: Any) -> dict[str, tuple[str | None, str | None]]:
        """What a person working the step would see change between two aligned specs."""
        changes: dict[str, tuple[str | None, str | None]] = {}
        if (old.bpmn_name or old.name) != (new.bpmn_name or new.name):
            changes["name"] = (old.bpmn_name or old.name, new.bpmn_name or new.name)
        if old.lane != new.lane:
            changes["lane"] = (old.lane, new.lane)
        before, after = properties_of(old), properties_of(new)
        for key in sorted(before.keys() | after.keys()):
            if before.get(key) != after.get(key):
                changes[key] = (before.get(key), after.get(key))
        form_old, form_new = before.get(FORM_PROPERTY), after.get(FORM_PROPERTY)
        if (
            form_old is not None
            and form_old == form_new
            and self.source.forms.get(form_old) != self.target.forms.get(form_new)
        ):
            changes["form_fields"] = (form_old, form_new)
        return changes


def plan_instance(
    pairing: SpecPairing,
    instance_id: int,
    revision: int,
    workflow: BpmnWorkflow,
    passed: Iterable[tuple[str, str]] = (),
) -> InstancePlan:
    """Judge whether one instance can move along `pairing`, and what would change for it.

    Args:
        pairing: the two versions' alignment (one per batch: computing it walks both specs).
        instance_id, revision: the instance, as read.
        workflow: the instance's workflow on the source version (not changed).
        passed: (BPMN id, task id) of the user steps the instance completed, from the
            projection: a compacted workflow keeps only what its open steps need, so the
            steps it passed long ago are no longer in its tree.
    """
    plan = InstancePlan(instance_id, revision, pairing.source, pairing.target)
    if any(_unfinished(sub.tasks.values()) for sub in workflow.subprocesses.values()):
        plan.refusals.append(Refusal(SUBPROCESS, None, None, "a subprocess is in flight (not supported yet)"))
        return plan
    diff = pairing.workflow_diff(workflow)
    removed = {t.id for t in diff.removed}
    open_tasks = [t for t in workflow.get_tasks(state=OPEN_STATES, skip_subprocesses=True)]
    for task in open_tasks:
        spec = task.task_spec
        name = spec.bpmn_name or element_id(spec)
        if isinstance(spec, LoopTask) or (
            task.parent is not None and isinstance(task.parent.task_spec, LoopTask)
        ):
            plan.refusals.append(
                Refusal(MULTI_INSTANCE, element_id(spec), name, "a multi-instance round is in flight")
            )
            continue
        if task.id in removed:
            if spec.manual:
                plan.refusals.append(
                    Refusal(
                        OPEN_REMOVED,
                        element_id(spec),
                        name,
                        f"its open step is not in v{pairing.target.version}",
                    )
                )
            elif _is_kept_waiting(task):
                plan.refusals.append(
                    Refusal(
                        OPEN_REMOVED,
                        element_id(spec),
                        name,
                        f"it waits at an element not in v{pairing.target.version}",
                    )
                )
            continue
        new = diff.alignment.get(task)
        if new is None:
            continue
        if type(new) is not type(spec):
            plan.refusals.append(
                Refusal(
                    UNMAPPABLE,
                    element_id(spec),
                    name,
                    f"its open step is a {type(new).__name__} in v{pairing.target.version}",
                )
            )
            continue
        if not spec.manual:
            continue
        if new.name != spec.name:
            plan.effects.append(
                Effect(
                    RENAMED_OPEN,
                    element_id(spec),
                    name,
                    new.name,
                    changes=pairing.changes_of(spec, new),
                    task_id=str(task.id),
                )
            )
            continue
        changes = pairing.changes_of(spec, new)
        if changes:
            plan.effects.append(
                Effect(CHANGED_OPEN, element_id(spec), name, changes=changes, task_id=str(task.id))
            )
    if plan.refusals:
        return plan
    ahead = pairing.reachable(
        diff.alignment.get(t) for t in open_tasks if t.task_spec.manual or t.has_state(TaskState.WAITING)
    )
    for spec in pairing.added_steps:
        kind = ADDED_AHEAD if spec in ahead else ADDED_BEHIND
        plan.effects.append(
            Effect(
                kind, element_id(spec), spec.bpmn_name or element_id(spec), after=pairing.steps_before(spec)
            )
        )
    reported: set[str] = set()
    for task in diff.removed:
        if task.has_state(TaskState.COMPLETED) and task.task_spec.manual:
            spec = task.task_spec
            reported.add(str(task.id))
            plan.effects.append(
                Effect(
                    REMOVED_PASSED, element_id(spec), spec.bpmn_name or element_id(spec), task_id=str(task.id)
                )
            )
    for bpmn_id, task_id in passed:
        spec = pairing.source_spec.task_specs.get(bpmn_id)
        if task_id in reported or spec is None or pairing.diff.alignment.get(spec, spec) is not None:
            continue
        reported.add(task_id)
        plan.effects.append(Effect(REMOVED_PASSED, bpmn_id, spec.bpmn_name or bpmn_id, task_id=task_id))
    return plan


def _unfinished(tasks: Iterable[Task]) -> bool:
    return any(t.has_state(OPEN_STATES) for t in tasks)


def _is_kept_waiting(task: Task) -> bool:
    # an engine task waiting (a timer, a join) is where the instance stands, as much as a user task
    return task.has_state(TaskState.WAITING | TaskState.STARTED)


def _reachable(starts: Iterable[Any]) -> set[Any]:
    """Every spec reachable from `starts` (themselves excluded) in the new version."""
    seen: set[Any] = set()
    queue = deque(s for s in starts if s is not None)
    while queue:
        spec = queue.popleft()
        for output in spec.outputs:
            if output not in seen:
                seen.add(output)
                queue.append(output)
    return seen


def _steps_before(spec: Any) -> tuple[str, ...]:
    """The names of the nearest user steps leading into `spec` (through gateways and events)."""
    found: list[str] = []
    seen = {spec}
    queue = deque(spec.inputs)
    while queue:
        prev = queue.popleft()
        if prev in seen:
            continue
        seen.add(prev)
        if prev.manual:
            name = prev.bpmn_name or element_id(prev)
            if name not in found:
                found.append(name)
        elif prev.name not in ("Start", "Root"):
            queue.extend(prev.inputs)
    return tuple(found)
