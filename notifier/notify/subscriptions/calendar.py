"""Personal calendar links of subscribers: one private feed URL of the cases they follow.

Call :func:`ensure` to give a confirmed subscriber a link (the manage page does), and
:func:`url` to show it; :func:`renew` replaces it (the old URL then answers 404),
:func:`lookup` finds the subscriber behind a fetched token, :func:`record_fetch`
notes each fetch, :func:`last_fetch` says when the calendar last refreshed and
:func:`erase` deletes it all (``forget``).

The token is ``HMAC-SHA256(secret, "calendar:<id>:<nonce>")``: random through the
nonce, and shown again on every visit of the manage page without being stored. The
database holds the nonce (useless without ``[subscriptions] secret``) and the
token's SHA-256 (what a fetch is looked up by). Fetches keep a short client label
from the User-Agent (:func:`client_label`), never the header itself, and only the
newest :data:`KEEP_FETCHES` per subscriber.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from ...feeds.tokens import hash_token
from ...store.subscriber_calendars import CalendarFetch, SubscriberCalendar
from ...store.subscribers import Subscriber, Subscription
from . import access

KEEP_FETCHES = 20
PATH = "/follow/calendar/"
_FT = CalendarFetch.__table__  # type: ignore[attr-defined]
# (label, pattern) in order: the first that matches the User-Agent names the client.
_CLIENTS: Sequence[tuple[str, re.Pattern[str]]] = [
    ("Google Calendar", re.compile(r"Google-Calendar|Google Calendar", re.I)),
    ("Apple Calendar", re.compile(r"dataaccessd|CalendarAgent|\biCal\b|accountsd", re.I)),
    ("Outlook", re.compile(r"Microsoft Office|Outlook|Microsoft\.Exchange", re.I)),
    ("Thunderbird", re.compile(r"Thunderbird", re.I)),
    ("ICSx5", re.compile(r"ICSx5|icsx", re.I)),
    ("DAVx5", re.compile(r"DAVx5|DAVdroid", re.I)),
]


def client_label(user_agent: str | None) -> str:
    """A short name for the calendar client behind ``user_agent``, else ``"other"``."""
    ua = (user_agent or "")[:500]
    return next((name for name, pattern in _CLIENTS if pattern.search(ua)), "other")


def token_of(secret: str, subscriber_id: int, nonce: str) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"calendar:{subscriber_id}:{nonce}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def url(base_url: str, token: str) -> str:
    return f"{base_url}{PATH}{token}.ics"


def ensure(s: Session, secret: str, subscriber_id: int, now: datetime) -> str:
    """The subscriber's calendar token, made now if it has none yet."""
    row = s.get(SubscriberCalendar, subscriber_id)
    if row is None:
        return renew(s, secret, subscriber_id, now)
    return token_of(secret, subscriber_id, row.nonce)


def renew(s: Session, secret: str, subscriber_id: int, now: datetime) -> str:
    """A new link for the subscriber; the previous one stops working at once. The new
    link counts as unused until a client fetches it."""
    nonce = secrets.token_urlsafe(24)
    token = token_of(secret, subscriber_id, nonce)
    row = s.get(SubscriberCalendar, subscriber_id)
    if row is None:
        row = SubscriberCalendar(subscriber_id=subscriber_id, nonce=nonce,
                                 token_hash=hash_token(token), created_at=now)
        s.add(row)
    else:
        row.nonce, row.token_hash = nonce, hash_token(token)
        row.created_at, row.last_fetch_at = now, None
    s.flush()
    return token


