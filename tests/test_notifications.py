"""People hear of their tasks: in the app, and by e-mail through a real SMTP server.

The demo agency (see workflows.demo.seed): ana and alex are AMs, alex leading them; pete and priya
PMs, priya leading them; olga is the ops lead. E-mail goes to an aiosmtpd server each test
starts on a free local port.
"""

from __future__ import annotations

import copy
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.errors import NotFoundError
from engine.models import Event, HumanTask
from engine.timers import TimerWorker
from tests.conftest import ROOT, FakeClock
from tests.test_cli import Baton, err, ok, started_engagement
from workflows.bootstrap import build_services
from workflows.definitions.catalog import install_definitions
from workflows.demo.samples import STORIES, brief_approve
from workflows.demo.seed import seed_users
from workflows.engagements.lifecycle import get_engagement, start_engagement
from workflows.engagements.tasks import claim_task, complete_task, find_open_task, reassign_task
from workflows.models import Engagement, Notification
from workflows.notify.mail import MailSettings
from workflows.notify.notifications import list_notifications, mark_all_read, mark_read, unread_count
from workflows.notify.outbox import MAX_ATTEMPTS, flush_outbox, retry_delay
from workflows.people.covers import add_cover
from workflows.people.leads import lane_leads, set_lead
from workflows.people.permissions import PermissionDenied
from workflows.people.profile import update_my_account
from workflows.people.users import add_user
from workflows.services import Services

SITE = "https://baton.agency.example"


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
        notes = list_notifications(session, user=user, include_read=True, limit=200)
    return [(n.kind, n.title, n.message) for n in sorted(notes, key=lambda n: n.id)]


def notes_of(services: Services, user: str) -> list[Notification]:
    with services.db.unit_of_work(write=False) as session:
        return sorted(list_notifications(session, user=user, include_read=True), key=lambda n: n.id)


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


# -- a real SMTP server --------------------------------------------------------------------------


