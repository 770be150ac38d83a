"""Timer worker throughput: N due timers, fired by one and by two workers.

Each instance of ``tests/data/tick.bpmn`` waits on one timer; the clock is moved past it
and the workers fire them all. Prints firings per second per worker count and the number of
timers fired more than once (must be 0).
Run: ``python -m bench.bench_timers [--db postgres|sqlite|URL] [--timers 10000]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
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
from workflows.services import Services, build_services

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


def _work(url: str, now: datetime, results: Any) -> None:
    clock = Clock()
    clock.now = now
    install_clock(clock)
    services = build_services(url, definitions_dir=ROOT / "definitions", clock=clock)
    services.warm_up()
    results.put(TimerWorker(services.db, services.runtime.fire_timers, clock=clock).run_once().fired)
    services.db.dispose()


def fire_all(url: str, workers: int, clock: Clock) -> tuple[float, int]:
    """Fire everything due with `workers` worker processes (as `baton worker` runs them)."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_work, args=(url, clock.now, results)) for _ in range(workers)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    counts = [results.get() for _ in procs]
    for p in procs:
        p.join()
    return time.perf_counter() - t0, sum(counts)


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
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="baton-bench-")
    url = {"sqlite": f"sqlite:///{os.path.join(tmp, 'timers.sqlite3')}", "postgres": PG_URL}.get(
        args.db, args.db
    )
    clock = Clock()
    install_clock(clock)
    table = Table(title=f"firing {args.timers} due timers ({url.split(':')[0]})")
    for col in ("workers", "seconds", "firings/s", "per worker /s", "fired", "fired twice"):
        table.add_column(col, justify="right")
    worker_counts = [1] if url.startswith("sqlite") else [1, 2]
    with Progress(console=console, transient=True) as progress:
        for workers in worker_counts:
            clock.now = datetime.now(UTC)
            services = prepare(url, args.timers, clock, progress)
            services.db.dispose()  # no connection may cross the fork
            clock.now += timedelta(minutes=2)
            elapsed, fired = fire_all(url, workers, clock)
            rate = fired / elapsed
            table.add_row(
                str(workers),
                f"{elapsed:.1f}",
                f"{rate:.0f}",
                f"{rate / workers:.0f}",
                str(fired),
                str(duplicates(services)),
            )
            services.db.dispose()
    console.print(table)


if __name__ == "__main__":
    main()