def lookup(s: Session, token: str) -> int | None:
    """The id of the subscriber whose current link is ``token``, or None."""
    if not token or len(token) > 100:
        return None
    digest = hash_token(token)
    row = s.exec(select(SubscriberCalendar).where(
        SubscriberCalendar.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row.subscriber_id


def followed_cases(s: Session, subscriber_id: int) -> list[str]:
    """The cases the subscriber actively follows (what their calendar shows), but
    not those whose private-feed token was revoked (:mod:`.access`)."""
    return list(s.exec(select(Subscription.case_id).where(
        Subscription.subscriber_id == subscriber_id, Subscription.state == "active",
        access.allowed(col(Subscription.feed_token_id)))
        .order_by(col(Subscription.case_id))).all())


def record_fetch(s: Session, subscriber_id: int, status: int, user_agent: str | None,
                 now: datetime) -> None:
    """Note one fetch (200 or 304) and drop all but the newest :data:`KEEP_FETCHES`."""
    s.add(CalendarFetch(subscriber_id=subscriber_id, at=now, status=status,
                        client=client_label(user_agent)))
    row = s.get(SubscriberCalendar, subscriber_id)
    if row is not None:
        row.last_fetch_at = now
    s.flush()
    oldest_kept = (sa.select(_FT.c.id).where(_FT.c.subscriber_id == subscriber_id)
                   .order_by(_FT.c.id.desc()).offset(KEEP_FETCHES).limit(1)
                   .scalar_subquery())
    s.execute(sa.delete(_FT).where(_FT.c.subscriber_id == subscriber_id,
                                   _FT.c.id <= oldest_kept))


@dataclass(frozen=True)
class Fetch:
    at: datetime
    status: int
    client: str


def last_fetch(s: Session, subscriber_id: int) -> Fetch | None:
    """The newest recorded fetch of the subscriber's current link, if any."""
    cal = s.get(SubscriberCalendar, subscriber_id)
    if cal is None or cal.last_fetch_at is None:
        return None
    row = s.exec(select(CalendarFetch).where(CalendarFetch.subscriber_id == subscriber_id)
                 .order_by(col(CalendarFetch.id).desc())).first()
    return Fetch(row.at, row.status, row.client) if row is not None else None


def fetched_since(s: Session, subscriber_id: int, since: datetime) -> bool | None:
    """Whether the current link was fetched at or after ``since``; None when the
    subscriber has no link, or has never used the one they have."""
    cal = s.get(SubscriberCalendar, subscriber_id)
    if cal is None or cal.last_fetch_at is None:
        return None
    return cal.last_fetch_at >= since


def in_use(s: Session, subscriber_ids: Sequence[int]) -> set[int]:
    """Those of ``subscriber_ids`` whose current link a client has fetched."""
    ct = SubscriberCalendar.__table__  # type: ignore[attr-defined]
    out: set[int] = set()
    for i in range(0, len(subscriber_ids), 500):
        out.update(s.execute(sa.select(ct.c.subscriber_id).where(
            ct.c.subscriber_id.in_(subscriber_ids[i:i + 500]),
            ct.c.last_fetch_at.is_not(None))).scalars())
    return out


def erase(s: Session, subscriber_id: int) -> int:
    """Delete the subscriber's link and fetch records; how many rows went."""
    n = 0
    for stmt in (sa.delete(_FT).where(_FT.c.subscriber_id == subscriber_id),
                 sa.delete(SubscriberCalendar).where(
                     col(SubscriberCalendar.subscriber_id) == subscriber_id)):
        n += int(getattr(s.execute(stmt), "rowcount", 0) or 0)
    return n


def manage_view(s: Session, secret: str, base_url: str, sub: Subscriber,
                now: datetime) -> dict[str, Any] | None:
    """What the manage page shows about the calendar link (None before confirming)."""
    if sub.id is None or sub.confirmed_at is None:
        return None
    token = ensure(s, secret, sub.id, now)
    last = last_fetch(s, sub.id)
    return {"url": url(base_url, token),
            "webcal": re.sub(r"^https?://", "webcal://", url(base_url, token)),
            "last": (f"{last.at:%Y-%m-%d %H:%M} UTC by {last.client}"
                     if last is not None else "never")}
