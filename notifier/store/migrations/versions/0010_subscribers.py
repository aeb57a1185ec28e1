"""subscribers and subscriptions: people who follow a case by email

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from notifier.store.models import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("address", sa.String(320), nullable=False, unique=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("bounced_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "subscription",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscriber.id"),
                  nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("lead_s", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("confirm_nonce", sa.String(64), nullable=True),
        sa.Column("confirm_sent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ux_subscription_subscriber_case", "subscription",
                    ["subscriber_id", "case_id"], unique=True)
    op.create_index("ix_subscription_case_state", "subscription", ["case_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_subscription_case_state", table_name="subscription")
    op.drop_index("ux_subscription_subscriber_case", table_name="subscription")
    op.drop_table("subscription")
    op.drop_table("subscriber")
