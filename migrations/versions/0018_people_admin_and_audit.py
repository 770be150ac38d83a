"""What admins set per person (weekly capacity, rate role, notification preferences) and the audit
log of permission-relevant actions (logins, role changes, tokens, deploys, acting on behalf...).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("weekly_capacity_hours", sa.Float(), nullable=True))
        batch.add_column(sa.Column("rate_role", sa.String(40), nullable=True))
        batch.add_column(sa.Column("notify_in_app", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("notify_email", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("notify_digest", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "audit_entry",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(100), nullable=True),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_entry_at", "audit_entry", ["at"])
    op.create_index("ix_audit_entry_action", "audit_entry", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_entry_action", table_name="audit_entry")
    op.drop_index("ix_audit_entry_at", table_name="audit_entry")
    op.drop_table("audit_entry")
    with op.batch_alter_table("user_account") as batch:
        for column in (
            "notify_digest",
            "notify_email",
            "notify_in_app",
            "rate_role",
            "weekly_capacity_hours",
        ):
            batch.drop_column(column)
