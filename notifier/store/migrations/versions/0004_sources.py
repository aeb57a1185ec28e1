"""remote sources: polling state per source

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from notifier.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("url_digest", sa.String(), nullable=True),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("body_sha", sa.String(), nullable=True),
        sa.Column("last_status", sa.String(), nullable=False),
        sa.Column("last_fetch_at", UTCDateTime(), nullable=True),
        sa.Column("last_success_at", UTCDateTime(), nullable=True),
        sa.Column("last_error_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("last_change_at", UTCDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_fetch_at", UTCDateTime(), nullable=True),
        sa.Column("missing", sa.String(), nullable=False),
        sa.Column("held_at", UTCDateTime(), nullable=True),
        sa.Column("held_digest", sa.String(), nullable=True),
        sa.Column("held_summary", sa.String(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("source_state")
