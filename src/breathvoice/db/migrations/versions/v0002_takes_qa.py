"""Checked takes: each take's QA report, best-of-N choices and delivery loudness.

- ``takes``: ``verdict`` (ok, warn, fail; NULL while the check is pending),
  ``error_rate`` and ``qa`` (the report as JSON);
- ``job_lines``: ``chosen_by`` ('user' or 'auto') and ``rerolls`` (automatic re-rolls
  queued for takes that failed their check);
- ``jobs``: ``loudness_lufs`` and ``loudness_peak_db`` (delivery loudness; NULL = as made).

Revision ID: v0002_takes_qa
Revises: 0001 (file v0001_jobs)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0002_takes_qa"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("takes") as table:
        table.add_column(sa.Column("verdict", sa.String(8)))
        table.add_column(sa.Column("error_rate", sa.Float))
        table.add_column(sa.Column("qa", sa.Text))
    with op.batch_alter_table("job_lines") as table:
        table.add_column(sa.Column("chosen_by", sa.String(8)))
        table.add_column(sa.Column("rerolls", sa.Integer))
    with op.batch_alter_table("jobs") as table:
        table.add_column(sa.Column("loudness_lufs", sa.Float))
        table.add_column(sa.Column("loudness_peak_db", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as table:
        table.drop_column("loudness_peak_db")
        table.drop_column("loudness_lufs")
    with op.batch_alter_table("job_lines") as table:
        table.drop_column("rerolls")
        table.drop_column("chosen_by")
    with op.batch_alter_table("takes") as table:
        table.drop_column("qa")
        table.drop_column("error_rate")
        table.drop_column("verdict")
