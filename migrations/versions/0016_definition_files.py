"""A definition version is a bundle: the other files it was deployed with (the BPMN of the
processes it calls, DMN decision tables), file name -> UTF-8 text; {} for single-file versions.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("definition_version") as batch:
        batch.add_column(sa.Column("files", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("definition_version") as batch:
        batch.drop_column("files")
