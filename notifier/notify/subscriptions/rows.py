"""Writing subscriber rows into the outbox table.

The same table, statuses and dedupe rule (``INSERT ... ON CONFLICT (dedupe_key) DO
NOTHING``) as :mod:`notifier.notify.outbox`, written here because ``outbox`` calls
this package while planning (an import back would be a cycle).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from ...store.models import Notification

NT = Notification.__table__  # type: ignore[attr-defined]


def new_row(key: str, ntype: str, channel: str, due: datetime, now: datetime,
            payload: dict[str, Any], *, event_uid: str | None = None,
            case_id: str | None = None, change_id: int | None = None,
            offset_s: int | None = None, urgent: bool = False) -> dict[str, Any]:
    return {"dedupe_key": key, "type": ntype, "channel": channel, "event_uid": event_uid,
            "case_id": case_id, "change_id": change_id, "offset_s": offset_s, "due_at": due,
            "status": "pending", "attempts": 0, "next_attempt_at": due, "claimed_until": None,
            "last_error": None, "sent_at": None, "late": False, "urgent": urgent,
            "payload": json.dumps(payload, sort_keys=True), "created_at": now,
            "updated_at": now}


def insert_rows(s: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows; a row whose dedupe key exists already is skipped."""
    if not rows:
        return
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(NT).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(NT).on_conflict_do_nothing(index_elements=["dedupe_key"])
    for i in range(0, len(rows), 2000):
        s.execute(stmt, list(rows[i:i + 2000]))


def withdraw(s: Session, ids: Sequence[int], now: datetime, reason: str) -> None:
    for i in range(0, len(ids), 500):
        s.execute(update(NT).where(NT.c.id.in_(ids[i:i + 500])).values(
            status="withdrawn", last_error=reason, claimed_until=None, updated_at=now))
