"""Tables of the agency domain, on top of the engine's instances: engagements, people, notifications."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.db import Base
from engine.models import BigIntPK, UTCDateTime


class Engagement(Base):
    """A client engagement: one workflow instance with its client and options."""

    __tablename__ = "engagement"
    __table_args__ = (Index("ix_engagement_client", "client"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_instance.id", ondelete="CASCADE"), unique=True
    )
    client: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    process_id: Mapped[str] = mapped_column(String(200))
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    """A person who works engagements; what they may do comes from their roles."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # argon2id hash (workflows.people.auth); None: the user cannot log in with a password
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # IANA zone the person reads times in; None: the agency calendar's zone
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # hours a week for engagement work (None: the rate card's capacity of their role)
    weekly_capacity_hours: Mapped[float | None] = mapped_column(Float)
    # the rate-card role their effort is priced at (None: the lane's role)
    rate_role: Mapped[str | None] = mapped_column(String(40))
    # how they hear of their tasks: in the app, by e-mail, in a daily digest instead of one by one
    notify_in_app: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    notify_email: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    notify_digest: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )

    @property
    def role_names(self) -> set[str]:
        """The names of the user's roles."""
        return {r.role for r in self.roles}

    def has_role(self, *roles: str) -> bool:
        """True when the user holds any of `roles`."""
        return not self.role_names.isdisjoint(roles)

    @property
    def lead_of(self) -> set[str]:
        """The roles the user leads (their lane's breaches escalate to them)."""
        return {r.role for r in self.roles if r.lead}


class UserRole(Base):
    """One role a user holds (a user may hold several), maybe as a lead of that role."""

    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    # a lead of the role: overdue tasks of the role's lanes escalate to them
    lead: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    user: Mapped[User] = relationship(back_populates="roles")


class TeamMember(Base):
    """Who fills a role (AM, PM, resource manager) on an engagement's team."""

    __tablename__ = "engagement_team"
    __table_args__ = (Index("ix_engagement_team_user", "user_id"),)

    engagement_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("engagement.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    user: Mapped[User] = relationship(lazy="joined")


class Cover(Base):
    """While `user` is away (both dates included), `cover` may act on their tasks."""

    __tablename__ = "cover"
    __table_args__ = (
        Index("ix_cover_by_dates", "cover_id", "starts_on", "ends_on"),
        Index("ix_cover_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    cover_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    cover: Mapped[User] = relationship(foreign_keys=[cover_id], lazy="joined")


class Effort(Base):
    """Hours a person logged against a task: the raw material of servicing-cost reports."""

    __tablename__ = "effort"
    __table_args__ = (
        Index("ix_effort_engagement", "engagement_id", "lane"),
        Index("ix_effort_person_day", "username", "worked_on"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    engagement_id: Mapped[int] = mapped_column(ForeignKey("engagement.id", ondelete="CASCADE"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[str | None] = mapped_column(String(100))
    username: Mapped[str] = mapped_column(String(100))
    hours: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    worked_on: Mapped[date] = mapped_column(Date)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """A message for one user about a task: shown in the app, and e-mailed when possible.

    The row is also the e-mail outbox: `email_state` is ``none`` (in-app only: no address,
    or no SMTP server configured), ``pending`` (to send from `email_next_at` on), ``sending``
    (taken by a sender until `email_next_at`), ``sent`` or ``failed`` (gave up; see `email_error`).
    """

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_user", "user_id", "read_at", "id"),
        Index("ix_notification_outbox", "email_state", "email_next_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # assigned | due_soon | breached | sent_back
    engagement_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("engagement.id", ondelete="CASCADE"), nullable=True
    )
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(36))
    title: Mapped[str] = mapped_column(String(300))  # the task's title
    message: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))  # path in the app, e.g. /engagements/7
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_state: Mapped[str] = mapped_column(String(20))
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_error: Mapped[str | None] = mapped_column(Text)
    engagement: Mapped[Engagement | None] = relationship(lazy="joined")


class ApiToken(Base):
    """A personal API token: only its SHA-256 is kept; the secret is shown once, when issued."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_user", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))  # the secret's first characters, to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """A failed login, kept for a while to slow down password guessing (per username and address)."""

    __tablename__ = "login_failure"
    # counted per username and per address apart; `at` alone for the worker's purge
    __table_args__ = (
        Index("ix_login_failure_user", "username", "at"),
        Index("ix_login_failure_addr", "remote_addr", "at"),
        Index("ix_login_failure_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    remote_addr: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginSession(Base):
    """A browser session, kept server-side: logging out, a new password or deactivation ends it.

    The cookie carries a random secret; only its SHA-256 is stored.
    """

    __tablename__ = "login_session"
    __table_args__ = (
        Index("ix_login_session_user", "user_id"),
        Index("ix_login_session_expires", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
class AuditEntry(Base):
    """One permission-relevant action: a login or its failure, a role change, a token issued or
    revoked, a deploy, acting on someone's behalf, a cancellation... (`workflows.people.audit`)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_at", "at"), Index("ix_audit_entry_action", "action", "at"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(100))  # None: an operator at the command line
    subject: Mapped[str | None] = mapped_column(String(200))  # whom or what it was done to
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
