"""Timer worker throughput: N due timers, fired by one and by two workers.

Each instance of ``tests/data/tick.bpmn`` waits on one timer; the clock is moved past it
and worker processes (as ``baton worker`` runs them) fire them all. Modes, interleaved
round by round so the machine's mood hits them alike:

* baseline -- one worker taking one due row per transaction (``batch=1``): a commit, a
  head read and a tree read per firing (on a fifth of the timers: it is slow);
* 1 worker, 2 workers -- ``TimerWorker`` as shipped (batches of 50).

Prints per mode the median firings per second, the ratio to the baseline, the worker
processes' CPU time per firing, and the number of timers fired more than once (must be 0).
Run: ``python -m bench.bench_timers [--db postgres|sqlite|URL] [--timers 10000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select

from engine.models import Event
from engine.timers import TimerWorker
from workflows.bootstrap import build_services
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
console = Console(width=120)


class Clock:
    """One clock for Baton and SpiffWorkflow, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def install_clock(clock: Clock) -> None:
    """SpiffWorkflow reads `datetime.now` in its timer module; point it at the bench clock."""

    class BenchDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock.now.astimezone(tz or UTC)

    spiff_timer.datetime = BenchDatetime  # type: ignore[misc]


def prepare(url: str, timers: int, clock: Clock, progress: Progress) -> Services:
    services = build_services(url, definitions_dir=ROOT / "definitions", clock=clock)
    services.db.drop_all()
    services.db.create_all()
    with services.db.unit_of_work() as session:
        services.definitions.deploy(
            session, (ROOT / "tests" / "data" / "tick.bpmn").read_bytes(), {}, filename="tick"
        )
    task = progress.add_task(f"starting {timers} instances", total=timers)
    for _ in range(timers // 100):
        with services.db.unit_of_work() as session:
            for _ in range(100):
                services.runtime.start(session, "tick", {})
        progress.advance(task, 100)
    return services


def _work(url: str, now: datetime, batch: int, results: Any) -> None:
    clock = Clock()
    clock.now = now
    install_clock(clock)
    services = build_services(url, definitions_dir=ROOT / "definitions", clock=clock)
    services.warm_up()
    worker = TimerWorker(services.db, services.runtime.fire_timers, clock=clock, batch=batch)
    before, start = os.times(), time.perf_counter()  # a system-wide clock: comparable across workers
    fired = worker.run_once().fired
    after, end = os.times(), time.perf_counter()
    results.put((fired, after.user - before.user + after.system - before.system, start, end))
    services.db.dispose()


def fire_all(url: str, workers: int, batch: int, clock: Clock) -> tuple[float, int, float]:
    """Fire everything due with `workers` worker processes (as `baton worker` runs them).

    Returns:
        (seconds from the first worker's start of firing to the last one's end -- process
        start-up excluded, firings, CPU seconds of the worker processes while firing)
    """
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_work, args=(url, clock.now, batch, results)) for _ in range(workers)]
    for p in procs:
        p.start()
    done = [results.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = max(end for *_, end in done) - min(start for _, _, start, _ in done)
    return elapsed, sum(d[0] for d in done), sum(d[1] for d in done)


@dataclass
class Mode:
    """One way of firing the queue, and what each round measured."""

    name: str
    workers: int
    batch: int
    share: int = 1  # fires timers // share
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # worker CPU per firing
    fired: list[int] = field(default_factory=list)
    twice: int = 0


def duplicates(services: Services) -> int:
    with services.db.unit_of_work(write=False) as session:
        counts = session.execute(
            select(func.count())
            .select_from(Event)
            .where(Event.kind == "timer_fired")
            .group_by(Event.instance_id)
        ).scalars()
        return sum(c - 1 for c in counts if c > 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="postgres", help="postgres, sqlite, or a SQLAlchemy URL")
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="baton-bench-")
    url = {"sqlite": f"sqlite:///{os.path.join(tmp, 'timers.sqlite3')}", "postgres": PG_URL}.get(
        args.db, args.db
    )
    clock = Clock()
    install_clock(clock)
    modes = [Mode("baseline", 1, 1, share=5), Mode("TimerWorker", 1, 50)]
    if not url.startswith("sqlite"):  # SQLite has one writer: a second worker only queues
        modes.append(Mode("TimerWorker", 2, 50))
    with Progress(console=console, transient=True) as progress:
        for _round in range(args.rounds):
            for mode in modes:
                clock.now = datetime.now(UTC)
                services = prepare(url, args.timers // mode.share, clock, progress)
                services.db.dispose()  # no connection may cross the fork
                clock.now += timedelta(minutes=2)
                elapsed, fired, cpu = fire_all(url, mode.workers, mode.batch, clock)
                mode.rates.append(fired / elapsed)
                mode.cpu_ms.append(cpu / fired * 1000)
                mode.fired.append(fired)
                mode.twice = max(mode.twice, duplicates(services))
                services.db.dispose()
    baseline = statistics.median(modes[0].rates)
    table = Table(
        title=f"firing {args.timers} due timers ({url.split(':')[0]}), median of {args.rounds} rounds"
    )
    for col in ("mode", "workers", "batch", "firings/s", "per worker", "vs baseline", "worker CPU/firing"):
        table.add_column(col, justify="right")
    table.add_column("each round", justify="left")
    for col in ("fired", "twice"):
        table.add_column(col, justify="right")
    for mode in modes:
        rate = statistics.median(mode.rates)
        table.add_row(
            mode.name,
            str(mode.workers),
            str(mode.batch),
            f"{rate:.0f}",
            f"{rate / mode.workers:.0f}",
            f"{rate / baseline:.2f}x",
            f"{statistics.median(mode.cpu_ms):.2f} ms",
            " ".join(f"{r:.0f}" for r in mode.rates),
            "/".join(str(f) for f in sorted(set(mode.fired))),
            str(mode.twice),
        )
    console.print(table)


if __name__ == "__main__":
    main()
