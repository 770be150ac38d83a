"""Reports on a large history: about 1,000,000 events, their `human_task` rows, effort and facts.

Generates N engagements (default 20,600) of the engagement definition, each with 24 steps
(48 ``task_ready``/``task_completed`` events plus ``started``: ~50 events each), loaded with
PostgreSQL ``COPY``; 30 % of them still have their last step open. Then times each report
(median of a few runs) interleaved with its baseline: a bare ``SELECT count(*)`` over the rows
the report reads, through an index, in the same run. Prints times and ratios.

Run: ``python -m bench.bench_reports --db postgresql+psycopg://postgres@127.0.0.1:5432/NAME
[--engagements 20000] [--repeat 5]``. The database's tables are dropped and recreated.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.models import Event, HumanTask, WorkflowInstance
from workflows.agency import AM_LANE, PM_LANE
from workflows.engagements import deploy_file
from workflows.models import Engagement
from workflows.report_budget import budget_report, growth_report
from workflows.report_costs import cost_report
from workflows.report_flow import throughput_report
from workflows.report_workload import workload_report
from workflows.reports import ReportFilter, rework_report, sla_report, time_report
from workflows.services import Services, build_services

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=130)
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
        for index, (bpmn_id, lane, stage, decision) in enumerate(STEPS):
            task_id += 1
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
    "sla_paused_at, sla_paused_hours, claimed_by, claimed_at, completed_at, completed_by",
    "event": "instance_id, at, kind, task_id, bpmn_id, lane, stage, actor, decision, detail",
    "effort": "engagement_id, instance_id, task_id, bpmn_id, lane, stage, username, hours, note, worked_on, "
    "logged_at",
}


def load(services: Services, engagements: int, progress: Progress) -> int:
    """Drop, recreate and fill the database; returns the number of events."""
    services.db.drop_all()
    services.db.create_all()
    with services.db.unit_of_work() as session:
        version, _ = deploy_file(session, services, ROOT / "definitions" / "engagement.bpmn", note="bench")
        definition_id = version.id
    rng = random.Random(6)
    task = progress.add_task(f"loading {engagements} engagements", total=engagements)
    raw = services.db.engine.raw_connection()
    events = 0
    try:
        conn = raw.driver_connection
        assert conn is not None
        with conn.cursor() as cur:
            batch: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
            for n, rows in enumerate(generate(engagements, definition_id, rng), start=1):
                for name, values in rows.items():
                    batch[name].extend(values)
                if n % 1000 == 0 or n == engagements:
                    for name in COLUMNS:  # parents first: the foreign keys are checked per row
                        with cur.copy(f"COPY {name} ({COLUMNS[name]}) FROM STDIN") as copy:
                            for row in batch[name]:
                                copy.write_row(row)
                    events += len(batch["event"])
                    batch = {name: [] for name in COLUMNS}
                    progress.update(task, completed=n)
            for name in ("workflow_instance", "engagement", "human_task"):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
            cur.execute("ANALYZE")
        conn.commit()
    finally:
        raw.close()
    return events


def _count(query: Any) -> Callable[[Session], object]:
    return lambda session: session.execute(query).scalar_one()


def cases(
    services: Services,
) -> list[tuple[str, Callable[[Session], object], str, Callable[[Session], object]]]:
    """(report, run it, baseline, run the baseline)."""
    s = services
    acme = ReportFilter(client=CLIENTS[7])
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
    one_client = "count its tasks"
    many_done, many_open = "count completed tasks", "count open tasks"
    heads = "count instances"
    later = BASE + timedelta(days=400)
    return [
        ("time by stage, one client", lambda x: time_report(x, s, acme), one_client, _count(client_tasks)),
        ("time by stage, everything", lambda x: time_report(x, s), many_done, _count(done)),
        ("sla by lane, everything", lambda x: sla_report(x, s, by="lane"), many_done, _count(done)),
        ("rework, everything", lambda x: rework_report(x, s), "count decisions", _count(decided)),
        ("cost by client", lambda x: cost_report(x, s, by="client"), "count effort rows", _count(effort)),
        ("throughput", lambda x: throughput_report(x, s), heads, _count(instances)),
        ("budget by engagement", lambda x: budget_report(x, s), heads, _count(instances)),
        ("budget by client", lambda x: budget_report(x, s, by="client"), heads, _count(instances)),
        ("growth per client", lambda x: growth_report(x, s), heads, _count(instances)),
        ("workload", lambda x: workload_report(x, s, now=later), many_open, _count(ready)),
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
    parser.add_argument("--db", required=True, help="a PostgreSQL SQLAlchemy URL (its tables are dropped)")
    parser.add_argument("--engagements", type=int, default=20_600)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="keep the data already loaded")
    args = parser.parse_args()
    if not args.db.startswith("postgresql"):
        parser.error("the loader uses COPY: give a PostgreSQL URL")
    services = build_services(args.db, definitions_dir=ROOT / "definitions")
    with Progress(console=console, transient=True) as progress:
        if args.reuse:
            with services.db.unit_of_work(write=False) as session:
                events = int(session.execute(select(func.count()).select_from(Event)).scalar_one())
        else:
            t0 = time.perf_counter()
            events = load(services, args.engagements, progress)
            console.print(f"loaded {events:,} events in {time.perf_counter() - t0:.0f} s")
        with services.db.unit_of_work(write=False) as session:
            tasks = session.execute(select(func.count()).select_from(HumanTask)).scalar_one()
        table = Table(title=f"reports over {events:,} events and {tasks:,} human tasks (PostgreSQL)")
        for col in ("report", "median", "baseline", "baseline median", "x"):
            table.add_column(col, justify="left" if col in ("report", "baseline") else "right")
        todo = cases(services)
        bar = progress.add_task("timing", total=len(todo) * args.repeat)
        for name, run, base_name, base in todo:
            _timed(services, run)  # warm the caches and plans once
            report_times, base_times = [], []
            for _ in range(args.repeat):  # interleaved: both see the same machine noise
                base_times.append(_timed(services, base))
                report_times.append(_timed(services, run))
                progress.advance(bar)
            r, b = statistics.median(report_times), statistics.median(base_times)
            table.add_row(name, f"{r * 1000:.0f} ms", base_name, f"{b * 1000:.1f} ms", f"{r / b:.0f}x")
    console.print(table)
    services.db.dispose()


if __name__ == "__main__":
    main()
