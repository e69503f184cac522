"""API keys, their running slots and single-use tokens (before: a separate SQLite file).

Revision ID: v0003_keys
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0003_keys"
down_revision: str | None = "v0002_takes_qa"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("shown_prefix", sa.String(16), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("char_quota", sa.BigInteger),
        sa.Column("chars_used", sa.BigInteger, nullable=False),
        sa.Column("max_concurrent", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
        sa.CheckConstraint("scope IN ('admin', 'synthesize')", name="ck_api_keys_scope"),
        sa.CheckConstraint("char_quota IS NULL OR char_quota >= 0", name="ck_api_keys_quota"),
        sa.CheckConstraint("max_concurrent IS NULL OR max_concurrent >= 1",
                           name="ck_api_keys_concurrent"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_active", "api_keys", ["revoked_at"])
    op.create_table(
        "key_slots",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_key_slots_key", "key_slots", ["key_id", "expires_at"])
    op.create_index("ix_key_slots_holder", "key_slots", ["holder"])
    op.create_table(
        "key_tokens",
        sa.Column("digest", sa.LargeBinary(32), primary_key=True),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_key_tokens_expires", "key_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_key_tokens_expires", "key_tokens")
    op.drop_table("key_tokens")
    op.drop_index("ix_key_slots_holder", "key_slots")
    op.drop_index("ix_key_slots_key", "key_slots")
    op.drop_table("key_slots")
    op.drop_index("ix_api_keys_active", "api_keys")
    op.drop_table("api_keys")
