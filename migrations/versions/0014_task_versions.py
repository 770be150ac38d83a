"""The definition version each human task ran on (`human_task.definition_id`), so reports count a
step under its own version when its instance later moves to another; and one covering index over
the completed tasks' durations for the time reports.

Existing rows take their instance's version (nothing had moved before this revision).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DURATION_COLUMNS = ["state", "business_hours", "sla_clock", "stage", "lane", "bpmn_id", "definition_id"]


def upgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(
            sa.Column(
                "definition_id",
                sa.Integer(),
                sa.ForeignKey("definition_version.id", name="fk_human_task_definition"),
                nullable=True,
            )
        )
    op.execute(
        """
        UPDATE human_task SET definition_id = (
            SELECT workflow_instance.definition_id FROM workflow_instance
            WHERE workflow_instance.id = human_task.instance_id
        )
        """
    )
    op.create_index("ix_human_task_durations", "human_task", DURATION_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_human_task_durations", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("definition_id")
