"""Every table, in one SQLAlchemy Core ``MetaData``: the schema the migrations build.

Times are UNIX seconds (floats), so SQLite and PostgreSQL store and compare them alike.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

jobs = Table(
    "jobs", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner_key_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("takes", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("chars", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("loudness_lufs", Float),
    Column("loudness_peak_db", Float),
    Index("ix_jobs_owner", "owner_key_id"),
    Index("ix_jobs_status", "status"),
)

job_lines = Table(
    "job_lines", metadata,
    Column("job_id", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Column("line_id", String(64), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("text", Text, nullable=False),
    Column("voice_group_id", String(64), nullable=False),
    Column("emotion", String(64)),
    Column("speed", Float, nullable=False),
    Column("language", String(16)),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("takes_wanted", Integer, nullable=False),
    Column("chosen_take", Integer),
    Column("lease_owner", String(64)),
    Column("lease_until", Float),
    Column("fence", Integer, nullable=False, default=0),
    Column("chosen_by", String(8)),
    Column("rerolls", Integer),
    PrimaryKeyConstraint("job_id", "position"),
    UniqueConstraint("job_id", "line_id", name="uq_job_lines_line_id"),
    ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
    Index("ix_job_lines_status", "status", "lease_until"),
)

takes = Table(
    "takes", metadata,
    Column("job_id", String(32), nullable=False),
    Column("position", Integer, nullable=False),
    Column("take", Integer, nullable=False),
    Column("path", String(600), nullable=False),
    Column("emotion", String(64), nullable=False),
    Column("reference_audio", String(255), nullable=False),
    Column("duration", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("verdict", String(8)),
    Column("error_rate", Float),
    Column("qa", Text),
    PrimaryKeyConstraint("job_id", "position", "take"),
    ForeignKeyConstraint(["job_id", "position"], ["job_lines.job_id", "job_lines.position"],
                         ondelete="CASCADE"),
)
