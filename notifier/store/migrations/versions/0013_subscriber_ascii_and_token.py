"""subscribers: ASCII addresses (IDNA domains); the feed token a private sign-up used

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

``subscription.feed_token_id``: with ``[feed] private``, the token that authorized
the sign-up (a revoked one silences the subscription). Addresses stored before in
their Unicode form are rewritten as they are sent: the domain as IDNA ``xn--``
labels. An address whose part before the ``@`` is not ASCII cannot be sent to
without SMTPUTF8, which the mailer does not use: it is marked bounced (nothing more
is planned or sent; ``notifier subscribers`` shows it, ``subscribers forget`` erases it).
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _ascii(address: str) -> str | None:
    """The address with an IDNA domain, or None when it cannot be made ASCII."""
    try:
        info = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    return str(info.ascii_email).lower() if info.ascii_email else None


def upgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.add_column(sa.Column("feed_token_id", sa.Integer(), nullable=True))
    conn = op.get_bind()
    sub = sa.table("subscriber", sa.column("id", sa.Integer()),
                   sa.column("address", sa.String()),
                   sa.column("bounced_at", sa.DateTime()))
    taken = {a for (a,) in conn.execute(sa.select(sub.c.address))}
    now = datetime.now(UTC).replace(tzinfo=None)  # stored naive UTC (UTCDateTime)
    for sid, address, bounced in conn.execute(
            sa.select(sub.c.id, sub.c.address, sub.c.bounced_at)).all():
        if address.isascii():
            continue
        new = _ascii(address)
        if new is not None and new not in taken:
            conn.execute(sa.update(sub).where(sub.c.id == sid).values(address=new))
            taken.add(new)
        elif bounced is None:
            conn.execute(sa.update(sub).where(sub.c.id == sid).values(bounced_at=now))


def downgrade() -> None:
    with op.batch_alter_table("subscription") as batch:
        batch.drop_column("feed_token_id")
