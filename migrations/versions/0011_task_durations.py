"""Business-hour durations on human tasks (ready to completed, ready to picked up), and an index
from a task to the moment its instance closed it (the hand-off report's join).

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
        batch.create_index("ix_human_task_closed", ["instance_id", "completed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.drop_index("ix_human_task_closed")
        batch.drop_column("pickup_hours")
        batch.drop_column("business_hours")
