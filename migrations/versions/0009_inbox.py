"""Inbox: index the open tasks by claimer, as they are by assignee.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_human_task_open_claimer", "human_task", ["state", "claimed_by", "due_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_human_task_open_claimer", table_name="human_task")
