"""Tables of subscribers' personal calendar links (``/follow/calendar/<token>.ics``).

:class:`SubscriberCalendar` holds one subscriber's current link: a random nonce
(from which, with the site secret, the token is derived) and the SHA-256 of the
token, looked up on every fetch. :class:`CalendarFetch` records the recent fetches
of it (time, HTTP status, a short client label; never the raw User-Agent or the IP).
Both carry only the subscriber's id, and forgetting the subscriber deletes them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..timeutil import utcnow
from .models import UTCDateTime


class SubscriberCalendar(SQLModel, table=True):
    __tablename__ = "subscriber_calendar"

    subscriber_id: int = Field(foreign_key="subscriber.id", primary_key=True)
    # A new nonce is a new link: the old token's hash no longer matches anything.
    nonce: str = Field(max_length=64)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # The newest fetch of the current link; None until a client has used it.
    last_fetch_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CalendarFetch(SQLModel, table=True):
    __tablename__ = "calendar_fetch"
    __table_args__ = (sa.Index("ix_calendar_fetch_subscriber", "subscriber_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    status: int  # 200 or 304
    client: str = Field(max_length=40)  # "Google Calendar", "Apple Calendar", ..., "other"
