"""SQLModel tables: the database is the one source of truth.

All datetimes are stored as naive UTC and come back as aware UTC (see
:class:`UTCDateTime`). Schema changes go through Alembic migrations in
``notifier/migrations``; a test checks that they match these models.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from ..timeutil import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as naive UTC (SQLite has no time zones); return aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Case(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=200)
    title: str
    court: str | None = None
    judge: str | None = None
    url: str | None = None
    timezone: str = "UTC"
    tags: str = "[]"  # JSON list
    reminders: str | None = None  # JSON {"offsets": [seconds...], "kinds": {...}} or null
    source: str = Field(index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Event(SQLModel, table=True):
    # A case's events in time order (a case page, the next date in a change alert).
    __table_args__ = (sa.Index("ix_event_case_sort", "case_id", "sort_utc"),)

    uid: str = Field(primary_key=True, max_length=500)
    case_id: str = Field(foreign_key="case.id", max_length=200)  # see ix_event_case_sort
    event_id: str = Field(max_length=500)
    source: str = Field(index=True)
    kind: str = "event"
    title: str
    status: str = "scheduled"
    date: dt.date | None = None
    end_date: dt.date | None = None
    start_utc: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_utc: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sort_utc: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    location: str | None = None
    notes: str | None = None
    url: str | None = None
    judge: str | None = None
    sequence: int = 0
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Change(SQLModel, table=True):
    """One typed change to one event; an event's rows in order are its history."""

    id: int | None = Field(default=None, primary_key=True)
    event_uid: str = Field(foreign_key="event.uid", index=True, max_length=500)
    case_id: str = Field(index=True, max_length=200)
    kind: str  # added, rescheduled_earlier, rescheduled_later, time_changed, date_set, ...
    field: str  # when, status, location, judge, title, kind, notes, url, event
    before: str | None = None  # JSON
    after: str | None = None  # JSON
    summary: str
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class CalendarFile(SQLModel, table=True):
    """What sync last read of one calendar file, so that an unchanged file is skipped.

    Written in the transaction that applied the file (or, for a file that failed to
    parse, with its problems), so it never claims events that were not committed.
    ``parser`` is the notifier version that read it: an upgrade reads every file again.
    """

    __tablename__ = "calendar_file"

    source: str = Field(primary_key=True, max_length=500)  # "label/file name", as Event.source
    size: int = Field(sa_type=sa.BigInteger)
    mtime_ns: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    checked_ns: int = Field(sa_type=sa.BigInteger)  # when the content was hashed
    parser: str = Field(max_length=50)
    problems: str | None = None  # JSON list: why this content failed to parse


class FeedToken(SQLModel, table=True):
    """A secret that unlocks private feeds. Only its SHA-256 is stored.

    ``case_id`` None means every case; a revoked token keeps its row (audit) but
    no longer opens anything.
    """

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    case_id: str | None = Field(default=None, max_length=200)
    label: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SourceState(SQLModel, table=True):
    """Polling state of one remote source (``[[sources]]`` name), kept across restarts."""

    __tablename__ = "source_state"

    name: str = Field(primary_key=True, max_length=100)
    url_digest: str | None = None  # sha256 of the URL: a new URL drops the validators
    etag: str | None = None
    last_modified: str | None = None
    body: bytes | None = Field(default=None, sa_type=sa.LargeBinary)  # zlib, last good body
    body_sha: str | None = None
    last_status: str = "new"  # new, ok, not_modified, held, error
    last_fetch_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_success_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    last_change_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failures: int = 0  # consecutive
    next_fetch_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    missing: str = "{}"  # JSON {uid: consecutive successful fetches it was missing from}
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    held_digest: str | None = None  # digest of the parsed content that was held
    held_summary: str | None = None  # JSON list of the held changes, one line each

# Statuses of an outbox row. pending/failed rows are waiting to be (re)sent;
# sending rows are claimed under a lease; the rest are final.
WAITING = ("pending", "failed")
FINAL = ("sent", "dead", "withdrawn", "missed")


