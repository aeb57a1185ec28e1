"""Tables of people who follow cases by email (``[subscriptions]``).

An address is stored once, in :class:`Subscriber`; each followed case is a
:class:`Subscription`. Outbox rows for a subscriber carry only its id (in the
dedupe key ``sub:<id>:...`` and the payload), never the address, so forgetting a
subscriber deletes these rows and its outbox rows and nothing personal is left.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..timeutil import utcnow
from .models import UTCDateTime


class Subscriber(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Normalised by email-validator, ASCII only (the domain as IDNA "xn--" labels).
    address: str = Field(max_length=320, unique=True)
    # A random value inside every manage/unsubscribe link: "forget" deletes the row,
    # so links issued before no longer open anything.
    key: str = Field(max_length=64)
    paused: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    bounced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Subscription(SQLModel, table=True):
    __table_args__ = (
        sa.Index("ux_subscription_subscriber_case", "subscriber_id", "case_id", unique=True),
        sa.Index("ix_subscription_case_state", "case_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id")
    case_id: str = Field(max_length=200)
    lead_s: int = 0  # reminder lead time in seconds; 0 = changes only
    state: str = Field(default="pending", max_length=20)  # pending, active, unsubscribed
    # The one confirmation link that may be used (single use: cleared when used).
    confirm_nonce: str | None = Field(default=None, max_length=64)
    confirm_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # With ``[feed] private``: the feed token whose page the sign-up came from. Once
    # it is revoked the subscription sends nothing and leaves the personal calendar.
    feed_token_id: int | None = None
