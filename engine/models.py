"""Tables of the generic BPMN runtime.

Specs (immutable, one row per deployed version) are kept apart from runs: an instance
row, one row per task of its tree, and content-addressed task data. Projections
(`human_task`, `event`) answer queries without deserializing any workflow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from .db import Base


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database.

    SQLite has no time zone type: values are stored as naive UTC and given back their
    zone on the way out, so comparisons never mix naive and aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BigInteger primary keys do not autoincrement on SQLite; this variant does on both.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class DefinitionVersion(Base):
    """One deployed, immutable version of a process definition."""

    __tablename__ = "definition_version"
    __table_args__ = (
        UniqueConstraint("process_id", "version"),
        UniqueConstraint("process_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int]
    name: Mapped[str] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    bpmn_xml: Mapped[str] = mapped_column(Text)
    # file name -> JSON Schema of every form the definition references
    forms: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the rest of the bundle: BPMN of the processes it calls, DMN tables (file name -> UTF-8 text)
    files: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default="{}")
    # serialized spec and subprocess specs: stored once here, never inside instances
    spec_json: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    deployed_by: Mapped[str | None] = mapped_column(String(200))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WorkflowInstance(Base):
    """A run of one definition version; `revision` guards concurrent updates."""

    __tablename__ = "workflow_instance"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definition_version.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # running | completed | cancelled
    active_stages: Mapped[list[str]] = mapped_column(JSON, default=list)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    serializer_version: Mapped[str] = mapped_column(String(20))
    # workflow-level attributes (data, last_task, subprocess headers...), small and bounded
    meta_json: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_event: Mapped[str | None] = mapped_column(String(200))
    # current values of the workflow variables the definition names as facts (engine.facts);
    # JSONB on PostgreSQL: reports read keys of every row, and json would re-parse the text each time
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSON().with_variant(JSONB(), "postgresql"))

    # SQLAlchemy adds "AND revision = :loaded" to every UPDATE and bumps it: optimistic locking.
    __mapper_args__ = {"version_id_col": revision}


class TaskRow(Base):
    """One task of an instance's tree, as SpiffWorkflow serializes it minus its data."""

    __tablename__ = "task_row"
    # which rows reference a payload: unreferenced task data is deleted (compaction, ended instances)
    __table_args__ = (Index("ix_task_row_data_hash", "data_hash"),)

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("workflow_instance.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # "" for the top-level workflow, else the id of the task owning the subprocess
    workflow_key: Mapped[str] = mapped_column(String(36), default="")
    body: Mapped[str] = mapped_column(Text)
    data_hash: Mapped[str] = mapped_column(ForeignKey("task_data.hash"))


class TaskData(Base):
    """Content-addressed task data: identical payloads are stored once."""

    __tablename__ = "task_data"

    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class HumanTask(Base):
    """Projection: one row per user/manual task that became ready.

    Besides who holds it, a row carries the task's deadline (`due_at`, `warn_at` and the
    deadline columns, named `sla_*` in the store) as the task policy computed it.
    """

    __tablename__ = "human_task"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id"),
        Index("ix_human_task_open_lane", "state", "lane", "due_at"),
        Index("ix_human_task_open_assignee", "state", "assignee", "due_at"),
        # "claimed by me" in an inbox: without it the claim half of the query scans every task
        Index("ix_human_task_open_claimer", "state", "claimed_by", "due_at"),
        Index("ix_human_task_sla_next", "state", "sla_next_at"),
        Index("ix_human_task_open_group", "state", "candidate_group", "due_at"),
        # a task readied by a step, to the task that step closed (the hand-off report's join)
        # a hand-off joins the task a step closed to the task it opened: both sides read in order
        Index("ix_human_task_closed", "instance_id", "completed_at", "lane"),
        Index("ix_human_task_opened", "instance_id", "created_at", "lane", "pickup_hours"),
        # what the time reports read of every completed task, so they scan the index alone
        Index(
            "ix_human_task_durations",
            "state",
            "business_hours",
            "sla_clock",
            "stage",
            "lane",
            "bpmn_id",
            "definition_id",
        ),
        # the few rows that are a step run again (rework), for reports that count or price them
        Index(
            "ix_human_task_reruns",
            "instance_id",
            "bpmn_id",
            "state",
            "task_id",
            postgresql_where=text("run > 1"),
            sqlite_where=text("run > 1"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # indexed by the (instance_id, task_id) unique constraint
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[str | None] = mapped_column(String(100))
    form: Mapped[str | None] = mapped_column(String(300))
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20))  # ready | completed | cancelled
    assignee: Mapped[str | None] = mapped_column(String(200))
    # who besides the assignee may work it (a role, a team): set by the task policy
    candidate_group: Mapped[str | None] = mapped_column(String(100))
    # for an instance of a multi-instance activity: the activity's task id (its siblings share it)
    multi_instance_of: Mapped[str | None] = mapped_column(String(36))
    # the how-manieth time its element became ready in the instance (1: the first run), counting
    # the runs completed before it; None for the instances of a multi-instance activity
    run: Mapped[int | None] = mapped_column(Integer)
    # the definition version the task ran on, kept when the instance later moves to another
    # version (running-instance migration), so reports count each step under its own version
    # (None: a row from before this column)
    definition_id: Mapped[int | None] = mapped_column(ForeignKey("definition_version.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # the task's deadline, set by the task policy: a due time, a warning point, a state, the
    # next time to check and the clock it runs on (a generic engine concept, named `sla_*` in
    # the store for history's sake; see engine/README.md)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # deadline states: on_track -> at_risk (from warn_at) -> breached (from due_at)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sla_state: Mapped[str | None] = mapped_column(String(20))
    # when the deadline sweeper must look at the task next (None: nothing left to watch)
    sla_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # which clock the deadline runs on (e.g. the agency's or the client's), and its pauses:
    # while paused the sweeper leaves the task alone; resuming moves due_at/warn_at on
    sla_clock: Mapped[str | None] = mapped_column(String(20))
    sla_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sla_paused_hours: Mapped[float | None] = mapped_column(Float)  # hours paused so far, on that clock
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(200))
    # durations on a working-time calendar, so reports aggregate them in SQL: from ready to
    # completed, and from ready to picked up (claimed, else completed). The engine only stores
    # them: an event listener that knows the calendar works them out (None: not worked out).
    business_hours: Mapped[float | None] = mapped_column(Float)
    pickup_hours: Mapped[float | None] = mapped_column(Float)


class Event(Base):
    """Append-only log of what happened to instances; reports are computed from it."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_instance", "instance_id", "id"),
        Index("ix_event_kind_at", "kind", "at"),
        # the decisions taken, for the reports that count them per step (a few in each instance)
        Index(
            "ix_event_decisions",
            "bpmn_id",
            "decision",
            "kind",
            "at",
            "instance_id",
            postgresql_where=text("decision IS NOT NULL"),
            sqlite_where=text("decision IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[str | None] = mapped_column(String(36))
    bpmn_id: Mapped[str | None] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[str | None] = mapped_column(String(100))
    actor: Mapped[str | None] = mapped_column(String(200))
    decision: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TimerDue(Base):
    """Projection: one row per BPMN timer an instance is waiting on, with its due time.

    The timer worker picks due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL); the step that
    fires a timer deletes or moves its row in the same transaction, so no timer fires twice
    and a worker that dies leaves its rows to the next one.
    """

    __tablename__ = "timer_due"
    __table_args__ = (UniqueConstraint("instance_id", "task_id"), Index("ix_timer_due_at", "due_at"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("workflow_instance.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))
    bpmn_id: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
