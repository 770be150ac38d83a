"""Open tasks' candidate group (the role that may work them), multi-instance siblings, paused SLA clocks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("candidate_group", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("multi_instance_of", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("sla_clock", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("sla_paused_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("sla_paused_hours", sa.Float(), nullable=True))
    op.create_index(
        "ix_human_task_open_group", "human_task", ["state", "candidate_group", "due_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_human_task_open_group", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("sla_paused_hours")
        batch.drop_column("sla_paused_at")
        batch.drop_column("sla_clock")
        batch.drop_column("multi_instance_of")
        batch.drop_column("candidate_group")
