"""cluster: the live daemons table, and possible repeats in the delivery history

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from notifier.store.models import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_daemon",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("may_lead", sa.Boolean(), nullable=False),
        sa.Column("leader", sa.Boolean(), nullable=False),
        sa.Column("version", sa.String(50), nullable=False),
        sa.Column("config_fp", sa.String(64), nullable=False),
        sa.Column("channels", sa.String(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_cluster_daemon_heartbeat_at", "cluster_daemon", ["heartbeat_at"])
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("repeat", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("repeat")
    op.drop_index("ix_cluster_daemon_heartbeat_at", table_name="cluster_daemon")
    op.drop_table("cluster_daemon")
