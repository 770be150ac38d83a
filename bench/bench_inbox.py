"""One person's inbox with 100,000 open engagements loaded: the use case and the API vs a bare SELECT.

The store gets N open engagements (default 100,000) spread over 200 account managers and 200
project managers, each with its one open task in the AM or PM lane, due over the coming weeks,
one in twenty claimed by someone else of the lane. Only the projections the inbox reads are
filled (instance, engagement, team, human_task rows), written in bulk: no workflow runs.

Then, for one account manager, interleaved call by call:

* **bare SELECT** -- the same page of rows (their open tasks joined to their engagements, soonest
  due first, 50 rows) by one indexed query on the raw DBAPI cursor;
* **inbox SQL** -- the page query the use case sends (tasks assigned to *or claimed by* them),
  on the raw cursor the same way: the SQL layer's share;
* **use case** -- `workflows.views.inbox.inbox(view="mine")` in a read-only unit of work: the acting
  user's check, whom they cover today, the page query, ORM objects;
* **HTTP** -- ``GET /api/v1/tasks?view=mine`` with a bearer token through the Flask app
  (in-process), JSON included.

It prints p50 and p95 of each and their ratios to the bare SELECT. With ``--clients N`` it then
serves the app with gunicorn (gthread workers) on 127.0.0.1 and has N clients, each a different
account manager on a kept-alive connection, ask for their inbox over and over at once: p50, p95
and throughput of those answers.
Run: ``python -m bench.bench_inbox [--db sqlite|postgres|URL] [--engagements 100000] [--clients 50]``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.table import Table
from sqlalchemy import Table as SqlTable
from sqlalchemy import insert, select, text

from bench.bench_step import PG_URL
from engine.models import HumanTask, WorkflowInstance
from engine.store import SERIALIZER_VERSION
from webui import create_app
from workflows.agency import ACCOUNT_MANAGER, AM_LANE, PM_LANE, PROJECT_MANAGER
from workflows.bootstrap import build_services
from workflows.definitions.catalog import install_definitions
from workflows.models import Engagement, TeamMember, User, UserRole
from workflows.people.auth import issue_token
from workflows.services import Services
from workflows.views.inbox import held_by, inbox

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=140)
PEOPLE_PER_ROLE = 200
BATCH = 5000
WHO = "am007"
CALLS = 300


def load(services: Services, engagements: int) -> None:
    """Fill the store in bulk: people, instances, engagements, teams, one open task each."""
    services.db.drop_all()
    services.db.create_all()
    now = datetime.now(UTC)
    with services.db.unit_of_work() as session:
        definition_id = next(
            row.id for row, _ in install_definitions(session, services) if row.process_id == "engagement"
        )
    users: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    for i in range(PEOPLE_PER_ROLE):
        for prefix, role in (("am", ACCOUNT_MANAGER), ("pm", PROJECT_MANAGER)):
            user_id = len(users) + 1
            username = f"{prefix}{i:03d}"
            users.append(
                {
                    "id": user_id,
                    "username": username,
                    "display_name": username,
                    "active": True,
                    "created_at": now,
                }
            )
            roles.append({"user_id": user_id, "role": role})
    tables = {name: cast(SqlTable, model.__table__) for name, model in _MODELS.items()}
    with services.db.engine.begin() as conn:
        conn.execute(insert(tables["user"]), users)
        conn.execute(insert(tables["role"]), roles)
        for start in range(0, engagements, BATCH):
            rows = [
                _engagement_rows(n, definition_id, now) for n in range(start, min(start + BATCH, engagements))
            ]
            for name in ("instance", "engagement", "team", "task"):
                batch = [r for row in rows for r in row[name]]
                conn.execute(insert(tables[name]), batch)
    with services.db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
        else:
            conn.exec_driver_sql("ANALYZE")


_MODELS = {
    "user": User,
    "role": UserRole,
    "instance": WorkflowInstance,
    "engagement": Engagement,
    "team": TeamMember,
    "task": HumanTask,
}


def _engagement_rows(n: int, definition_id: int, now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Engagement n: its AM and PM, and one open task in one of their lanes."""
    am, pm = n % PEOPLE_PER_ROLE, (n * 7) % PEOPLE_PER_ROLE
    am_id, pm_id = 2 * am + 1, 2 * pm + 2
    in_am_lane = n % 3 != 0
    holder = f"am{am:03d}" if in_am_lane else f"pm{pm:03d}"
    claimer = None
    if n % 20 == 0:  # someone else of the lane took it from the pool
        claimer = (
            f"am{(am + 1) % PEOPLE_PER_ROLE:03d}" if in_am_lane else f"pm{(pm + 1) % PEOPLE_PER_ROLE:03d}"
        )
    due = now + timedelta(minutes=(n * 37) % (60 * 24 * 30))
    instance = {
        "id": n + 1,
        "definition_id": definition_id,
        "status": "running",
        "active_stages": ["brief" if in_am_lane else "production"],
        "revision": 1,
        "serializer_version": SERIALIZER_VERSION,
        "meta_json": "{}",
        "started_at": now,
        "updated_at": now,
    }
    engagement = {
        "id": n + 1,
        "instance_id": n + 1,
        "client": f"Client {n}",
        "name": f"Engagement {n}",
        "process_id": "engagement",
        "options": {},
        "created_by": "bench",
        "created_at": now,
    }
    team = [
        {"engagement_id": n + 1, "role": ACCOUNT_MANAGER, "user_id": am_id, "since": now},
        {"engagement_id": n + 1, "role": PROJECT_MANAGER, "user_id": pm_id, "since": now},
    ]
    task = {
        "id": n + 1,
        "instance_id": n + 1,
        "task_id": str(uuid.UUID(int=n + 1)),
        "bpmn_id": "brief_approve" if in_am_lane else "production",
        "title": "Approve brief" if in_am_lane else "Produce the work",
        "lane": AM_LANE if in_am_lane else PM_LANE,
        "stage": "brief" if in_am_lane else "production",
        "form": None,
        "properties": {},
        "state": "ready",
        "assignee": holder,
        "created_at": now,
        "due_at": due,
        "warn_at": due - timedelta(hours=2),
        "sla_state": "on_track",
        "sla_next_at": due - timedelta(hours=2),
        "claimed_by": claimer,
        "claimed_at": now if claimer else None,
    }
    return {"instance": [instance], "engagement": [engagement], "team": team, "task": [task]}


