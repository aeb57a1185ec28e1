"""feed_snapshot.layout: where each event's VEVENT lies in the stored all.ics

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: a snapshot stored before this column is served as before and given a
    # layout the next time the daemon stores one.
    with op.batch_alter_table("feed_snapshot") as batch:
        batch.add_column(sa.Column("layout", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feed_snapshot") as batch:
        batch.drop_column("layout")
