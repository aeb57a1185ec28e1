"""A subscriber's state, one word: what ``notifier subscribers`` shows and what the
``notifier_subscribers{state}`` gauge counts.

:data:`STATES`, in order of precedence: ``bounced`` (the address was refused for
good), ``paused`` (by the subscriber), ``unconfirmed`` (no confirmation link used
yet), ``active`` (follows at least one case), ``unsubscribed`` (confirmed once,
follows nothing now). :func:`counts` counts them in one query.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from ...store.subscribers import Subscriber, Subscription

STATES = ("unconfirmed", "active", "paused", "bounced", "unsubscribed")


def state_of(bounced_at: datetime | None, paused: bool, confirmed_at: datetime | None,
             active: int) -> str:
    """The state of a subscriber with ``active`` active subscriptions."""
    if bounced_at is not None:
        return "bounced"
    if paused:
        return "paused"
    if confirmed_at is None:
        return "unconfirmed"
    return "active" if active else "unsubscribed"


def counts(s: Session) -> dict[str, int]:
    """Subscribers per state (every state present, 0 when none)."""
    who, sub = Subscriber.__table__, Subscription.__table__  # type: ignore[attr-defined]
    active = sa.func.count(sub.c.id)
    q = sa.select(who.c.bounced_at, who.c.paused, who.c.confirmed_at, active).select_from(
        who.outerjoin(sub, sa.and_(sub.c.subscriber_id == who.c.id, sub.c.state == "active"))
    ).group_by(who.c.id, who.c.bounced_at, who.c.paused, who.c.confirmed_at)
    out = dict.fromkeys(STATES, 0)
    for bounced_at, paused, confirmed_at, n in s.execute(q).all():
        out[state_of(bounced_at, paused, confirmed_at, int(n))] += 1
    return out
