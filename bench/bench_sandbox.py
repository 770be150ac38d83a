"""What the hard limits on scripts cost, and what they buy, measured in one run.

* **step**: one production or QC completion of the engagement, SpiffWorkflow in memory, with
  each script engine, interleaved step by step: SpiffWorkflow's own (no sandbox), the
  in-process RestrictedPython sandbox (before evaluator processes), and the sandbox Baton runs
  now (plain conditions in-process, everything else in an evaluator process);
* **evaluation**: one condition or script of the engagement, on the data it really sees, in
  process and through an evaluator;
* **bomb**: a modular ``pow`` with 8,000-bit arguments (about a second of one builtin call):
  how long it runs and the longest a 5 ms heartbeat of another thread waits meanwhile.

Run: ``python -m bench.bench_sandbox [--samples 20]``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import TaskState

from bench.bench_step import load_spec, memory_complete, split
from engine.sandbox import (
    IsolatedEnvironment,
    RestrictedEnvironment,
    SandboxedScriptEngine,
    SandboxLimits,
)
from workflows.demo.samples import Step, Story, qc_rounds_story

console = Console(width=120)
BOMB = "y = pow(3, 2**7999, 2**7999 + 1) % 10"

ENGINES: dict[str, Callable[[], PythonScriptEngine]] = {
    "SpiffWorkflow's engine": PythonScriptEngine,
    "sandbox in-process (before)": lambda: SandboxedScriptEngine(RestrictedEnvironment()),
    "sandbox + evaluators (now)": SandboxedScriptEngine,
}


def _workflow(engine: PythonScriptEngine, story: Story, steps: list[Step]) -> BpmnWorkflow:
    spec, subs = load_spec()
    wf = BpmnWorkflow(spec, subs, script_engine=engine)
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(copy.deepcopy(story.start_data))
    wf.do_engine_steps()
    for step in steps:
        memory_complete(wf, step)
    return wf


def step_costs(samples: int, rounds: int) -> dict[str, float]:
    """Median seconds of one production/QC completion in memory, per script engine."""
    story = qc_rounds_story(rounds + samples + 1)
    prefix, window = split(story, rounds)
    workflows = {name: _workflow(make(), story, prefix) for name, make in ENGINES.items()}
    times: dict[str, list[float]] = {name: [] for name in ENGINES}
    for step in window:
        for name, wf in workflows.items():
            times[name].append(memory_complete(wf, step))
    return {name: statistics.median(t) for name, t in times.items()}


def _median_time(fn: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def evaluation_costs(repeat: int) -> list[tuple[str, float, float, float]]:
    """(code, in-process sandbox, now, always in an evaluator) in seconds, for typical code."""
    data = {
        "qc_decision": "pass",
        "cost_to_date": 19000,
        "budget": 20000,
        "budget_alert_ratio": 0.9,
        "change_order_approvals": ["approved", "rejected", "approved"],
        "change_order_quorum": 2,
        "options": {"pm_joins_scoping": True, "budget": 20000},
        **{f"field_{i}": f"value {i}" for i in range(40)},
    }
    before = RestrictedEnvironment()
    now = IsolatedEnvironment()
    remote = IsolatedEnvironment(fast_path=False)
    now.pool.warm_up()
    rows = []
    for code, kind in [
        ("qc_decision == 'pass'", "eval"),
        ("cost_to_date > budget * budget_alert_ratio", "eval"),
        ("len([d for d in change_order_approvals if d == 'approved']) >= change_order_quorum", "eval"),
        ("pm_joins_scoping = bool(options.get('pm_joins_scoping', False))", "exec"),
    ]:
        timings = []
        for env in (before, now, remote):
            if kind == "eval":
                timings.append(_median_time(lambda env=env, code=code: env.evaluate(code, data), repeat))
            else:
                timings.append(_median_time(lambda env=env, code=code: env.execute(code, dict(data)), repeat))
        rows.append((code, *timings))
    return rows


def bomb(env: Any) -> tuple[float, float]:
    """(seconds the bomb took to stop, longest wait of a 5 ms heartbeat in another thread)."""
    gaps: list[float] = []
    done = threading.Event()

    def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    beat = threading.Thread(target=heartbeat)
    beat.start()
    time.sleep(0.05)
    start = time.perf_counter()
    with contextlib.suppress(Exception):  # stopped at the limit (now), or its result (before)
        env.execute(BOMB, {})
    elapsed = time.perf_counter() - start
    done.set()
    beat.join()
    return elapsed, max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20, help="production/QC pairs per history length")
    parser.add_argument("--rounds", default="0,50", help="QC rework rounds before the measured steps")
    args = parser.parse_args()

    table = Table(title=f"one completion in memory, median of {2 * args.samples}")
    table.add_column("QC rounds", justify="right")
    for name in ENGINES:
        table.add_column(name, justify="right")
    table.add_column("now / before", justify="right")
    for rounds in (int(r) for r in args.rounds.split(",")):
        costs = step_costs(args.samples, rounds)
        values = list(costs.values())
        table.add_row(str(rounds), *(f"{v * 1000:.2f} ms" for v in values), f"{values[2] / values[1]:.2f}x")
    console.print(table)

    table = Table(title="one evaluation, median of 200")
    for col in ("code", "in-process sandbox", "now", "always in an evaluator"):
        table.add_column(col, justify="right" if col != "code" else "left")
    for code, *timings in evaluation_costs(200):
        table.add_row(escape(code), *(f"{t * 1e6:.0f} µs" for t in timings))
    console.print(table)

    table = Table(title=escape(f"a long builtin call: {BOMB}"))
    for col in ("sandbox", "stopped after", "longest heartbeat wait"):
        table.add_column(col, justify="right" if col != "sandbox" else "left")
    limits = SandboxLimits(time_limit=0.5)
    for name, env in (
        ("in-process (before)", RestrictedEnvironment(time_limit=0.5)),
        ("evaluators (now)", IsolatedEnvironment(limits)),
    ):
        elapsed, gap = bomb(env)
        table.add_row(name, f"{elapsed:.2f} s", f"{gap * 1000:.0f} ms")
    console.print(table)


if __name__ == "__main__":
    main()
