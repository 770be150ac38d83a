"""Business-hour durations on human tasks (ready to completed, ready to picked up), and two
indexes for the hand-off report's join: a task by when it was closed, and by when it was opened.

Existing rows keep NULL here: the calendar lives with the application, not the schema.
``baton init-db`` (which applies this revision) and ``baton durations`` work them out.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("business_hours", sa.Float(), nullable=True))
        batch.add_column(sa.Column("pickup_hours", sa.Float(), nullable=True))
        batch.create_index("ix_human_task_closed", ["instance_id", "completed_at", "lane"], unique=False)
        batch.create_index(
            "ix_human_task_opened", ["instance_id", "created_at", "lane", "pickup_hours"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.drop_index("ix_human_task_opened")
        batch.drop_index("ix_human_task_closed")
        batch.drop_column("pickup_hours")
        batch.drop_column("business_hours")
