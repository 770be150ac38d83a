"""Compaction of live workflows: the task tree keeps what its open tasks can still need.

SpiffWorkflow keeps every completed task as an ancestor of the open ones, so a workflow that
loops (rework rounds, cycle timers) grows a tree as deep as its history: each step costs more,
and past ~1,000 levels SpiffWorkflow's task iterators silently stop finding ready tasks. What
Baton shows of the past lives in its projections and event log, so after each step
`Compactor.compact` drops, in each workflow (the top one and each subprocess):

* the completed tasks above the *cut*: the lowest common ancestor of the unfinished tasks,
  raised to a completed task and to any ancestor something below may still look up (an open
  boundary-event or event-split scope, the workflow's ``last_task``, a task the step itself
  changed, a live subprocess, an inclusive join that can be reached again); the cut is then
  re-parented under the workflow's root;
* finished side branches below the cut, except the direct children of an unfinished activity
  (a multi-instance activity counts its instances; a cycle timer's children may go) and of an
  event split (its join reads them).

Finished instances of an *unstructured join* (parallel, inclusive, the end join) that another
run of the same join can still reach are kept as two-task stubs (the join and its parent)
under the root: SpiffWorkflow counts them when the join's threshold is checked and merges
their parent's data when it fires. A finished embedded subprocess is dropped with its
subworkflow. Tasks a step changed are never dropped in that step (the projections of the step
read them); they go at the next one.

Whatever cannot be shown safe leaves that workflow as it is: ad-hoc subprocesses, a cut that
would drop the task of a subprocess still running, a finished subprocess whose subworkflow
still has open tasks. The completed runs of each element that leave the tree are counted
(`Compaction.runs`) so that "which run of its step is this" stays exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import AdHocSubprocessSpec
from SpiffWorkflow.bpmn.specs.control import EventSplit
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.task import Task, TaskState

_UNFINISHED = TaskState.NOT_FINISHED_MASK


@dataclass
class Compaction:
    """What compacting a workflow changed, for the incremental save.

    Attributes:
        removed: ids of the tasks that left the tree (their rows go).
        changed: (workflow key, task) of kept tasks whose stored form changed (new parent or
            fewer children).
        runs: completed tasks that left the tree, per ``"<workflow key>/<spec name>"``.
        skipped: workflow keys left as they were because compacting them was not shown safe.
        subprocesses_removed: how many finished subworkflows were dropped.
    """

    removed: list[str] = field(default_factory=list)
    changed: list[tuple[str, Task]] = field(default_factory=list)
    runs: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    subprocesses_removed: int = 0

    def __bool__(self) -> bool:
        return bool(self.removed or self.changed)


def run_key(workflow_key: str, spec: TaskSpec) -> str:
    """The counter key of an element's completed runs in one (sub)workflow."""
    return f"{workflow_key}/{spec.name}"


class _Unsafe(Exception):
    """Compacting this workflow now is not shown safe: leave it as it is."""


class _SpecFacts:
    """What compaction needs to know of one process spec (computed once per spec)."""

    def __init__(self, spec: object) -> None:
        task_specs: dict[str, TaskSpec] = getattr(spec, "task_specs", {})
        self.adhoc = isinstance(spec, AdHocSubprocessSpec)
        # splits whose structured join looks its split up among its ancestors
        self.splits = {
            ts.split_task for ts in task_specs.values() if isinstance(ts, Join) and ts.split_task is not None
        }
        self._reach: dict[str, frozenset[str]] = {}

    def reachable(self, spec: TaskSpec) -> frozenset[str]:
        """Names of the specs reachable from `spec` (itself included) along its outputs."""
        found = self._reach.get(spec.name)
        if found is None:
            seen: set[str] = set()
            stack = [spec]
            while stack:
                current = stack.pop()
                if current.name in seen:
                    continue
                seen.add(current.name)
                stack.extend(current.outputs)
            found = self._reach[spec.name] = frozenset(seen)
        return found


class Compactor:
    """Compacts live workflows after each step (see the module docstring)."""

    def __init__(self) -> None:
        # by spec identity; the spec is held so that its id cannot be reused by another
        self._facts: dict[int, tuple[object, _SpecFacts]] = {}

    def _spec_facts(self, spec: object) -> _SpecFacts:
        entry = self._facts.get(id(spec))
        if entry is None or entry[0] is not spec:
            entry = self._facts[id(spec)] = (spec, _SpecFacts(spec))
        return entry[1]

    def compact(self, workflow: BpmnWorkflow, since: float) -> Compaction:
        """Drop what no open task of `workflow` can need; tasks changed since `since` stay.

        Args:
            workflow: the live workflow after a step (changed in place).
            since: `time.time()` taken before the step.

        Returns:
            What changed, for `engine.serialization.diff_tasks`.
        """
        result = Compaction()
        sources: list[tuple[str, object]] = [("", workflow)]
        sources += [(str(k), sp) for k, sp in workflow.subprocesses.items()]
        for key, wf in sources:
            if key and key not in {str(k) for k in workflow.subprocesses}:
                continue  # dropped with its parent subprocess in this pass
            try:
                _WorkflowPass(self._spec_facts(wf.spec), workflow, wf, key, since, result).run()  # type: ignore[attr-defined]
            except _Unsafe:
                result.skipped.append(key)
        return result


