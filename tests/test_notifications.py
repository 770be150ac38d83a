"""People hear of their tasks in the app: assigned, due soon, breached, sent back.

The demo agency (see workflows.demo): ana and alex are AMs, alex leading them; pete and priya
PMs, priya leading them; olga is the ops lead.
"""

from __future__ import annotations

import copy
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from engine.errors import NotFoundError
from engine.models import Event, HumanTask
from engine.timers import TimerWorker
from tests.conftest import FakeClock
from tests.test_cli import Baton, err, ok, started_engagement
from workflows.engagements import (
    claim_task,
    complete_task,
    find_open_task,
    get_engagement,
    reassign_task,
    start_engagement,
)
from workflows.leads import lane_leads, set_lead
from workflows.models import Engagement, Notification
from workflows.notifications import list_notifications, mark_all_read, mark_read, unread_count
from workflows.people import PermissionDenied, add_cover
from workflows.samples import STORIES, brief_approve
from workflows.services import Services

# -- helpers -------------------------------------------------------------------------------------


def start(services: Services, *, am: str = "ana", pm: str = "pete", client: str = "Acme") -> Engagement:
    """olga starts an engagement run by `am` and `pm`."""
    with services.db.unit_of_work() as session:
        return start_engagement(
            session,
            services,
            client=client,
            name="Rebrand",
            account_manager=am,
            project_manager=pm,
            actor="olga",
        )


def play_until(services: Services, engagement_id: int, task: str, story: str = "happy_path") -> None:
    """Complete the story's steps, each by the task's assignee, until `task` is the next one."""
    for step in STORIES[story].steps:
        if step.task == task:
            return
        with services.db.unit_of_work() as session:
            holder = find_open_task(session, get_engagement(session, engagement_id), step.task).assignee
            assert holder is not None
            complete_task(session, services, engagement_id, step.task, copy.deepcopy(step.data), actor=holder)
    raise AssertionError(f"{task} is not a step of {story}")


def inbox(services: Services, user: str) -> list[tuple[str, str, str]]:
    """Everything `user` was told, oldest first: (kind, task title, message)."""
    with services.db.unit_of_work(write=False) as session:
        notes = list_notifications(session, services, user=user, include_read=True, limit=200)
    return [(n.kind, n.title, n.message) for n in sorted(notes, key=lambda n: n.id)]


def notes_of(services: Services, user: str) -> list[Notification]:
    with services.db.unit_of_work(write=False) as session:
        return sorted(list_notifications(session, services, user=user, include_read=True), key=lambda n: n.id)


def open_task(services: Services, instance_id: int, bpmn_id: str) -> HumanTask:
    with services.db.unit_of_work(write=False) as session:
        return session.scalars(
            select(HumanTask).where(
                HumanTask.instance_id == instance_id, HumanTask.bpmn_id == bpmn_id, HumanTask.state == "ready"
            )
        ).one()


def events(services: Services, instance_id: int, kind: str) -> list[Event]:
    with services.db.unit_of_work(write=False) as session:
        return list(
            session.scalars(
                select(Event).where(Event.instance_id == instance_id, Event.kind == kind).order_by(Event.id)
            )
        )


def fake_clock(services: Services) -> FakeClock:
    clock = services.runtime.clock
    assert isinstance(clock, FakeClock)
    return clock


# -- in the app ----------------------------------------------------------------------------------


def test_an_am_task_that_becomes_ready_tells_the_engagements_am_and_no_other_am(deployed: Services) -> None:
    engagement = start(deployed)
    # the first task waits for the team; staffing the engagement hands it to ana
    assert inbox(deployed, "ana") == [
        ("assigned", "Prepare pitch", "olga gave it to you: the engagement's account manager is now ana.")
    ]

    # ana works through the pitch and the scope: each next task is hers, and she is not told
    # of what she just caused herself; pete hears when the brief is his
    play_until(deployed, engagement.id, "brief_approve")
    assert inbox(deployed, "pete") == [("assigned", "Write brief", "Ready for you.")]
    assert inbox(deployed, "ana") == [
        ("assigned", "Prepare pitch", "olga gave it to you: the engagement's account manager is now ana."),
        ("assigned", "Approve brief", "Ready for you."),
    ]
    assert inbox(deployed, "alex") == []  # another AM: not his engagement
    note = notes_of(deployed, "ana")[-1]
    assert note.link == f"/engagements/{engagement.id}" and note.engagement_id == engagement.id
    assert note.email_state == "none"  # no SMTP server configured: in-app only


