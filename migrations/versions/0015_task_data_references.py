"""Task rows indexed by the payload they reference: compaction and the end of an instance delete
the task data no row references any more, and must find the references quickly.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_task_row_data_hash", "task_row", ["data_hash"])


def downgrade() -> None:
    op.drop_index("ix_task_row_data_hash", table_name="task_row")
