"""Writing outbox rows: the one place a row is built, inserted or given a status.

:func:`new_row` builds a pending row, :func:`insert_rows` inserts rows (``INSERT ... ON
CONFLICT (dedupe_key) DO NOTHING``: planning twice never duplicates a row) and
:func:`set_status` finishes waiting rows (e.g. ``withdrawn``), :func:`postpone` hands a
claimed row back to wait longer (a check answered :data:`POSTPONED`), :func:`delete_rows`
deletes rows with their delivery history. Both
:mod:`notifier.notify.outbox` and :mod:`notifier.notify.subscriptions` write through
these; it imports neither (``outbox`` calls the subscriptions package while planning).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session

from ..store import bulk
from ..store.models import Delivery, Notification

NT = Notification.__table__  # type: ignore[attr-defined]
DT = Delivery.__table__  # type: ignore[attr-defined]
CHUNK = 500
# What a dispatcher's check answers (instead of a final status) for a row that must not
# be sent yet: the row waits until the time the check gives (:func:`postpone`).
POSTPONED = "postponed"
# A payload key: the row is tried once and its failure is final, not retried or
# dead-lettered (``notifier channels test``: the user sees the outcome at once).
ONCE = "once"


def tried_once(n: Notification) -> bool:
    """Whether ``n`` is a one-try row (payload ``{"once": true}``)."""
    return bool(json.loads(n.payload or "{}").get(ONCE))


def chunks(items: Sequence[Any], n: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def new_row(key: str, ntype: str, channel: str, due: datetime, now: datetime,
            payload: dict[str, Any], *, event_uid: str | None = None,
            case_id: str | None = None, change_id: int | None = None,
            offset_s: int | None = None, urgent: bool = False) -> dict[str, Any]:
    """A pending row for :func:`insert_rows`, due (and first tried) at ``due``."""
    return {"dedupe_key": key, "type": ntype, "channel": channel, "event_uid": event_uid,
            "case_id": case_id, "change_id": change_id, "offset_s": offset_s, "due_at": due,
            "status": "pending", "attempts": 0, "next_attempt_at": due, "claimed_until": None,
            "last_error": None, "sent_at": None, "late": False, "urgent": urgent,
            "payload": json.dumps(payload, sort_keys=True), "created_at": now,
            "updated_at": now}


def insert_rows(s: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows (built by :func:`new_row`); a row whose dedupe key exists
    already is skipped. At driver speed: a sync moving a thousand followed events
    writes hundreds of thousands."""
    bulk.insert_many(s, NT, rows, skip_existing="dedupe_key")


def set_status(s: Session, ids: Sequence[int], status: str, now: datetime,
               reason: str | None = None) -> None:
    """Give rows ``status`` (and ``reason`` as their last error), releasing any lease."""
    for chunk in chunks(list(ids)):
        s.execute(update(NT).where(NT.c.id.in_(chunk)).values(
            status=status, last_error=reason, claimed_until=None, updated_at=now))


def postpone(s: Session, n: Notification, until: datetime, now: datetime, *,
             held: datetime | None, reason: str) -> bool:
    """Hand claimed row ``n`` back unsent, due (and tried next) at ``until``, with
    ``reason`` as its last error. Not an attempt: the claim's count is taken back and
    no Delivery row is written (as a hand-back at shutdown). Only while the row is
    still under lease ``held``; returns whether it was."""
    res = s.execute(update(NT).where(
        NT.c.id == n.id, NT.c.status == "sending", NT.c.claimed_until == held).values(
        status="pending", claimed_until=None, attempts=NT.c.attempts - 1, due_at=until,
        next_attempt_at=until, last_error=reason, updated_at=now))
    return bool(getattr(res, "rowcount", 1))


def delete_rows(s: Session, ids: Sequence[int]) -> int:
    """Delete rows and their delivery history; returns how many rows of both tables
    were deleted."""
    n = 0
    for chunk in chunks(list(ids)):
        for stmt in (delete(DT).where(DT.c.notification_id.in_(chunk)),
                     delete(NT).where(NT.c.id.in_(chunk))):
            n += int(getattr(s.execute(stmt), "rowcount", 0) or 0)
    return n
