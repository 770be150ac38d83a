"""Moving running engagements to a new version: the dry run and the batch over 1,000 of them.

Sets up N running engagements on v1 of the standard engagement process, a third each waiting at
Record pitch outcome, Estimate scope and Approve brief; deploys the revised process
(`workflows.demo.revision`) as v2; then times, in the same run:

* one ordinary step (``complete_task`` through the use case, the median of the set-up steps);
* SpiffWorkflow alone, in memory: ``diff_workflow`` + ``migrate_workflow`` of one workflow at
  each of the three points (the raw cost of the library's migration);
* the dry run of all N (``dry_run_migration``: every workflow read, judged, worded; nothing written);
* the batch of all N (``migrate_engagements``: each engagement its own transaction).

Run: ``python -m bench.bench_migrate [--db sqlite|postgres|URL] [--engagements 1000]``.
Targets: the dry run of 1,000 under 10 s on SQLite, the batch at 50 engagements/s or more.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time

from rich.console import Console
from rich.table import Table
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import TaskState
from sqlalchemy import select

from engine.models import DefinitionVersion, HumanTask
from workflows.bootstrap import build_services
from workflows.definitions.catalog import deploy_definition, install_definitions
from workflows.demo.revision import RENAMED, revised_engagement
from workflows.demo.samples import happy_path_steps, start_data
from workflows.demo.seed import seed_users
from workflows.engagements.lifecycle import start_engagement
from workflows.engagements.migration import dry_run_migration, migrate_engagements
from workflows.engagements.tasks import complete_task
from workflows.services import Services

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
WAIT_AT = ("pitch_outcome", "scope_estimate", "brief_approve")
console = Console(width=120)
STEPS = happy_path_steps()


def set_up(services: Services, n: int) -> list[float]:
    """N engagements on v1, spread over `WAIT_AT`; returns the durations of the ordinary steps."""
    services.db.drop_all()
    services.db.create_all()
    with services.db.unit_of_work() as session:
        install_definitions(session, services, note="v1")
        seed_users(session, services)
    step_times: list[float] = []
    for i in range(n):
        with services.db.unit_of_work() as session:
            engagement = start_engagement(
                session,
                services,
                client=f"Client {i % 50}",
                name=f"Engagement {i}",
                process_id="engagement",
                options={},
                actor="olga",
                account_manager="ana",
                project_manager="pete",
            )
            engagement_id, instance_id = engagement.id, engagement.instance_id
        target = WAIT_AT[i % len(WAIT_AT)]
        for step in STEPS:
            if step.task == target:
                break
            with services.db.unit_of_work() as session:
                assignee = session.scalar(
                    select(HumanTask.assignee).where(
                        HumanTask.bpmn_id == step.task,
                        HumanTask.state == "ready",
                        HumanTask.instance_id == instance_id,
                    )
                )
                began = time.perf_counter()
                complete_task(
                    session,
                    services,
                    engagement_id,
                    step.task,
                    copy.deepcopy(step.data),
                    actor=assignee or "",
                )
            step_times.append(time.perf_counter() - began)
    return step_times


def raw_migration(services: Services) -> float:
    """SpiffWorkflow alone: seconds per diff + migrate of one in-memory workflow (median)."""
    times: list[float] = []
    with services.db.unit_of_work(write=False) as session:
        ids = session.scalars(
            select(DefinitionVersion.id)
            .where(DefinitionVersion.process_id == "engagement")
            .order_by(DefinitionVersion.version)
        ).all()
        old = services.definitions.info(session, ids[0])
        new = services.definitions.info(session, ids[-1])
    old_spec, old_subs = services.definitions.spec_for(old)
    new_spec, new_subs = services.definitions.spec_for(new)
    for _round in range(30):
        for target in WAIT_AT:
            workflow = BpmnWorkflow(old_spec, old_subs, script_engine=services.store.script_engine)
            for task in workflow.get_tasks(state=TaskState.READY):
                task.data.update(start_data())
            workflow.do_engine_steps()
            for step in STEPS:
                if step.task == target:
                    break
                [task] = [
                    t
                    for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                    if t.task_spec.name == step.task
                ]
                task.set_data(**copy.deepcopy(step.data))
                task.run()
                workflow.do_engine_steps()
            began = time.perf_counter()
            top, _subs = diff_workflow(services.codec.registry, workflow, new_spec, new_subs)
            migrate_workflow(top, workflow, new_spec)
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or a SQLAlchemy URL")
    parser.add_argument("--engagements", type=int, default=1000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-migrate-")
    url = {"sqlite": f"sqlite:///{os.path.join(tmp, 'bench.sqlite3')}", "postgres": PG_URL}.get(
        args.db, args.db
    )
    services = build_services(url, mail=None)
    n = args.engagements
    console.print(f"setting up {n} running engagements on {services.db.engine.dialect.name}…")
    step_times = set_up(services, n)
    xml, forms = revised_engagement(services.definitions_dir)
    with services.db.unit_of_work() as session:
        deploy_definition(session, services, xml, forms, actor="olga", note="process review")
    raw = raw_migration(services)

    services.store.cache.clear()
    began = time.perf_counter()
    with services.db.unit_of_work(write=False) as session:
        plan = dry_run_migration(session, services, "engagement", 2, actor="olga", mapping=RENAMED)
    dry = time.perf_counter() - began
    counts = {v: len(rows) for v, rows in plan.grouped().items()}
    chosen = [e.engagement_id for e in plan.engagements if e.verdict != "refused"]
    expected = {e.engagement_id: e.version for e in plan.engagements}

    services.store.cache.clear()
    began = time.perf_counter()
    outcomes = migrate_engagements(
        services, "engagement", 2, chosen, actor="olga", note="bench", mapping=RENAMED, expected=expected
    )
    batch = time.perf_counter() - began
    moved = sum(1 for o in outcomes if o.status == "migrated")

    step = statistics.median(step_times)
    table = Table(
        "measure", "value", title=f"bench_migrate: {n} engagements on {services.db.engine.dialect.name}"
    )
    table.add_row("verdicts", ", ".join(f"{k}: {v}" for k, v in counts.items()))
    table.add_row("one ordinary step (complete_task, median)", f"{step * 1000:.1f} ms")
    table.add_row("SpiffWorkflow alone: diff + migrate one workflow (median)", f"{raw * 1000:.2f} ms")
    table.add_row("dry run, all", f"{dry:.2f} s = {n / dry:.0f} engagements/s ({dry / n * 1000:.1f} ms each)")
    table.add_row(
        "batch, moved",
        f"{moved} in {batch:.2f} s = {moved / batch:.0f} engagements/s "
        f"({batch / max(moved, 1) * 1000:.1f} ms each)",
    )
    table.add_row("one engagement moved / one ordinary step", f"{batch / max(moved, 1) / step:.1f} x")
    table.add_row("one engagement moved / SpiffWorkflow alone", f"{batch / max(moved, 1) / raw:.0f} x")
    console.print(table)
    services.db.dispose()


if __name__ == "__main__":
    main()
