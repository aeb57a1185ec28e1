"""docket sources: entries read, facts waiting for review, reading state, provenance

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from notifier.store.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "docket_entry",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("entry_key", sa.String(500), nullable=False),
        sa.Column("number", sa.String(50), nullable=True),
        sa.Column("date_filed", sa.Date(), nullable=True),
        sa.Column("text", sa.String(), nullable=False),
        sa.Column("link", sa.String(), nullable=True),
        sa.Column("upstream_modified", sa.String(), nullable=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ux_docket_entry_source_key", "docket_entry", ["source", "entry_key"],
                    unique=True)
    op.create_table(
        "docket_review",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("entry_key", sa.String(500), nullable=False),
        sa.Column("fact_key", sa.String(64), nullable=False),
        sa.Column("fact", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ux_docket_review_fact", "docket_review",
                    ["source", "entry_key", "fact_key"], unique=True)
    op.create_table(
        "docket_state",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("cursor", sa.String(), nullable=True),
        sa.Column("hour_start", UTCDateTime(), nullable=True),
        sa.Column("hour_requests", sa.Integer(), nullable=False),
        sa.Column("docket", sa.String(), nullable=True),
        sa.Column("webhook_keys", sa.String(), nullable=True),
    )
    op.create_table(
        "docket_provenance",
        sa.Column("change_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("entry_key", sa.String(500), nullable=False),
        sa.Column("number", sa.String(50), nullable=True),
        sa.Column("link", sa.String(), nullable=True),
        sa.Column("date_filed", sa.Date(), nullable=True),
        sa.Column("quote", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("docket_provenance")
    op.drop_table("docket_state")
    op.drop_index("ux_docket_review_fact", table_name="docket_review")
    op.drop_table("docket_review")
    op.drop_index("ux_docket_entry_source_key", table_name="docket_entry")
    op.drop_table("docket_entry")