class _WorkflowPass:
    """One compaction of one (sub)workflow's tree: plan first, then change it in one go."""

    def __init__(
        self, facts: _SpecFacts, top: BpmnWorkflow, wf: object, key: str, since: float, result: Compaction
    ) -> None:
        self.facts = facts
        self.top = top
        self.tasks: dict[UUID, Task] = wf.tasks  # type: ignore[attr-defined]
        self.root: Task = wf.task_tree  # type: ignore[attr-defined]
        self.last_task: Task | None = wf.last_task  # type: ignore[attr-defined]
        self.key = key
        self.since = since
        self.result = result
        self.drop: dict[UUID, Task] = {}
        self.stubs: dict[UUID, Task] = {}  # parents of join stubs, to hang under the root
        self.new_children: dict[UUID, list[UUID]] = {}
        self.reach: frozenset[str] = frozenset()

    # -- planning ------------------------------------------------------------------------

    def run(self) -> None:
        if self.facts.adhoc:
            raise _Unsafe
        unfinished = [t for t in self.tasks.values() if t._state & _UNFINISHED]
        if not unfinished:
            return  # finished: the end of the instance takes its rows
        self.reach = frozenset().union(*(self.facts.reachable(t.task_spec) for t in unfinished))
        # the root's branches that hold unfinished tasks (the main flow, a started event
        # subprocess...) are compacted each on its own: nothing in one looks up the others
        groups: dict[UUID, list[Task]] = {}
        for task in unfinished:
            top = task
            while top.parent is not None and top.parent is not self.root:
                top = top.parent
            if top is self.root:
                raise _Unsafe  # the root itself is unfinished: nothing to compact yet
            groups.setdefault(top.id, []).append(task)
        cuts = {top_id: self._cut(members) for top_id, members in groups.items()}
        for cut in cuts.values():
            if cut is not None:
                self._drop_above(cut)
        self._drop_root_leftovers(set(groups))
        for top_id, cut in cuts.items():
            self._prune_below(cut if cut is not None else self.tasks[top_id])
        self._apply(cuts)

    def _pinned(self, task: Task) -> bool:
        return task.last_state_change >= self.since or task is self.last_task

    def _cut(self, unfinished: list[Task]) -> Task | None:
        """The highest task to keep on the path to the unfinished tasks (None: the root)."""
        path = _path_from_root(unfinished[0])
        index = {t.id: i for i, t in enumerate(path)}
        lowest = len(path) - 1
        for task in unfinished[1:]:
            current: Task | None = task
            while current is not None and current.id not in index:
                current = current.parent
            if current is None:
                raise _Unsafe  # not under the root: a tree SpiffWorkflow did not build
            lowest = min(lowest, index[current.id])
        chain = path[: lowest + 1]  # root ... lowest common ancestor
        keep = len(chain) - 1
        if chain[keep]._state & _UNFINISHED:
            keep -= 1  # an unfinished cut would inherit its new parent's data when it runs
        # walk up: an open split (its join reads its children), a task the step changed, the
        # last task, or an inclusive join that may run again, stays
        joins_pending = {
            t.task_spec.split_task
            for t in unfinished
            if isinstance(t.task_spec, Join) and t.task_spec.split_task
        }
        for i in range(len(chain) - 1, 0, -1):
            task = chain[i]
            spec = task.task_spec
            if spec.name in self.facts.splits or isinstance(spec, EventSplit):
                # a pending join looks up its nearest split of that name, not earlier rounds'
                if spec.name in joins_pending or any(
                    self.tasks[c]._state & _UNFINISHED for c in task._children if c in self.tasks
                ):
                    keep = min(keep, i)
                joins_pending.discard(spec.name)
            if self._pinned(task) or (isinstance(spec, InclusiveGateway) and spec.name in self.reach):
                keep = min(keep, i)
        while keep > 0 and chain[keep]._state != TaskState.COMPLETED:
            keep -= 1
        return chain[keep] if keep > 0 else None

    def _live_stub(self, task: Task) -> bool:
        """A stub left under the root by an earlier pass whose join can still run."""
        if task._parent != self.root.id or len(task._children) != 1:
            return False
        join = self.tasks.get(task._children[0])
        return (
            join is not None
            and isinstance(join.task_spec, UnstructuredJoin)
            and join.task_spec.name in self.reach
            and not join._children
            and not (task._state & _UNFINISHED or join._state & _UNFINISHED)
        )

    def _drop_above(self, cut: Task) -> None:
        """Drop the ancestors of the cut below the root, and their other branches."""
        child = cut
        current = cut.parent
        while current is not None and current is not self.root:
            for other_id in current._children:
                if other_id == child.id:
                    continue
                if not _all_finished_unpinned(self.tasks[other_id], self):
                    raise _Unsafe  # changed by this step: it goes at the next one
                self._take_branch(self.tasks[other_id])
            self._take_task(current)
            child, current = current, current.parent

    def _drop_root_leftovers(self, holding: set[UUID]) -> None:
        """The root's finished branches go (stubs that may be needed stay, and what the step changed)."""
        for child_id in self.root._children:
            child = self.tasks[child_id]
            if child_id in holding or self._live_stub(child) or not _all_finished_unpinned(child, self):
                continue
            self._take_branch(child)

    def _prune_below(self, start: Task) -> None:
        """Drop finished, unpinned side branches under the cut."""
        stack = [start]
        while stack:
            task = stack.pop()
            spec = task.task_spec
            keep_children = isinstance(spec, EventSplit) or bool(
                task._state & _UNFINISHED and not isinstance(spec, CatchingEvent)
            )
            kept: list[UUID] = []
            for child_id in task._children:
                child = self.tasks[child_id]
                if task is self.root and self._live_stub(child):
                    kept.append(child_id)
                elif not keep_children and _all_finished_unpinned(child, self):
                    self._take_branch(child)
                else:
                    kept.append(child_id)
                    stack.append(child)
            if len(kept) != len(task._children):
                self.new_children[task.id] = kept

    def _take_branch(self, top: Task) -> None:
        """Plan to drop a finished branch, keeping stubs of the joins it holds that may run again."""
        branch = list(_walk(top, self.tasks))
        for task in branch:
            parent = task.parent
            if (
                isinstance(task.task_spec, UnstructuredJoin)
                and task.task_spec.name in self.reach
                and parent is not None
                and parent is not self.root
            ):
                self.stubs[parent.id] = parent
        for task in branch:
            if task.id in self.stubs or (task.parent is not None and task.parent.id in self.stubs and
                                         isinstance(task.task_spec, UnstructuredJoin)):
                continue
            self._take_task(task)

    def _take_task(self, task: Task) -> None:
        if task.id in self.top.subprocesses:
            sub = self.top.subprocesses[task.id]
            if task._state & _UNFINISHED or any(t._state & _UNFINISHED for t in sub.tasks.values()):
                raise _Unsafe
        self.drop[task.id] = task

    # -- applying --------------------------------------------------------------------------

    def _apply(self, cuts: dict[UUID, Task | None]) -> None:
        moved = any(cut is not None and cut._parent != self.root.id for cut in cuts.values())
        if not self.drop and not self.stubs and not self.new_children and not moved:
            return
        changed: dict[UUID, Task] = {}
        root = self.root
        for task_id, kept in self.new_children.items():
            task = self.tasks[task_id]
            task._children = kept
            changed[task_id] = task
        for stub in self.stubs.values():
            # a stub keeps only its join: its other children are finished and go with the branch
            stub._children = [
                c for c in stub._children if isinstance(self.tasks[c].task_spec, UnstructuredJoin)
            ]
            stub._parent = root.id
            changed[stub.id] = stub
        new_children: list[UUID] = []
        for child_id in root._children:
            if child_id in cuts:
                cut = cuts[child_id]
                new_children.append(cut.id if cut is not None else child_id)
                if cut is not None and cut._parent != root.id:
                    cut._parent = root.id
                    changed[cut.id] = cut
            elif child_id not in self.drop:
                new_children.append(child_id)
        new_children = list(dict.fromkeys(new_children + list(self.stubs)))
        if new_children != root._children:
            root._children = new_children
            changed[root.id] = root
        # subworkflows first: SpiffWorkflow finds nested ones through their parents' tasks
        for task in self.drop.values():
            if task.id in self.top.subprocesses:
                for gone in self.top.delete_subprocess(task):
                    self.result.removed.append(str(gone.id))
                self.result.subprocesses_removed += 1
        for task in self.drop.values():
            changed.pop(task.id, None)
            if self.tasks.pop(task.id, None) is None:
                continue
            self.result.removed.append(str(task.id))
            if task._state == TaskState.COMPLETED:
                self.result.runs[run_key(self.key, task.task_spec)] += 1
        self.result.changed.extend((self.key, t) for t in changed.values())


def _path_from_root(task: Task) -> list[Task]:
    path = []
    current: Task | None = task
    while current is not None:
        path.append(current)
        current = current.parent
    path.reverse()
    return path


def _walk(top: Task, tasks: dict[UUID, Task]) -> Iterable[Task]:
    stack = [top]
    while stack:
        task = stack.pop()
        yield task
        stack.extend(tasks[c] for c in task._children if c in tasks)


def _all_finished_unpinned(top: Task, p: _WorkflowPass) -> bool:
    return all(not (t._state & _UNFINISHED) and not p._pinned(t) for t in _walk(top, p.tasks))


__all__ = ["Compaction", "Compactor", "run_key"]
