"""What notifications add to a task completion: the same steps with and without the `Notifier`.

Two engagements run the same story on the same database, one through services whose event
log has the notification listener, one through services whose log has none; their steps
alternate (which goes first alternates too), so both see the same machine load. Timed as in
`bench_step` (``complete_task`` in a unit of work, the instance warm in memory), by the wall
clock and by this process's CPU time: on a busy machine the wall clock also counts the time
the process waited for a CPU, while the CPU time holds all of SQLite's work (not PostgreSQL's,
which runs in the server) and none of that waiting.

Two cases per history length (QC rework rounds already behind the engagement):

* **own**: each step is completed by the engagement's AM or PM, who also gets the next task;
  nobody is told of their own step, so the listener only looks at the events;
* **colleague**: each step is completed by the other member of the lane's role (alex for ana,
  priya for pete), so every step tells the assignee of the next task: an ``assigned``
  notification for QC, a ``sent_back`` one when QC fails and production reopens.

Run: ``python -m bench.bench_notify [--db sqlite|postgres|URL] [--rounds 0,50] [--pairs 50]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from typing import Any

from rich.table import Table
from sqlalchemy import func, select

from bench.bench_step import PG_URL, ROOT, actor_of, baton_start, console, fresh_services, split
from workflows.bootstrap import build_services
from workflows.demo.samples import Step, qc_rounds_story
from workflows.engagements.tasks import complete_task
from workflows.models import Notification
from workflows.services import Services

COLLEAGUE = {"ana": "alex", "pete": "priya"}  # the other AM and PM of the demo agency


def timed_step(services: Services, engagement_id: int, step: Step, actor: str) -> tuple[float, float]:
    """Complete a step; returns the wall-clock and the CPU seconds it took."""
    t0, c0 = time.perf_counter(), time.process_time()
    with services.db.unit_of_work() as session:
        complete_task(session, services, engagement_id, step.task, step.data, actor=actor)
    return time.perf_counter() - t0, time.process_time() - c0


def notifications(services: Services) -> int:
    with services.db.unit_of_work(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(Notification)) or 0)


def measure(url: str, rounds: int, case: str, pairs: int) -> dict[str, Any]:
    """Median step times with and without the listener, and the notifications written."""
    story = qc_rounds_story(rounds + pairs + 1)
    prefix = split(story, rounds)[0]
    window = story.steps[len(prefix) : len(prefix) + 2 * pairs]
    loud = fresh_services(url)
    quiet = build_services(url, definitions_dir=ROOT / "definitions")
    quiet.events.listeners.clear()
    try:
        quiet.warm_up()
        runs = {"with": (loud, baton_start(loud, story)), "without": (quiet, baton_start(quiet, story))}
        for step in prefix:
            for services, engagement_id in runs.values():
                timed_step(services, engagement_id, step, actor_of(step.task))
        before = notifications(loud)
        gc.collect()
        times: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
        for i, step in enumerate(window):
            actor = actor_of(step.task)
            if case == "colleague":
                actor = COLLEAGUE[actor]
            order = ("with", "without") if i % 2 == 0 else ("without", "with")
            for mode in order:
                services, engagement_id = runs[mode]
                times[mode].append(timed_step(services, engagement_id, step, actor))
        written = notifications(loud) - before
    finally:
        loud.db.dispose()
        quiet.db.dispose()
    result: dict[str, Any] = {"written": written, "steps": len(window)}
    for mode, samples in times.items():
        result[mode] = statistics.median(wall for wall, _cpu in samples)
        result[f"{mode}_cpu"] = statistics.median(cpu for _wall, cpu in samples)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres, or a SQLAlchemy URL")
    parser.add_argument("--rounds", default="0,50", help="QC rework rounds before the measured steps")
    parser.add_argument("--pairs", type=int, default=50, help="production/QC pairs measured per case")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="baton-bench-")
    url = {"sqlite": f"sqlite:///{os.path.join(tmp, 'bench.sqlite3')}", "postgres": PG_URL}.get(
        args.db, args.db
    )
    table = Table(title=f"one warm task completion, median of {2 * args.pairs} ({url.split(':')[0]})")
    for col in ("QC rounds", "case", "notifications", "clock", "without listener", "with", "x", "difference"):
        table.add_column(col, justify="right")
    for rounds in (int(r) for r in args.rounds.split(",")):
        for case in ("own", "colleague"):
            r = measure(url, rounds, case, args.pairs)
            for clock, suffix in (("wall", ""), ("CPU", "_cpu")):
                without, with_ = r["without" + suffix], r["with" + suffix]
                table.add_row(
                    str(rounds),
                    case,
                    f"{r['written']} in {r['steps']} steps",
                    clock,
                    f"{without * 1e3:.2f} ms",
                    f"{with_ * 1e3:.2f} ms",
                    f"{with_ / without:.2f}x",
                    f"{(with_ - without) * 1e6:+.0f} µs",
                )
    console.print(table)


if __name__ == "__main__":
    main()
