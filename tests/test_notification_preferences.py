"""My account's notification preferences change what people get: in-app off hides the list and
badge (the e-mail still goes), and the daily digest sends one e-mail listing everything pending
instead of one per notification. E-mail goes to a real aiosmtpd server, as in test_notifications."""

# ruff: noqa: F811  (the tests take test_notifications' mailed and smtp_port fixtures imported here)
from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from tests.api_support import caller, make_app
from tests.conftest import FakeClock
from tests.test_notifications import (  # noqa: F401  (mailed, smtp_port are fixtures)
    SITE,
    MailRoom,
    body,
    mailed,
    notes_of,
    smtp_port,
    smtp_server,
    start,
)
from workflows.models import Notification, User
from workflows.notify.notifications import unread_count
from workflows.notify.outbox import DIGEST_AFTER, flush_outbox, retry_delay
from workflows.people.profile import update_my_account
from workflows.services import Services


@pytest.fixture
def mailed_app(mailed: Services, database_url: str) -> Flask:
    """The web app on the services that e-mail through the local SMTP server."""
    return make_app(mailed, database_url)


def all_notes_of(services: Services, user: str) -> list[Notification]:
    """Every notification written for `user`, shown in the app or not."""
    with services.db.unit_of_work(write=False) as session:
        return list(
            session.scalars(
                select(Notification)
                .join(User, User.id == Notification.user_id)
                .where(User.username == user)
                .order_by(Notification.id)
            )
        )


def test_a_digest_reader_gets_one_email_a_day_listing_all_while_others_get_one_each(
    mailed: Services, smtp_port: int, clock: FakeClock
) -> None:
    with mailed.db.unit_of_work() as session:
        update_my_account(session, actor="ana", notify_digest=True)
    with smtp_server(smtp_port, MailRoom()) as room:
        first, second = start(mailed, client="Acme"), start(mailed, client="Globex")
        start(mailed, am="alex", client="Contoso")
        start(mailed, am="alex", client="Fabrikam")
        assert flush_outbox(mailed) == 2
        # alex (no digest) has one e-mail per notification; ana none yet
        assert sorted((to[0], m["Subject"]) for to, m in room.received) == [
            ("alex@agency.example", "New task: Prepare pitch (Contoso: Rebrand)"),
            ("alex@agency.example", "New task: Prepare pitch (Fabrikam: Rebrand)"),
        ]
        oldest = clock.now
        clock.now += timedelta(hours=12)
        third = start(mailed, client="Initech")  # joins the digest of the day
        clock.now = oldest + DIGEST_AFTER - timedelta(minutes=1)
        assert flush_outbox(mailed) == 0  # the oldest is not a day old yet
        clock.now += timedelta(minutes=1)
        assert flush_outbox(mailed) == 1
        assert flush_outbox(mailed) == 0  # never twice

    [digest] = [m for to, m in room.received if to == ["ana@agency.example"]]
    assert len(room.received) == 3
    assert digest["Subject"] == "Your Baton digest: 3 notifications"
    text = body(digest)
    for line in (
        "New task: Prepare pitch (Acme: Rebrand)",
        "New task: Prepare pitch (Globex: Rebrand)",
        "New task: Prepare pitch (Initech: Rebrand)",
        "olga gave it to you: the engagement's account manager is now ana.",
        f"{SITE}/engagements/{first.id}",
        f"{SITE}/engagements/{second.id}",
        f"{SITE}/engagements/{third.id}",
    ):
        assert line in text
    anas = all_notes_of(mailed, "ana")
    assert len(anas) == 3
    assert {(n.email_state, n.email_sent_at, n.email_attempts) for n in anas} == {("sent", clock.now, 1)}


def test_a_digest_that_fails_is_retried_whole(mailed: Services, smtp_port: int, clock: FakeClock) -> None:
    with mailed.db.unit_of_work() as session:
        update_my_account(session, actor="ana", notify_digest=True)
    start(mailed, client="Acme")
    start(mailed, client="Globex")
    clock.now += DIGEST_AFTER
    assert flush_outbox(mailed) == 0  # nothing listens on smtp_port yet
    anas = all_notes_of(mailed, "ana")
    assert {(n.email_state, n.email_attempts, n.email_next_at) for n in anas} == {
        ("pending", 1, clock.now + retry_delay(1))
    }

    with smtp_server(smtp_port, MailRoom()) as room:
        clock.now += retry_delay(1)
        assert flush_outbox(mailed) == 1
    [(to, digest)] = room.received
    assert to == ["ana@agency.example"] and digest["Subject"] == "Your Baton digest: 2 notifications"
    assert {(n.email_state, n.email_attempts) for n in all_notes_of(mailed, "ana")} == {("sent", 2)}


def test_with_in_app_off_ana_sees_no_notifications_yet_gets_the_email(
    mailed: Services, mailed_app: Flask, smtp_port: int
) -> None:
    with mailed.db.unit_of_work() as session:
        update_my_account(session, actor="ana", notify_in_app=False)
    with smtp_server(smtp_port, MailRoom()) as room:
        start(mailed)
        assert flush_outbox(mailed) == 1
    [(to, message)] = room.received
    assert to == ["ana@agency.example"] and message["Subject"] == "New task: Prepare pitch (Acme: Rebrand)"
    assert len(all_notes_of(mailed, "ana")) == 1  # written, for the e-mail

    assert notes_of(mailed, "ana") == []
    with mailed.db.unit_of_work(write=False) as session:
        assert unread_count(session, user="ana") == 0
    api = caller(mailed_app, mailed, "ana").get("/api/v1/me/notifications")
    assert api.status_code == 200 and api.get_json() == {"items": [], "unread": 0}

    # turned back on, the notification is there again
    with mailed.db.unit_of_work() as session:
        update_my_account(session, actor="ana", notify_in_app=True)
    assert [n.kind for n in notes_of(mailed, "ana")] == ["assigned"]
