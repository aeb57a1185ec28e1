"""One sync, one case, one channel, many changes: one message instead of a burst.

:func:`group` is called by :func:`notifier.notify.outbox.record_changes` on the change
alert rows one sync wrote. When more than :data:`BURST` of them are for the same case
and channel, they become one ``change`` row whose payload carries each event's part
under ``group`` (rendered by the ``change`` templates as one list), plus the case's
next date as it was at the sync. A court re-issuing a calendar then sends one email,
not six trickling in one after another. Fewer rows keep one message per event (each
with its own ``.ics`` and a re-check before sending).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from ..store.models import Case, Event
from . import planner

BURST = 4  # more alerts than this for one case and channel in one sync are grouped


def group(s: Session, rows: Sequence[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """``rows`` (outbox row dicts of type ``change``) with bursts merged into one row each;
    the order is kept (a group takes the place of its first row)."""
    by_key: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
    for r in rows:
        by_key.setdefault((r["case_id"], r["channel"]), []).append(r)
    out: list[dict[str, Any]] = []
    done: set[tuple[str | None, str]] = set()
    for r in rows:
        key = (r["case_id"], r["channel"])
        members = by_key[key]
        if len(members) <= BURST or key[0] is None:
            out.append(r)
        elif key not in done:
            done.add(key)
            out.append(_merged(s, key[0], members, now))
    return out


def _merged(s: Session, case_id: str, members: Sequence[dict[str, Any]],
            now: datetime) -> dict[str, Any]:
    parts = [json.loads(m["payload"]) for m in members]
    first = members[0]
    snapshot = parts[0].get("event") or {}
    payload = {
        "case_id": case_id, "case_title": snapshot.get("case_title") or case_id,
        "event": {k: snapshot.get(k) for k in ("case_id", "case_title", "court", "timezone")},
        "group": [{"event": p.get("event") or {}, "changes": p.get("changes") or [],
                   "corrections": p.get("corrections") or []} for p in parts],
        "case_next": case_next(s, case_id, now),
        # Every change, flat: what `notifier reminders` lists for the row.
        "changes": [c for p in parts for c in p.get("changes") or []],
    }
    return {**first, "dedupe_key": "changes:" + first["dedupe_key"].split(":", 1)[1],
            "event_uid": None, "urgent": any(m["urgent"] for m in members),
            "payload": json.dumps(payload, sort_keys=True)}


def case_next(s: Session, case_id: str, now: datetime) -> str | None:
    """The case's next dated, scheduled or tentative event not yet over, as text."""
    case = s.get(Case, case_id)
    if case is None:
        return None
    tz = ZoneInfo(case.timezone)
    evs = s.exec(select(Event).where(
        Event.case_id == case_id, col(Event.removed_at).is_(None),
        col(Event.date).is_not(None), col(Event.status).in_(planner.REMINDABLE))
        .order_by(col(Event.sort_utc))).all()
    for ev in evs:
        when = planner.when_of(ev)
        if not planner.is_over(when, tz, now):
            return f"{when.describe(tz)}: {ev.title}"
    return None
