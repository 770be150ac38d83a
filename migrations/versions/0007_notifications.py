"""Notifications (in-app, and the e-mail outbox) and lane leads (a lead flag per user role).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("user_role") as batch:
        batch.add_column(sa.Column("lead", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "notification",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("engagement_id", BigIntPK, nullable=True),
        sa.Column("instance_id", BigIntPK, nullable=True),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_state", sa.String(length=20), nullable=False),
        sa.Column("email_attempts", sa.Integer(), nullable=False),
        sa.Column("email_next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["engagement_id"], ["engagement.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["instance_id"], ["workflow_instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notification_user", "notification", ["user_id", "read_at", "id"], unique=False)
    op.create_index("ix_notification_outbox", "notification", ["email_state", "email_next_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notification_outbox", table_name="notification")
    op.drop_index("ix_notification_user", table_name="notification")
    op.drop_table("notification")
    with op.batch_alter_table("user_role") as batch:
        batch.drop_column("lead")
