"""A job's own pronunciation dictionaries.

Revision ID: v0005_job_dictionaries
Revises: v0004_pronunciation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0005_job_dictionaries"
down_revision: str | None = "v0004_pronunciation"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("dictionaries", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("dictionaries")
