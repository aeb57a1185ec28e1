"""cases, events and their change history

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from notifier.store.models import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("court", sa.String(), nullable=True),
        sa.Column("judge", sa.String(), nullable=True),
        sa.Column("url", sa.String(), nullable=True),
        sa.Column("timezone", sa.String(), nullable=False),
        sa.Column("tags", sa.String(), nullable=False),
        sa.Column("reminders", sa.String(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_case_source", "case", ["source"])
    op.create_table(
        "event",
        sa.Column("uid", sa.String(500), primary_key=True),
        sa.Column("case_id", sa.String(200), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("event_id", sa.String(500), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("start_utc", UTCDateTime(), nullable=True),
        sa.Column("end_utc", UTCDateTime(), nullable=True),
        sa.Column("sort_utc", UTCDateTime(), nullable=True),
        sa.Column("location", sa.String(), nullable=True),
        sa.Column("notes", sa.String(), nullable=True),
        sa.Column("url", sa.String(), nullable=True),
        sa.Column("judge", sa.String(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_event_case_id", "event", ["case_id"])
    op.create_index("ix_event_source", "event", ["source"])
    op.create_index("ix_event_sort_utc", "event", ["sort_utc"])
    op.create_table(
        "change",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_uid", sa.String(500), sa.ForeignKey("event.uid"), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("before", sa.String(), nullable=True),
        sa.Column("after", sa.String(), nullable=True),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_change_event_uid", "change", ["event_uid"])
    op.create_index("ix_change_case_id", "change", ["case_id"])
    op.create_index("ix_change_at", "change", ["at"])


def downgrade() -> None:
    op.drop_table("change")
    op.drop_table("event")
    op.drop_table("case")
