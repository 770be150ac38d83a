"""Compaction against SpiffWorkflow itself: each BPMN construct, compacted and not, side by side.

Every process of ``tests/data/constructs.bpmn`` loops around one construct compaction must get
right (parallel branches in flight, an inclusive join, interrupting and non-interrupting
boundary timers, an event subprocess, an N-of-M multi-instance approval, an embedded
subprocess). Two copies of each run on one injected clock and take the same decisions; one is
compacted after every step, and both are restored from Baton's stored pieces after every step. Both
must offer the same tasks at every step (with the same run numbers), reach the same end event
and leave the same workflow data; the compacted tree stays small.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.task import Task, TaskState

from engine.compaction import Compactor
from engine.projection import run_of
from engine.serialization import COUNTERS_KEY, WorkflowCodec

CONSTRUCTS = Path(__file__).parent / "data" / "constructs.bpmn"
ROUNDS = 12


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    clock = Clock()

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock.now.astimezone(tz or UTC)

    monkeypatch.setattr(spiff_timer, "datetime", FrozenDatetime)
    yield clock


def spec(process_id: str) -> tuple[Any, dict[str, Any]]:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(CONSTRUCTS))
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


# what each user task is answered with: (bpmn id, how many times it ran before) -> data
Answer = Callable[[str, int, Task], dict[str, Any]]


def again(n: int) -> bool:
    return n < ROUNDS - 1


ANSWERS: dict[str, Answer] = {
    "parallel_loop": lambda bpmn_id, n, task: {
        "p_prep": {},
        "p_a": {"a": n},
        "p_b": {"b": [n]},
        "p_review": {"again": again(n)},
    }[bpmn_id],
    "inclusive": lambda bpmn_id, n, task: {
        "i_choose": {"x": n % 2 == 0, "y": n % 3 == 0},
        "i_tx": {"tx": n},
        "i_ty": {"ty": n},
        "i_tz": {"tz": n},
        "i_rework": {"again": again(n)},
    }[bpmn_id],
    "boundary_loop": lambda bpmn_id, n, task: {
        "b_work": {"again": again(n), "work": n},
        "b_escalate": {"escalated": n},
        "b_note": {"note": n},
    }[bpmn_id],
    "event_sub": lambda bpmn_id, n, task: {
        "e_work": {"again": again(n)},
        "e_side": {"side": n},
    }[bpmn_id],
    "approvals": lambda bpmn_id, n, task: {
        "m_approve": {"decision": "no" if n % 4 == 1 else "yes"},
    }[bpmn_id],
    "embedded": lambda bpmn_id, n, task: {
        "s_inner": {"inner_again": n % 3 != 2, "inner": n},
        "s_check": {"again": again(n)},
    }[bpmn_id],
}
START_DATA = {"parallel_loop": {"c_runs": 0}, "approvals": {"round": 0, "rounds": ROUNDS}}
# how far the clock moves before each step: some steps are long enough for the timers
CLOCK_STEP = {"boundary_loop": [timedelta(minutes=70), timedelta(hours=6), timedelta(minutes=20)]}


class Run:
    """One copy of a process, stepped by the same decisions as its twin."""

    def __init__(self, process_id: str, *, compacted: bool) -> None:
        self.process_id = process_id
        self.spec, self.subs = spec(process_id)
        self.wf = BpmnWorkflow(self.spec, self.subs)
        self.compactor = Compactor() if compacted else None
        self.codec = WorkflowCodec()
        self.runs: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.largest = 0
        for task in self.wf.get_tasks(state=TaskState.READY):
            task.data.update(START_DATA.get(process_id, {}))
        self._after(lambda: self.wf.do_engine_steps())

    def _after(self, step: Callable[[], None]) -> None:
        since = time.time()
        step()
        if self.compactor is not None:
            self.runs.update(self.compactor.compact(self.wf, since).runs)
        # both twins go through the store's pieces, so that only compaction tells them apart
        # (SpiffWorkflow itself does not run a multi-instance activity quite the same after
        # a serializer round trip as without one)
        self.wf = self._round_trip()
        size = len(self.wf.tasks) + sum(len(s.tasks) for s in self.wf.subprocesses.values())
        self.largest = max(self.largest, size)

    def _round_trip(self) -> BpmnWorkflow:
        """The workflow as the store would restore it (every step)."""
        meta, rows, payloads = self.codec.encode_all(self.wf)
        restored = self.codec.restore(self.codec.assemble(meta, rows, payloads, self.spec, self.subs))
        assert self.codec.full_dict(restored) == self.codec.full_dict(self.wf)
        return restored

    def ready(self) -> list[Task]:
        tasks = self.wf.get_tasks(state=TaskState.READY, manual=True)
        return sorted(tasks, key=lambda t: (t.task_spec.bpmn_id, str(t.data.get("approver", ""))))

    def offered(self) -> list[tuple[str, int | None]]:
        """The ready tasks with the run of their element each one is (as the projection counts)."""
        runs = self.runs if self.compactor else None
        return [(t.task_spec.bpmn_id, run_of(t, runs)) for t in self.ready()]

    def tick(self, delta: timedelta, clock: Clock) -> None:
        self._after(lambda: (self.wf.refresh_timers(), self.wf.do_engine_steps()))

    def complete(self, pick: int) -> None:
        task = self.ready()[pick]
        bpmn_id = task.task_spec.bpmn_id
        data = ANSWERS[self.process_id](bpmn_id, self.answered[bpmn_id], task)
        self.answered[bpmn_id] += 1

        def step() -> None:
            task.set_data(**data)
            task.run()
            self.wf.do_engine_steps()

        self._after(step)

    def end_event(self) -> str | None:
        ends = [t for t in self.wf.get_tasks(state=TaskState.COMPLETED) if isinstance(t.task_spec, EndEvent)]
        top = [t for t in ends if t.workflow is self.wf]
        return max(top, key=lambda t: t.last_state_change).task_spec.bpmn_id if top else None


@pytest.mark.parametrize("process_id", sorted(ANSWERS))
def test_each_construct_runs_the_same_compacted_and_uncompacted(process_id: str, clock: Clock) -> None:
    plain, compact = Run(process_id, compacted=False), Run(process_id, compacted=True)
    steps = CLOCK_STEP.get(process_id, [timedelta(hours=1)])
    trace = []
    for i in range(2000):
        clock.now += steps[i % len(steps)]
        plain.tick(steps[i % len(steps)], clock)
        compact.tick(steps[i % len(steps)], clock)
        offered = plain.offered()
        assert compact.offered() == offered, (i, trace[-5:])
        trace.append(offered)
        if not offered:
            break
        # take them in turns, so that parallel branches arrive at their join in every order
        pick = i % len(offered)
        plain.complete(pick)
        compact.complete(pick)
    assert plain.wf.is_completed() and compact.wf.is_completed(), trace[-3:]
    assert compact.end_event() == plain.end_event() is not None
    assert compact.wf.data == plain.wf.data
    assert len(trace) > ROUNDS
    # the compacted tree stays about the size of a round; the plain one keeps every round
    assert compact.largest < plain.largest / 2, (compact.largest, plain.largest)


def test_the_counters_of_dropped_runs_travel_in_the_meta_document() -> None:
    codec = WorkflowCodec()
    wf = BpmnWorkflow(*spec("approvals"))
    meta = codec.encode_meta(wf, {"runs": {"/m_approve": 3}})
    _m, rows, payloads = codec.encode_all(wf)
    dct = codec.assemble(meta, rows, payloads, *spec("approvals"))
    assert dct[COUNTERS_KEY] == {"runs": {"/m_approve": 3}}
    assert codec.full_dict(codec.restore(dct)) == codec.full_dict(wf)
