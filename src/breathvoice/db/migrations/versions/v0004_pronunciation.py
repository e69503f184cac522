"""Pronunciation dictionaries and their versions.

Revision ID: v0004_pronunciation
Revises: v0003_keys
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0004_pronunciation"
down_revision: str | None = "v0003_keys"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "pronunciation_dictionaries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("latest_version_id", sa.String(32), nullable=False),
        sa.Column("latest_rules", sa.Integer, nullable=False),
    )
    op.create_index("ix_pronunciation_dictionaries_created", "pronunciation_dictionaries",
                    ["created_at"])
    op.create_table(
        "pronunciation_versions",
        sa.Column("dictionary_id", sa.String(32), nullable=False),
        sa.Column("version_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("dictionary_id", "version_id"),
        sa.ForeignKeyConstraint(["dictionary_id"], ["pronunciation_dictionaries.id"],
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    op.drop_table("pronunciation_versions")
    op.drop_index("ix_pronunciation_dictionaries_created", "pronunciation_dictionaries")
    op.drop_table("pronunciation_dictionaries")
