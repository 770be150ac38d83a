"""Server-side browser sessions (logout ends them); login failures counted per username and per
address apart.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_session",
        sa.Column("id", BigIntPK, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_index("ix_login_session_user", "login_session", ["user_id"], unique=False)
    op.create_index("ix_login_session_expires", "login_session", ["expires_at"], unique=False)
    op.drop_index("ix_login_failure_key", table_name="login_failure")
    op.create_index("ix_login_failure_user", "login_failure", ["username", "at"], unique=False)
    op.create_index("ix_login_failure_addr", "login_failure", ["remote_addr", "at"], unique=False)
    op.create_index("ix_login_failure_at", "login_failure", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_failure_at", table_name="login_failure")
    op.drop_index("ix_login_failure_addr", table_name="login_failure")
    op.drop_index("ix_login_failure_user", table_name="login_failure")
    op.create_index("ix_login_failure_key", "login_failure", ["username", "remote_addr", "at"], unique=False)
    op.drop_index("ix_login_session_expires", table_name="login_session")
    op.drop_index("ix_login_session_user", table_name="login_session")
    op.drop_table("login_session")
