"""Reports on a large history: about 1,000,000 events, their `human_task` rows, effort and facts.

Generates N engagements (default 20,600) of the engagement definition, each with 24 steps
(48 ``task_ready``/``task_completed`` events plus ``started``: ~50 events each), 30 % of them with
their last step still open, and loads them (PostgreSQL ``COPY``, SQLite ``executemany``) with a
progress bar. The rows go in straight, past the listener that stores each task's business-hour
durations, so those are then worked out as ``baton durations`` does after an upgrade (timed).

Then times every report as the CLI, API and pages get it (`report_rows`: the report and its rows),
as the median of a few runs interleaved with its baseline -- a bare ``SELECT count(*)`` over the
rows the report reads -- and prints times, ratios and pass/fail against the issue's targets
(<= 1 s on SQLite, <= 0.5 s on PostgreSQL).

Run: ``python -m bench.bench_reports [--db URL] [--engagements 20600] [--repeat 5] [--reuse]``.
Without ``--db``, a temporary SQLite file; with one, its tables are dropped and recreated.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.models import Event, HumanTask, WorkflowInstance
from workflows.agency import AM_LANE, PM_LANE
from workflows.bootstrap import build_services
from workflows.definitions.catalog import install_definitions
from workflows.models import Engagement
from workflows.reports.process import EVERYTHING, ReportFilter, rework_report
from workflows.reports.registry import report_rows
from workflows.services import Services
from workflows.time.durations import recompute_durations

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=130)
# the targets for the process review reports, per store (seconds)
TARGETS = {"SQLite": 1.0, "PostgreSQL": 0.5}
BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
CLIENTS = [f"Client {i:03d}" for i in range(200)]
AMS = [f"am{i}" for i in range(10)]
PMS = [f"pm{i}" for i in range(10)]
# the engagement's happy path with one brief round and one QC failure: 24 steps
STEPS: list[tuple[str, str, str, str | None]] = [
    ("pitch_prepare", AM_LANE, "pitch", None),
    ("pitch_outcome", AM_LANE, "pitch", "won"),
    ("scope_estimate", AM_LANE, "scope", None),
    ("scope_signoff", AM_LANE, "scope", "approved"),
    ("brief_write", PM_LANE, "brief", None),
    ("brief_approve", AM_LANE, "brief", "changes_requested"),
    ("brief_write", PM_LANE, "brief", None),
    ("brief_approve", AM_LANE, "brief", "approved"),
    ("timeline_plan", PM_LANE, "timeline", None),
    ("resourcing_plan", PM_LANE, "resourcing", None),
    ("supplier_booking", PM_LANE, "resourcing", None),
    ("production", PM_LANE, "production", None),
    ("qc_check", PM_LANE, "qc", "fail"),
    ("production", PM_LANE, "production", None),
    ("qc_check", PM_LANE, "qc", "pass"),
    ("client_feedback", AM_LANE, "feedback", "changes_requested"),
    ("production", PM_LANE, "production", None),
    ("qc_check", PM_LANE, "qc", "pass"),
    ("client_feedback", AM_LANE, "feedback", "approved"),
    ("process_review", PM_LANE, "review", None),
    ("growth_review", AM_LANE, "review", None),
    ("process_review", PM_LANE, "review", None),
    ("growth_review", AM_LANE, "review", None),
    ("growth_review", AM_LANE, "review", None),
]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def generate(
    engagements: int, definition_id: int, rng: random.Random
) -> Iterator[dict[str, list[tuple[Any, ...]]]]:
    """Rows per engagement, table by table (ids are given so every table can be COPYed)."""
    task_id = 0
    for n in range(1, engagements + 1):
        client = CLIENTS[n % len(CLIENTS)]
        am, pm = AMS[n % len(AMS)], PMS[n % len(PMS)]
        started = BASE + timedelta(minutes=25 * n)
        open_last = n % 10 < 3
        budget = float(rng.randrange(10_000, 50_000, 500))
        cost = round(budget * rng.uniform(0.5, 1.0), 2)
        facts: dict[str, Any] = {"budget": budget, "cost_to_date": cost, "budget_alert_ratio": 0.9}
        if not open_last:
            facts["upsell_opportunities"] = [
                {"title": "Next campaign", "estimated_value": rng.randrange(1000, 40_000), "status": status}
                for status in rng.sample(["open", "won", "lost"], rng.randint(0, 3))
            ]
        moment = started
        tasks: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = [(n, started, "started", None, None, None, None, None, None, "{}")]
        efforts: list[tuple[Any, ...]] = []
        runs: dict[str, int] = {}  # the steps run again (rework) are numbered as the engine does
        for index, (bpmn_id, lane, stage, decision) in enumerate(STEPS):
            task_id += 1
            runs[bpmn_id] = runs.get(bpmn_id, 0) + 1
            tid = f"00000000-0000-0000-0000-{task_id:012d}"
            person = am if lane == AM_LANE else pm
            ready = moment
            done = ready + timedelta(minutes=rng.randint(30, 600))
            last = index == len(STEPS) - 1
            is_open = last and open_last
            due = ready + timedelta(hours=rng.choice([8, 16, 24, 40]))
            tasks.append(
                (
                    task_id,
                    n,
                    tid,
                    bpmn_id,
                    bpmn_id.replace("_", " ").title(),
                    lane,
                    stage,
                    None,
                    "{}",
                    "ready" if is_open else "completed",
                    person,
                    None,
                    None,
                    ready,
                    due,
                    due - timedelta(hours=2),
                    "breached" if done > due else "on_track",
                    None,
                    "client" if stage == "feedback" else "agency",
                    None,
                    None,
                    None,
                    None,
                    None if is_open else done,
                    None if is_open else person,
                    runs[bpmn_id],
                    definition_id,
                )
            )
            events.append((n, ready, "task_ready", tid, bpmn_id, lane, stage, None, None, "{}"))
            if not is_open:
                events.append((n, done, "task_completed", tid, bpmn_id, lane, stage, person, decision, "{}"))
                if index % 4 == 0:
                    efforts.append(
                        (
                            n,
                            n,
                            tid,
                            bpmn_id,
                            lane,
                            stage,
                            person,
                            rng.choice([0.5, 1.0, 2.0]),
                            "",
                            done.date(),
                            done,
                        )
                    )
            moment = done
        ended = None if open_last else moment
        yield {
            "workflow_instance": [
                (
                    n,
                    definition_id,
                    "running" if open_last else "completed",
                    _json([]),
                    1,
                    "bench",
                    "{}",
                    started,
                    moment,
                    ended,
                    None if open_last else "end_delivered",
                    _json(facts),
                )
            ],
            "engagement": [(n, n, client, f"Engagement {n}", "engagement", "{}", "bench", started)],
            "human_task": tasks,
            "event": events,
            "effort": efforts,
        }


COLUMNS = {
    "workflow_instance": "id, definition_id, status, active_stages, revision, serializer_version, meta_json, "
    "started_at, updated_at, ended_at, end_event, facts",
    "engagement": "id, instance_id, client, name, process_id, options, created_by, created_at",
    "human_task": "id, instance_id, task_id, bpmn_id, title, lane, stage, form, properties, state, assignee, "
    "candidate_group, multi_instance_of, created_at, due_at, warn_at, sla_state, sla_next_at, sla_clock, "
    "sla_paused_at, sla_paused_hours, claimed_by, claimed_at, completed_at, completed_by, run, definition_id",
    "event": "instance_id, at, kind, task_id, bpmn_id, lane, stage, actor, decision, detail",
    "effort": "engagement_id, instance_id, task_id, bpmn_id, lane, stage, username, hours, note, worked_on, "
    "logged_at",
}


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy stores it on SQLite: naive UTC text for moments, ISO dates."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _write_batch(cur: Any, postgres: bool, batch: dict[str, list[tuple[Any, ...]]]) -> None:
    for name in COLUMNS:  # parents first: the foreign keys are checked per row
        if postgres:
            with cur.copy(f"COPY {name} ({COLUMNS[name]}) FROM STDIN") as copy:
                for row in batch[name]:
                    copy.write_row(row)
        elif batch[name]:
            marks = ", ".join("?" * len(batch[name][0]))
            cur.executemany(
                f"INSERT INTO {name} ({COLUMNS[name]}) VALUES ({marks})",
                [tuple(_sqlite_value(v) for v in row) for row in batch[name]],
            )


def load(services: Services, engagements: int, progress: Progress) -> int:
    """Drop, recreate and fill the database (COPY on PostgreSQL, executemany on SQLite);
    returns the number of events."""
    services.db.drop_all()
    services.db.create_all()
    with services.db.unit_of_work() as session:
        deployed = install_definitions(session, services, note="bench")
        version = next(v for v, _ in deployed if v.process_id == "engagement")
        definition_id = version.id
    rng = random.Random(6)
    task = progress.add_task(f"loading {engagements:,} engagements", total=engagements)
    postgres = not services.db.is_sqlite
    raw = services.db.engine.raw_connection()
    events = 0
    try:
        conn = raw.driver_connection
        assert conn is not None
        cur = conn.cursor()
        batch: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
        for n, rows in enumerate(generate(engagements, definition_id, rng), start=1):
            for name, values in rows.items():
                batch[name].extend(values)
            if n % 1000 == 0 or n == engagements:
                _write_batch(cur, postgres, batch)
                events += len(batch["event"])
                batch = {name: [] for name in COLUMNS}
                progress.update(task, completed=n)
        if postgres:
            for name in ("workflow_instance", "engagement", "human_task"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
        cur.execute("ANALYZE")
        cur.close()
        conn.commit()
    finally:
        raw.close()
    return events


def fill_durations(services: Services, progress: Progress) -> int:
    """Work out every task's business-hour durations, as ``baton durations`` does after an upgrade
    (the loader writes rows straight, past the listener that stores them at completion)."""
    bar = progress.add_task("business-hour durations", total=None)
    with services.db.unit_of_work() as session:
        return recompute_durations(
            session,
            services.calendar,
            progress=lambda done, total: progress.update(bar, completed=done, total=total),
        )


def settle(services: Services) -> None:
    """What autovacuum does to a live database after a bulk load: on PostgreSQL, VACUUM (the
    visibility map index-only scans need) and ANALYZE; on SQLite, ANALYZE."""
    raw = services.db.engine.raw_connection()
    try:
        if not services.db.is_sqlite:
            raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        cur = raw.cursor()
        cur.execute("VACUUM ANALYZE" if not services.db.is_sqlite else "ANALYZE")
        cur.close()
    finally:
        raw.close()


def _count(query: Any) -> Callable[[Session], object]:
    return lambda session: session.execute(query).scalar_one()


Case = tuple[str, Callable[[Session], object], str, Callable[[Session], object]]


def cases(services: Services) -> list[Case]:
    """(report, run it, baseline, run the baseline): every report as the CLI, API and pages get
    it (`report_rows`: the report and its rows), each with a bare count over what it reads."""
    s = services

    def rows(
        name: str, by: str | None = None, filters: ReportFilter = EVERYTHING
    ) -> Callable[[Session], object]:
        return lambda session: report_rows(session, s, name, filters, by)

    done = select(func.count()).select_from(HumanTask).where(HumanTask.state == "completed")
    ready = select(func.count()).select_from(HumanTask).where(HumanTask.state == "ready")
    decided = select(func.count()).select_from(Event).where(Event.kind == "task_completed")
    client_tasks = (
        select(func.count())
        .select_from(HumanTask)
        .where(
            HumanTask.instance_id.in_(select(Engagement.instance_id).where(Engagement.client == CLIENTS[7]))
        )
    )
    instances = select(func.count()).select_from(WorkflowInstance)
    effort = text("SELECT count(*) FROM effort WHERE engagement_id > 0")
    acme = ReportFilter(client=CLIENTS[7])
    many_done, many_open, heads = "count completed tasks", "count open tasks", "count instances"
    return [
        ("time by stage, one client", rows("time", "stage", acme), "count its tasks", _count(client_tasks)),
        ("time by stage, everything", rows("time", "stage"), many_done, _count(done)),
        ("time by lane, everything", rows("time", "lane"), many_done, _count(done)),
        ("time by task, everything", rows("time", "task"), many_done, _count(done)),
        ("sla by lane, everything", rows("sla", "lane"), many_done, _count(done)),
        ("sla by task, everything", rows("sla", "task"), many_done, _count(done)),
        ("rework (with its cost)", rows("rework"), "count decisions", _count(decided)),
        ("rework, without its cost", lambda x: rework_report(x), "count decisions", _count(decided)),
        ("hand-off latency", rows("handoff"), many_done, _count(done)),
        ("cost by client", rows("cost", "client"), "count effort rows", _count(effort)),
        ("throughput", rows("throughput"), heads, _count(instances)),
        ("budget by engagement", rows("budget", "engagement"), heads, _count(instances)),
        ("budget by client", rows("budget", "client"), heads, _count(instances)),
        ("servicing by engagement", rows("servicing", "engagement"), heads, _count(instances)),
        ("servicing by client", rows("servicing", "client"), heads, _count(instances)),
        ("growth by client", rows("growth", "client"), heads, _count(instances)),
        ("workload", rows("workload"), many_open, _count(ready)),
    ]


def _timed(services: Services, run: Callable[[Session], object]) -> float:
    with services.db.unit_of_work(write=False) as session:
        t0 = time.perf_counter()
        run(session)
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db",
        help="a SQLAlchemy URL, SQLite or PostgreSQL (its tables are dropped; default: a temp SQLite file)",
    )
    parser.add_argument("--engagements", type=int, default=20_600)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the data already loaded")
    args = parser.parse_args()
    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='baton-bench-')) / 'reports.sqlite3'}"
    if args.reuse and args.db is None:
        parser.error("--reuse needs --db")
    services = build_services(url, definitions_dir=ROOT / "definitions")
    store = "SQLite" if services.db.is_sqlite else "PostgreSQL"
    target = TARGETS[store]
    with Progress(console=console, transient=True) as progress:
        if args.reuse:
            with services.db.unit_of_work(write=False) as session:
                events = int(session.execute(select(func.count()).select_from(Event)).scalar_one())
        else:
            t0 = time.perf_counter()
            events = load(services, args.engagements, progress)
            console.print(f"loaded {events:,} events into {store} in {time.perf_counter() - t0:.0f} s")
            t0 = time.perf_counter()
            filled = fill_durations(services, progress)
            console.print(
                f"business-hour durations of {filled:,} tasks worked out in {time.perf_counter() - t0:.0f} s"
            )
            settle(services)
        with services.db.unit_of_work(write=False) as session:
            tasks = session.execute(select(func.count()).select_from(HumanTask)).scalar_one()
        table = Table(title=f"reports over {events:,} events and {tasks:,} human tasks ({store})")
        for col in ("report", "median", "baseline", "baseline median", "x", f"<= {target:g} s"):
            table.add_column(col, justify="left" if col in ("report", "baseline") else "right")
        todo = cases(services)
        bar = progress.add_task("timing", total=len(todo) * args.repeat)
        slowest = 0.0
        for name, run, base_name, base in todo:
            _timed(services, run)  # warm the caches and plans once
            report_times, base_times = [], []
            for _ in range(args.repeat):  # interleaved: both see the same machine noise
                base_times.append(_timed(services, base))
                report_times.append(_timed(services, run))
                progress.advance(bar)
            r, b = statistics.median(report_times), statistics.median(base_times)
            slowest = max(slowest, r)
            verdict = "pass" if r <= target else "FAIL"
            table.add_row(
                name, f"{r * 1000:.0f} ms", base_name, f"{b * 1000:.1f} ms", f"{r / b:.0f}x", verdict
            )
    console.print(table)
    verdict = "met" if slowest <= target else "NOT met"
    console.print(
        f"target <= {target:g} s per report on {store}: {verdict} (slowest {slowest * 1000:.0f} ms)"
    )
    services.db.dispose()


if __name__ == "__main__":
    main()