_HUMAN = cast(SqlTable, HumanTask.__table__)
_ENGAGEMENT = cast(SqlTable, Engagement.__table__)
BARE = (
    select(_HUMAN, _ENGAGEMENT)
    .join(_ENGAGEMENT, _ENGAGEMENT.c.instance_id == _HUMAN.c.instance_id)
    .where(_HUMAN.c.state == "ready", _HUMAN.c.assignee == WHO)
    .order_by(_HUMAN.c.due_at, _HUMAN.c.id)
    .limit(51)
)

# what `workflows.views.inbox.inbox(view="mine")` sends for a person who covers nobody today
INBOX_SQL = (
    select(_HUMAN, _ENGAGEMENT)
    .join(_ENGAGEMENT, _ENGAGEMENT.c.instance_id == _HUMAN.c.instance_id)
    .where(_HUMAN.c.state == "ready", _HUMAN.c.id.in_(held_by([WHO], reach=51)))
    .order_by(_HUMAN.c.due_at, _HUMAN.c.id)
    .limit(51)
)


def measure(services: Services, url: str) -> dict[str, list[float]]:
    """Times of the bare SELECT, the use case and the HTTP call, interleaved."""
    with services.db.unit_of_work() as session:
        secret = issue_token(session, services, WHO, name="bench", actor=WHO).secret
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "TESTING": False}, with_services=services)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    dialect = services.db.engine.dialect
    sql = str(BARE.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    inbox_sql = str(INBOX_SQL.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    raw = services.db.engine.raw_connection()
    times: dict[str, list[float]] = {"bare SELECT": [], "inbox SQL": [], "use case": [], "HTTP": []}

    def fetch(query: str) -> list[Any]:
        cursor = raw.cursor()
        cursor.execute(query)
        rows = cursor.fetchall()
        cursor.close()
        raw.rollback()
        return list(rows)

    try:
        for i in range(CALLS + 20):
            t0 = time.perf_counter()
            bare_rows = fetch(sql)
            tq = time.perf_counter()
            inbox_rows = fetch(inbox_sql)
            t1 = time.perf_counter()
            with services.db.unit_of_work(write=False) as session:
                page = inbox(session, services, actor=WHO, view="mine", per_page=50)
            t2 = time.perf_counter()
            answer = client.get("/api/v1/tasks?view=mine&per_page=50", headers=headers)
            t3 = time.perf_counter()
            if i == 0:
                assert answer.status_code == 200, answer.get_data(as_text=True)
                ids = [t.task_id for t, _e in page.items]
                assert ids == [r[2] for r in bare_rows[:50]], "the use case and the bare SELECT disagree"
                assert ids == [r[2] for r in inbox_rows[:50]]
                assert [t["task_id"] for t in answer.get_json()["items"]] == ids
            if i >= 20:  # the first calls warm caches and plans
                times["bare SELECT"].append(tq - t0)
                times["inbox SQL"].append(t1 - tq)
                times["use case"].append(t2 - t1)
                times["HTTP"].append(t3 - t2)
    finally:
        raw.close()
    return times


def concurrent(services: Services, url: str, clients: int, requests: int, workers: int) -> dict[str, float]:
    """`clients` account managers asking for their inbox at once from a gunicorn server."""
    secrets = []
    with services.db.unit_of_work() as session:
        for i in range(clients):
            who = f"am{i % PEOPLE_PER_ROLE:03d}"
            secrets.append(issue_token(session, services, who, name="load", actor=who).secret)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "BATON_DATABASE_URL": url,
        "BATON_DEFINITIONS_DIR": str(ROOT / "definitions"),
        "BATON_SECRET_KEY": "bench",
    }
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
    command += ["--worker-class", "gthread", "--threads", "8", "--log-level", "warning", "webui:create_app()"]
    server = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        _wait_for(port)
        latencies: list[float] = []
        lock = threading.Lock()

        def client(secret: str) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            headers = {"Authorization": f"Bearer {secret}"}
            mine = []
            for _ in range(requests):
                t0 = time.perf_counter()
                connection.request("GET", "/api/v1/tasks?view=mine&per_page=50", headers=headers)
                response = connection.getresponse()
                response.read()
                mine.append(time.perf_counter() - t0)
                if response.status != 200:
                    raise RuntimeError(f"inbox answered {response.status}")
            connection.close()
            with lock:
                latencies.extend(mine[2:])  # each connection's first calls warm its worker

        threads = [threading.Thread(target=client, args=(secret,)) for secret in secrets]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(30)
    return {
        "p50": statistics.median(latencies),
        "p95": p95(latencies),
        "per_second": clients * requests / elapsed,
    }


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres, or a SQLAlchemy URL")
    parser.add_argument("--engagements", type=int, default=100_000)
    parser.add_argument(
        "--clients", type=int, default=0, help="concurrent clients against gunicorn (0: none)"
    )
    parser.add_argument("--requests", type=int, default=40, help="inbox calls per client")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1, help="gunicorn workers")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="baton-bench-")
    url = {"sqlite": f"sqlite:///{os.path.join(tmp, 'bench.sqlite3')}", "postgres": PG_URL}.get(
        args.db, args.db
    )
    services = build_services(url, definitions_dir=ROOT / "definitions")
    t0 = time.perf_counter()
    load(services, args.engagements)
    console.print(f"loaded {args.engagements} open engagements in {time.perf_counter() - t0:.0f} s")
    services.warm_up()
    times = measure(services, url)
    load_figures = (
        concurrent(services, url, args.clients, args.requests, args.workers) if args.clients else None
    )
    services.db.dispose()
    base50, base95 = statistics.median(times["bare SELECT"]), p95(times["bare SELECT"])
    table = Table(title=f"{WHO}'s inbox, 50 rows, {args.engagements} open engagements ({url.split(':')[0]})")
    for col in ("", "p50", "p95", "p50 ÷ bare", "p95 ÷ bare"):
        table.add_column(col, justify="right")
    for name, values in times.items():
        p50v, p95v = statistics.median(values), p95(values)
        table.add_row(
            name,
            f"{p50v * 1e3:.2f} ms",
            f"{p95v * 1e3:.2f} ms",
            f"{p50v / base50:.1f}x",
            f"{p95v / base95:.1f}x",
        )
    console.print(table)
    if load_figures is not None:
        console.print(
            f"{args.clients} clients at once, gunicorn {args.workers} workers x 8 threads: "
            f"p50 {load_figures['p50'] * 1e3:.1f} ms, p95 {load_figures['p95'] * 1e3:.1f} ms, "
            f"{load_figures['per_second']:.0f} answers/s"
        )


if __name__ == "__main__":
    main()
