"""The e-mail outbox: notifications waiting to be e-mailed, sent after their transaction.

A notification for a user with an address is written ``pending`` in the transaction of the
event that caused it (see `workflows.notify.notifications`); nothing is sent from there. The worker
runs `flush_outbox` each cycle (``baton worker``; ``baton notifications flush`` by hand), so
an SMTP server that is slow or down never holds up a step, and nothing is lost while it is
down: the letter waits, tried again with growing pauses. Not sending right after the commit
from the request itself is deliberate for the same reason: the worker polls every second.

A user who chose the daily digest on My account gets no e-mail per notification: once their
oldest pending notification is `DIGEST_AFTER` (a day) old, one e-mail lists all their pending
ones, and its outcome is recorded on all of them in one transaction (sent together, or retried
together as a single letter is).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from workflows.models import Engagement, Notification, User
from workflows.notify.mail import Letter, Outcome, send_all
from workflows.notify.notifications import LABELS
from workflows.services import Services

LEASE = timedelta(minutes=10)  # a sender that died leaves its letters to another after this
RETRY_FIRST = timedelta(minutes=1)  # then 2, 4, 8... minutes
RETRY_LONGEST = timedelta(hours=2)
MAX_ATTEMPTS = 8
DIGEST_AFTER = timedelta(days=1)  # a digest goes once its oldest pending notification is this old


@dataclass(frozen=True)
class _Claimed:
    ids: tuple[int, ...]  # one notification, or all those of a digest
    attempts: int
    letter: Letter | None  # None: the user has no address any more


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_LONGEST)


def subject_of(kind: str, title: str, engagement: tuple[str, str] | None) -> str:
    """The e-mail subject of a notification, e.g. ``Overdue: Approve brief (Acme: Rebrand)``."""
    where = f" ({engagement[0]}: {engagement[1]})" if engagement else ""
    return f"{LABELS.get(kind, kind)}: {title}{where}"


def flush_outbox(services: Services, *, batch: int = 50) -> int:
    """Send the e-mails of pending notifications (the worker runs this each cycle).

    Each batch is taken in a short transaction (marked ``sending`` for `LEASE`), sent with no
    transaction open, and its outcome recorded in another: sent; pending again after
    `retry_delay` when the server failed; failed after `MAX_ATTEMPTS` tries or a permanent
    refusal. A letter is sent at least once; a sender dying between sending and recording
    may send it twice.

    Returns:
        How many e-mails were sent (0 when no SMTP server is configured).
    """
    if services.mail is None:
        return 0
    sent = 0
    while True:
        claimed = _claim(services, batch) + _claim_digests(services, batch)
        letters = [c.letter for c in claimed if c.letter is not None]
        outcomes = iter(send_all(services.mail, letters))
        results = [(c, next(outcomes) if c.letter is not None else None) for c in claimed]
        _record(services, results)
        done = sum(1 for _c, outcome in results if outcome is not None and outcome.sent)
        sent += done
        if len(claimed) < batch or not done:  # nothing left, or the server is failing: stop
            return sent


def _claim(services: Services, batch: int) -> list[_Claimed]:
    now = services.runtime.clock()
    with services.db.unit_of_work() as session:
        stmt = (
            select(
                Notification.id,
                Notification.email_attempts,
                Notification.kind,
                Notification.title,
                Notification.message,
                Notification.link,
                Notification.created_at,
                User.email,
                User.display_name,
                Engagement.client,
                Engagement.name,
            )
            .join(User, User.id == Notification.user_id)
            .outerjoin(Engagement, Engagement.id == Notification.engagement_id)
            .where(
                Notification.email_state.in_(("pending", "sending")),
                Notification.email_next_at <= now,
                User.notify_digest.is_(False),  # digest readers get `_claim_digests`' letter
            )
            .order_by(Notification.email_next_at, Notification.id)
            .limit(batch)
        )
        rows = _lease(session, services, stmt, now)
    claimed = []
    for r in rows:
        letter = None
        if r.email:
            engagement = (r.client, r.name) if r.client is not None else None
            where = f"\nEngagement: {engagement[0]}: {engagement[1]}" if engagement else ""
            letter = Letter(
                to_address=r.email,
                to_name=r.display_name,
                subject=subject_of(r.kind, r.title, engagement),
                body=f"{r.message}\n\nTask: {r.title}{where}",
                link=r.link,
                at=r.created_at,
            )
        claimed.append(_Claimed((r.id,), r.email_attempts, letter))
    return claimed


def _claim_digests(services: Services, batch: int) -> list[_Claimed]:
    """Claim the digests due: for each of up to `batch` digest readers whose oldest pending
    notification is `DIGEST_AFTER` old, all their pending notifications, in one letter."""
    now = services.runtime.clock()
    due = Notification.email_state.in_(("pending", "sending")), Notification.email_next_at <= now
    with services.db.unit_of_work() as session:
        readers = list(
            session.scalars(
                select(Notification.user_id)
                .join(User, User.id == Notification.user_id)
                .where(*due, User.notify_digest.is_(True))
                .group_by(Notification.user_id)
                .having(func.min(Notification.created_at) <= now - DIGEST_AFTER)
                .order_by(Notification.user_id)
                .limit(batch)
            )
        )
        if not readers:
            return []
        stmt = (
            select(
                Notification.id,
                Notification.user_id,
                Notification.email_attempts,
                Notification.kind,
                Notification.title,
                Notification.message,
                Notification.link,
                User.email,
                User.display_name,
                Engagement.client,
                Engagement.name,
            )
            .join(User, User.id == Notification.user_id)
            .outerjoin(Engagement, Engagement.id == Notification.engagement_id)
            .where(*due, Notification.user_id.in_(readers))
            .order_by(Notification.user_id, Notification.created_at, Notification.id)
        )
        rows = _lease(session, services, stmt, now)
    by_reader: dict[int, list[Any]] = {}
    for r in rows:
        by_reader.setdefault(r.user_id, []).append(r)
    base_url = services.mail.base_url if services.mail is not None else ""
    return [_digest(notes, now, base_url) for notes in by_reader.values()]


def _digest(notes: list[Any], now: datetime, base_url: str) -> _Claimed:
    """One reader's digest: a line per notification, with its engagement and link."""
    first = notes[0]
    letter = None
    if first.email:
        items = []
        for r in notes:
            engagement = (r.client, r.name) if r.client is not None else None
            items.append(f"* {subject_of(r.kind, r.title, engagement)}\n  {r.message}")
            if r.link:
                items.append(f"  Open it in Baton: {base_url}{r.link}")
        count = f"{len(notes)} notification{'s' if len(notes) != 1 else ''}"
        letter = Letter(
            to_address=first.email,
            to_name=first.display_name,
            subject=f"Your Baton digest: {count}",
            body="\n".join([f"Your daily digest: {count}.", "", *items]),
            link=None,
            at=now,
        )
    attempts = max(r.email_attempts for r in notes)
    return _Claimed(tuple(r.id for r in notes), attempts, letter)