def test_a_reassigned_task_tells_its_new_assignee(deployed: Services) -> None:
    engagement = start(deployed)
    with deployed.db.unit_of_work() as session:
        reassign_task(
            session,
            deployed,
            engagement.id,
            "pitch_prepare",
            "alex",
            actor="olga",
            reason="ana is at a pitch",
        )
    assert inbox(deployed, "alex") == [
        ("assigned", "Prepare pitch", "olga gave it to you: ana is at a pitch.")
    ]
    assert [kind for kind, _t, _m in inbox(deployed, "ana")] == ["assigned"]  # only the first one
    assert inbox(deployed, "olga") == []  # nobody hears of their own action


def test_a_task_past_its_warning_point_is_due_soon_for_whoever_holds_it(deployed: Services) -> None:
    engagement = start(deployed)
    with deployed.db.unit_of_work() as session:
        claim_task(session, deployed, engagement.id, "pitch_prepare", actor="alex")  # from ana's pool
    task = open_task(deployed, engagement.instance_id, "pitch_prepare")
    assert task.warn_at is not None

    fake_clock(deployed).now = task.warn_at + timedelta(minutes=1)
    assert deployed.deadline_sweeper().run_once() == 1

    # due Fri 4 Dec 2026 at 10:00 in London: the claimer is told, not the assignee
    assert inbox(deployed, "alex") == [
        ("due_soon", "Prepare pitch", "Due Fri 4 Dec 10:00: its warning point has passed.")
    ]
    assert [kind for kind, _t, _m in inbox(deployed, "ana")] == ["assigned"]
    assert events(deployed, engagement.instance_id, "sla_escalated") == []


def test_a_breach_tells_the_holder_and_the_am_lead_and_logs_the_escalation(deployed: Services) -> None:
    engagement = start(deployed)
    task = open_task(deployed, engagement.instance_id, "pitch_prepare")
    assert task.due_at is not None
    clock = fake_clock(deployed)
    clock.now = task.due_at + timedelta(minutes=1)

    worker = TimerWorker(
        deployed.db, deployed.runtime.fire_timers, clock=clock, sweeps=[deployed.deadline_sweeper().run_once]
    )
    assert worker.run_once().swept == 1

    assert inbox(deployed, "ana")[-1] == (
        "breached",
        "Prepare pitch",
        "Overdue: it was due Fri 4 Dec 10:00. Escalated to alex.",
    )
    assert inbox(deployed, "alex") == [
        ("breached", "Prepare pitch", "Overdue in your lane: it was due Fri 4 Dec 10:00; ana holds it.")
    ]
    assert inbox(deployed, "pete") == [] and inbox(deployed, "priya") == []  # the PM lead is not told
    [escalation] = events(deployed, engagement.instance_id, "sla_escalated")
    assert escalation.task_id == task.task_id and escalation.bpmn_id == "pitch_prepare"
    assert escalation.detail["notified"] == ["ana", "alex"]
    assert (escalation.detail["role"], escalation.detail["leads"]) == ("account_manager", ["alex"])


def test_a_role_without_a_lead_escalates_to_the_ops_leads(deployed: Services) -> None:
    with deployed.db.unit_of_work() as session:
        set_lead(session, deployed, "alex", "account_manager", lead=False, actor="olga")
        assert lane_leads(session, "account_manager") == ["olga"]  # the ops leads stand in
    engagement = start(deployed)
    task = open_task(deployed, engagement.instance_id, "pitch_prepare")
    assert task.due_at is not None
    fake_clock(deployed).now = task.due_at + timedelta(hours=1)
    deployed.deadline_sweeper().run_once()

    assert inbox(deployed, "olga") == [
        ("breached", "Prepare pitch", "Overdue in your lane: it was due Fri 4 Dec 10:00; ana holds it.")
    ]
    assert inbox(deployed, "ana")[-1][2] == "Overdue: it was due Fri 4 Dec 10:00. Escalated to olga."
    assert inbox(deployed, "alex") == []
    [escalation] = events(deployed, engagement.instance_id, "sla_escalated")
    assert escalation.detail["notified"] == ["ana", "olga"]


def test_sending_the_brief_back_tells_the_pm(deployed: Services) -> None:
    engagement = start(deployed)
    play_until(deployed, engagement.id, "brief_approve")
    with deployed.db.unit_of_work() as session:
        complete_task(
            session,
            deployed,
            engagement.id,
            "brief_approve",
            brief_approve("changes_requested", "Give each channel a number."),
            actor="ana",
        )
    assert inbox(deployed, "pete")[-1] == (
        "sent_back",
        "Write brief",
        "ana sent it back (changes requested): “Give each channel a number.”",
    )
    # one notification for the reopened task: sent back, not also "assigned"
    assert [kind for kind, _t, _m in inbox(deployed, "pete")] == ["assigned", "sent_back"]


