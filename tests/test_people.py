"""Each step lands with the right person, and only the right people can act on it.

The agency (seeded by the `deployed` fixture): ana and alex are account managers, pete and
priya project managers, rita a resource manager, olga the ops lead, lee in leadership and
adam an admin. The clock starts on Tuesday 1 December 2026, 10:00 in London.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from engine import tasks as task_ops
from engine.errors import ConflictError, DefinitionError, NotFoundError, TaskNotReadyError
from engine.models import Event, HumanTask
from tests.conftest import FakeClock
from tests.test_definition_registry import DEFINITIONS, FORMS, PM_ROLE_DECLARED, variant
from workflows.agency import AM_LANE, lanes_of
from workflows.bootstrap import build_services
from workflows.demo import samples as stories
from workflows.engagements.lifecycle import change_team, start_engagement, view_engagement
from workflows.engagements.tasks import claim_task, complete_task, reassign_task, unclaim_task
from workflows.people.covers import add_cover
from workflows.people.directory import update_user
from workflows.people.permissions import PermissionDenied
from workflows.people.users import add_user
from workflows.services import Services
from workflows.views.lists import my_tasks

PITCH = stories.pitch_prepare()


def start(
    services: Services,
    *,
    am: str | None = "ana",
    pm: str | None = "pete",
    process: str = "engagement",
    **kw: Any,
) -> int:
    """Start an engagement with its team; returns its id."""
    with services.db.unit_of_work() as session:
        return start_engagement(
            session,
            services,
            client=kw.pop("client", "Acme"),
            name=kw.pop("name", "Rebrand"),
            process_id=process,
            actor="olga",
            account_manager=am,
            project_manager=pm,
            **kw,
        ).id


def open_task(services: Services, engagement_id: int, bpmn_id: str) -> HumanTask:
    with services.db.unit_of_work(write=False) as session:
        (task,) = [
            t for t in view_engagement(session, services, engagement_id).open_tasks if t.bpmn_id == bpmn_id
        ]
        return task


def events(services: Services, engagement_id: int, *kinds: str) -> list[Event]:
    with services.db.unit_of_work(write=False) as session:
        return [e for e in view_engagement(session, services, engagement_id).history if e.kind in kinds]


def complete(services: Services, engagement_id: int, task: str, data: dict[str, Any], **kw: Any) -> None:
    with services.db.unit_of_work() as session:
        complete_task(session, services, engagement_id, task, data, **kw)


def claim(services: Services, engagement_id: int, task: str, who: str) -> HumanTask:
    with services.db.unit_of_work() as session:
        return claim_task(session, services, engagement_id, task, actor=who)


def unclaim(services: Services, engagement_id: int, task: str, who: str) -> HumanTask:
    with services.db.unit_of_work() as session:
        return unclaim_task(session, services, engagement_id, task, actor=who)


# -- assignment ----------------------------------------------------------------------------


def test_an_ams_task_goes_to_that_engagements_am_not_another_ams(deployed: Services) -> None:
    anas = start(deployed, am="ana", pm="pete", client="Northwind")
    alexs = start(deployed, am="alex", pm="priya", client="Fabrikam")

    assert open_task(deployed, anas, "pitch_prepare").assignee == "ana"
    assert open_task(deployed, alexs, "pitch_prepare").assignee == "alex"
    with deployed.db.unit_of_work(write=False) as session:
        assert [t.bpmn_id for t, _ in my_tasks(session, deployed, "ana")] == ["pitch_prepare"]
        assert [e.client for _, e in my_tasks(session, deployed, "ana")] == ["Northwind"]

    # and the PM lane's work goes to each engagement's own PM
    for engagement, am in ((anas, "ana"), (alexs, "alex")):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor=am)
        complete(deployed, engagement, "pitch_outcome", stories.pitch_outcome("won"), actor=am)
        complete(deployed, engagement, "scope_estimate", stories.scope_estimate(), actor=am)
        complete(deployed, engagement, "scope_signoff", stories.scope_signoff(), actor=am)
    assert open_task(deployed, anas, "brief_write").assignee == "pete"
    assert open_task(deployed, alexs, "brief_write").assignee == "priya"


def test_a_role_missing_from_the_team_leaves_its_tasks_to_the_lane(deployed: Services) -> None:
    engagement = start(deployed, am=None, pm="pete")
    task = open_task(deployed, engagement, "pitch_prepare")
    assert task.assignee is None and task.lane == AM_LANE
    complete(deployed, engagement, "pitch_prepare", PITCH, actor="alex")  # any AM may take it


@pytest.mark.parametrize(
    ("team", "error", "message"),
    [
        pytest.param({"am": "nobody"}, NotFoundError, "no user 'nobody'", id="unknown"),
        pytest.param(
            {"am": "pete"}, ValueError, "pete does not hold the role account_manager", id="wrong-role"
        ),
        pytest.param({"pm": "gone"}, ValueError, "gone is not active", id="inactive"),
    ],
)
def test_a_team_of_unknown_inactive_or_unfit_people_is_refused(
    deployed: Services, team: dict[str, str], error: type[Exception], message: str
) -> None:
    with deployed.db.unit_of_work() as session:
        add_user(session, deployed, "gone", name="Gone Away", roles=["project_manager"])
        update_user(session, "gone", actor="adam", active=False)
    with pytest.raises(error, match=message):
        start(deployed, **{"am": "ana", "pm": "pete", **team})
    with deployed.db.unit_of_work(write=False) as session:
        assert session.scalar(select(HumanTask.id)) is None  # nothing was started


# -- completing ----------------------------------------------------------------------------


def test_a_pm_cannot_complete_an_am_task(deployed: Services) -> None:
    engagement = start(deployed)
    with pytest.raises(PermissionDenied, match=r"pete may not complete pitch_prepare \(Account Management\)"):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="pete")
    with pytest.raises(PermissionDenied, match="'mallory' is not a Baton user"):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="mallory")
    assert open_task(deployed, engagement, "pitch_prepare").state == "ready"
    assert events(deployed, engagement, "task_completed") == []

    # another AM may: the task is visible to the AM pool
    complete(deployed, engagement, "pitch_prepare", PITCH, actor="alex")
    (done,) = events(deployed, engagement, "task_completed")
    assert done.actor == "alex"


def test_an_inactive_user_can_do_nothing(deployed: Services) -> None:
    engagement = start(deployed)
    with deployed.db.unit_of_work() as session:
        update_user(session, "ana", actor="adam", active=False)
    with pytest.raises(PermissionDenied, match="ana is not active"):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="ana")


# -- claims --------------------------------------------------------------------------------


def test_claiming_and_releasing_a_task(deployed: Services) -> None:
    engagement = start(deployed)

    held = claim(deployed, engagement, "pitch_prepare", "ana")
    assert (held.assignee, held.claimed_by) == ("ana", "ana") and held.claimed_at is not None
    assert claim(deployed, engagement, "pitch_prepare", "ana").claimed_by == "ana"  # again: no change

    # while ana holds it, alex can neither claim nor complete it, pete cannot release it
    with pytest.raises(ConflictError, match="already claimed by ana"):
        claim(deployed, engagement, "pitch_prepare", "alex")
    with pytest.raises(PermissionDenied, match="claimed by ana, and only they or their cover"):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="alex")
    with pytest.raises(PermissionDenied, match="pete may not release"):
        unclaim(deployed, engagement, "pitch_prepare", "pete")

    # ana lets it go; alex from the AM pool picks it up and does it; a PM may not claim it
    assert unclaim(deployed, engagement, "pitch_prepare", "ana").claimed_by is None
    with pytest.raises(ConflictError, match="is not claimed"):
        unclaim(deployed, engagement, "pitch_prepare", "ana")
    with pytest.raises(PermissionDenied, match="pete may not claim pitch_prepare"):
        claim(deployed, engagement, "pitch_prepare", "pete")
    claim(deployed, engagement, "pitch_prepare", "alex")
    with pytest.raises(PermissionDenied, match="claimed by alex"):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="ana")
    complete(deployed, engagement, "pitch_prepare", PITCH, actor="alex")

    log = [
        (e.kind, e.actor, e.bpmn_id) for e in events(deployed, engagement, "task_claimed", "task_unclaimed")
    ]
    assert log == [
        ("task_claimed", "ana", "pitch_prepare"),
        ("task_unclaimed", "ana", "pitch_prepare"),
        ("task_claimed", "alex", "pitch_prepare"),
    ]
    with pytest.raises(TaskNotReadyError, match="already completed by alex"):
        claim(deployed, engagement, held.task_id, "ana")


def test_the_ops_lead_releases_a_claim_left_behind(deployed: Services) -> None:
    engagement = start(deployed)
    claim(deployed, engagement, "pitch_prepare", "alex")
    assert unclaim(deployed, engagement, "pitch_prepare", "olga").claimed_by is None
    (released,) = events(deployed, engagement, "task_unclaimed")
    assert released.actor == "olga" and released.detail["claimed_by"] == "alex"


def test_two_claims_at_once_one_wins(deployed: Services) -> None:
    engagement = start(deployed)
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def attempt(who: str) -> None:
        barrier.wait()
        try:
            claim(deployed, engagement, "pitch_prepare", who)
            outcomes[who] = "won"
        except ConflictError as exc:
            outcomes[who] = f"lost: {exc}"

    threads = [threading.Thread(target=attempt, args=(who,)) for who in ("ana", "alex")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (winner,) = [who for who, outcome in outcomes.items() if outcome == "won"]
    (loser,) = [who for who in outcomes if who != winner]
    assert f"already claimed by {winner}" in outcomes[loser]
    assert open_task(deployed, engagement, "pitch_prepare").claimed_by == winner
    assert [e.actor for e in events(deployed, engagement, "task_claimed")] == [winner]


def test_the_engine_refuses_claims_of_unknown_or_closed_tasks(deployed: Services) -> None:
    engagement = start(deployed)
    task = open_task(deployed, engagement, "pitch_prepare")
    now = deployed.runtime.clock()
    with deployed.db.unit_of_work() as session, pytest.raises(NotFoundError, match="no instance 999"):
        task_ops.claim(session, 999, task.task_id, "ana", now=now)
    with deployed.db.unit_of_work() as session, pytest.raises(NotFoundError, match="has no human task"):
        task_ops.claim(session, task.instance_id, "not-a-task", "ana", now=now)
    complete(deployed, engagement, "pitch_prepare", PITCH, actor="ana")
    with deployed.db.unit_of_work() as session, pytest.raises(TaskNotReadyError):
        task_ops.claim(session, task.instance_id, task.task_id, "ana", now=now)
    with deployed.db.unit_of_work() as session, pytest.raises(TaskNotReadyError):
        task_ops.assign(session, task.instance_id, task.task_id, "alex", actor="olga", now=now)


# -- reassignment --------------------------------------------------------------------------


def test_the_ops_lead_reassigns_a_task_and_a_pm_may_not(deployed: Services) -> None:
    engagement = start(deployed)
    claim(deployed, engagement, "pitch_prepare", "ana")

    with (
        deployed.db.unit_of_work() as session,
        pytest.raises(PermissionDenied, match="only an ops lead or an admin"),
    ):
        reassign_task(session, deployed, engagement, "pitch_prepare", "alex", actor="pete")
    with deployed.db.unit_of_work() as session, pytest.raises(ValueError, match="the lane is worked by"):
        reassign_task(session, deployed, engagement, "pitch_prepare", "pete", actor="olga")

    with deployed.db.unit_of_work() as session:
        task = reassign_task(
            session,
            deployed,
            engagement,
            "pitch_prepare",
            "alex",
            actor="olga",
            reason="ana is on the Acme pitch",
        )
        assert (task.assignee, task.claimed_by) == ("alex", None)  # ana's claim went with it
    *staffed, moved = events(deployed, engagement, "task_assigned")
    assert [(e.actor, e.detail["to"]) for e in staffed] == [("olga", "ana")]  # at the start
    assert moved.actor == "olga"
    assert moved.detail == {
        "from": "ana",
        "to": "alex",
        "reason": "ana is on the Acme pitch",
        "released_claim": "ana",
    }
    with deployed.db.unit_of_work() as session:  # an admin may too
        reassign_task(session, deployed, engagement, "pitch_prepare", "ana", actor="adam")
    assert open_task(deployed, engagement, "pitch_prepare").assignee == "ana"


# -- cover ---------------------------------------------------------------------------------


def test_a_cover_acts_for_someone_away_only_between_the_dates(deployed: Services, clock: FakeClock) -> None:
    engagement = start(deployed)
    with deployed.db.unit_of_work() as session:
        # pete (a PM) covers ana while she is away, Wednesday to Friday
        add_cover(
            session,
            deployed,
            "ana",
            by="pete",
            starts_on=date(2026, 12, 2),
            ends_on=date(2026, 12, 4),
            actor="ana",
        )
        with pytest.raises(PermissionDenied, match="alex may not arrange cover for ana"):
            add_cover(
                session,
                deployed,
                "ana",
                by="alex",
                starts_on=date(2026, 12, 2),
                ends_on=date(2026, 12, 2),
                actor="alex",
            )
        with pytest.raises(ValueError, match=r"ends .* before it starts"):
            add_cover(
                session,
                deployed,
                "ana",
                by="alex",
                starts_on=date(2026, 12, 3),
                ends_on=date(2026, 12, 2),
                actor="olga",
            )

    # Tuesday: ana is still in, so pete may not touch her work
    with pytest.raises(PermissionDenied, match="pete may not complete pitch_prepare"):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="pete")

    # Wednesday: pete covers; her tasks show in his inbox and he may complete them
    clock.now = datetime(2026, 12, 2, 9, 0, tzinfo=clock.now.tzinfo)
    with deployed.db.unit_of_work(write=False) as session:
        assert [t.bpmn_id for t, _ in my_tasks(session, deployed, "pete")] == ["pitch_prepare"]
    complete(deployed, engagement, "pitch_prepare", PITCH, actor="pete")
    (done,) = events(deployed, engagement, "task_completed")
    # the event keeps what the form submitted, for the record pages
    assert done.actor == "pete" and done.detail == {"covering_for": "ana", "data": PITCH}

    # Saturday: the cover is over
    clock.now += timedelta(days=3)
    with pytest.raises(PermissionDenied, match="pete may not complete pitch_outcome"):
        complete(deployed, engagement, "pitch_outcome", stories.pitch_outcome(), actor="pete")
    with deployed.db.unit_of_work(write=False) as session:
        assert my_tasks(session, deployed, "pete") == []


# -- team changes --------------------------------------------------------------------------


def test_a_team_change_mid_flight_moves_the_open_tasks_and_is_recorded(deployed: Services) -> None:
    engagement = start(deployed, process="fast_track")
    complete(deployed, engagement, "brief_write", stories.brief_write(), actor="pete")
    assert open_task(deployed, engagement, "production").assignee == "pete"

    with (
        deployed.db.unit_of_work() as session,
        pytest.raises(PermissionDenied, match="change an engagement's team"),
    ):
        change_team(session, deployed, engagement, actor="pete", project_manager="priya")
    with deployed.db.unit_of_work() as session:
        changes = change_team(
            session,
            deployed,
            engagement,
            actor="olga",
            project_manager="priya",
            reason="pete moves to Contoso",
        )
    assert changes == {"project_manager": ("pete", "priya")}

    assert open_task(deployed, engagement, "production").assignee == "priya"
    staffed, changed = events(deployed, engagement, "team_changed")
    assert staffed.detail["changes"]["project_manager"] == {"from": None, "to": "pete"}
    assert changed.actor == "olga"
    assert changed.detail == {
        "changes": {"project_manager": {"from": "pete", "to": "priya"}},
        "reason": "pete moves to Contoso",
    }
    moved = events(deployed, engagement, "task_assigned")[-1]
    assert (moved.bpmn_id, moved.detail["from"], moved.detail["to"]) == ("production", "pete", "priya")
    with deployed.db.unit_of_work(write=False) as session:
        assert view_engagement(session, deployed, engagement).team == {
            "account_manager": "ana",
            "project_manager": "priya",
        }

    # pete is off the team but still a PM: the PM lane is his pool, so only priya's inbox has it
    with deployed.db.unit_of_work(write=False) as session:
        assert my_tasks(session, deployed, "pete") == []
    complete(deployed, engagement, "production", stories.production(), actor="priya")
    assert open_task(deployed, engagement, "qc_check").assignee == "priya"  # new tasks go to her too


def test_a_task_reassigned_by_hand_stays_put_when_the_team_changes(deployed: Services) -> None:
    engagement = start(deployed)
    with deployed.db.unit_of_work() as session:
        reassign_task(session, deployed, engagement, "pitch_prepare", "alex", actor="olga")
        add_user(session, deployed, "amy", name="Amy Ng", roles=["account_manager"])
        change_team(session, deployed, engagement, actor="olga", account_manager="amy")
    assert open_task(deployed, engagement, "pitch_prepare").assignee == "alex"


# -- acting on behalf ----------------------------------------------------------------------


def test_acting_on_behalf_of_someone_records_the_reason(deployed: Services) -> None:
    engagement = start(deployed)
    with pytest.raises(PermissionDenied, match="pete may not act on behalf of ana"):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="pete", on_behalf_of="ana", reason="x")
    with pytest.raises(ValueError, match="say why you act on behalf of ana"):
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="olga", on_behalf_of="ana")
    with pytest.raises(PermissionDenied, match="pete may not complete pitch_prepare"):  # not his to do
        complete(deployed, engagement, "pitch_prepare", PITCH, actor="olga", on_behalf_of="pete", reason="x")

    complete(
        deployed,
        engagement,
        "pitch_prepare",
        PITCH,
        actor="olga",
        on_behalf_of="ana",
        reason="ana sent the pitch from her phone",
    )
    (done,) = events(deployed, engagement, "task_completed")
    assert done.actor == "olga"
    why = "ana sent the pitch from her phone"
    assert done.detail == {"on_behalf_of": "ana", "reason": why, "data": PITCH}


# -- lanes and roles in the definition -----------------------------------------------------


def test_a_definition_whose_lane_has_an_unknown_role_is_refused(deployed: Services) -> None:
    bpmn = variant(('value="project_manager"', 'value="studio_manager"'))
    with deployed.db.unit_of_work() as session, pytest.raises(DefinitionError) as refused:
        deployed.definitions.deploy(session, bpmn, FORMS)
    (issue,) = refused.value.issues
    assert issue.element_id == "lane_pm"
    assert "unknown role 'studio_manager'" in issue.message


def test_a_lane_gets_its_role_from_the_definition_whatever_its_name(deployed: Services) -> None:
    # renamed without a role: Baton cannot know who works it
    unknown = variant(('name="Project Management"', 'name="Studio"'), PM_ROLE_DECLARED)
    assert [(i.element_id, i.code) for i in deployed.definitions.validate(unknown, FORMS)] == [
        ("lane_pm", "lane")
    ]

    # renamed, declaring its role: accepted, and its tasks go to the engagement's PM
    with deployed.db.unit_of_work() as session:
        deployed.definitions.deploy(session, variant(('name="Project Management"', 'name="Studio"')), FORMS)
    engagement = start(deployed, process="fast_track", pm="priya")
    task = open_task(deployed, engagement, "brief_write")
    assert (task.lane, task.assignee) == ("Studio", "priya")
    with pytest.raises(PermissionDenied, match=r"members of the role project_manager"):
        complete(deployed, engagement, "brief_write", stories.brief_write(), actor="ana")
    complete(deployed, engagement, "brief_write", stories.brief_write(), actor="pete")  # a PM of the pool


@pytest.mark.parametrize("name", ["engagement.bpmn", "fast_track.bpmn"])
def test_the_standard_definitions_declare_their_lanes_roles(name: str) -> None:
    lanes = [(lane.id, lane.name, lane.declared_role) for lane in lanes_of((DEFINITIONS / name).read_bytes())]
    assert lanes == [
        ("lane_am", "Account Management", "account_manager"),
        ("lane_pm", "Project Management", "project_manager"),
    ]


def test_a_completion_racing_a_claim_sees_the_claim(deployed: Services) -> None:
    """alex completes while ana's claim is being committed: he waits, then is refused."""
    engagement = start(deployed)
    outcome: list[str] = []

    def alex_completes() -> None:
        try:
            complete(deployed, engagement, "pitch_prepare", PITCH, actor="alex")
            outcome.append("completed")
        except PermissionDenied as exc:
            outcome.append(str(exc))

    with deployed.db.unit_of_work() as session:
        claim_task(session, deployed, engagement, "pitch_prepare", actor="ana")
        racer = threading.Thread(target=alex_completes)
        racer.start()
        racer.join(timeout=0.5)
        assert racer.is_alive()  # held back by the claim's transaction
    racer.join(timeout=30)
    assert len(outcome) == 1 and "claimed by ana" in outcome[0], outcome
    assert open_task(deployed, engagement, "pitch_prepare").claimed_by == "ana"


