"""Every table, in one SQLAlchemy Core ``MetaData``: the schema the migrations build.

Times are UNIX seconds (floats), so SQLite and PostgreSQL store and compare them alike.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
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
    Column("dictionaries", Text),
    # the job's own pronunciation dictionaries: JSON [[dictionary_id, version_id], ...]
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

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("key_hash", LargeBinary(32), nullable=False),
    Column("shown_prefix", String(16), nullable=False),
    Column("scope", String(16), nullable=False),
    Column("char_quota", BigInteger),
    Column("chars_used", BigInteger, nullable=False, default=0),
    Column("max_concurrent", Integer),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    CheckConstraint("scope IN ('admin', 'synthesize')", name="ck_api_keys_scope"),
    CheckConstraint("char_quota IS NULL OR char_quota >= 0", name="ck_api_keys_quota"),
    CheckConstraint("max_concurrent IS NULL OR max_concurrent >= 1",
                    name="ck_api_keys_concurrent"),
    UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    Index("ix_api_keys_active", "revoked_at"),
)

key_slots = Table(
    "key_slots", metadata,
    Column("id", String(32), primary_key=True),
    Column("key_id", String(32), nullable=False),
    Column("holder", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    ForeignKeyConstraint(["key_id"], ["api_keys.id"], ondelete="CASCADE"),
    Index("ix_key_slots_key", "key_id", "expires_at"),
    Index("ix_key_slots_holder", "holder"),
)
"""One row per running request or generation of a key with a concurrency limit; the
process holding it renews ``expires_at``, so a dead process's slots lapse by themselves."""

key_tokens = Table(
    "key_tokens", metadata,
    Column("digest", LargeBinary(32), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_key_tokens_expires", "expires_at"),
)
"""Single-use browser tokens (a digest only), redeemable on any node."""

pronunciation_dictionaries = Table(
    "pronunciation_dictionaries", metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text),
    Column("created_by", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("latest_version_id", String(32), nullable=False),
    Column("latest_rules", Integer, nullable=False),
    Index("ix_pronunciation_dictionaries_created", "created_at"),
)

pronunciation_versions = Table(
    "pronunciation_versions", metadata,
    Column("dictionary_id", String(32), nullable=False),
    Column("version_id", String(32), nullable=False),
    Column("number", Integer, nullable=False),
    Column("rules", Text, nullable=False),  # a JSON list of ElevenLabs rule objects
    Column("created_at", Float, nullable=False),
    PrimaryKeyConstraint("dictionary_id", "version_id"),
    ForeignKeyConstraint(["dictionary_id"], ["pronunciation_dictionaries.id"],
                         ondelete="CASCADE"),
)