def test_whoever_covers_someone_hears_what_they_would(deployed: Services) -> None:
    today = date(2026, 12, 1)
    with deployed.db.unit_of_work() as session:
        add_cover(session, deployed, "ana", by="alex", starts_on=today, ends_on=today, actor="ana")
    start(deployed)
    assert inbox(deployed, "alex") == [("assigned", "Prepare pitch", "Given to ana (you cover ana today)")]
    fake_clock(deployed).now += timedelta(days=1)  # the cover is over
    start(deployed, client="Globex")
    assert len(inbox(deployed, "alex")) == 1 and len(inbox(deployed, "ana")) == 2


def test_people_read_their_own_notifications_and_nobody_elses(deployed: Services) -> None:
    for client in ("Acme", "Globex", "Initech"):
        start(deployed, client=client)
    with deployed.db.unit_of_work() as session:
        assert unread_count(session, deployed, user="ana") == 3
        newest = list_notifications(session, deployed, user="ana", limit=2)
        rest = list_notifications(session, deployed, user="ana", limit=2, offset=2)
        assert [n.engagement.client for n in newest + rest if n.engagement] == ["Initech", "Globex", "Acme"]

        read = mark_read(session, deployed, newest[0].id, user="ana")
        assert read.read_at == fake_clock(deployed).now
        assert mark_read(session, deployed, newest[0].id, user="ana").read_at == read.read_at  # no change
        assert unread_count(session, deployed, user="ana") == 2
        assert len(list_notifications(session, deployed, user="ana")) == 2  # unread only
        everything = list_notifications(session, deployed, user="ana", include_read=True)
        assert [n.id for n in everything][-1] == newest[0].id  # unread first, the read one last

        with pytest.raises(PermissionDenied, match="is not pete's"):
            mark_read(session, deployed, newest[1].id, user="pete")
        with pytest.raises(NotFoundError, match="no notification 999"):
            mark_read(session, deployed, 999, user="ana")
        with pytest.raises(PermissionDenied, match="'mallory' is not a Baton user"):
            list_notifications(session, deployed, user="mallory")
        with pytest.raises(ValueError, match="a page holds 1 to 200"):
            list_notifications(session, deployed, user="ana", limit=0)

        assert mark_all_read(session, deployed, user="pete") == 0  # pete's own: none
        assert unread_count(session, deployed, user="ana") == 2
        assert mark_all_read(session, deployed, user="ana") == 2
        assert unread_count(session, deployed, user="ana") == 0


# -- from the command line -----------------------------------------------------------------------


def test_notifications_from_the_command_line(database_url: str) -> None:
    baton = Baton(database_url)
    ok(baton("init-db"))
    for username, role, name in (
        ("ana", "account_manager", "Ana Alvarez"),
        ("pete", "project_manager", "Pete Novak"),
        ("olga", "ops_lead", "Olga Berg"),
    ):
        ok(baton("users", "add", username, "--role", role, "--name", name))

    engagement = started_engagement(
        ok(
            baton(
                "start",
                "--client",
                "Acme",
                "--name",
                "Rebrand",
                "--am",
                "ana",
                "--pm",
                "pete",
                "--as",
                "olga",
            )
        )
    )
    listing = ok(baton("notifications", "--user", "ana"))
    assert re.search(r"1\s+│\s+●\s+│.*│\s+New task\s+│\s+Prepare pitch\s+│\s+Acme: Rebrand\s+│", listing)
    assert f"/engagements/{engagement}" in listing and "1 unread" in listing

    result = baton("notifications", "read", "1", "--user", "pete")
    assert result.exit_code == 1 and "notification 1 is not pete's" in err(result)
    assert "marked 1 notification(s) read" in ok(baton("notifications", "read", "1", "--user", "ana"))
    assert "Prepare pitch" not in ok(baton("notifications", "--user", "ana"))
    assert "Prepare pitch" in ok(baton("notifications", "--user", "ana", "--all"))
    assert "0 unread" in ok(baton("notifications", "--user", "ana"))
    assert "marked 0 notification(s) read" in ok(baton("notifications", "read", "--all", "--user", "ana"))
    result = baton("notifications", "read", "--user", "ana")
    assert result.exit_code == 2 and "give --all" in err(result)
