"""Cost of one task completion through Baton's service vs SpiffWorkflow alone in memory.

For each history length (QC rework rounds already behind the engagement) it times the
same completions twice:

* baseline: SpiffWorkflow alone, in memory (set data, run, do_engine_steps);
* Baton: ``workflows.engagements.complete_task`` in a unit of work (look up the task,
  load the instance, validate the form, run, persist what changed, update projections
  and the event log, commit) -- warm (the instance was used recently by this process)
  and cold (caches dropped first, as after a restart).

It prints the medians and their ratios, then the database growth per finished engagement.
Past ~150 rounds SpiffWorkflow alone can no longer run the engagement (its task iterators stop at
depth 1000); the same in-memory step with Baton's compaction (`engine.compaction`) is printed
beside it at every length and stands in for it there.
Run: ``python -m bench.bench_step [--db sqlite|postgres|URL] [--rounds 0,10,50,200,1000]``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import statistics
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.task import TaskState
from sqlalchemy import text

from engine.compaction import Compactor
from engine.db import Base
from engine.fastsql import FastStatement
from engine.sandbox.policy import compile_source as sandbox_compile
from workflows.agency import AM_LANE, PM_LANE
from workflows.bootstrap import build_services
from workflows.definitions.catalog import install_definitions
from workflows.demo.samples import Step, Story, qc_rounds_story
from workflows.demo.seed import seed_users
from workflows.engagements.lifecycle import start_engagement
from workflows.engagements.tasks import complete_task
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
console = Console(width=140)
# the engagement's team (demo people): each step is completed by the one its lane calls for
TEAM = {AM_LANE: "ana", PM_LANE: "pete"}


# -- the baseline: SpiffWorkflow alone -----------------------------------------------------


def load_spec() -> tuple[Any, dict[str, Any]]:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_file(str(ROOT / "definitions" / "engagement.bpmn"))
    return parser.get_spec("engagement"), parser.get_subprocess_specs("engagement")


@cache
def actor_of(bpmn_id: str) -> str:
    """Who completes a user task of the engagement: the team member of its lane."""
    spec, _subs = load_spec()
    lane = next(ts.lane for ts in spec.task_specs.values() if getattr(ts, "bpmn_id", None) == bpmn_id)
    return TEAM[lane]


def memory_complete(wf: BpmnWorkflow, step: Step, compactor: Compactor | None = None) -> float:
    """Complete one step in memory (compacting the tree after it if asked); returns the seconds."""
    ready = wf.get_tasks(state=TaskState.READY, manual=True)
    task = next(t for t in ready if t.task_spec.bpmn_id == step.task)
    data = copy.deepcopy(step.data)
    t0 = time.perf_counter()
    since = time.time()
    task.set_data(**data)
    task.run()
    wf.do_engine_steps()
    if compactor is not None:
        compactor.compact(wf, since)
    return time.perf_counter() - t0


def memory_run(
    spec: Any, subs: Any, story: Story, upto: int, compactor: Compactor | None = None
) -> BpmnWorkflow:
    wf = BpmnWorkflow(spec, subs)
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(copy.deepcopy(story.start_data))
    wf.do_engine_steps()
    for step in story.steps[:upto]:
        memory_complete(wf, step, compactor)
    return wf


# SpiffWorkflow alone stops past ~150 rework rounds of the engagement (its task iterators
# stop at depth 1000): beyond this the plain in-memory baseline cannot run at all
PLAIN_LIMIT = 120


# -- Baton ---------------------------------------------------------------------------------


def fresh_services(url: str) -> Services:
    services = build_services(url, definitions_dir=ROOT / "definitions")
    services.db.drop_all()
    services.db.create_all()
    with services.db.unit_of_work() as session:
        install_definitions(session, services)
        seed_users(session, services)
    return services


def baton_start(services: Services, story: Story) -> int:
    with services.db.unit_of_work() as session:
        return start_engagement(
            session,
            services,
            client="Bench",
            name=story.name,
            process_id=story.definition,
            options=story.options,
            account_manager=TEAM[AM_LANE],
            project_manager=TEAM[PM_LANE], actor="olga",
        ).id


def baton_complete(services: Services, engagement_id: int, step: Step) -> float:
    actor = actor_of(step.task)  # outside the timing
    t0 = time.perf_counter()
    with services.db.unit_of_work() as session:
        complete_task(session, services, engagement_id, step.task, step.data, actor=actor)
    return time.perf_counter() - t0


def restart(url: str) -> Services:
    """A process restart: new services (empty caches, new pool), booted as `baton` boots them.

    Module-level caches are emptied too (prepared SQL, compiled sandbox code), so the first
    request pays what a new process pays, except Python imports.
    """
    FastStatement.forget_all()
    sandbox_compile.cache_clear()
    services = build_services(url, definitions_dir=ROOT / "definitions")
    services.warm_up()
    return services


# -- measurement ---------------------------------------------------------------------------


def split(story: Story, rounds: int) -> tuple[list[Step], list[Step]]:
    """Steps before the measured window, and the measured window (production + QC pairs)."""
    first_qc = next(i for i, s in enumerate(story.steps) if s.task == "production")
    start = first_qc + 2 * rounds
    return story.steps[:start], story.steps[start : start + 2 * SAMPLES]


SAMPLES = 20  # production/QC pairs measured per history length


def measure(url: str, rounds_list: list[int], progress: Progress) -> list[dict[str, Any]]:
    """Median step times per history length; baseline and Baton steps alternate so that
    both see the same machine load."""
    spec, subs = load_spec()
    results = []
    task = progress.add_task("history lengths", total=len(rounds_list))
    for rounds in rounds_list:
        story = qc_rounds_story(rounds + SAMPLES + 1)
        prefix, window = split(story, rounds)
        services = fresh_services(url)
        row: dict[str, Any] = {"rounds": rounds}
        plain = rounds <= PLAIN_LIMIT
        try:
            for mode in ("warm", "cold", "restart"):
                wf = memory_run(spec, subs, story, len(prefix)) if plain else None
                compactor = Compactor()
                wfc = memory_run(spec, subs, story, len(prefix), compactor)
                eid = baton_start(services, story)
                for step in prefix:
                    baton_complete(services, eid, step)
                gc.collect()
                memory, compacted, baton = [], [], []
                for step in window:
                    if wf is not None:
                        memory.append(memory_complete(wf, step))
                    compacted.append(memory_complete(wfc, step, compactor))
                    if mode == "warm":  # the process completed this engagement's previous step
                        baton.append(baton_complete(services, eid, step))
                    elif mode == "cold":  # the engagement is not in memory: load it from the database
                        services.store.cache.clear()
                        baton.append(baton_complete(services, eid, step))
                    else:  # the very first request of a freshly started process
                        booted = restart(url)
                        try:
                            baton.append(baton_complete(booted, eid, step))
                        finally:
                            booted.db.dispose()
                row[f"memory_{mode}"] = statistics.median(memory) if memory else None
                row[f"compacted_{mode}"] = statistics.median(compacted)
                row[mode] = statistics.median(baton)
        finally:
            services.db.dispose()
        modes = ("warm", "cold", "restart")
        row["memory"] = statistics.median([row[f"memory_{m}"] for m in modes]) if plain else None
        row["compacted"] = statistics.median([row[f"compacted_{m}"] for m in modes])
        results.append(row)
        progress.advance(task)
    return results


def growth(url: str, rounds: int, engagements: int, progress: Progress) -> float:
    """Bytes of database per finished engagement with `rounds` QC rework rounds."""
    story = qc_rounds_story(rounds)
    services = fresh_services(url)
    try:
        before = db_bytes(services)
        task = progress.add_task(f"growth at {rounds} rounds", total=engagements)
        for _ in range(engagements):
            eid = baton_start(services, story)
            for step in story.steps:
                baton_complete(services, eid, step)
            progress.advance(task)
        return (db_bytes(services) - before) / engagements
    finally:
        services.db.dispose()


def db_bytes(services: Services) -> int:
    if services.db.is_sqlite:
        raw = services.db.engine.raw_connection()  # PRAGMAs must run outside a transaction
        try:
            cur = raw.cursor()
            cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            values = [
                cur.execute(f"PRAGMA {p}").fetchone()[0]
                for p in ("page_count", "freelist_count", "page_size")
            ]
            return int((values[0] - values[1]) * values[2])
        finally:
            raw.close()
    with services.db.engine.connect() as conn:
        total = 0
        for table in Base.metadata.sorted_tables:
            total += conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table.name}).scalar() or 0
        return int(total)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres, or a SQLAlchemy URL")
    parser.add_argument(
        "--rounds", default="0,10,50,200,1000", help="QC rework rounds before the measured steps"
    )
    parser.add_argument("--growth", default="0:20,50:5", help="rounds:engagements for the growth figures")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="baton-bench-")
    url = {"sqlite": f"sqlite:///{os.path.join(tmp, 'bench.sqlite3')}", "postgres": PG_URL}.get(
        args.db, args.db
    )
    rounds_list = [int(r) for r in args.rounds.split(",")]
    with Progress(console=console, transient=True) as progress:
        results = measure(url, rounds_list, progress)
        growth_rows = []
        for item in args.growth.split(","):
            rounds, count = (int(x) for x in item.split(":"))
            growth_rows.append((rounds, growth(url, rounds, count, progress)))
    table = Table(title=f"one task completion, median of {2 * SAMPLES} ({url.split(':')[0]})")
    for col in (
        "QC rounds",
        "SpiffWorkflow in memory",
        "same, compacted",
        "warm",
        "warm x",
        "warm / own 0-round",
        "cold",
        "cold x",
        "1st request after restart",
        "x",
    ):
        table.add_column(col, justify="right")
    warm0 = results[0]["warm"] if results and results[0]["rounds"] == 0 else None
    for r in results:
        plain = r["memory"] is not None
        cells = [
            str(r["rounds"]),
            f"{r['memory'] * 1e3:.2f} ms" if plain else "stops (depth)",
            f"{r['compacted'] * 1e3:.2f} ms",
        ]
        for mode in ("warm", "cold", "restart"):
            # against SpiffWorkflow alone where it still runs; past that, against it compacted (marked *)
            base = r[f"memory_{mode}"] if plain else r[f"compacted_{mode}"]
            cells += [f"{r[mode] * 1e3:.2f} ms", f"{r[mode] / base:.1f}x" + ("" if plain else "*")]
            if mode == "warm":
                cells.append(f"{r[mode] / warm0:.2f}x" if warm0 else "-")
        table.add_row(*cells)
    console.print(table)
    console.print("* SpiffWorkflow alone cannot run that history: ratio against it with compaction")
    gtable = Table(title="database growth per finished engagement")
    gtable.add_column("QC rounds", justify="right")
    gtable.add_column("bytes", justify="right")
    for rounds, size in growth_rows:
        gtable.add_row(str(rounds), f"{size / 1024:.1f} KiB")
    console.print(gtable)


if __name__ == "__main__":
    main()