_RECORD = (
    update(Notification)
    .where(Notification.id == bindparam("b_id"))
    .values(
        email_state=bindparam("b_state"),
        email_attempts=bindparam("b_attempts"),
        email_next_at=bindparam("b_next"),
        email_sent_at=bindparam("b_sent"),
        email_error=bindparam("b_error"),
    )
)


def _record(services: Services, results: list[tuple[_Claimed, Outcome | None]]) -> None:
    if not results:
        return
    now = services.runtime.clock()
    changes = []
    for claimed, outcome in results:
        attempts = claimed.attempts + (outcome is not None)
        change: dict[str, Any] = {"b_attempts": attempts, "b_next": None, "b_sent": None, "b_error": None}
        if outcome is None:
            change["b_state"] = "none"  # the address was removed meanwhile: in-app only
        elif outcome.sent:
            change.update(b_state="sent", b_sent=now)
        elif outcome.permanent or attempts >= MAX_ATTEMPTS:
            change.update(b_state="failed", b_error=outcome.error)
        else:
            change.update(b_state="pending", b_next=now + retry_delay(attempts), b_error=outcome.error)
        changes += [{**change, "b_id": one} for one in claimed.ids]  # a digest's, all alike
    with services.db.unit_of_work() as session:
        session.connection().execute(_RECORD, changes)


def _lease(session: Session, services: Services, stmt: Any, now: datetime) -> list[Any]:
    """Read the notifications `stmt` selects and mark them ``sending`` for one lease, so no
    other sender takes them meanwhile (rows another sender holds are skipped on PostgreSQL)."""
    if not services.db.is_sqlite:  # SQLite writers queue anyway
        stmt = stmt.with_for_update(skip_locked=True, of=Notification)
    rows = list(session.execute(stmt).all())
    if rows:
        session.execute(
            update(Notification)
            .where(Notification.id.in_([r.id for r in rows]))
            .values(email_state="sending", email_next_at=now + LEASE)
            .execution_options(synchronize_session=False)
        )
    return rows
