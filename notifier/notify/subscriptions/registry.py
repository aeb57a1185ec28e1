"""Subscribers in the store: sign up, confirm, manage, forget, list.

Every function takes a session and ``now``; the web pages (:mod:`notifier.server.follow`)
and the CLI call them. :func:`normalise` checks an address first (email-validator,
no DNS lookup); :func:`request` records a sign-up and queues at most one confirmation
email per subscription while its link is valid; :func:`confirm` uses that link once.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from ...config import SubscriptionSettings
from ...display import mask_email
from ...store.models import Case, Notification
from ...store.subscribers import Subscriber, Subscription
from .. import outbox_rows as outbox
from . import access, calendar
from .states import state_of

CHANNEL = "subscribers"  # the outbox channel (and dispatch lane) of every subscriber row
CONFIRM, REMINDER, CHANGE = "sub_confirm", "sub_reminder", "sub_change"
_CONTROL = {chr(c) for c in range(32)} | {"\x7f", "\u2028", "\u2029", "\x85"}


class AddressError(ValueError):
    """An address we cannot send to; the message says why without repeating it."""


def has_control(text: str) -> bool:
    """True when ``text`` holds CR, LF or another control character (header injection)."""
    return any(ch in _CONTROL for ch in text)


def normalise(address: str) -> str:
    """The address as stored and sent (ASCII), or :class:`AddressError`. Lower-cased as a whole: the
    RFC lets a local part be case-sensitive, but no mail service we know treats it
    so, and one person must not be two subscribers."""
    text = address.strip()
    if not text:
        raise AddressError("enter an email address")
    if has_control(address) or len(text) > 254:
        raise AddressError("that is not a valid email address")
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError as e:
        raise AddressError(f"that is not a valid email address ({e})") from None
    if not info.ascii_email:
        # Only SMTPUTF8 could carry it, and the mailer does not use it.
        raise AddressError("the part before the @ holds letters outside ASCII (such as "
                           "accented letters), which we cannot send to; use another "
                           "address")
    # The form the mail goes out with: an internationalised domain as "xn--" labels.
    return str(info.ascii_email).lower()


def key_of(subscriber_id: int) -> str:
    return f"sub:{subscriber_id}:"


def request(s: Session, cfg: SubscriptionSettings, address: str, case_id: str, lead_s: int,
            now: datetime, feed_token_id: int | None = None) -> bool:
    """Record a sign-up of ``address`` (normalised) for ``case_id``; True when a
    confirmation email was queued. Nothing else is ever sent before the link is used:
    a pending subscription whose link is still valid gets no second email, and an
    active one is left as it is (the manage link in its emails changes it), unless
    the feed token that authorized it was revoked (:mod:`.access`): then it waits
    for a new confirmation under ``feed_token_id``, the token of this sign-up."""
    sub = s.exec(select(Subscriber).where(Subscriber.address == address)).first()
    if sub is None:
        sub = Subscriber(address=address, key=secrets.token_urlsafe(24), created_at=now)
        s.add(sub)
        s.flush()
    assert sub.id is not None
    row = s.exec(select(Subscription).where(Subscription.subscriber_id == sub.id,
                                            Subscription.case_id == case_id)).first()
    # A bounced address gets a new confirmation link: using it clears the bounce.
    if row is not None and row.state == "active" and sub.bounced_at is None \
            and not access.revoked(s, row.feed_token_id):
        return False
    if row is not None and row.confirm_sent_at is not None and sub.bounced_at is None \
            and now - row.confirm_sent_at < cfg.confirm_ttl and row.confirm_nonce:
        return False
    if row is None:
        row = Subscription(subscriber_id=sub.id, case_id=case_id, created_at=now)
        s.add(row)
    row.state, row.lead_s, row.feed_token_id = "pending", lead_s, feed_token_id
    row.confirm_nonce, row.confirm_sent_at = secrets.token_urlsafe(16), now
    s.flush()
    payload = {"subscriber": sub.id, "subscription": row.id, "case_id": case_id}
    outbox.insert_rows(s, [outbox.new_row(
        f"{key_of(sub.id)}confirm:{row.id}:{row.confirm_nonce}", CONFIRM, CHANNEL, now, now,
        payload, case_id=case_id)])
    return True


def confirm(s: Session, subscription_id: int, nonce: str, now: datetime) -> Subscription | None:
    """Use a confirmation link once: the subscription becomes active; None when the
    link was used already, replaced, or its subscriber forgotten."""
    row = s.get(Subscription, subscription_id)
    if row is None or not row.confirm_nonce or \
            not secrets.compare_digest(row.confirm_nonce, nonce):
        return None
    row.state, row.confirm_nonce, row.confirmed_at = "active", None, now
    sub = s.get(Subscriber, row.subscriber_id)
    if sub is not None and sub.confirmed_at is None:
        sub.confirmed_at = now
    if sub is not None:
        sub.bounced_at = None  # the link reached the person: the address works again
    s.flush()
    return row


def subscriber(s: Session, subscriber_id: int, key: str) -> Subscriber | None:
    sub = s.get(Subscriber, subscriber_id)
    if sub is None or not secrets.compare_digest(sub.key, key):
        return None
    return sub


@dataclass(frozen=True)
class Followed:
    case_id: str
    case_title: str
    lead_s: int
    state: str


def followed(s: Session, subscriber_id: int) -> list[Followed]:
    rows = s.exec(select(Subscription).where(Subscription.subscriber_id == subscriber_id)
                  .order_by(col(Subscription.case_id))).all()
    titles = {c.id: c.title for c in s.exec(select(Case).where(
        col(Case.id).in_([r.case_id for r in rows]))).all()} if rows else {}
    # "revoked": active, but the private-feed token of its sign-up was withdrawn.
    return [Followed(r.case_id, titles.get(r.case_id, r.case_id), r.lead_s,
                     "revoked" if r.state == "active" and access.revoked(s, r.feed_token_id)
                     else r.state)
            for r in rows if r.state != "pending"]


def set_lead(s: Session, subscriber_id: int, case_id: str, lead_s: int) -> bool:
    row = s.exec(select(Subscription).where(Subscription.subscriber_id == subscriber_id,
                                            Subscription.case_id == case_id)).first()
    if row is None or row.state == "pending":
        return False
    row.lead_s = lead_s
    return True


def unsubscribe(s: Session, subscriber_id: int, case_id: str | None, now: datetime) -> int:
    """Stop one case (or every case, ``case_id`` None); waiting rows are withdrawn."""
    q = select(Subscription).where(Subscription.subscriber_id == subscriber_id)
    if case_id is not None:
        q = q.where(Subscription.case_id == case_id)
    n = 0
    for row in s.exec(q).all():
        if row.state != "unsubscribed":
            row.state, row.confirm_nonce = "unsubscribed", None
            n += 1
    withdraw_waiting(s, subscriber_id, case_id, now, "unsubscribed")
    return n


def set_paused(s: Session, subscriber_id: int, paused: bool, now: datetime) -> None:
    sub = s.get(Subscriber, subscriber_id)
    if sub is not None:
        sub.paused = paused
        if paused:
            withdraw_waiting(s, subscriber_id, None, now, "paused by the subscriber")


def withdraw_waiting(s: Session, subscriber_id: int, case_id: str | None, now: datetime,
                     reason: str) -> None:
    q = select(Notification.id).where(col(Notification.dedupe_key).startswith(
        key_of(subscriber_id)), col(Notification.status).in_(("pending", "failed")))
    if case_id is not None:
        q = q.where(Notification.case_id == case_id)
    ids = [i for i in s.exec(q).all() if i is not None]
    outbox.set_status(s, ids, "withdrawn", now, reason)


def forget(s: Session, subscriber_id: int) -> int:
    """Erase a subscriber: its subscriptions, its outbox rows and their delivery
    history, then the address. Returns how many rows were deleted."""
    ids = [i for i in s.exec(select(Notification.id).where(col(Notification.dedupe_key)
           .startswith(key_of(subscriber_id)))).all() if i is not None]
    n = outbox.delete_rows(s, ids)
    n += calendar.erase(s, subscriber_id)  # the calendar link and its fetch records
    n += _deleted(s, delete(Subscription).where(
        col(Subscription.subscriber_id) == subscriber_id))
    n += _deleted(s, delete(Subscriber).where(col(Subscriber.id) == subscriber_id))
    return n


def _deleted(s: Session, stmt: Any) -> int:
    return int(getattr(s.execute(stmt), "rowcount", 0) or 0)


def find(s: Session, address: str) -> Subscriber | None:
    return s.exec(select(Subscriber).where(Subscriber.address == address)).first()


def listing(s: Session) -> dict[str, Any]:
    """What ``notifier subscribers`` shows: masked addresses and states, counts per case."""
    subs = s.exec(select(Subscriber).order_by(col(Subscriber.id))).all()
    states: dict[int, dict[str, int]] = {}
    for row in s.exec(select(Subscription)).all():
        d = states.setdefault(row.subscriber_id, {})
        d[row.state] = d.get(row.state, 0) + 1
    per_case: Sequence[Any] = s.execute(
        select(Subscription.case_id, Subscription.state, func.count())
        .group_by(col(Subscription.case_id), col(Subscription.state))
        .order_by(col(Subscription.case_id))).all()
    cases: dict[str, dict[str, int]] = {}
    for case_id, state, count in per_case:
        cases.setdefault(case_id, {})[state] = int(count)
    return {
        "subscribers": [{
            "id": x.id, "address": mask_email(x.address),
            "state": state_of(x.bounced_at, x.paused, x.confirmed_at,
                              states.get(x.id or 0, {}).get("active", 0)),
            "subscriptions": states.get(x.id or 0, {})} for x in subs],
        "cases": cases,
    }
