"""The batch at the command line and under stress: a dry-run table, two ops leads at once, a killed
process mid-batch (every engagement on exactly one version, consistent), and the same rule for all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from click.testing import CliRunner
from SpiffWorkflow.task import TaskState
from sqlalchemy import func, select

from cli.main import cli
from engine.models import Event, HumanTask, WorkflowInstance
from tests.conftest import open_engagement
from tests.migration_support import deploy_v2, finish, version_of, walk_to
from workflows.demo.revision import RENAMED
from workflows.engagements.migration import dry_run_migration, migrate_engagements
from workflows.models import Engagement
from workflows.services import Services

ROOT = Path(__file__).resolve().parent.parent
MAP = [f"--map={old}={new}" for old, new in RENAMED.items()]


def baton(database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", database_url, *args], obj={})
    return result.exit_code, result.output


def test_the_cli_prints_the_dry_run_as_a_table_and_moves_with_a_note(
    deployed: Services, database_url: str
) -> None:
    at_brief = open_engagement(deployed)
    walk_to(deployed, at_brief, "brief_approve")
    at_pitch = open_engagement(deployed)
    deploy_v2(deployed)
    code, out = baton(
        database_url, "definitions", "migrate", "engagement", "2", "--dry-run", *MAP, "--as", "olga"
    )
    assert code == 0, out
    assert "0 moves as is, 1 moves with effects, 1 cannot move — nothing was moved" in out
    code, out = baton(
        database_url, "definitions", "migrate", "engagement", "2", "--dry-run", "--json", *MAP, "--as", "olga"
    )
    verdicts = {e["engagement_id"]: e for e in json.loads(out)}
    assert verdicts[at_pitch]["verdict"] == "refused"
    assert any(s.startswith("Approve brief: SLA 1bd → 4bh") for s in verdicts[at_brief]["effects"])
    assert version_of(deployed, at_brief) == 1
    code, out = baton(database_url, "definitions", "migrate", "engagement", "2", "--dry-run", "--as", "pete")
    assert code == 1 and "only ops leads or admins may" in " ".join(out.split())
    code, out = baton(database_url, "definitions", "migrate", "engagement", "2", *MAP, "--as", "olga")
    assert code == 1 and "a note is required" in " ".join(out.split())
    code, out = baton(
        database_url, "definitions", "migrate", "engagement", "2", *MAP, "--note", "review", "--as", "olga"
    )
    assert code == 0, out
    assert "1 of 1 moved to v2" in out
    assert version_of(deployed, at_brief) == 2 and version_of(deployed, at_pitch) == 1


def test_two_ops_leads_moving_the_same_engagement_at_once_one_wins(deployed: Services) -> None:
    engagement_id = open_engagement(deployed)
    walk_to(deployed, engagement_id, "production")
    deploy_v2(deployed)
    with deployed.db.unit_of_work(write=False) as session:
        plan = dry_run_migration(session, deployed, "engagement", 2, actor="olga", mapping=RENAMED)
    expected = {e.engagement_id: e.version for e in plan.engagements}
    start = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def move(who: str) -> None:
        start.wait()
        [outcome] = migrate_engagements(
            deployed, "engagement", 2, [engagement_id], actor=who, note=f"{who}'s batch", expected=expected
        )
        outcomes[who] = outcome.status

    threads = [threading.Thread(target=move, args=(who,)) for who in ("olga", "adam")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(outcomes.values()) == ["conflict", "migrated"], outcomes
    with deployed.db.unit_of_work(write=False) as session:
        events = session.scalars(select(Event).where(Event.kind == "migrated")).all()
        assert len(events) == 1
    finish(deployed, engagement_id, on_v2=True)


def test_a_batch_killed_midway_leaves_each_engagement_on_one_version(
    deployed: Services, database_url: str
) -> None:
    ids = []
    for _ in range(40):
        engagement_id = open_engagement(deployed)
        walk_to(deployed, engagement_id, "pitch_outcome")
        ids.append(engagement_id)
    deploy_v2(deployed)
    env = {**os.environ, "BATON_USER": "olga"}
    command = [sys.executable, "-m", "cli.main", "--db", database_url]
    batch = subprocess.Popen(
        [*command, "definitions", "migrate", "engagement", "2", "--note", "killed", *MAP],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    moved = 0
    while time.monotonic() < deadline and batch.poll() is None:
        with deployed.db.unit_of_work(write=False) as session:
            moved = (
                session.scalar(select(func.count()).select_from(Event).where(Event.kind == "migrated")) or 0
            )
        if moved >= 3:
            break
        time.sleep(0.01)
    batch.send_signal(signal.SIGKILL)
    batch.wait(30)
    deployed.store.cache.clear()
    with deployed.db.unit_of_work(write=False) as session:
        moved = session.scalar(select(func.count()).select_from(Event).where(Event.kind == "migrated")) or 0
        assert 0 < moved < len(ids), "the batch was not killed midway"
        for engagement_id in ids:
            instance = session.scalar(
                select(WorkflowInstance)
                .join(Engagement, Engagement.instance_id == WorkflowInstance.id)
                .where(Engagement.id == engagement_id)
            )
            assert instance is not None
            info = deployed.definitions.info(session, instance.definition_id)
            events = session.scalars(
                select(Event).where(Event.instance_id == instance.id, Event.kind == "migrated")
            ).all()
            assert len(events) == (1 if info.version == 2 else 0)
            workflow = deployed.store.load(session, instance.id)  # the stored tree restores on its version
            spec, _subs = deployed.definitions.spec_for(info)
            assert workflow.spec is spec or workflow.spec.name == spec.name
            open_ids = set(
                session.scalars(
                    select(HumanTask.bpmn_id).where(
                        HumanTask.instance_id == instance.id, HumanTask.state == "ready"
                    )
                )
            )
            assert open_ids == {"pitch_outcome"}
            ready = {
                t.task_spec.name
                for t in workflow.get_tasks()
                if t.task_spec.manual and t.state == TaskState.READY
            }
            assert ready == {"pitch_outcome"}
    # the rest moves when the batch is run again, and every engagement finishes on v2
    code, out = baton(
        database_url, "definitions", "migrate", "engagement", "2", *MAP, "--note", "again", "--as", "olga"
    )
    assert code == 0, out
    assert {version_of(deployed, e) for e in ids} == {2}
    finish(deployed, ids[0], on_v2=True)
