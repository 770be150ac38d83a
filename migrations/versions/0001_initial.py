"""Initial schema: the engine's runtime tables and the agency's engagements.

Generated with ``alembic revision --autogenerate`` against an empty SQLite database, then
reviewed: ``UTCDateTime`` is stored as ``DateTime(timezone=True)`` (naive UTC on SQLite,
``timestamptz`` on PostgreSQL), and ``BigIntPK`` as BIGINT (an INTEGER rowid on SQLite, so it
autoincrements there). Integer primary keys get their sequence/identity from SQLAlchemy's
usual rules on PostgreSQL, exactly as ``MetaData.create_all`` would make them.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "definition_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("bpmn_xml", sa.Text(), nullable=False),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("serializer_version", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("deployed_by", sa.String(length=200), nullable=True),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("process_id", "version"),
        sa.UniqueConstraint("process_id", "content_hash"),
    )
    op.create_index(
        op.f("ix_definition_version_process_id"), "definition_version", ["process_id"], unique=False
    )

    op.create_table(
        "task_data",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("hash"),
    )

    op.create_table(
        "workflow_instance",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("active_stages", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("serializer_version", sa.String(length=20), nullable=False),
        sa.Column("meta_json", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_event", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["definition_id"], ["definition_version.id"]),
    )
    op.create_index(
        op.f("ix_workflow_instance_definition_id"), "workflow_instance", ["definition_id"], unique=False
    )
    op.create_index(op.f("ix_workflow_instance_status"), "workflow_instance", ["status"], unique=False)

    op.create_table(
        "engagement",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("instance_id", BigIntPK, nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id"),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_engagement_client", "engagement", ["client"], unique=False)

    op.create_table(
        "event",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("instance_id", BigIntPK, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("bpmn_id", sa.String(length=200), nullable=True),
        sa.Column("lane", sa.String(length=200), nullable=True),
        sa.Column("stage", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("decision", sa.String(length=100), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_event_instance", "event", ["instance_id", "id"], unique=False)
    op.create_index("ix_event_kind_at", "event", ["kind", "at"], unique=False)

    op.create_table(
        "human_task",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("instance_id", BigIntPK, nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("bpmn_id", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("lane", sa.String(length=200), nullable=True),
        sa.Column("stage", sa.String(length=100), nullable=True),
        sa.Column("form", sa.String(length=300), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("instance_id", "task_id"),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], ondelete="CASCADE"),
    )
    op.create_index(
        "ix_human_task_open_assignee", "human_task", ["state", "assignee", "due_at"], unique=False
    )
    op.create_index("ix_human_task_open_lane", "human_task", ["state", "lane", "due_at"], unique=False)

    op.create_table(
        "task_row",
        sa.Column("instance_id", BigIntPK, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("workflow_key", sa.String(length=36), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("instance_id", "id"),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["data_hash"], ["task_data.hash"]),
    )


def downgrade() -> None:
    op.drop_table("task_row")
    op.drop_index("ix_human_task_open_lane", table_name="human_task")
    op.drop_index("ix_human_task_open_assignee", table_name="human_task")
    op.drop_table("human_task")
    op.drop_index("ix_event_kind_at", table_name="event")
    op.drop_index("ix_event_instance", table_name="event")
    op.drop_table("event")
    op.drop_index("ix_engagement_client", table_name="engagement")
    op.drop_table("engagement")
    op.drop_index(op.f("ix_workflow_instance_status"), table_name="workflow_instance")
    op.drop_index(op.f("ix_workflow_instance_definition_id"), table_name="workflow_instance")
    op.drop_table("workflow_instance")
    op.drop_table("task_data")
    op.drop_index(op.f("ix_definition_version_process_id"), table_name="definition_version")
    op.drop_table("definition_version")
