"""Which run of its element each human task is (rework: a step run again), a partial index over
the reruns for the reports that count and price them, and one over the decisions in the event log.

Existing rows are numbered from the history: 1 + the completed rows of the same element in the
same instance before them (multi-instance instances stay NULL).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RERUNS = sa.text("run > 1")
DECIDED = sa.text("decision IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("run", sa.Integer(), nullable=True))
    op.execute(
        """
        UPDATE human_task SET run = numbered.run
        FROM (
            SELECT id, 1 + COALESCE(SUM(CASE WHEN state = 'completed' THEN 1 ELSE 0 END) OVER (
                PARTITION BY instance_id, bpmn_id ORDER BY id
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS run
            FROM human_task WHERE multi_instance_of IS NULL
        ) AS numbered
        WHERE human_task.id = numbered.id
        """
    )
    op.create_index(
        "ix_human_task_reruns",
        "human_task",
        ["instance_id", "bpmn_id", "state", "task_id"],
        postgresql_where=RERUNS,
        sqlite_where=RERUNS,
    )
    op.create_index(
        "ix_event_decisions",
        "event",
        ["bpmn_id", "decision", "kind", "at", "instance_id"],
        postgresql_where=DECIDED,
        sqlite_where=DECIDED,
    )


def downgrade() -> None:
    op.drop_index("ix_event_decisions", table_name="event")
    op.drop_index("ix_human_task_reruns", table_name="human_task")
    with op.batch_alter_table("human_task") as batch:
        batch.drop_column("run")
