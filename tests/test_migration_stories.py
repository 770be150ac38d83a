"""Running engagements move to a new version: the dry run's verdicts, the batch, and life after it.

v2 (`workflows.demo.revision`) adds Legal review after QC, removes Prepare pitch, changes the SLA
(1bd → 4bh) and form of Approve brief, and renames Plan timeline to plan_timeline.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.migration import MappingError
from engine.models import Event, HumanTask, WorkflowInstance
from tests.conftest import FakeClock, open_engagement
from tests.migration_support import (
    STEPS,
    WAITING_AT,
    complete,
    deploy_v2,
    finish,
    open_row,
    open_rows,
    version_of,
    walk_to,
)
from workflows.demo.revision import RENAMED
from workflows.engagements.effort import log_effort
from workflows.engagements.migration import DryRun, dry_run_migration, migrate_engagements
from workflows.engagements.tasks import claim_task
from workflows.models import Engagement
from workflows.people.permissions import PermissionDenied
from workflows.services import Services


@pytest.fixture
def v2(deployed: Services) -> Services:
    """The services with v1 deployed; each test starts its engagements, then deploys v2 (`deploy_v2`)."""
    return deployed


def dry_run(
    services: Services, version: int = 2, *, actor: str = "olga", mapping: dict[str, str] | None = None
) -> DryRun:
    with services.db.unit_of_work(write=False) as session:
        return dry_run_migration(
            session,
            services,
            "engagement",
            version,
            actor=actor,
            mapping=RENAMED if mapping is None else mapping,
        )


def test_engagements_at_every_stage_move_to_v2_and_run_to_the_end(v2: Services, clock: FakeClock) -> None:
    waiting: dict[str, int] = {}
    for stage, task in WAITING_AT.items():
        engagement_id = open_engagement(v2)
        walk_to(v2, engagement_id, task)
        waiting[stage] = engagement_id
    refused_id = open_engagement(v2)  # waits at Prepare pitch, which v2 removed
    assert deploy_v2(v2) == 2
    # the brief's approver claimed it and logged effort before the move
    brief = waiting["brief"]
    with v2.db.unit_of_work() as session:
        claim_task(session, v2, brief, "brief_approve", actor="alex")
        log_effort(session, v2, brief, "brief_approve", 1.5, actor="alex", note="read the brief")
        before = open_row(session, brief, "brief_approve")
        ready_at, old_due, row_id = before.created_at, before.due_at, before.id
    clock.now += timedelta(hours=1)

    plan = dry_run(v2)
    verdicts = {e.engagement_id: e.verdict for e in plan.engagements}
    assert verdicts[refused_id] == "refused"
    assert {verdicts[e] for e in waiting.values()} == {"with_effects"}
    words = {e.engagement_id: e.sentences for e in plan.engagements}
    assert any(s.startswith("Approve brief: SLA 1bd → 4bh, due moves to ") for s in words[brief])
    assert (
        "Approve brief: form added field “Brand guidelines checked”; data already submitted stays"
        in words[brief]
    )
    assert "Legal review will come after Check quality" in words[waiting["qc"]]
    assert any("Legal review comes after Check quality" in s for s in words[waiting["review"]])
    assert any(s.startswith("Prepare pitch, done ") for s in words[waiting["qc"]])
    assert any("Plan timeline (open) continues as plan_timeline" in s for s in words[waiting["timeline"]])
    assert "Prepare pitch is open and v2 has no such step" in words[refused_id][0]
    with v2.db.unit_of_work(write=False) as session:  # nothing written by the dry run
        assert session.scalar(select(Event.id).where(Event.kind == "migrated")) is None

    chosen = [*waiting.values(), refused_id]
    outcomes = migrate_engagements(
        v2, "engagement", 2, chosen, actor="olga", note="process review of 1 Dec", mapping=RENAMED
    )
    by_id = {o.engagement_id: o for o in outcomes}
    assert [by_id[e].status for e in waiting.values()] == ["migrated"] * 9
    assert by_id[refused_id].status == "refused"
    assert {version_of(v2, e) for e in waiting.values()} == {2}
    assert version_of(v2, refused_id) == 1

    with v2.db.unit_of_work(write=False) as session:
        moved = open_row(session, brief, "brief_approve")
        assert (moved.id, moved.claimed_by, moved.created_at) == (row_id, "alex", ready_at)
        assert moved.due_at == v2.calendar.add_hours(ready_at, 4) != old_due  # from when it became ready
        assert moved.properties["sla"] == "4bh"
        assert "plan_timeline" in open_rows(session, waiting["timeline"])
        event = session.scalar(
            select(Event).where(Event.kind == "migrated", Event.instance_id == moved.instance_id)
        )
        assert event is not None and event.actor == "olga"
        assert event.detail["from"]["version"] == 1 and event.detail["to"]["version"] == 2
        assert event.detail["note"] == "process review of 1 Dec"
        assert any("SLA 1bd → 4bh" in s for s in event.detail["effects_in_words"])
        # steps that ran keep the version they ran on; the open one runs on v2
        versions = {
            bpmn_id: definition_id
            for bpmn_id, definition_id in session.execute(
                select(HumanTask.bpmn_id, HumanTask.definition_id).where(
                    HumanTask.instance_id == moved.instance_id
                )
            )
        }
        now_on = session.scalar(
            select(WorkflowInstance.definition_id).where(WorkflowInstance.id == moved.instance_id)
        )
        # the version each step became ready on is never rewritten by a move
        assert versions["brief_approve"] == versions["brief_write"] == versions["pitch_prepare"] != now_on

    for engagement_id in waiting.values():
        finish(v2, engagement_id, on_v2=True)
    with v2.db.unit_of_work(write=False) as session:
        for engagement_id in waiting.values():
            instance = session.scalar(
                select(WorkflowInstance)
                .join(Engagement, Engagement.instance_id == WorkflowInstance.id)
                .where(Engagement.id == engagement_id)
            )
            assert instance is not None and instance.status == "completed", engagement_id
            assert instance.end_event == "end_delivered"
        legal = session.scalars(
            select(HumanTask.instance_id).where(HumanTask.bpmn_id == "legal_review")
        ).all()
        assert len(legal) == 7  # everyone who had QC still ahead
    # the refused engagement was left on v1 and still finishes there
    complete(v2, refused_id, "pitch_prepare", STEPS[0].data)
    finish(v2, refused_id, on_v2=False)


def test_moving_back_to_v1_is_the_undo(v2: Services) -> None:
    engagement_id = open_engagement(v2)
    walk_to(v2, engagement_id, "brief_approve")
    deploy_v2(v2)
    with v2.db.unit_of_work(write=False) as session:
        due_v1 = open_row(session, engagement_id, "brief_approve").due_at
    [there] = migrate_engagements(
        v2, "engagement", 2, [engagement_id], actor="olga", note="v2", mapping=RENAMED
    )
    assert there.status == "migrated"
    [back] = migrate_engagements(v2, "engagement", 1, [engagement_id], actor="adam", note="undo")
    assert back.status == "migrated", back.message
    assert version_of(v2, engagement_id) == 1
    with v2.db.unit_of_work(write=False) as session:
        row = open_row(session, engagement_id, "brief_approve")
        assert row.due_at == due_v1 and row.properties["sla"] == "1bd"
    finish(v2, engagement_id, on_v2=False)


def test_a_renamed_open_step_without_its_mapping_is_matched_by_structure_or_refused(v2: Services) -> None:
    engagement_id = open_engagement(v2)
    walk_to(v2, engagement_id, "timeline_plan")
    deploy_v2(v2)
    plan = dry_run(v2, mapping={})
    [mine] = [e for e in plan.engagements if e.engagement_id == engagement_id]
    # SpiffWorkflow aligns the renamed step by its place in the flow
    assert mine.verdict == "with_effects"
    with pytest.raises(MappingError, match="v2 has no step 'nowhere'"):
        dry_run(v2, mapping={"timeline_plan": "nowhere"})


def test_only_ops_leads_and_admins_plan_or_move(v2: Services) -> None:
    engagement_id = open_engagement(v2)
    walk_to(v2, engagement_id, "scope_estimate")
    deploy_v2(v2)
    for who in ("ana", "pete", "lee"):
        with pytest.raises(PermissionDenied, match="only ops leads or admins may"):
            dry_run(v2, actor=who)
        with pytest.raises(PermissionDenied):
            migrate_engagements(v2, "engagement", 2, [engagement_id], actor=who, note="x")
    with pytest.raises(ValueError, match="a note is required"):
        migrate_engagements(v2, "engagement", 2, [engagement_id], actor="olga", note="  ")
    assert version_of(v2, engagement_id) == 1


def test_an_engagement_changed_since_the_dry_run_is_not_moved(v2: Services) -> None:
    engagement_id = open_engagement(v2)
    walk_to(v2, engagement_id, "scope_estimate")
    deploy_v2(v2)
    planned = {e.engagement_id: e.version for e in dry_run(v2).engagements}
    with v2.db.unit_of_work() as session:
        claim_task(session, v2, engagement_id, "scope_estimate", actor="alex")
    [outcome] = migrate_engagements(
        v2, "engagement", 2, [engagement_id], actor="olga", note="x", expected=planned
    )
    assert outcome.status == "conflict" and "reload it" in outcome.message
    assert version_of(v2, engagement_id) == 1
