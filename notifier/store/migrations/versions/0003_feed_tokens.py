"""feed tokens for private feeds

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from notifier.store.models import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedtoken",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=True),
        sa.Column("label", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_feedtoken_token_hash", "feedtoken", ["token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_feedtoken_token_hash", table_name="feedtoken")
    op.drop_table("feedtoken")
