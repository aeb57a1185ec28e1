"""events: index (case_id, sort_utc) for a case's events in time order

It replaces the index on case_id alone, which it covers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_event_case_sort", "event", ["case_id", "sort_utc"])
    op.drop_index("ix_event_case_id", table_name="event")


def downgrade() -> None:
    op.create_index("ix_event_case_id", "event", ["case_id"])
    op.drop_index("ix_event_case_sort", table_name="event")