@dataclass
class MailRoom:
    """An aiosmtpd handler keeping what it receives; refuses the addresses in `refuse`."""

    refuse: set[str] = field(default_factory=set)
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = cast(EmailMessage, message_from_bytes(envelope.content, policy=default_policy))
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(port: int, room: MailRoom) -> Iterator[MailRoom]:
    controller = Controller(room, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield room
    finally:
        controller.stop()


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mailed(database_url: str, clock: FakeClock, smtp_port: int) -> Iterator[Services]:
    """The demo agency's services with e-mail through the local SMTP server at `smtp_port`."""
    settings = MailSettings(
        host="127.0.0.1", port=smtp_port, sender="baton@agency.example", timeout=5, base_url=SITE
    )
    services = build_services(database_url, definitions_dir=ROOT / "definitions", clock=clock, mail=settings)
    services.db.create_all()
    with services.db.unit_of_work() as session:
        install_definitions(session, services)
        seed_users(session, services)
    yield services
    services.db.dispose()


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return cast(EmailMessage, part).get_content()


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
        set_lead(session, "alex", "account_manager", lead=False, actor="olga")
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
        assert unread_count(session, user="ana") == 3
        newest = list_notifications(session, user="ana", limit=2)
        rest = list_notifications(session, user="ana", limit=2, offset=2)
        assert [n.engagement.client for n in newest + rest if n.engagement] == ["Initech", "Globex", "Acme"]

        read = mark_read(session, deployed, newest[0].id, user="ana")
        assert read.read_at == fake_clock(deployed).now
        assert mark_read(session, deployed, newest[0].id, user="ana").read_at == read.read_at  # no change
        assert unread_count(session, user="ana") == 2
        assert len(list_notifications(session, user="ana")) == 2  # unread only
        everything = list_notifications(session, user="ana", include_read=True)
        assert [n.id for n in everything][-1] == newest[0].id  # unread first, the read one last

        with pytest.raises(PermissionDenied, match="is not pete's"):
            mark_read(session, deployed, newest[1].id, user="pete")
        with pytest.raises(NotFoundError, match="no notification 999"):
            mark_read(session, deployed, 999, user="ana")
        with pytest.raises(PermissionDenied, match="'mallory' is not a Baton user"):
            list_notifications(session, user="mallory")
        with pytest.raises(ValueError, match="a page holds 1 to 200"):
            list_notifications(session, user="ana", limit=0)

        assert mark_all_read(session, deployed, user="pete") == 0  # pete's own: none
        assert unread_count(session, user="ana") == 2
        assert mark_all_read(session, deployed, user="ana") == 2
        assert unread_count(session, user="ana") == 0


# -- by e-mail -----------------------------------------------------------------------------------


def test_a_notification_is_emailed_after_its_transaction_through_the_smtp_server(
    mailed: Services, smtp_port: int
) -> None:
    with smtp_server(smtp_port, MailRoom()) as room:
        engagement = start(mailed)
        assert room.received == []  # nothing is sent inside the transaction
        [note] = notes_of(mailed, "ana")
        assert note.email_state == "pending"

        assert flush_outbox(mailed) == 1

        [(recipients, message)] = room.received
        assert recipients == ["ana@agency.example"]
        assert message["To"] == "Ana Alvarez <ana@agency.example>"
        assert message["From"] == "baton@agency.example"
        assert message["Subject"] == "New task: Prepare pitch (Acme: Rebrand)"
        text = body(message)
        assert "olga gave it to you: the engagement's account manager is now ana." in text
        assert f"{SITE}/engagements/{engagement.id}" in text
        [note] = notes_of(mailed, "ana")
        assert (note.email_state, note.email_sent_at, note.email_attempts) == (
            "sent",
            fake_clock(mailed).now,
            1,
        )
        assert flush_outbox(mailed) == 0  # never twice

        # someone without an address hears in the app only
        with mailed.db.unit_of_work() as session:
            add_user(session, mailed, "nina", name="Nina Noor", roles=["account_manager"])
            reassign_task(session, mailed, engagement.id, "pitch_prepare", "nina", actor="olga")
        [note] = notes_of(mailed, "nina")
        assert note.email_state == "none"
        assert flush_outbox(mailed) == 0 and len(room.received) == 1


def test_breach_emails_go_out_in_the_same_worker_cycle(mailed: Services, smtp_port: int) -> None:
    engagement = start(mailed)
    task = open_task(mailed, engagement.instance_id, "pitch_prepare")
    assert task.due_at is not None
    clock = fake_clock(mailed)
    clock.now = task.due_at + timedelta(minutes=5)
    worker = TimerWorker(
        mailed.db,
        mailed.runtime.fire_timers,
        clock=clock,
        sweeps=[mailed.deadline_sweeper().run_once, lambda: flush_outbox(mailed)],
    )
    with smtp_server(smtp_port, MailRoom()) as room:
        worker.run_once()
    sent = {(tuple(to), m["Subject"]) for to, m in room.received}
    assert sent == {
        (("ana@agency.example",), "New task: Prepare pitch (Acme: Rebrand)"),
        (("ana@agency.example",), "Overdue: Prepare pitch (Acme: Rebrand)"),
        (("alex@agency.example",), "Overdue: Prepare pitch (Acme: Rebrand)"),
    }


def test_when_the_smtp_server_is_down_emails_wait_and_go_out_on_a_later_flush(
    mailed: Services, smtp_port: int
) -> None:
    clock = fake_clock(mailed)
    start(mailed)  # nothing listens on smtp_port yet

    assert flush_outbox(mailed) == 0
    [note] = notes_of(mailed, "ana")
    assert (note.email_state, note.email_attempts) == ("pending", 1)
    assert note.email_error is not None and f"127.0.0.1:{smtp_port}" in note.email_error
    assert note.email_next_at == clock.now + retry_delay(1) == clock.now + timedelta(minutes=1)
    assert flush_outbox(mailed) == 0  # not before its time
    assert notes_of(mailed, "ana")[0].email_attempts == 1

    with smtp_server(smtp_port, MailRoom()) as room:
        clock.now += timedelta(minutes=1)
        assert flush_outbox(mailed) == 1
    [(recipients, message)] = room.received
    assert recipients == ["ana@agency.example"] and message["Subject"].startswith("New task: Prepare pitch")
    [note] = notes_of(mailed, "ana")
    assert (note.email_state, note.email_attempts) == ("sent", 2)


def test_a_refused_address_fails_at_once_and_a_server_down_for_hours_is_given_up(
    mailed: Services, smtp_port: int
) -> None:
    clock = fake_clock(mailed)
    engagement = start(mailed)
    with mailed.db.unit_of_work() as session:
        reassign_task(session, mailed, engagement.id, "pitch_prepare", "alex", actor="olga")
    with smtp_server(smtp_port, MailRoom(refuse={"ana@agency.example"})) as room:
        assert flush_outbox(mailed) == 1  # alex's
    assert [to for to, _m in room.received] == [["alex@agency.example"]]
    [note] = notes_of(mailed, "ana")
    assert note.email_state == "failed" and note.email_error is not None
    assert "550" in note.email_error  # a permanent refusal: not tried again
    assert note.read_at is None  # still there to read in the app

    start(mailed, client="Globex")  # and now the server stays down
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert flush_outbox(mailed) == 0
        note = notes_of(mailed, "ana")[-1]
        assert note.email_attempts == attempt
        clock.now += retry_delay(attempt)
    assert note.email_state == "failed"
    assert retry_delay(MAX_ATTEMPTS) == timedelta(hours=2)  # the pauses stop growing


def test_mail_settings_come_from_the_environment() -> None:
    assert MailSettings.from_env({}) is None  # no server: notifications stay in the app
    settings = MailSettings.from_env(
        {
            "BATON_SMTP_HOST": "smtp.agency.example",
            "BATON_SMTP_USER": "baton",
            "BATON_SMTP_PASSWORD": "s3cret",
            "BATON_SMTP_FROM": "Baton <baton@agency.example>",
            "BATON_SMTP_STARTTLS": "yes",
            "BATON_BASE_URL": "https://baton.agency.example/",
        }
    )
    assert settings == MailSettings(
        host="smtp.agency.example",
        port=587,
        sender="Baton <baton@agency.example>",
        username="baton",
        password="s3cret",
        starttls=True,
        base_url="https://baton.agency.example",
    )
    with pytest.raises(ValueError, match="BATON_SMTP_PORT must be a number, not 'smtp'"):
        MailSettings.from_env({"BATON_SMTP_HOST": "h", "BATON_SMTP_PORT": "smtp"})
    with pytest.raises(ValueError, match="BATON_SMTP_STARTTLS must be true or false"):
        MailSettings.from_env({"BATON_SMTP_HOST": "h", "BATON_SMTP_STARTTLS": "maybe"})


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
    assert "no SMTP server configured" in ok(baton("notifications", "flush"))


def test_someone_who_turned_e_mail_off_on_my_account_hears_in_the_app_only(mailed: Services) -> None:
    with mailed.db.unit_of_work() as session:
        update_my_account(session, actor="ana", notify_email=False)
    start(mailed)
    [note] = notes_of(mailed, "ana")
    assert note.email_state == "none"  # kept in the app, never put in the outbox
    assert flush_outbox(mailed) == 0
