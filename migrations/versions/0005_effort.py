"""Effort logged by people against tasks (hours, note, day).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "effort",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("engagement_id", BigIntPK, nullable=False),
        sa.Column("instance_id", BigIntPK, nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("bpmn_id", sa.String(length=200), nullable=False),
        sa.Column("lane", sa.String(length=200), nullable=True),
        sa.Column("stage", sa.String(length=100), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("worked_on", sa.Date(), nullable=False),
        sa.Column("logged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_effort_engagement", "effort", ["engagement_id", "lane"], unique=False)
    op.create_index("ix_effort_person_day", "effort", ["username", "worked_on"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_effort_person_day", table_name="effort")
    op.drop_index("ix_effort_engagement", table_name="effort")
    op.drop_table("effort")
