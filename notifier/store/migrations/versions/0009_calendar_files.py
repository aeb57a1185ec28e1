"""calendar_file: what sync last read of each calendar file (unchanged files are skipped)

Existing calendar files' events get a stamp that matches nothing (read again once).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_file",
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("checked_ns", sa.BigInteger(), nullable=False),
        sa.Column("parser", sa.String(length=50), nullable=False),
        sa.Column("problems", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )
    # Every calendar file with events gets a stamp that matches no content: each is
    # read once more, and sync finds deleted files by their stamps.
    op.execute("INSERT INTO calendar_file (source, size, mtime_ns, sha256, checked_ns, parser) "
               "SELECT DISTINCT source, -1, -1, '', 0, '' FROM event "
               "WHERE source NOT LIKE 'source:%'")


def downgrade() -> None:
    op.drop_table("calendar_file")
