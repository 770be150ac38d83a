"""Instance facts: the current values of the workflow variables a definition names (budget...).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # instances started before keep NULL until a step changes one of their facts
    with op.batch_alter_table("workflow_instance") as batch:
        batch.add_column(
            sa.Column("facts", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("workflow_instance") as batch:
        batch.drop_column("facts")
