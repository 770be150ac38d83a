"""Deadline states of open tasks: warning point, state, next check (the SLA sweeper's queue).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sla_state", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("sla_next_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_human_task_sla_next", "human_task", ["state", "sla_next_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_human_task_sla_next", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("sla_next_at")
        batch.drop_column("sla_state")
        batch.drop_column("warn_at")
