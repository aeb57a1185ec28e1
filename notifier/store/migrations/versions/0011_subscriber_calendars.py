"""subscriber calendars: personal feed links of subscribers and their recent fetches

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from notifier.store.models import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriber_calendar",
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscriber.id"),
                  primary_key=True),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_fetch_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_subscriber_calendar_token_hash", "subscriber_calendar",
                    ["token_hash"], unique=True)
    op.create_table(
        "calendar_fetch",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscriber.id"),
                  nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(40), nullable=False),
    )
    op.create_index("ix_calendar_fetch_subscriber", "calendar_fetch", ["subscriber_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_calendar_fetch_subscriber", table_name="calendar_fetch")
    op.drop_table("calendar_fetch")
    op.drop_index("ix_subscriber_calendar_token_hash", table_name="subscriber_calendar")
    op.drop_table("subscriber_calendar")