class Notification(SQLModel, table=True):
    """The outbox: one row per notification per channel, written before it is sent.

    ``dedupe_key`` makes planning idempotent: a reminder's key includes the event
    UID, the offset, the event's start and the channel, so re-planning never
    duplicates a row and a moved hearing gets fresh reminders.
    """

    __table_args__ = (
        sa.Index("ux_notification_dedupe_key", "dedupe_key", unique=True),
        sa.Index("ix_notification_status_next", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=1000)
    type: str  # reminder, change, digest, test
    channel: str = Field(max_length=200)
    event_uid: str | None = Field(default=None, index=True, max_length=500)
    case_id: str | None = Field(default=None, max_length=200)
    change_id: int | None = None
    offset_s: int | None = None  # reminders: how long before the event
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = "pending"  # pending, sending, sent, failed, dead, withdrawn, missed
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    claimed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = None
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    late: bool = False
    urgent: bool = False
    payload: str = "{}"  # JSON: what the message needs (event snapshot, changes, ...)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class Delivery(SQLModel, table=True):
    """One attempt to send one notification: the delivery history."""

    id: int | None = Field(default=None, primary_key=True)
    notification_id: int = Field(foreign_key="notification.id", index=True)
    channel: str = Field(max_length=200)
    attempted_at: datetime = Field(sa_type=UTCDateTime)
    outcome: str  # sent, retry, dead, withdrawn, missed
    error: str | None = None
    duration_ms: int = 0
    # An earlier claim of the notification ended without a recorded outcome (a daemon
    # killed, or its lease lost during a database outage): this attempt may repeat
    # a message that was already delivered.
    repeat: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class DaemonRow(SQLModel, table=True):
    """One running ``notifier run`` process of a cluster (PostgreSQL), kept fresh by
    its heartbeat; rows of stopped daemons stay until pruned (their channels are
    protected for ``[cluster] channel_grace``)."""

    __tablename__ = "cluster_daemon"

    id: str = Field(primary_key=True, max_length=64)
    host: str = Field(max_length=255)
    pid: int
    role: str = Field(max_length=20)  # all, web, worker
    may_lead: bool = True
    leader: bool = False
    version: str = Field(max_length=50)
    config_fp: str = Field(max_length=64)
    channels: str = "[]"  # JSON list of channel names
    started_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime, index=True)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class FeedFragment(SQLModel, table=True):
    """One event's serialised VEVENT, kept so that a restart does not render it again.

    ``digest`` covers everything the bytes depend on (the event and its recent
    changes, its case, the case's undated events, the feed options and the rendering
    code's version): a fragment whose digest differs from the one computed now is
    rendered again, never served.
    """

    __tablename__ = "feed_fragment"

    uid: str = Field(primary_key=True, max_length=500)
    digest: str = Field(max_length=64)
    data: bytes = Field(sa_type=sa.LargeBinary)
    tzid: str | None = Field(default=None, max_length=100)
    first_year: int = 0
    last_year: int = 0


class FeedSnapshot(SQLModel, table=True):
    """A whole feed as last served, served again while a restarted daemon warms up,
    only if ``key`` (data fingerprint, feed options, code version) still matches."""

    __tablename__ = "feed_snapshot"

    name: str = Field(primary_key=True, max_length=200)
    key: str = Field(max_length=64)
    body: bytes = Field(sa_type=sa.LargeBinary)  # zlib
    etag: str = Field(max_length=100)
    last_modified: datetime | None = Field(default=None, sa_type=UTCDateTime)
    valid_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    stored_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # zlib: each VEVENT's place, digest and sort key (notifier.feeds.layout), so that a
    # restart after a change patches the body instead of building it again.
    layout: bytes | None = Field(default=None, sa_type=sa.LargeBinary)


class DocketEntry(SQLModel, table=True):
    """One docket entry a docket source read (CourtListener, PACER RSS).

    The source's events are a fold of all its stored entries (``notifier.sources.dockets``),
    so an entry read again changes nothing and an entry edited upstream replaces its
    text here (``updated_at`` moves).
    """

    __tablename__ = "docket_entry"
    __table_args__ = (sa.Index("ux_docket_entry_source_key", "source", "entry_key", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)  # the [[sources]] name
    entry_key: str = Field(max_length=500)  # upstream id (CourtListener id, RSS guid)
    number: str | None = Field(default=None, max_length=50)  # the docket entry number
    date_filed: dt.date | None = None
    text: str
    link: str | None = None
    upstream_modified: str | None = None  # CourtListener date_modified, as sent
    first_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DocketReview(SQLModel, table=True):
    """An uncertain fact read from a docket entry, waiting for (or given) a decision.

    ``status``: pending, accepted (joins the fold), rejected (never applied).
    """

    __tablename__ = "docket_review"
    __table_args__ = (sa.Index("ux_docket_review_fact", "source", "entry_key", "fact_key",
                               unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=100)
    entry_key: str = Field(max_length=500)
    fact_key: str = Field(max_length=64)  # sha256 of the fact: the same fact re-read is one row
    fact: str  # JSON: action, kind, date, time, from_date, quote
    status: str = "pending"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class DocketState(SQLModel, table=True):
    """Per docket source: where reading stopped, the hourly request count, the docket's own data."""

    __tablename__ = "docket_state"

    source: str = Field(primary_key=True, max_length=100)
    cursor: str | None = None  # newest upstream date_modified read (CourtListener)
    hour_start: datetime | None = Field(default=None, sa_type=UTCDateTime)
    hour_requests: int = 0
    docket: str | None = None  # JSON: case name, court, judge, docket number, page URL
    webhook_keys: str | None = None  # JSON list: Idempotency-Keys of recent webhook deliveries


class DocketProvenance(SQLModel, table=True):
    """Which docket entry caused a change: source, entry number and link, filing date, quote."""

    __tablename__ = "docket_provenance"

    change_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    source: str = Field(max_length=100)
    entry_key: str = Field(max_length=500)
    number: str | None = Field(default=None, max_length=50)
    link: str | None = None
    date_filed: dt.date | None = None
    quote: str
