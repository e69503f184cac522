"""Script jobs: jobs, their lines and the takes rendered for them.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner_key_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("takes", sa.Integer, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("chars", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("finished_at", sa.Float),
    )
    op.create_index("ix_jobs_owner", "jobs", ["owner_key_id"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_table(
        "job_lines",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("voice_group_id", sa.String(64), nullable=False),
        sa.Column("emotion", sa.String(64)),
        sa.Column("speed", sa.Float, nullable=False),
        sa.Column("language", sa.String(16)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("takes_wanted", sa.Integer, nullable=False),
        sa.Column("chosen_take", sa.Integer),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", sa.Float),
        sa.Column("fence", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "position"),
        sa.UniqueConstraint("job_id", "line_id", name="uq_job_lines_line_id"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_job_lines_status", "job_lines", ["status", "lease_until"])
    op.create_table(
        "takes",
        sa.Column("job_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("take", sa.Integer, nullable=False),
        sa.Column("path", sa.String(600), nullable=False),
        sa.Column("emotion", sa.String(64), nullable=False),
        sa.Column("reference_audio", sa.String(255), nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("job_id", "position", "take"),
        sa.ForeignKeyConstraint(["job_id", "position"],
                                ["job_lines.job_id", "job_lines.position"],
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("takes")
    op.drop_index("ix_job_lines_status", "job_lines")
    op.drop_table("job_lines")
    op.drop_index("ix_jobs_status", "jobs")
    op.drop_index("ix_jobs_owner", "jobs")
    op.drop_table("jobs")