def test_a_team_change_releases_the_leavers_claims_and_keeps_a_colleagues(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        add_user(session, deployed, "amy", name="Amy Ng", roles=["account_manager"])
    helped, alone = start(deployed, client="Helped"), start(deployed, client="Alone")
    claim(deployed, helped, "pitch_prepare", "alex")  # alex is helping ana out
    claim(deployed, alone, "pitch_prepare", "ana")
    for engagement in (helped, alone):
        with deployed.db.unit_of_work() as session:
            change_team(session, deployed, engagement, actor="olga", account_manager="amy")
    helped_task, alone_task = (
        open_task(deployed, helped, "pitch_prepare"),
        open_task(deployed, alone, "pitch_prepare"),
    )
    assert (helped_task.assignee, helped_task.claimed_by) == ("amy", "alex")
    assert (alone_task.assignee, alone_task.claimed_by) == ("amy", None)


def test_the_next_task_is_assigned_by_a_process_that_has_nothing_cached(deployed: Services) -> None:
    """A step run by the engine alone (as the timer worker runs them) assigns the next task too."""
    engagement = start(deployed)
    task = open_task(deployed, engagement, "pitch_prepare")
    fresh = build_services(deployed.db.url, definitions_dir=deployed.definitions_dir)
    try:
        with fresh.db.unit_of_work() as session:
            fresh.runtime.complete(session, task.instance_id, task.task_id, PITCH, actor="ana")
    finally:
        fresh.db.dispose()
    assert open_task(deployed, engagement, "pitch_outcome").assignee == "ana"
